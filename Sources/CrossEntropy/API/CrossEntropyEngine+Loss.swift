import CPURowKernels

/// The loss and, when asked for, its gradient and each row's logsumexp.
public struct LossAndGradient<Scalar: LogitsScalar>: Sendable {
    /// The loss: a scalar for `mean` and `sum`, the target's shape for `none`.
    public var loss: Tensor<Scalar.Accumulator>
    /// The z-loss part of `loss`, shaped as `loss`; zero without a z-loss.
    public var zLoss: Tensor<Scalar.Accumulator>
    /// d loss / d logits (for `none`, of the upstream-weighted sum), in the logits' shape and type.
    public var gradient: Tensor<Scalar>
    /// Each row's logsumexp, in the target's shape: with the logits, `crossEntropyGradient` gives the
    /// gradient again later without recomputing it.
    public var logSumExp: Tensor<Scalar.Accumulator>
}

/// The loss and each row's logsumexp, from a call that wrote the gradient into caller memory.
public struct LossAndLogSumExp<Scalar: LogitsScalar>: Sendable {
    /// The loss: a scalar for `mean` and `sum`, the target's shape for `none`.
    public var loss: Tensor<Scalar.Accumulator>
    /// The z-loss part of `loss`, shaped as `loss`; zero without a z-loss.
    public var zLoss: Tensor<Scalar.Accumulator>
    /// Each row's logsumexp, in the target's shape (what `crossEntropyGradient` takes).
    public var logSumExp: Tensor<Scalar.Accumulator>
}

extension CrossEntropyEngine {
    /// `torch.nn.functional.cross_entropy(logits, target, weight, ignore_index, reduction, label_smoothing)`.
    ///
    /// Logits of shape `(C)`, `(N, C)` or `(N, C, d1, …, dk)`; the result is a scalar for `mean` and `sum`
    /// and has the target's shape for `none`. Throws `CrossEntropyError` for input PyTorch rejects.
    public func crossEntropy<T: LogitsScalar>(
        _ logits: Tensor<T>, target: CrossEntropyTarget<T>, options: CrossEntropyOptions = .init()
    ) throws -> Tensor<T.Accumulator> {
        try logits.scalars.withUnsafeBufferPointer { logitsBuffer in
            try target.withBuffer { targetBuffer in
                try crossEntropy(logits: logitsBuffer, shape: logits.shape, target: targetBuffer, options: options)
            }
        }
    }

    /// The loss of logits in caller memory, read without copying.
    public func crossEntropy<T: LogitsScalar>(
        logits: UnsafeBufferPointer<T>, shape: [Int], target: CrossEntropyTargetBuffer<T>,
        options: CrossEntropyOptions = .init()
    ) throws -> Tensor<T.Accumulator> {
        try crossEntropySummary(logits: logits, shape: shape, target: target, options: options).loss
    }

    /// The loss, as `crossEntropy`, with its z-loss part, the rows kept, `mean`'s divisor and the
    /// per-row results `extras` asks for.
    public func crossEntropySummary<T: LogitsScalar>(
        _ logits: Tensor<T>, target: CrossEntropyTarget<T>, options: CrossEntropyOptions = .init(),
        extras: LossExtras = []
    ) throws -> LossSummary<T> {
        try logits.scalars.withUnsafeBufferPointer { logitsBuffer in
            try target.withBuffer { targetBuffer in
                try crossEntropySummary(
                    logits: logitsBuffer, shape: logits.shape, target: targetBuffer, options: options, extras: extras)
            }
        }
    }

    /// The loss of logits in caller memory, as `crossEntropy(logits:shape:target:options:)`, with its
    /// z-loss part, the rows kept, `mean`'s divisor and the per-row results `extras` asks for, all from
    /// the same read of the logits.
    public func crossEntropySummary<T: LogitsScalar>(
        logits: UnsafeBufferPointer<T>, shape: [Int], target: CrossEntropyTargetBuffer<T>,
        options: CrossEntropyOptions = .init(), extras: LossExtras = []
    ) throws -> LossSummary<T> {
        try withLossProblem(
            logits: logits, shape: shape, target: target, options: options, checkingTargetsWhileFolding: true
        ) { problem in
            let backend = try backend(for: T.dtype)
            let values = try problem.loss(keeping: extras) {
                try backend.run(problem.batch, output: nil, results: $0, logger: logger)
            }
            return LossSummary(
                values, rowShape: problem.batch.layout.rowShape, reduction: options.reduction, extras: extras)
        }
    }

