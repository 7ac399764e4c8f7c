import ArgumentParser
import CrossEntropy
import NPY

/// `xent loss`: the cross-entropy of `.npy` inputs, as `torch.nn.functional.cross_entropy`.
struct LossCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loss", abstract: "Compute the cross-entropy loss (and its gradient) of .npy files.")

    @Option(
        help: ArgumentHelp(
            "Logits: <f2, <V2 (bfloat16), <f4 or <f8 of shape (C), (N, C) or (N, C, d1, ...).", valueName: "L.npy"))
    var logits: String

    @Option(
        help: ArgumentHelp(
            "Class indices (<i8, <i4) of shape (), (N) or (N, d1, ...), or class probabilities of the logits' shape.",
            valueName: "T.npy"))
    var target: String

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

    @OptionGroup var deviceOptions: DeviceOptions

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
        guard labelSmoothing >= 0, labelSmoothing <= 1 else {
            throw ValidationError("label smoothing must be between 0.0 and 1.0, got \(labelSmoothing)")
        }
        let outputs = [out, gradOut, lseOut, predictedOut].compactMap { $0 }
        if Set(outputs).count != outputs.count {
            throw ValidationError("--out, --grad-out, --lse-out and --predicted-out must name different files")
        }
    }

    func run() throws {
        let logitsFile = try NPYFile(path: logits)
        let targetFile = try NPYFile(path: target)
        let weights = try weight.map(readWeights)
        let engine = try deviceOptions.makeEngine()
        let options = CrossEntropyOptions(
            reduction: reduction, weight: weights, ignoreIndex: ignoreIndex, labelSmoothing: labelSmoothing,
            zLossScale: zLossScale, softcap: softcap)
        let result: LossResult
        switch try logitsType(of: logitsFile) {
        case .float16: result = try compute(Float16.self, logitsFile, targetFile, options, engine)
        case .bfloat16: result = try compute(BFloat16.self, logitsFile, targetFile, options, engine)
        case .float32: result = try compute(Float.self, logitsFile, targetFile, options, engine)
        case .float64: result = try compute(Double.self, logitsFile, targetFile, options, engine)
        }
        try result.write(loss: out, gradient: gradOut, logSumExp: lseOut, predicted: predictedOut)
        let format = logitsFile.dtype == .float64 ? "%#.17g" : "%#.9g"
        if json {
            print(result.json(format: format))
        } else {
            for value in result.loss {
                print(formatted(value, format))
            }
        }
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
    private func logitsType(of file: NPYFile) throws -> CrossEntropy.LogitsDType {
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
                result.gradientShape = logitsFile.shape
                result.gradient = gradient
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

/// What `xent loss` computed, ready to print and write.
struct LossResult {
    enum Gradient {
        case float16([Float16])
        case bfloat16([BFloat16])
        case float32([Float])
        case float64([Double])

        /// The gradient as computed, in the logits' type. (The types are compared rather than cast: an
        /// empty array casts to any element type.)
        init<T: LogitsScalar>(_ values: [T]) {
            switch T.dtype {
            case .float16: self = .float16(unsafeBitCast(values, to: [Float16].self))
            case .bfloat16: self = .bfloat16(unsafeBitCast(values, to: [BFloat16].self))
            case .float32: self = .float32(unsafeBitCast(values, to: [Float].self))
            case .float64: self = .float64(unsafeBitCast(values, to: [Double].self))
            }
        }
    }

    var loss: [Double] = []
    var lossShape: [Int]
    var lossDType: NPYDType
    var zLoss: [Double] = []
    var rowsKept: Int?
    var divisor: Double?
    var tokenAccuracy: Double?
    /// One value per row, in the row shape: the target's for class indices, the logits' without the
    /// class dimension for probabilities.
    var logSumExp: Tensor<Double>?
    var predicted: Tensor<Int64>?
    var gradient: Gradient?
    var gradientShape: [Int] = []

    init(lossShape: [Int], lossDType: NPYDType) {
        self.lossShape = lossShape
        self.lossDType = lossDType
    }

    /// The results of a summary call.
    init<T>(_ summary: LossSummary<T>, lossDType: NPYDType) {
        self.init(
            lossShape: summary.loss.shape, lossDType: lossDType)
        loss = summary.loss.scalars.map(Double.init)
        zLoss = summary.zLoss.scalars.map(Double.init)
        rowsKept = summary.rowsKept
        divisor = summary.divisor
        tokenAccuracy = summary.tokenAccuracy
        logSumExp = summary.logSumExp.map(widened)
        predicted = summary.predictedClasses
    }

    /// The `--json` line: `{"loss": …, "z_loss": …, "token_accuracy": …, "rows_kept": …, "divisor": …}`,
    /// lists for `none`, `null` where a value does not apply, and `"nan"`, `"inf"`, `"-inf"` as strings.
    func json(format: String) -> String {
        func number(_ value: Double?) -> String {
            guard let value else { return "null" }
            return value.isFinite ? formatted(value, format) : "\"\(formatted(value, format))\""
        }
        func values(_ values: [Double]) -> String {
            lossShape.isEmpty && values.count == 1
                ? number(values[0]) : "[" + values.map { number($0) }.joined(separator: ", ") + "]"
        }
        return """
            {"loss": \(values(loss)), "z_loss": \(values(zLoss)), "token_accuracy": \(number(tokenAccuracy)), \
            "rows_kept": \(rowsKept.map(String.init) ?? "null"), "divisor": \(number(divisor))}
            """
    }

    /// Stages every requested file, then renames them all into place: on failure none is written.
    func write(
        loss lossPath: String?, gradient gradientPath: String?, logSumExp lsePath: String?,
        predicted predictedPath: String?
    ) throws {
        var staged: [NPYStagedFile] = []
        do {
            if let lossPath {
                staged.append(try stage(loss, shape: lossShape, to: lossPath))
            }
            if let gradientPath, let gradient {
                switch gradient {
                case .float16(let values):
                    staged.append(try NPYStagedFile.stage(values, shape: gradientShape, to: gradientPath))
                case .bfloat16(let values):
                    staged.append(
                        try values.withUnsafeBytes {
                            try NPYStagedFile.stage($0, dtype: .bfloat16, shape: gradientShape, to: gradientPath)
                        })
                case .float32(let values):
                    staged.append(try NPYStagedFile.stage(values, shape: gradientShape, to: gradientPath))
                case .float64(let values):
                    staged.append(try NPYStagedFile.stage(values, shape: gradientShape, to: gradientPath))
                }
            }
            if let lsePath, let logSumExp {
                staged.append(try stage(logSumExp.scalars, shape: logSumExp.shape, to: lsePath))
            }
            if let predictedPath, let predicted {
                staged.append(try NPYStagedFile.stage(predicted.scalars, shape: predicted.shape, to: predictedPath))
            }
            for file in staged {
                try file.commit()
            }
        } catch {
            for file in staged { file.discard() }
            throw error
        }
    }

    /// `values` staged as `<f8` for `<f8` logits, else `<f4`.
    private func stage(_ values: [Double], shape: [Int], to path: String) throws -> NPYStagedFile {
        lossDType == .float64
            ? try NPYStagedFile.stage(values, shape: shape, to: path)
            : try NPYStagedFile.stage(values.map { Float($0) }, shape: shape, to: path)
    }
}

/// `tensor` in `Double`, for writing.
private func widened<Scalar: BinaryFloatingPoint>(_ tensor: Tensor<Scalar>) -> Tensor<Double> {
    Tensor(shape: tensor.shape, scalars: tensor.scalars.map(Double.init))
}

/// A failure of the command itself (bad input it refuses), printed as its message.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
