import KernelContract

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
