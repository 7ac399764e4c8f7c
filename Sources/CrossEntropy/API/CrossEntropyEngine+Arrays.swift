extension CrossEntropyEngine {
    /// The loss of `(N, C)` logits in a plain array (row after row) against one label per row: the
    /// shape is inferred, `C = logits.count / labels.count`.
    ///
    /// ```swift
    /// let loss = try engine.crossEntropy(logits: [2.0, 0.5, -1.0, 0.1, 0.2, 0.3] as [Float], labels: [0, 2])
    /// print(loss.scalar)   // the mean over the two rows
    /// ```
    ///
    /// Throws `.invalidShape` when the logits do not split into `labels.count` rows of at least one class.
    public func crossEntropy<T: LogitsScalar>(
        logits: [T], labels: [Int], options: CrossEntropyOptions = .init()
    ) throws -> Tensor<T.Accumulator> {
        let shape = try Self.rowShape(logits: logits.count, labels: labels.count)
        let indices = labels.map { Int64($0) }
        return try logits.withUnsafeBufferPointer { logits in
            try indices.withUnsafeBufferPointer { indices in
                try crossEntropy(logits: logits, shape: shape, target: .labels(indices), options: options)
            }
        }
    }

    /// The loss of `(N, C)` logits in a plain array against one label per row, with its gradient
    /// written into `gradient` — resized to the logits' count if it is not already, so that a training
    /// loop that passes the same array every step allocates it once.
    ///
    /// ```swift
    /// var gradient: [Float] = []
    /// for step in 0..<steps {
    ///     let logits = model.forward(batch)   // N × C, row after row
    ///     let result = try engine.crossEntropyWithGradient(logits: logits, labels: batch.labels, gradient: &gradient)
    ///     model.backward(gradient)
    /// }
    /// ```
    public func crossEntropyWithGradient<T: LogitsScalar>(
        logits: [T], labels: [Int], options: CrossEntropyOptions = .init(), upstream: UpstreamGradient = .scalar(1),
        gradient: inout [T]
    ) throws -> LossAndLogSumExp<T> {
        let shape = try Self.rowShape(logits: logits.count, labels: labels.count)
        let indices = labels.map { Int64($0) }
        if gradient.count != logits.count {
            gradient = [T](repeating: 0, count: logits.count)
        }
        return try logits.withUnsafeBufferPointer { logits in
            try indices.withUnsafeBufferPointer { indices in
                try gradient.withUnsafeMutableBufferPointer { gradient in
                    try crossEntropyWithGradient(
                        logits: logits, shape: shape, target: .labels(indices), options: options, upstream: upstream,
                        gradientInto: gradient)
                }
            }
        }
    }

    /// `(N, C)` for `logits` elements in `labels` rows.
    private static func rowShape(logits: Int, labels: Int) throws -> [Int] {
        guard labels > 0, logits > 0, logits % labels == 0 else {
            throw CrossEntropyError(
                .invalidShape, "\(logits) logits do not split into \(labels) rows of one or more classes")
        }
        return [labels, logits / labels]
    }
}
