import ArgumentParser
import CrossEntropy
import Foundation

/// Trains a two-layer perceptron on the UCI handwritten digits with the loss and gradient of a
/// `CrossEntropyEngine` — class weights, label smoothing and ignored rows included — and reports its
/// accuracy on held-out digits.
@main
struct DigitsClassifier: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digits-classifier",
        abstract: "Train a small classifier of handwritten digits with CrossEntropy's loss and gradient.",
        discussion: """
            EXAMPLES:
              swift run digits-classifier --device cpu
              swift run digits-classifier --device opencl --epochs 60
            """)

    @Option(help: "auto, cpu, opencl or opencl:P:D.")
    var device = "auto"

    @Option(help: "Passes over the training digits.")
    var epochs = 40

    @Option(help: "Units of the hidden layer.")
    var hidden = 32

    @Option(help: "The SGD step size.")
    var learningRate: Float = 0.2

    @Option(help: ArgumentHelp("The digits: 65-byte records (see Data/README.md).", valueName: "path"))
    var data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Data/digits.bin")
        .path

    @Option(help: "Exit with status 1 when the test accuracy is below this (for CI).")
    var minimumAccuracy: Double = 0

    func validate() throws {
        guard epochs > 0, hidden > 0, learningRate > 0 else {
            throw ValidationError("epochs, hidden units and the learning rate must be positive")
        }
    }

    func run() throws {
        let engine = try CrossEntropyEngine(device: DeviceRequest(parsing: device))
        print("device: \(engine.device)")
        let (train, test) = try Digits(contentsOf: data).split(testFraction: 0.2, seed: 42)
        print("digits: \(train.count) to train on, \(test.count) to test on")

        // Every 25th training label is withheld, as unlabelled rows are: `ignoreIndex` drops those rows
        // from the loss, the gradient and `mean`'s divisor.
        let labels = train.labels.enumerated().map { $0.offset % 25 == 0 ? -100 : $0.element }
        // Class weights inversely proportional to each class's labelled rows, averaging 1.
        var counts = [Double](repeating: 0, count: Digits.classes)
        for label in labels where label >= 0 { counts[label] += 1 }
        let weight = counts.map { Double(labels.count) / Double(Digits.classes) / $0 }
        let options = CrossEntropyOptions(weight: weight, labelSmoothing: 0.05)

        var random = SplitMix64(seed: 7)
        var model = MultilayerPerceptron(
            inputs: Digits.pixelsPerImage, hidden: hidden, classes: Digits.classes, random: &random)
        let batchSize = 64
        var gradient: [Float] = []  // the loss's gradient, reused by every step
        for epoch in 1...epochs {
            let order = (0..<train.count).shuffled(using: &random)
            var lossSum = 0.0
            var batches = 0
            for start in stride(from: 0, to: order.count, by: batchSize) {
                let batch = order[start..<min(start + batchSize, order.count)]
                let x = train.subset(batch).pixels
                let (activations, logits) = model.forward(x, rows: batch.count)
                let result = try engine.crossEntropyWithGradient(
                    logits: logits, labels: batch.map { labels[$0] }, options: options, gradient: &gradient)
                model.backward(
                    x, activations: activations, logitsGradient: gradient, rows: batch.count,
                    learningRate: learningRate)
                lossSum += Double(result.loss.scalar)
                batches += 1
            }
            if epoch % 10 == 0 || epoch == epochs {
                print("epoch \(epoch): mean training loss \(String(format: "%.6f", lossSum / Double(batches)))")
            }
        }

        let (_, logits) = model.forward(test.pixels, rows: test.count)
        let summary = try engine.crossEntropySummary(
            Tensor(shape: [test.count, Digits.classes], scalars: logits), target: .labels(test.labels),
            extras: .predictedClasses)
        let accuracy = summary.tokenAccuracy ?? .nan
        let correct = Int((accuracy * Double(test.count)).rounded())
        print("test loss: \(String(format: "%.6f", summary.loss.scalar))")
        print("test accuracy: \(correct) of \(test.count) = \(String(format: "%.4f", accuracy))")
        // The predictions themselves, as one number: equal on two devices only if every digit was classified
        // alike (the losses agree to about one Float ulp, since each device has its own exp).
        let predicted = summary.predictedClasses?.scalars ?? []
        print(
            "test predictions digest: \(predicted.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 })"
        )
        if accuracy < minimumAccuracy {
            print("test accuracy \(accuracy) is below the minimum \(minimumAccuracy)")
            throw ExitCode.failure
        }
    }
}
