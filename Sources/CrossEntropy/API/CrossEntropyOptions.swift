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

    /// Throws `.invalidOption`, in PyTorch's words where PyTorch has the option, when label smoothing is
    /// outside [0, 1], the z-loss scale negative or not finite, or the soft-cap not a finite number above
    /// 0. Every call checks this first; the class weights are checked against the logits' classes there.
    public func validate() throws {
        guard labelSmoothing >= 0, labelSmoothing <= 1 else {
            throw CrossEntropyError(
                .invalidOption, "label_smoothing must be between 0.0 and 1.0. Got: \(labelSmoothing)")
        }
        guard zLossScale >= 0, zLossScale.isFinite else {
            throw CrossEntropyError(
                .invalidOption, "z_loss_scale must be a finite number of at least 0.0. Got: \(zLossScale)")
        }
        if let softcap, !(softcap > 0 && softcap.isFinite) {
            throw CrossEntropyError(.invalidOption, "softcap must be a finite number greater than 0.0. Got: \(softcap)")
        }
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
