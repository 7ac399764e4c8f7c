import CrossEntropy
import NPY

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
    /// The gradients to write: where, the values, their shape.
    var gradients: [(path: String, values: Gradient, shape: [Int])] = []

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

    /// Prints the loss as the command-line contract has it: the `--json` object, or one value a line
    /// (17 significant digits for float64 inputs, 9 otherwise).
    func printLoss(json: Bool) {
        let format = lossDType == .float64 ? "%#.17g" : "%#.9g"
        if json {
            print(self.json(format: format))
        } else {
            for value in loss {
                print(formatted(value, format))
            }
        }
    }

    /// Stages every requested file, then renames them all into place: on failure none is written.
    func write(loss lossPath: String?, logSumExp lsePath: String?, predicted predictedPath: String?) throws {
        var staged: [NPYStagedFile] = []
        do {
            if let lossPath {
                staged.append(try stage(loss, shape: lossShape, to: lossPath))
            }
            for gradient in gradients {
                staged.append(try stage(gradient.values, shape: gradient.shape, to: gradient.path))
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

    /// A gradient staged in its own type.
    private func stage(_ gradient: Gradient, shape: [Int], to path: String) throws -> NPYStagedFile {
        switch gradient {
        case .float16(let values):
            try NPYStagedFile.stage(values, shape: shape, to: path)
        case .bfloat16(let values):
            try values.withUnsafeBytes { try NPYStagedFile.stage($0, dtype: .bfloat16, shape: shape, to: path) }
        case .float32(let values):
            try NPYStagedFile.stage(values, shape: shape, to: path)
        case .float64(let values):
            try NPYStagedFile.stage(values, shape: shape, to: path)
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
func widened<Scalar: BinaryFloatingPoint>(_ tensor: Tensor<Scalar>) -> Tensor<Double> {
    Tensor(shape: tensor.shape, scalars: tensor.scalars.map(Double.init))
}
