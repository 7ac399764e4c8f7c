import KernelContract

/// What a backend writes in its second pass over each row, and where: caller memory in the logits'
/// layout, of the logits' type or (for a gradient of `Float16` or `BFloat16` logits) `Float`.
struct RowOutput {
    /// The logits' layout; may be the logits themselves (in place).
    var destination: UnsafeMutableRawBufferPointer
    /// The type of the destination's elements.
    var dtype: LogitsDType
    var kind: xent_output_kind
    /// The gradient's scales: every row's gradient is multiplied by these …
    var scales: GradientScales
    /// … and by this row's value, when present (reduction `none`).
    var rowUpstream: UnsafeBufferPointer<Double>?

    /// A log-softmax or softmax output.
    init<T: LogitsScalar>(destination: UnsafeMutableBufferPointer<T>, kind: xent_output_kind) {
        self.destination = UnsafeMutableRawBufferPointer(destination)
        dtype = T.dtype
        self.kind = kind
        scales = GradientScales(loss: 1, zLoss: 0)
        rowUpstream = nil
    }

    /// A loss gradient output.
    init<G: LogitsScalar>(
        gradientInto destination: UnsafeMutableBufferPointer<G>, scales: GradientScales,
        rowUpstream: UnsafeBufferPointer<Double>?
    ) {
        self.destination = UnsafeMutableRawBufferPointer(destination)
        dtype = G.dtype
        kind = XENT_OUTPUT_GRADIENT
        self.scales = scales
        self.rowUpstream = rowUpstream
    }

    /// Whether the output overwrites the logits.
    func isInPlace<T>(over logits: UnsafeBufferPointer<T>) -> Bool {
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
