import ArgumentParser
import CrossEntropy
import NPY

/// `xent loss`: the cross-entropy of `.npy` inputs, as `torch.nn.functional.cross_entropy`.
struct LossCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loss", abstract: "Compute the cross-entropy loss (and its gradient) of .npy files.",
        discussion: """
            EXAMPLES:
              xent loss --logits L.npy --target T.npy
              xent loss --logits L.npy --target T.npy --weight W.npy \\
                  --label-smoothing 0.1 --grad-out G.npy --device opencl
              xent loss --logits L.npy --target T.npy --z-loss-scale 1e-4 \\
                  --softcap 30 --lse-out LSE.npy --json
              mpirun -n 2 xent loss --logits L.npy --target T.npy --vocab-parallel
            """)

    @Option(
        help: ArgumentHelp(
            "Logits: <f2, <V2 (bfloat16), <f4 or <f8 of shape (C), (N, C) or (N, C, d1, ...).", valueName: "L.npy"))
    var logits: String

    @Option(
        help: ArgumentHelp(
            "Class indices (<i8, <i4) of shape (), (N) or (N, d1, ...), or class probabilities of the logits' shape.",
            valueName: "T.npy"))
    var target: String

    @OptionGroup var classOptions: ClassOptions

    @OptionGroup var deviceOptions: DeviceOptions

    @OptionGroup var sharding: ShardingOptions

    @Option(help: ArgumentHelp("Write the loss as .npy (<f8 for <f8 logits, else <f4).", valueName: "LOSS.npy"))
    var out: String?

    @Option(help: ArgumentHelp("Write d loss / d logits as .npy, in the logits' shape.", valueName: "GRAD.npy"))
    var gradOut: String?

    @Option(
        help: ArgumentHelp(
            "Write each row's logsumexp as .npy (one per row; <f8 for <f8 logits, else <f4).", valueName: "L.npy"))
    var lseOut: String?

    @Option(
        help: ArgumentHelp(
            "Write each row's predicted class (first index of its maximum) as <i8 .npy, -1 for ignored rows.",
            valueName: "P.npy"))
    var predictedOut: String?

    @Flag(help: "Print one JSON object: loss, z_loss, token_accuracy, rows_kept and divisor.")
    var json = false

    /// How to read the logits.
    enum LogitsDType: String, CaseIterable, ExpressibleByArgument {
        case f16, bf16, f32, f64

        /// The library's storage type of the name.
        var storage: CrossEntropy.LogitsDType {
            switch self {
            case .f16: .float16
            case .bf16: .bfloat16
            case .f32: .float32
            case .f64: .float64
            }
        }
    }

    @Option(help: "How to read the logits; a type the file contradicts is an error (default: the file's).")
    var logitsDtype: LogitsDType?

    /// The type `--grad-out` is written in.
    enum GradientDType: String, CaseIterable, ExpressibleByArgument {
        case f32, logits
    }

    @Option(help: "The gradient's type: f32 (<f8 for <f8 logits, else <f4) or logits (the logits' own type).")
    var gradDtype: GradientDType = .f32

    func validate() throws {
        let outputs = [out, gradOut, lseOut, predictedOut].compactMap { $0 }
        if Set(outputs).count != outputs.count {
            throw ValidationError("--out, --grad-out, --lse-out and --predicted-out must name different files")
        }
        if sharding.isSharded && predictedOut != nil {
            throw ValidationError("--predicted-out is not available with --vocab-parallel or --data-parallel")
        }
    }

    func run() throws {
        #if MPI
            if sharding.isSharded {
                try runSharded()
                return
            }
        #endif
        let logitsFile = try NPYFile(path: logits)
        let targetFile = try NPYFile(path: target)
        let options = try classOptions.options()
        let engine = try deviceOptions.makeEngine()
        let progress = ProgressLine("xent loss: computing on \(engine.device.name)")
        defer { progress.finish() }
        let result: LossResult
        switch try logitsType(of: logitsFile) {
        case .float16: result = try compute(Float16.self, logitsFile, targetFile, options, engine)
        case .bfloat16: result = try compute(BFloat16.self, logitsFile, targetFile, options, engine)
        case .float32: result = try compute(Float.self, logitsFile, targetFile, options, engine)
        case .float64: result = try compute(Double.self, logitsFile, targetFile, options, engine)
        }
        progress.update("xent loss: writing")
        try result.write(loss: out, logSumExp: lseOut, predicted: predictedOut)
        progress.finish()
        result.printLoss(json: json)
    }

    /// The per-row results the requested outputs need beside the loss.
    private var extras: LossExtras {
        var extras: LossExtras = []
        if json || predictedOut != nil { extras.insert(.predictedClasses) }
        if lseOut != nil { extras.insert(.logSumExp) }
        return extras
    }

    /// How to read the logits: the file's floating-point type (`<V2` as bfloat16), or what
    /// `--logits-dtype` says where the file agrees (raw `<u2` bit patterns only with `bf16`).
    func logitsType(of file: NPYFile) throws -> CrossEntropy.LogitsDType {
        let stored: CrossEntropy.LogitsDType?
        switch file.dtype {
        case .float16: stored = .float16
        case .bfloat16: stored = .bfloat16
        case .float32: stored = .float32
        case .float64: stored = .float64
        case .uint16: stored = logitsDtype == .bf16 ? .bfloat16 : nil
        case .int32, .int64: stored = nil
        }
        guard let stored else {
            let hint = file.dtype == .uint16 ? " (raw bfloat16 bit patterns need --logits-dtype bf16)" : ""
            throw CommandError(
                "\(logits): logits must be floating point (<f2, <V2, <f4 or <f8), got \(file.dtype.rawValue)\(hint)")
        }
        if let logitsDtype, logitsDtype.storage != stored {
            throw CommandError(
                "\(logits): --logits-dtype \(logitsDtype.rawValue) contradicts the file's \(file.dtype.rawValue)")
        }
        return stored
    }

    private func compute<T: LogitsScalar>(
        _: T.Type, _ logitsFile: NPYFile, _ targetFile: NPYFile, _ options: CrossEntropyOptions,
        _ engine: CrossEntropyEngine
    ) throws -> LossResult {
        try logitsFile.withUnsafeBufferPointer(of: T.self) { logitsBuffer in
            try withTarget(targetFile, as: T.self) { target in
                let lossDType: NPYDType = T.self == Double.self ? .float64 : .float32
                // The summary reads the logits once for the loss and the per-row results; a gradient takes
                // a pass of its own, whose loss is the one printed, and the summary only where the
                // counts, the accuracy or the predicted classes are asked for.
                let summary =
                    gradOut == nil || json || predictedOut != nil
                    ? try engine.crossEntropySummary(
                        logits: logitsBuffer, shape: logitsFile.shape, target: target, options: options, extras: extras)
                    : nil
                if gradOut == nil, let summary {
                    return LossResult(summary, lossDType: lossDType)
                }
                /// The loss with its gradient written as `G`.
                func withGradient<G: LogitsScalar>(_: G.Type) throws -> (LossAndLogSumExp<T>, LossResult.Gradient) {
                    var values = [G](repeating: 0, count: logitsBuffer.count)
                    let fused = try values.withUnsafeMutableBufferPointer {
                        try engine.crossEntropyWithGradient(
                            logits: logitsBuffer, shape: logitsFile.shape, target: target, options: options,
                            gradientInto: $0)
                    }
                    return (fused, LossResult.Gradient(values))
                }
                // Float16 and BFloat16 gradients are written as Float unless the logits' type is asked for;
                // Float and Double ones as they are.
                let (fused, gradient) =
                    gradDtype == .logits || T.Accumulator.self != Float.self
                    ? try withGradient(T.self) : try withGradient(Float.self)
                var result =
                    summary.map { LossResult($0, lossDType: lossDType) }
                    ?? LossResult(lossShape: fused.loss.shape, lossDType: lossDType)
                result.loss = fused.loss.scalars.map(Double.init)
                result.zLoss = fused.zLoss.scalars.map(Double.init)
                result.logSumExp = lseOut == nil ? nil : widened(fused.logSumExp)
                result.gradients = gradOut.map { [(path: $0, values: gradient, shape: logitsFile.shape)] } ?? []
                return result
            }
        }
    }

    /// Calls `body` with the target file as class indices or as probabilities in the logits' type.
    private func withTarget<T: LogitsScalar, R>(
        _ file: NPYFile, as: T.Type, _ body: (CrossEntropyTargetBuffer<T>) throws -> R
    ) throws -> R {
        switch file.dtype {
        case .int64:
            return try file.withUnsafeBufferPointer(of: Int64.self) { try body(.classIndices($0, shape: file.shape)) }
        case .int32:
            return try file.withUnsafeBufferPointer(of: Int32.self) { try body(.classIndices32($0, shape: file.shape)) }
        case .float16, .bfloat16, .float32, .float64:
            let probabilities = file.doubles().map { T($0) }
            return try probabilities.withUnsafeBufferPointer { try body(.probabilities($0, shape: file.shape)) }
        case .uint16:
            throw CommandError(
                "\(target): target must be class indices (<i8, <i4) or floating probabilities, got <u2")
        }
    }
}

/// A failure of the command itself (bad input it refuses), printed as its message.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
