/// How per-element losses are combined, as PyTorch's `reduction` argument.
public enum LossReduction: String, Sendable, CaseIterable, CustomStringConvertible {
    /// One loss per element, in the target's shape.
    case none
    /// The weighted mean: divided by the total weight of the rows not ignored (by the number of rows
    /// for probability targets).
    case mean
    /// The sum.
    case sum

    /// The name, as `mean`.
    public var description: String { rawValue }
}

/// The options of `torch.nn.functional.cross_entropy`, with its defaults.
public struct CrossEntropyOptions: Sendable, Equatable {
    /// How the per-element losses are combined.
    public var reduction: LossReduction
    /// One weight per class, or `nil` for all ones.
    public var weight: [Double]?
    /// Rows whose class-index target equals this are skipped: zero loss, zero gradient, and not counted
    /// by `mean`. Must stay -100 with probability targets.
    public var ignoreIndex: Int
    /// Mixes the target with the uniform distribution: `(1 − ε)·target + ε/C`, with ε in [0, 1].
    public var labelSmoothing: Double
    /// The z-loss (PaLM's auxiliary loss; Liger Kernel's `lse_square_scale`): each row not ignored adds
    /// `zLossScale · lse²` to its loss, with `lse` its logsumexp. `mean` divides the z-loss by the number
    /// of rows not ignored, unweighted by class weights, as Liger Kernel does. 0 (the default) is none;
    /// it must not be negative.
    public var zLossScale: Double
    /// Logit soft-capping (Gemma 2): every logit `x` is read as `softcap · tanh(x / softcap)` before
    /// anything else, in the same pass, and the gradient carries the factor `1 − tanh²(x / softcap)`.
    /// `nil` (the default) is none; a value must be finite and greater than 0.
    public var softcap: Double?

    /// The options; every default is PyTorch's (and no z-loss, no soft-capping).
    public init(
        reduction: LossReduction = .mean, weight: [Double]? = nil, ignoreIndex: Int = -100,
        labelSmoothing: Double = 0, zLossScale: Double = 0, softcap: Double? = nil
    ) {
        self.reduction = reduction
        self.weight = weight
        self.ignoreIndex = ignoreIndex
        self.labelSmoothing = labelSmoothing
        self.zLossScale = zLossScale
        self.softcap = softcap
    }
}

/// The gradient flowing into the loss from above: a scalar for `mean` and `sum`, one value per
/// element (in the target's shape) for `none`.
public enum UpstreamGradient: Sendable, Equatable {
    /// The same factor for every element (1 for a plain gradient).
    case scalar(Double)
    /// One factor per element of the `none` loss, in C order.
    case elements([Double])
}
