import ArgumentParser
import CrossEntropy
import NPY

/// The options of the loss over the classes, shared by `xent loss` and `xent linear-loss`: PyTorch's
/// `cross_entropy` arguments and the training extras.
struct ClassOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Per-class weights, floating, shape (C).", valueName: "W.npy"))
    var weight: String?

    // Unconditional parsing: a negative value such as `-100` is the option's value, not a flag.
    @Option(parsing: .unconditional, help: "Target value whose rows are skipped (class-index targets only).")
    var ignoreIndex: Int = -100

    @Option(parsing: .unconditional, help: "Label smoothing in [0, 1].")
    var labelSmoothing: Double = 0

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "z-loss: each row not ignored adds Z · logsumexp² (Liger's lse_square_scale); mean divides it by the rows kept.",
            valueName: "Z"))
    var zLossScale: Double = 0

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Logit soft-capping: logits pass through S · tanh(x / S) before everything else (S > 0).",
            valueName: "S"))
    var softcap: Double?

    @Option(help: "none, mean or sum.")
    var reduction: LossReduction = .mean

    /// The library's own check of the options (one wording for each error everywhere).
    func validate() throws {
        do {
            try CrossEntropyOptions(
                labelSmoothing: labelSmoothing, zLossScale: zLossScale, softcap: softcap
            ).validate()
        } catch let error as CrossEntropyError {
            throw ValidationError(error.message)
        }
    }

    /// The library's options, with the weights read from their file.
    func options() throws -> CrossEntropyOptions {
        CrossEntropyOptions(
            reduction: reduction, weight: try weight.map(readWeights), ignoreIndex: ignoreIndex,
            labelSmoothing: labelSmoothing, zLossScale: zLossScale, softcap: softcap)
    }

    private func readWeights(_ path: String) throws -> [Double] {
        let file = try NPYFile(path: path)
        guard file.shape.count == 1 else {
            throw CommandError("\(path): weight must have shape (C), got \(file.shape)")
        }
        guard file.dtype.isFloatingPoint else {
            throw CommandError("\(path): weight must be floating point, got \(file.dtype.rawValue)")
        }
        return file.doubles()
    }
}
