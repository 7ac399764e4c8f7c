import CPURowKernels

/// The loss and, when asked for, its gradient and each row's logsumexp.
public struct LossAndGradient<Scalar: LogitsScalar>: Sendable {
    /// The loss: a scalar for `mean` and `sum`, the target's shape for `none`.
    public var loss: Tensor<Scalar.Accumulator>
    /// d loss / d logits (for `none`, of the upstream-weighted sum), in the logits' shape and type.
    public var gradient: Tensor<Scalar>
    /// Each row's logsumexp, in the target's shape: with the logits it gives the gradient again later.
    public var logSumExp: Tensor<Scalar.Accumulator>
}

/// The loss and each row's logsumexp, from a call that wrote the gradient into caller memory.
public struct LossAndLogSumExp<Scalar: LogitsScalar>: Sendable {
    /// The loss: a scalar for `mean` and `sum`, the target's shape for `none`.
    public var loss: Tensor<Scalar.Accumulator>
    /// Each row's logsumexp, in the target's shape.
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
        try withLossProblem(logits: logits, shape: shape, target: target, options: options) { problem in
            var accumulator = LossAccumulator(problem)
            try backend(for: T.dtype).run(problem.batch, output: nil) { rows, stats in
                accumulator.add(rows: rows, stats: stats)
            }
            return problem.lossTensor(accumulator)
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
            loss: result.loss, gradient: Tensor(shape: logits.shape, scalars: gradient), logSumExp: result.logSumExp)
    }

    /// The loss, with its gradient written into `gradientInto` (the logits' count and layout).
    public func crossEntropyWithGradient<T: LogitsScalar>(
        logits: UnsafeBufferPointer<T>, shape: [Int], target: CrossEntropyTargetBuffer<T>,
        options: CrossEntropyOptions = .init(), upstream: UpstreamGradient = .scalar(1),
        gradientInto gradient: UnsafeMutableBufferPointer<T>
    ) throws -> LossAndLogSumExp<T> {
        guard gradient.count == logits.count else {
            throw CrossEntropyError(
                .invalidShape, "gradient buffer has \(gradient.count) elements, the logits \(logits.count)")
        }
        return try withLossProblem(logits: logits, shape: shape, target: target, options: options) { problem in
            let (scale, rowUpstream) = try problem.gradientScale(upstream: upstream)
            var accumulator = LossAccumulator(problem, keepingLogSumExp: true)
            try (rowUpstream ?? []).withUnsafeBufferPointer { upstreamBuffer in
                let output = RowOutput(
                    gradientInto: gradient, scale: scale, rowUpstream: rowUpstream == nil ? nil : upstreamBuffer)
                try backend(for: T.dtype).run(problem.batch, output: output) { rows, stats in
                    accumulator.add(rows: rows, stats: stats)
                }
            }
            return LossAndLogSumExp(
                loss: problem.lossTensor(accumulator), logSumExp: problem.logSumExpTensor(accumulator))
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

/// Folds the per-row statistics into the reduced loss, chunk by chunk. Not generic, so that its per-row
/// loop is compiled for concrete types.
struct LossAccumulator {
    let rule: RowLossRule
    let reduction: LossReduction
    let divisor: Double
    private(set) var rowLosses: [Double]
    private(set) var logSumExp: [Double]
    private var sum = 0.0

    init<T>(_ problem: LossProblem<T>, keepingLogSumExp: Bool = false) {
        rule = problem.rule
        reduction = problem.reduction
        divisor = problem.divisor
        let rows = problem.batch.layout.rows
        rowLosses = problem.reduction == .none ? [Double](repeating: 0, count: rows) : []
        logSumExp = keepingLogSumExp ? [Double](repeating: 0, count: rows) : []
    }

    mutating func add(rows: Range<Int>, stats: UnsafeBufferPointer<xent_row_stat>) {
        if reduction == .none {
            for (offset, stat) in stats.enumerated() {
                rowLosses[rows.lowerBound + offset] = rule.loss(stat, row: rows.lowerBound + offset)
            }
        } else {
            for (offset, stat) in stats.enumerated() {
                sum += rule.loss(stat, row: rows.lowerBound + offset)
            }
        }
        if !logSumExp.isEmpty {
            for (offset, stat) in stats.enumerated() {
                logSumExp[rows.lowerBound + offset] = stat.lse
            }
        }
    }

    /// The reduced loss.
    var reduced: [Double] {
        switch reduction {
        case .none: rowLosses
        case .sum: [sum]
        case .mean: [sum / divisor]
        }
    }
}

extension LossProblem {
    /// The accumulated loss as a tensor of the loss's shape.
    func lossTensor(_ accumulator: LossAccumulator) -> Tensor<T.Accumulator> {
        Tensor(shape: lossShape, scalars: accumulator.reduced.map { T.Accumulator($0) })
    }

    /// The accumulated logsumexp of each row, in the target's shape.
    func logSumExpTensor(_ accumulator: LossAccumulator) -> Tensor<T.Accumulator> {
        Tensor(shape: batch.layout.rowShape, scalars: accumulator.logSumExp.map { T.Accumulator($0) })
    }
}