    /// The loss and its gradient with respect to the logits, in one fused pass over the logits.
    ///
    /// `upstream` is the gradient flowing in from above: a scalar for `mean` and `sum`, one value per
    /// element for `none` (default: 1).
    public func crossEntropyWithGradient<T: LogitsScalar>(
        _ logits: Tensor<T>, target: CrossEntropyTarget<T>, options: CrossEntropyOptions = .init(),
        upstream: UpstreamGradient = .scalar(1)
    ) throws -> LossAndGradient<T> {
        var gradient = [T](repeating: 0, count: logits.scalars.count)
        let result = try logits.scalars.withUnsafeBufferPointer { logitsBuffer in
            try target.withBuffer { targetBuffer in
                try gradient.withUnsafeMutableBufferPointer { gradientBuffer in
                    try crossEntropyWithGradient(
                        logits: logitsBuffer, shape: logits.shape, target: targetBuffer, options: options,
                        upstream: upstream, gradientInto: gradientBuffer)
                }
            }
        }
        return LossAndGradient(
            loss: result.loss, zLoss: result.zLoss, gradient: Tensor(shape: logits.shape, scalars: gradient),
            logSumExp: result.logSumExp)
    }

    /// The loss, with its gradient written into `gradientInto` (the logits' count and layout).
    ///
    /// The gradient is computed in the accumulation type and rounded once into the buffer's type: the
    /// logits' own type, or `Float` for `Float16` and `BFloat16` logits (a gradient twice the bytes and
    /// without the 16-bit rounding), which must then not overlap the logits. Any other type is refused with
    /// `.invalidOption`.
    public func crossEntropyWithGradient<T: LogitsScalar, G: LogitsScalar>(
        logits: UnsafeBufferPointer<T>, shape: [Int], target: CrossEntropyTargetBuffer<T>,
        options: CrossEntropyOptions = .init(), upstream: UpstreamGradient = .scalar(1),
        gradientInto gradient: UnsafeMutableBufferPointer<G>
    ) throws -> LossAndLogSumExp<T> {
        guard G.self == T.self || (G.self == Float.self && T.Accumulator.self == Float.self) else {
            throw CrossEntropyError(
                .invalidOption,
                "the gradient of \(T.dtype) logits is written as \(T.dtype) or float32, not \(G.dtype)")
        }
        guard gradient.count == logits.count else {
            throw CrossEntropyError(
                .invalidShape, "gradient buffer has \(gradient.count) elements, the logits \(logits.count)")
        }
        // In place is for a gradient of the logits' own type; a wider one would overwrite rows not yet read.
        if G.self != T.self, let logitsBytes = UnsafeRawBufferPointer(logits).baseAddress,
            let gradientBytes = UnsafeRawBufferPointer(gradient).baseAddress,
            gradientBytes < logitsBytes + logits.count * MemoryLayout<T>.stride,
            logitsBytes < gradientBytes + gradient.count * MemoryLayout<G>.stride
        {
            throw CrossEntropyError(
                .invalidOption, "a \(G.dtype) gradient buffer must not overlap the \(T.dtype) logits")
        }
        return try withLossProblem(logits: logits, shape: shape, target: target, options: options) { problem in
            let (scales, rowUpstream) = try problem.gradientScales(upstream: upstream)
            let values = try (rowUpstream ?? []).withUnsafeBufferPointer { upstreamBuffer in
                let output = RowOutput(
                    gradientInto: gradient, scales: scales, rowUpstream: rowUpstream == nil ? nil : upstreamBuffer)
                let backend = try backend(for: T.dtype)
                return try problem.loss(keeping: .logSumExp) {
                    try backend.run(problem.batch, output: output, results: $0, logger: logger)
                }
            }
            return LossAndLogSumExp(
                loss: values.loss, zLoss: values.zLoss,
                logSumExp: Tensor(
                    shape: problem.batch.layout.rowShape, scalars: values.logSumExp.map { T.Accumulator($0) }))
        }
    }

    /// The loss, overwriting the logits with the gradient (as Liger Kernel does), so training needs no
    /// second logits-sized buffer.
    public func crossEntropyWithGradient<T: LogitsScalar>(
        inPlace logits: UnsafeMutableBufferPointer<T>, shape: [Int], target: CrossEntropyTargetBuffer<T>,
        options: CrossEntropyOptions = .init(), upstream: UpstreamGradient = .scalar(1)
    ) throws -> LossAndLogSumExp<T> {
        try crossEntropyWithGradient(
            logits: UnsafeBufferPointer(logits), shape: shape, target: target, options: options, upstream: upstream,
            gradientInto: logits)
    }
}
