import CPURowKernels

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Logits viewed as PyTorch lays them out: `(outer, classes, inner)`, with the class dimension 1.
/// Row `r` is `(n, k)` with `n = r / inner`, `k = r % inner`; its classes lie `inner` elements apart.
struct RowLayout: Equatable {
    /// `N` (1 for unbatched `(C)` logits).
    var outer: Int
    /// `C`.
    var classes: Int
    /// `d1 · … · dk` (1 for `(N, C)`).
    var inner: Int
    /// The shape of one value per row: `[]` for `(C)` logits, else `[N, d1, …, dk]`.
    var rowShape: [Int]

    /// The number of rows, `N · d1 · … · dk`.
    var rows: Int { outer * inner }

    /// Reads a logits shape, checking it against the number of elements given.
    init(logitsShape shape: [Int], count: Int) throws {
        guard !shape.isEmpty else {
            throw CrossEntropyError(.invalidShape, "logits must have at least one dimension (C), got a scalar")
        }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw CrossEntropyError(.invalidShape, "logits shape \(shape) has a negative dimension")
        }
        let (total, overflow) = shape.reduce((1, false)) { acc, dim in
            let (product, o) = acc.0.multipliedReportingOverflow(by: dim)
            return (product, acc.1 || o)
        }
        guard !overflow, total == count else {
            throw CrossEntropyError(
                .invalidShape,
                "logits shape \(shape) needs \(overflow ? "too many" : "\(total)") elements, got \(count)")
        }
        if shape.count == 1 {
            (outer, classes, inner, rowShape) = (1, shape[0], 1, [])
        } else {
            outer = shape[0]
            classes = shape[1]
            // With no classes the logits hold no data, and the rows can outnumber any memory.
            let (product, overflow) = shape.dropFirst(2).reduce((shape[0], false)) { acc, dim in
                let (next, o) = acc.0.multipliedReportingOverflow(by: dim)
                return (next, acc.1 || o)
            }
            guard !overflow, product <= Self.maxRows else {
                throw CrossEntropyError(
                    .invalidShape, "logits shape \(shape) has more rows than this machine's memory can hold results for"
                )
            }
            inner = shape.dropFirst(2).reduce(1, *)
            rowShape = [shape[0]] + shape.dropFirst(2)
        }
    }

    /// The most rows a call takes: one 8-byte result per row must fit in physical memory.
    static let maxRows: Int = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        let pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return Int.max / 64 }
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: pageSize)
        return overflow ? Int.max / 64 : bytes / 8
    }()
}

/// One validated batch as the backends see it: caller memory, never copied.
struct RowBatch<T: LogitsScalar> {
    var logits: UnsafeBufferPointer<T>
    var layout: RowLayout
    /// One class index per row, or `nil` (probability targets, or no target at all).
    var targets: UnsafeBufferPointer<Int64>?
    /// Probabilities in the logits' layout, or `nil`.
    var probabilities: UnsafeBufferPointer<T>?
    /// Per-class weights in the accumulation type, or `nil` for all ones.
    var weight: [T.Accumulator]?
    /// Sum of the weights over all classes.
    var weightTotal: Double
    var ignoreIndex: Int64
    var labelSmoothing: Double
    /// Whether the backends must accumulate `Σ v_c (lse − x_c)` (label smoothing or probabilities).
    var accumulateSmooth: Bool

    /// A batch of bare logits: for logsumexp, softmax and log-softmax.
    init(logits: UnsafeBufferPointer<T>, layout: RowLayout) {
        self.logits = logits
        self.layout = layout
        targets = nil
        probabilities = nil
        weight = nil
        weightTotal = Double(layout.classes)
        ignoreIndex = -100
        labelSmoothing = 0
        accumulateSmooth = false
    }

    /// Calls `body` with the C description of this batch.
    func withRows<R>(_ body: (xent_rows) throws -> R) rethrows -> R {
        try withUnsafeWeight { weightPointer in
            try body(
                xent_rows(
                    logits: UnsafeRawPointer(logits.baseAddress),
                    probabilities: UnsafeRawPointer(probabilities?.baseAddress),
                    targets: targets?.baseAddress,
                    weight: weightPointer,
                    classes: Int64(layout.classes),
                    inner: Int64(layout.inner),
                    ignore_index: ignoreIndex,
                    label_smoothing: labelSmoothing,
                    weight_total: weightTotal,
                    accumulate_smooth: accumulateSmooth ? 1 : 0))
        }
    }

    private func withUnsafeWeight<R>(_ body: (UnsafeRawPointer?) throws -> R) rethrows -> R {
        guard let weight else { return try body(nil) }
        return try weight.withUnsafeBufferPointer { try body(UnsafeRawPointer($0.baseAddress)) }
    }
}

/// What a backend writes in its second pass over each row.
struct RowOutput<T: LogitsScalar> {
    /// The logits' layout; may be the logits themselves (in place).
    var destination: UnsafeMutableBufferPointer<T>
    var kind: xent_output_kind
    /// The gradient of every row is multiplied by this …
    var gradientScale: Double
    /// … and by this row's value, when present (reduction `none`).
    var rowUpstream: UnsafeBufferPointer<Double>?

    /// A log-softmax or softmax output.
    init(destination: UnsafeMutableBufferPointer<T>, kind: xent_output_kind) {
        self.destination = destination
        self.kind = kind
        gradientScale = 1
        rowUpstream = nil
    }

    /// A loss gradient output.
    init(
        gradientInto destination: UnsafeMutableBufferPointer<T>, scale: Double,
        rowUpstream: UnsafeBufferPointer<Double>?
    ) {
        self.destination = destination
        kind = XENT_OUTPUT_GRADIENT
        gradientScale = scale
        self.rowUpstream = rowUpstream
    }

    /// Whether the output overwrites the logits.
    func isInPlace(over logits: UnsafeBufferPointer<T>) -> Bool {
        UnsafeRawPointer(destination.baseAddress) == UnsafeRawPointer(logits.baseAddress)
    }
}

/// A place the row kernels run: the CPU fallback or an OpenCL device.
protocol RowBackend: Sendable {
    /// A short name for messages: "cpu", or the OpenCL device's name.
    var name: String { get }
    /// Why this backend cannot run logits of `dtype`, or `nil` when it can.
    func unsupportedReason(for dtype: LogitsDType) -> String?
    /// Computes every row's statistics (and, with `output`, writes its outputs), folds them into
    /// `results` with `xent_fold_rows`, and returns the sum of the rows' losses.
    func run<T: LogitsScalar>(
        _ batch: RowBatch<T>, output: RowOutput<T>?, results: UnsafePointer<xent_row_results>
    ) throws -> Double
    /// Writes each row's target logit (0 for a target outside `0..<C`) into `gathered`.
    func gather<T: LogitsScalar>(
        _ batch: RowBatch<T>, into gathered: UnsafeMutableBufferPointer<Double>) throws
}
