import CPURowKernels

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
