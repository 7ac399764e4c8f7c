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
    /// Logit soft-capping's `s` (0: none).
    var softcap: Double
    /// Whether the backends must accumulate `Σ v_c (lse − x_c)` (label smoothing or probabilities).
    var accumulateSmooth: Bool
    /// The `C` of label smoothing's `ε / C`: the layout's classes, or the whole class count of rows that
    /// hold a slice of the classes.
    var smoothingClasses: Int
    /// Each row's logsumexp and gradient coefficients (`XENT_GIVEN_COUNT` per row, see `XENT_GIVEN_MAX`):
    /// the gradient of a slice of the classes is written from them, and no statistics are computed.
    var given: UnsafeBufferPointer<Double>?
    /// Each row's exps relative to its own maximum, `classes` values of `T.Accumulator` per row (contiguous
    /// rows, not soft-capped, CPU fallback only: see `xent_rows.kept`): a statistics run writes them, a
    /// run with `given` writes the gradient from them.
    var keptExps: UnsafeMutableBufferPointer<T.Accumulator>?
    /// With `keptExps` and class-index targets: the gradient of rows whose exps an earlier run kept, which
    /// a statistics run writes beside its own rows (see `xent_pending_gradient`; its memory is the
    /// caller's, for the run).
    var pendingGradient: xent_pending_gradient?

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
        softcap = 0
        accumulateSmooth = false
        smoothingClasses = layout.classes
        given = nil
        keptExps = nil
        pendingGradient = nil
    }

    /// The options of these rows and of `output`, as the contract states them for both kernel families:
    /// the one place the host fills them.
    func options(for output: RowOutput?) -> xent_row_options_f64 {
        var flags: Int32 = 0
        if targets != nil { flags |= XENT_HAS_TARGETS }
        if probabilities != nil { flags |= XENT_HAS_PROBABILITIES }
        if weight != nil { flags |= XENT_HAS_WEIGHT }
        if accumulateSmooth { flags |= XENT_ACCUMULATE_SMOOTH }
        if output?.rowUpstream != nil { flags |= XENT_HAS_UPSTREAM }
        if given != nil { flags |= XENT_GIVEN_GRADIENT }
        let scales = output?.scales ?? GradientScales(loss: 1, zLoss: 0)
        return xent_row_options_f64(
            classes: Int64(layout.classes), inner: Int64(layout.inner), ignore_index: ignoreIndex,
            smoothing_classes: Int64(smoothingClasses),
            label_smoothing: labelSmoothing, weight_total: weightTotal, gradient_scale: scales.loss,
            z_gradient_scale: scales.zLoss, softcap: softcap, flags: flags,
            kind: Int32(output?.kind.rawValue ?? XENT_OUTPUT_LOG_SOFTMAX.rawValue))
    }

    /// Calls `body` with the C description of this batch and of `output`.
    func withRows<R>(output: RowOutput?, _ body: (xent_rows) throws -> R) rethrows -> R {
        try withUnsafeWeight { weightPointer in
            try withUnsafePending { pendingPointer in
                try body(
                    xent_rows(
                        logits: UnsafeRawPointer(logits.baseAddress),
                        probabilities: UnsafeRawPointer(probabilities?.baseAddress),
                        targets: targets?.baseAddress,
                        weight: weightPointer,
                        given: given?.baseAddress,
                        kept: UnsafeMutableRawPointer(keptExps?.baseAddress),
                        pending: pendingPointer,
                        options: options(for: output)))
            }
        }
    }

    private func withUnsafePending<R>(_ body: (UnsafePointer<xent_pending_gradient>?) throws -> R) rethrows -> R {
        guard let pendingGradient else { return try body(nil) }
        return try withUnsafePointer(to: pendingGradient) { try body($0) }
    }

    private func withUnsafeWeight<R>(_ body: (UnsafeRawPointer?) throws -> R) rethrows -> R {
        guard let weight else { return try body(nil) }
        return try weight.withUnsafeBufferPointer { try body(UnsafeRawPointer($0.baseAddress)) }
    }
}
