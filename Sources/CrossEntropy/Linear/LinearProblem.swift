/// The caller's memory of one fused linear cross-entropy call.
struct LinearInputs<T: LinearScalar> {
    /// `(N, H)`, row major.
    var hidden: UnsafeBufferPointer<T>
    /// `(V, H)`, row major.
    var weight: UnsafeBufferPointer<T>
    /// `(V)`, or `nil`.
    var bias: UnsafeBufferPointer<T>?
}

/// A validated fused linear cross-entropy call: its sizes, the rows it keeps and its chunks.
struct LinearProblem {
    /// N: the rows (the hidden states' leading dimensions, flattened).
    var rows: Int
    /// H.
    var hiddenSize: Int
    /// V.
    var classes: Int
    /// The hidden states' shape.
    var hiddenShape: [Int]
    /// The target's shape: the hidden states' without their last dimension.
    var targetShape: [Int]
    /// One class index per row.
    var targets: [Int64]
    var options: CrossEntropyOptions
    var upstream: UpstreamGradient
    /// The rows not ignored and their total weight: what `mean` divides by, over the whole batch.
    var kept: KeptRows
    /// The indices of the rows not ignored, in order: the only rows whose logits are formed.
    var keptRows: [Int]
    /// Rows per chunk.
    var chunkRows: Int

    /// Checks shapes, options, targets and `upstream` as the loss of the full logits would, before any
    /// GEMM runs, and plans the chunks.
    init(
        hiddenShape: [Int], hiddenCount: Int, weightShape: [Int], weightCount: Int, biasCount: Int?,
        target: UnsafeBufferPointer<Int64>, targetShape: [Int], options: CrossEntropyOptions,
        upstream: UpstreamGradient, chunking: LinearChunking, elementBytes: Int
    ) throws {
        guard let hiddenSize = hiddenShape.last, hiddenShape.allSatisfy({ $0 >= 0 }) else {
            throw CrossEntropyError(
                .invalidShape,
                "hidden states must have a last dimension H and no negative one, got shape \(hiddenShape)")
        }
        guard weightShape.count == 2, weightShape[1] == hiddenSize, weightShape[0] >= 0 else {
            throw CrossEntropyError(
                .invalidShape, "linear weight must have shape (V, \(hiddenSize)), got \(weightShape)")
        }
        let classes = weightShape[0]
        if let biasCount, biasCount != classes {
            throw CrossEntropyError(.invalidShape, "linear bias must have \(classes) elements, got \(biasCount)")
        }
        let leadingShape = Array(hiddenShape.dropLast())
        guard targetShape == leadingShape else {
            throw CrossEntropyError(
                .invalidShape, "target must have the hidden states' leading shape \(leadingShape), got \(targetShape)")
        }
        guard classes <= Int(Int32.max), hiddenSize <= Int(Int32.max) else {
            throw CrossEntropyError(.invalidShape, "V = \(classes) and H = \(hiddenSize) must fit 32-bit BLAS indices")
        }
        let rows = leadingShape.reduce(1, *)
        guard target.count == rows, hiddenCount == rows * hiddenSize, weightCount == classes * hiddenSize else {
            throw CrossEntropyError(
                .invalidShape,
                "shapes \(hiddenShape), \(weightShape) and \(targetShape) do not hold \(hiddenCount), \(weightCount) and \(target.count) elements"
            )
        }
        let (elements, overflow) = rows.multipliedReportingOverflow(by: classes)
        guard !overflow else {
            throw CrossEntropyError(.invalidShape, "N · V = \(rows) · \(classes) overflows")
        }
        // The checks of the loss of the full (N, V) logits, which are never formed: options, weights,
        // targets, upstream.
        let kept = try withLossProblem(
            logits: UnsafeBufferPointer<Float>(start: nil, count: 0), deviceCount: elements,
            shape: targetShape.isEmpty ? [classes] : [rows, classes],
            target: .classIndices(target, shape: targetShape.isEmpty ? [] : [rows]), options: options
        ) { problem in
            _ = try problem.gradientScales(upstream: upstream)
            guard case .known(let kept) = problem.divisor else {
                preconditionFailure("targets are checked before the rows run")
            }
            return kept
        }
        self.rows = rows
        self.hiddenSize = hiddenSize
        self.classes = classes
        self.hiddenShape = hiddenShape
        self.targetShape = targetShape
        self.targets = Array(target)
        self.options = options
        self.upstream = upstream
        self.kept = kept
        let ignoreIndex = Int64(options.ignoreIndex)
        keptRows = target.indices.filter { target[$0] != ignoreIndex }
        chunkRows = min(
            chunking.rows(classes: classes, bytesPerElement: elementBytes, totalRows: keptRows.count),
            max(keptRows.count, 1))
    }
}
