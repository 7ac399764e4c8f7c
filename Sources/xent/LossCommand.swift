import ArgumentParser
import CrossEntropy
import NPY

/// `xent loss`: the cross-entropy of `.npy` inputs, as `torch.nn.functional.cross_entropy`.
struct LossCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loss", abstract: "Compute the cross-entropy loss (and its gradient) of .npy files.")

    @Option(help: ArgumentHelp("Logits: <f2, <f4 or <f8 of shape (C), (N, C) or (N, C, d1, ...).", valueName: "L.npy"))
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

    @Option(help: "none, mean or sum.")
    var reduction: LossReduction = .mean

    @OptionGroup var deviceOptions: DeviceOptions

    @Option(help: ArgumentHelp("Write the loss as .npy (<f8 for <f8 logits, else <f4).", valueName: "LOSS.npy"))
    var out: String?

    @Option(help: ArgumentHelp("Write d loss / d logits as .npy, in the logits' shape.", valueName: "GRAD.npy"))
    var gradOut: String?

    func validate() throws {
        guard labelSmoothing >= 0, labelSmoothing <= 1 else {
            throw ValidationError("label smoothing must be between 0.0 and 1.0, got \(labelSmoothing)")
        }
        if let out, out == gradOut {
            throw ValidationError("--out and --grad-out name the same file")
        }
    }

    func run() throws {
        let logitsFile = try NPYFile(path: logits)
        let targetFile = try NPYFile(path: target)
        let weights = try weight.map(readWeights)
        let engine = try deviceOptions.makeEngine()
        let options = CrossEntropyOptions(
            reduction: reduction, weight: weights, ignoreIndex: ignoreIndex, labelSmoothing: labelSmoothing,
            zLossScale: zLossScale)
        let result: LossResult
        switch logitsFile.dtype {
        case .float16: result = try compute(Float16.self, logitsFile, targetFile, options, engine)
        case .float32: result = try compute(Float.self, logitsFile, targetFile, options, engine)
        case .float64: result = try compute(Double.self, logitsFile, targetFile, options, engine)
        case .int32, .int64:
            throw CommandError(
                "\(logits): logits must be floating point (<f2, <f4 or <f8), got \(logitsFile.dtype.rawValue)")
        }
        try result.write(loss: out, gradient: gradOut)
        let format = logitsFile.dtype == .float64 ? "%#.17g" : "%#.9g"
        for value in result.loss {
            print(formatted(value, format))
        }
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
                guard gradOut != nil else {
                    let loss = try engine.crossEntropy(
                        logits: logitsBuffer, shape: logitsFile.shape, target: target, options: options)
                    return LossResult(loss: loss.scalars.map(Double.init), lossShape: loss.shape, lossDType: lossDType)
                }
                var gradient = [T](repeating: 0, count: logitsBuffer.count)
                let loss = try gradient.withUnsafeMutableBufferPointer {
                    try engine.crossEntropyWithGradient(
                        logits: logitsBuffer, shape: logitsFile.shape, target: target, options: options,
                        gradientInto: $0
                    ).loss
                }
                var result = LossResult(
                    loss: loss.scalars.map(Double.init), lossShape: loss.shape, lossDType: lossDType)
                result.gradientShape = logitsFile.shape
                // Compare the types, not `as?` casts: an empty array casts to any element type.
                // Float and Double gradients are written as they are (no second logits-sized copy).
                if T.self == Double.self {
                    result.gradient = .float64(unsafeBitCast(gradient, to: [Double].self))
                } else if T.self == Float.self {
                    result.gradient = .float32(unsafeBitCast(gradient, to: [Float].self))
                } else {
                    result.gradient = .float32(gradient.map { Float($0) })
                }
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
        case .float16, .float32, .float64:
            let probabilities = file.doubles().map { T($0) }
            return try probabilities.withUnsafeBufferPointer { try body(.probabilities($0, shape: file.shape)) }
        }
    }
}

/// What `xent loss` computed, ready to print and write.
struct LossResult {
    enum Gradient {
        case float32([Float])
        case float64([Double])
    }

    var loss: [Double]
    var lossShape: [Int]
    var lossDType: NPYDType
    var gradient: Gradient?
    var gradientShape: [Int] = []

    /// Stages every requested file, then renames them all into place: on failure none is written.
    func write(loss lossPath: String?, gradient gradientPath: String?) throws {
        var staged: [NPYStagedFile] = []
        do {
            if let lossPath {
                staged.append(
                    lossDType == .float64
                        ? try NPYStagedFile.stage(loss, shape: lossShape, to: lossPath)
                        : try NPYStagedFile.stage(loss.map { Float($0) }, shape: lossShape, to: lossPath))
            }
            if let gradientPath, let gradient {
                switch gradient {
                case .float32(let values):
                    staged.append(try NPYStagedFile.stage(values, shape: gradientShape, to: gradientPath))
                case .float64(let values):
                    staged.append(try NPYStagedFile.stage(values, shape: gradientShape, to: gradientPath))
                }
            }
            for file in staged {
                try file.commit()
            }
        } catch {
            for file in staged { file.discard() }
            throw error
        }
    }
}

/// A failure of the command itself (bad input it refuses), printed as its message.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
