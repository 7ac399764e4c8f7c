import ArgumentParser
import CrossEntropy

#if canImport(Glibc)
    import Glibc
#endif

/// `xent demo`: the seed notebook, then a large random batch on the chosen device.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Reproduce the seed notebook, then time a large random batch.",
        discussion: """
            EXAMPLES:
              xent demo
              xent demo --device opencl --rows 4096 --classes 1000 --verbose
            """)

    @OptionGroup var deviceOptions: DeviceOptions

    @Option(help: "Rows of the large random batch.")
    var rows = 2048

    @Option(help: "Classes of the large random batch.")
    var classes = 32768

    func validate() throws {
        guard rows > 0, classes > 0 else { throw ValidationError("rows and classes must be positive") }
    }

    /// The seed notebook's logits and targets.
    static let x = Tensor<Float>(
        shape: [5, 3],
        scalars: [
            -0.9997, 0.9024, 1.5058, 1.2295, -1.2791, 0.6434, -1.9006, 1.4064, 1.3669, -0.8453, 0.9917, 0.6591,
            0.3560, 0.9731, 0.3480,
        ])
    static let y = Tensor<Int64>(shape: [5], scalars: [2, 0, 0, 0, 2])

    func run() throws {
        let engine = try deviceOptions.makeEngine()
        let x = Self.x
        print("x, the seed notebook's logits (5 × 3):")
        printMatrix(x.scalars.map(Double.init), columns: 3)

        let logSoftmax = try engine.logSoftmax(x)
        let logOfSoftmax = try engine.softmax(x).scalars.map { log(Double($0)) }
        let lse = try engine.logSumExp(x).scalars
        let shifted = x.scalars.enumerated().map { Double($0.element) - Double(lse[$0.offset / 3]) }
        let twice = try engine.logSoftmax(logSoftmax)
        print("\nlog_softmax(x), four ways:")
        print("LogSoftmax(x):")
        printMatrix(logSoftmax.scalars.map(Double.init), columns: 3)
        print("log(Softmax(x)):")
        printMatrix(logOfSoftmax, columns: 3)
        print("x - logsumexp(x):")
        printMatrix(shifted, columns: 3)
        print("LogSoftmax(LogSoftmax(x)):")
        printMatrix(twice.scalars.map(Double.init), columns: 3)

        let target = CrossEntropyTarget<Float>.classIndices(Self.y)
        let losses = [
            ("CrossEntropyLoss(x)", try engine.crossEntropy(x, target: target)),
            ("NLLLoss(LogSoftmax(x))", try engine.nllLoss(logSoftmax, target: target)),
            ("CrossEntropyLoss(LogSoftmax(x))", try engine.crossEntropy(logSoftmax, target: target)),
        ]
        print("\ntarget y = \(Self.y.scalars)")
        for (name, loss) in losses {
            let value = Double(loss.scalar)
            print("\(name.padding(to: 34)) \(formatted(value, "%.4f"))   (\(formatted(value, "%.9g")))")
        }

        var random = RandomLogits(seed: 42)
        let logits = Tensor(shape: [rows, classes], scalars: random.logits(count: rows * classes, as: Float.self))
        let labels = CrossEntropyTarget<Float>.classIndices(
            Tensor(shape: [rows], scalars: random.classIndices(count: rows, classes: classes)))
        _ = try engine.crossEntropy(logits, target: labels)
        var loss = Float.nan
        let seconds = try secondsElapsed { loss = try engine.crossEntropy(logits, target: labels).scalar }
        let gigabytes = Double(rows * classes * 4) / 1e9
        print(
            "\nA random batch of \(rows) × \(classes) float32 logits on \(engine.device.name) (\(engine.device.reason)):"
        )
        print(
            "CrossEntropyLoss = \(formatted(Double(loss), "%.6f")) in \(formatted(seconds * 1e3, "%.1f")) ms"
                + " (\(formatted(gigabytes / seconds, "%.1f")) GB/s of logits)")
    }

    private func printMatrix(_ values: [Double], columns: Int) {
        for row in stride(from: 0, to: values.count, by: columns) {
            let cells = values[row..<(row + columns)].map { formatted($0, "% .4f") }
            print("  [\(cells.joined(separator: ", "))]")
        }
    }
}

extension String {
    /// The string padded with spaces to `width` characters.
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
