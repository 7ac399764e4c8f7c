import ArgumentParser
import CrossEntropy
import NPY

/// `xent linear-loss`: the cross-entropy of `hidden · linear_weightᵀ + linear_bias` without forming those
/// logits in full, as `torch.nn.functional.linear_cross_entropy`.
struct LinearLossCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linear-loss",
        abstract:
            "Fused linear + cross-entropy of .npy files: the loss of X·Wᵀ + b (and its gradients), chunk by chunk.",
        discussion: """
            The GEMMs are OpenBLAS's on the CPU and CLBlast's on an OpenCL device (15-20 times slower \
            than OpenBLAS on an OpenCL CPU device such as PoCL).

            EXAMPLES:
              xent linear-loss --hidden X.npy --linear-weight W.npy --target T.npy \\
                  --grad-hidden-out GX.npy
              xent linear-loss --hidden X.npy --linear-weight W.npy --target T.npy \\
                  --linear-bias B.npy --grad-linear-weight-out GW.npy --json
            """)

    @Option(help: ArgumentHelp("Hidden states: <f4 or <f8 of shape (N, H) or (..., H).", valueName: "X.npy"))
    var hidden: String

    @Option(help: ArgumentHelp("Classifier weight of shape (V, H), the hidden states' type.", valueName: "W.npy"))
    var linearWeight: String

    @Option(help: ArgumentHelp("Class indices (<i8, <i4) of the hidden states' leading shape.", valueName: "T.npy"))
    var target: String

    @Option(help: ArgumentHelp("Classifier bias of shape (V), the hidden states' type.", valueName: "B.npy"))
    var linearBias: String?

    @OptionGroup var classOptions: ClassOptions

    @OptionGroup var deviceOptions: DeviceOptions

    @Option(
        help: ArgumentHelp(
            "Rows of logits formed at once (default: an eighth of the logits, within 16-128 MiB).", valueName: "R"))
    var chunkRows: Int?

    @Option(help: ArgumentHelp("Write the loss as .npy (<f8 for <f8 inputs, else <f4).", valueName: "LOSS.npy"))
    var out: String?

    @Option(help: ArgumentHelp("Write d loss / d hidden, in the hidden states' shape.", valueName: "F"))
    var gradHiddenOut: String?

    @Option(help: ArgumentHelp("Write d loss / d linear weight, (V, H).", valueName: "F"))
    var gradLinearWeightOut: String?

    @Option(help: ArgumentHelp("Write d loss / d linear bias, (V).", valueName: "F"))
    var gradLinearBiasOut: String?

    @Flag(help: "Print one JSON object: loss, z_loss, token_accuracy (null here), rows_kept and divisor.")
    var json = false

    func validate() throws {
        if let chunkRows, chunkRows < 1 {
            throw ValidationError("chunk rows must be at least 1, got \(chunkRows)")
        }
        if gradLinearBiasOut != nil && linearBias == nil {
            throw ValidationError("--grad-linear-bias-out needs --linear-bias")
        }
        let outputs = [out, gradHiddenOut, gradLinearWeightOut, gradLinearBiasOut].compactMap { $0 }
        if Set(outputs).count != outputs.count {
            throw ValidationError("the output options must name different files")
        }
    }

    func run() throws {
        let hiddenFile = try NPYFile(path: hidden)
        let weightFile = try NPYFile(path: linearWeight)
        let biasFile = try linearBias.map { try NPYFile(path: $0) }
        let targetFile = try NPYFile(path: target)
        let options = try classOptions.options()
        let engine = try deviceOptions.makeEngine()
        let result: LossResult
        switch hiddenFile.dtype {
        case .float32: result = try compute(Float.self, hiddenFile, weightFile, biasFile, targetFile, options, engine)
        case .float64: result = try compute(Double.self, hiddenFile, weightFile, biasFile, targetFile, options, engine)
        default:
            throw CommandError("\(hidden): hidden states must be <f4 or <f8, got \(hiddenFile.dtype.rawValue)")
        }
        try result.write(loss: out, logSumExp: nil, predicted: nil)
        result.printLoss(json: json)
    }

    private func compute<T: LinearScalar>(
        _: T.Type, _ hiddenFile: NPYFile, _ weightFile: NPYFile, _ biasFile: NPYFile?, _ targetFile: NPYFile,
        _ options: CrossEntropyOptions, _ engine: CrossEntropyEngine
    ) throws -> LossResult {
        for (path, file) in [(linearWeight, weightFile)] + (biasFile.map { [(linearBias!, $0)] } ?? [])
        where file.dtype != hiddenFile.dtype {
            throw CommandError(
                "\(path): must be \(hiddenFile.dtype.rawValue) like the hidden states, got \(file.dtype.rawValue)")
        }
        let targets: [Int64]
        switch targetFile.dtype {
        case .int64: targets = targetFile.withUnsafeBufferPointer(of: Int64.self) { Array($0) }
        case .int32: targets = targetFile.withUnsafeBufferPointer(of: Int32.self) { $0.map(Int64.init) }
        default:
            throw CommandError("\(target): target must be class indices (<i8, <i4), got \(targetFile.dtype.rawValue)")
        }
        if let biasFile, biasFile.shape.count != 1 {
            throw CommandError("\(linearBias!): linear bias must have shape (V), got \(biasFile.shape)")
        }
        let gradients = gradHiddenOut != nil || gradLinearWeightOut != nil || gradLinearBiasOut != nil
        let fused = try hiddenFile.withUnsafeBufferPointer(of: T.self) { hiddenBuffer in
            try weightFile.withUnsafeBufferPointer(of: T.self) { weightBuffer in
                try targets.withUnsafeBufferPointer { targetBuffer in
                    func call(_ biasBuffer: UnsafeBufferPointer<T>?) throws -> LinearCrossEntropyResult<T> {
                        try engine.linearCrossEntropy(
                            hidden: hiddenBuffer, hiddenShape: hiddenFile.shape, linearWeight: weightBuffer,
                            linearWeightShape: weightFile.shape, linearBias: biasBuffer, target: targetBuffer,
                            targetShape: targetFile.shape, options: options,
                            chunking: chunkRows.map { .rows($0) } ?? .default, gradients: gradients)
                    }
                    guard let biasFile else { return try call(nil) }
                    return try biasFile.withUnsafeBufferPointer(of: T.self) { try call($0) }
                }
            }
        }
        var result = LossResult(lossShape: fused.loss.shape, lossDType: T.self == Double.self ? .float64 : .float32)
        result.loss = fused.loss.scalars.map(Double.init)
        result.zLoss = fused.zLoss.scalars.map(Double.init)
        result.rowsKept = fused.rowsKept
        result.divisor = fused.divisor
        let outputs: [(String?, Tensor<T>?)] = [
            (gradHiddenOut, fused.hiddenGradient), (gradLinearWeightOut, fused.linearWeightGradient),
            (gradLinearBiasOut, fused.linearBiasGradient),
        ]
        for case (let path?, let gradient?) in outputs {
            result.gradients.append((path: path, values: LossResult.Gradient(gradient.scalars), shape: gradient.shape))
        }
        return result
    }
}
