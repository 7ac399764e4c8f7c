import KernelContract

/// What a backend writes in its second pass over each row.
struct RowOutput<T: LogitsScalar> {
    /// The logits' layout; may be the logits themselves (in place).
    var destination: UnsafeMutableBufferPointer<T>
    var kind: xent_output_kind
    /// The gradient's scales: every row's gradient is multiplied by these …
    var scales: GradientScales
    /// … and by this row's value, when present (reduction `none`).
    var rowUpstream: UnsafeBufferPointer<Double>?

    /// A log-softmax or softmax output.
    init(destination: UnsafeMutableBufferPointer<T>, kind: xent_output_kind) {
        self.destination = destination
        self.kind = kind
        scales = GradientScales(loss: 1, zLoss: 0)
        rowUpstream = nil
    }

    /// A loss gradient output.
    init(
        gradientInto destination: UnsafeMutableBufferPointer<T>, scales: GradientScales,
        rowUpstream: UnsafeBufferPointer<Double>?
    ) {
        self.destination = destination
        kind = XENT_OUTPUT_GRADIENT
        self.scales = scales
        self.rowUpstream = rowUpstream
    }

    /// Whether the output overwrites the logits.
    func isInPlace(over logits: UnsafeBufferPointer<T>) -> Bool {
        UnsafeRawPointer(destination.baseAddress) == UnsafeRawPointer(logits.baseAddress)
    }
}

/// The factors of a loss gradient, before each row's upstream value.
struct GradientScales: Equatable {
    /// The cross-entropy's terms: the upstream gradient, divided by `mean`'s divisor.
    var loss: Double
    /// The z-loss's term `lse · softmax`: 2 z times the upstream gradient, divided by the number of rows
    /// kept for `mean` (0 without a z-loss).
    var zLoss: Double
}
