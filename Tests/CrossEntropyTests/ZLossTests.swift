import CrossEntropy
import Testing
import XentTestSupport

/// The z-loss (`zLossScale`): the loss, its z-loss part, the rows kept and `mean`'s divisor against the
/// float64 reference, on every backend and through every row path (few classes, two passes, long rows,
/// K-dimensional rows); its gradient is checked with the others' (GradientTests).
@Suite struct ZLossTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var shape: [Int]
        var probabilities = false
        var seed: UInt64

        var testDescription: String { "\(shape)\(probabilities ? " probabilities" : "") seed \(seed)" }

        static let all = [
            Case(shape: [33, 10], seed: 1), Case(shape: [9, 300], seed: 2), Case(shape: [3, 70_001], seed: 3),
            Case(shape: [4, 7, 3], seed: 4), Case(shape: [6, 50], probabilities: true, seed: 5),
        ]
    }

    @Test(arguments: Case.all, Backends.names)
    func lossAndItsZLossPartMatchReference(_ testCase: Case, device: String) throws {
        let engine = Backends.engine(device)
        var random = SeededRandom(seed: testCase.seed)
        let shape = testCase.shape
        let classes = shape[1]
        let rowShape = [shape[0]] + shape.dropFirst(2)
        let rows = rowShape.reduce(1, *)
        let count = shape.reduce(1, *)
        let x = (0..<count).map { _ in Double.random(in: -6...6, using: &random) }
        let weight = (0..<classes).map { _ in Double.random(in: 0.5...2, using: &random) }
        var reference = Reference(shape: shape, logits: x)
        let target: CrossEntropyTarget<Double>
        if testCase.probabilities {
            var q = (0..<count).map { _ in Double.random(in: 0.05...1, using: &random) }
            for row in 0..<rows {
                let indices = (0..<classes).map { reference.index(row: row, clazz: $0) }
                let total = indices.map { q[$0] }.reduce(0, +)
                for i in indices { q[i] /= total }
            }
            reference.probabilities = q
            target = .probabilities(Tensor(shape: shape, scalars: q))
        } else {
            var targets = (0..<rows).map { _ in Int64.random(in: 0..<Int64(classes), using: &random) }
            targets[1] = -100
            reference.targets = targets
            target = .classIndices(Tensor(shape: rowShape, scalars: targets))
        }
        let kept = testCase.probabilities ? rows : rows - 1
        for reduction in LossReduction.allCases {
            for weighted in [false, true] {
                let options = CrossEntropyOptions(
                    reduction: reduction, weight: weighted ? weight : nil, zLossScale: 1e-2)
                reference.options = options
                let context = "\(testCase.testDescription) \(reduction) \(weighted ? "weighted" : "") on \(device)"
                let logits = Tensor(shape: shape, scalars: x)
                let summary = try engine.crossEntropySummary(logits, target: target, options: options)
                let lossMismatch = firstMismatch(summary.loss.scalars, reference.loss(), rtol: 1e-12, atol: 1e-13)
                #expect(lossMismatch == nil, "\(context): loss \(lossMismatch ?? "")")
                let zMismatch = firstMismatch(summary.zLoss.scalars, reference.zLoss(), rtol: 1e-12, atol: 1e-13)
                #expect(zMismatch == nil, "\(context): z-loss \(zMismatch ?? "")")
                #expect(summary.zLoss.scalars.allSatisfy { $0 > 0 || reduction == .none }, "\(context)")
                #expect(summary.rowsKept == kept, "\(context): rows kept \(summary.rowsKept)")
                if reduction == .mean {
                    let divisor = reference.rowLosses().divisor
                    #expect(
                        summary.divisor.map { isClose($0, divisor, rtol: 1e-12) } == true,
                        "\(context): divisor \(summary.divisor.map(String.init(describing:)) ?? "nil") vs \(divisor)")
                } else {
                    #expect(summary.divisor == nil, "\(context): divisor \(summary.divisor ?? 0)")
                }
                let plain = try engine.crossEntropy(logits, target: target, options: options)
                #expect(plain == summary.loss, "\(context): crossEntropy and its summary differ")
                let withGradient = try engine.crossEntropyWithGradient(logits, target: target, options: options)
                let gradientLossMismatch = firstMismatch(
                    withGradient.loss.scalars, reference.loss(), rtol: 1e-12, atol: 1e-13)
                #expect(gradientLossMismatch == nil, "\(context): loss with gradient \(gradientLossMismatch ?? "")")
                let gradientZMismatch = firstMismatch(
                    withGradient.zLoss.scalars, reference.zLoss(), rtol: 1e-12, atol: 1e-13)
                #expect(gradientZMismatch == nil, "\(context): z-loss with gradient \(gradientZMismatch ?? "")")
            }
        }
    }

    @Test(arguments: [-1.0, -0.0001, .nan, .infinity])
    func badScalesAreRefused(scale: Double) throws {
        let engine = Backends.engine("cpu")
        let logits = Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let labels = CrossEntropyTarget<Float>.classIndices(Tensor(shape: [2], scalars: [0, 2]))
        #expect(throws: CrossEntropyError.self) {
            try engine.crossEntropy(logits, target: labels, options: .init(zLossScale: scale))
        }
        #expect(throws: CrossEntropyError.self) {
            try engine.crossEntropyWithGradient(logits, target: labels, options: .init(zLossScale: scale))
        }
    }

    @Test(arguments: [0.0, -1.0, .nan, .infinity])
    func badSoftcapsAreRefused(softcap: Double) throws {
        let engine = Backends.engine("cpu")
        let logits = Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let labels = CrossEntropyTarget<Float>.classIndices(Tensor(shape: [2], scalars: [0, 2]))
        #expect(throws: CrossEntropyError.self) {
            try engine.crossEntropy(logits, target: labels, options: .init(softcap: softcap))
        }
    }

    @Test func nllLossHasNoZLoss() throws {
        let engine = Backends.engine("cpu")
        let logProbabilities = Tensor<Float>(shape: [1, 2], scalars: [-0.5, -1])
        let labels = CrossEntropyTarget<Float>.classIndices(Tensor(shape: [1], scalars: [0]))
        #expect(throws: CrossEntropyError.self) {
            try engine.nllLoss(logProbabilities, target: labels, options: .init(zLossScale: 0.1))
        }
    }
}
