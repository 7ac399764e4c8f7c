/// The per-row results a loss call can return beside the loss. Each is computed only when asked for:
/// the predicted classes and entropies take one more pass over each row's logits (from cache where the
/// row fits), so the plain loss does not pay for them.
public struct LossExtras: OptionSet, Sendable {
    /// The options' bits.
    public let rawValue: Int

    /// Options from their bits.
    public init(rawValue: Int) {
        self.rawValue = rawValue
    }

    /// Each row's predicted class (the first index of its maximum, as `torch.argmax`; -1 for an ignored
    /// row) and, for class-index targets, the token accuracy.
    public static let predictedClasses = LossExtras(rawValue: 1)
    /// Each row's entropy `−Σ p·log p` of `p = softmax(logits)` (for distillation and RL).
    public static let entropy = LossExtras(rawValue: 2)
    /// Each row's logsumexp.
    public static let logSumExp = LossExtras(rawValue: 4)
}

/// The loss with the parts and counts a training loop logs, and the per-row results it asked for.
public struct LossSummary<Scalar: LogitsScalar>: Sendable {
    /// The loss, its z-loss part included: a scalar for `mean` and `sum`, the target's shape for `none`.
    public var loss: Tensor<Scalar.Accumulator>
    /// The z-loss part of `loss` (`CrossEntropyOptions.zLossScale`), shaped as `loss`; zero without one.
    public var zLoss: Tensor<Scalar.Accumulator>
    /// The rows whose target is not ignored (every row for probability targets).
    public var rowsKept: Int
    /// What `mean` divided the cross-entropy by: the total weight of the rows kept (their number without
    /// class weights); `nil` for `sum` and `none`.
    public var divisor: Double?
    /// Each row's predicted class, one per row (the target's shape), with `.predictedClasses`.
    public var predictedClasses: Tensor<Int64>?
    /// The fraction of the rows kept whose predicted class is their target (NaN when no row is kept),
    /// with `.predictedClasses` and class-index targets.
    public var tokenAccuracy: Double?
    /// Each row's entropy, one per row, with `.entropy`.
    public var entropy: Tensor<Scalar.Accumulator>?
    /// Each row's logsumexp, one per row, with `.logSumExp`.
    public var logSumExp: Tensor<Scalar.Accumulator>?
}

extension LossSummary {
    /// The summary of a loss call's `values` over rows of shape `rowShape`, with the per-row results
    /// `extras` asked for.
    init(
        _ values: LossValues<Scalar.Accumulator>, rowShape: [Int], reduction: LossReduction, extras: LossExtras
    ) {
        self.init(
            loss: values.loss, zLoss: values.zLoss, rowsKept: values.kept.count,
            divisor: reduction == .mean ? values.kept.weight : nil,
            predictedClasses: extras.contains(.predictedClasses)
                ? Tensor(shape: rowShape, scalars: values.predicted) : nil,
            tokenAccuracy: values.tokenAccuracy,
            entropy: extras.contains(.entropy)
                ? Tensor(shape: rowShape, scalars: values.entropy.map { Scalar.Accumulator($0) }) : nil,
            logSumExp: extras.contains(.logSumExp)
                ? Tensor(shape: rowShape, scalars: values.logSumExp.map { Scalar.Accumulator($0) }) : nil)
    }
}
