import CrossEntropy
import Foundation
import Testing
import XentTestSupport

/// The per-row extras of a loss call (`LossExtras`): predicted classes (first index of the maximum, or
/// of the first NaN, as torch.argmax; -1 for ignored rows), token accuracy, entropies and logsumexps,
/// against the float64 reference on every backend and row path, with ties, NaN and -inf rows.
@Suite struct LossExtrasTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var shape: [Int]
        var seed: UInt64

        var testDescription: String { "\(shape) seed \(seed)" }

        static let all = [
            Case(shape: [40, 10], seed: 11), Case(shape: [9, 300], seed: 12), Case(shape: [3, 70_001], seed: 13),
            Case(shape: [4, 7, 3], seed: 14), Case(shape: [5, 1], seed: 15),
        ]
    }

    /// torch.argmax of one row: the first NaN, else the first maximum.
    static func argmax(_ x: [Double]) -> Int64 {
        if let nan = x.firstIndex(where: \.isNaN) { return Int64(nan) }
        guard let m = x.max() else { return -1 }
        return Int64(x.firstIndex(of: m)!)
    }

    /// −Σ p·log p over the classes with p > 0 (NaN for a row whose log-softmax is NaN).
    static func entropy(_ logSoftmax: [Double]) -> Double {
        if logSoftmax.contains(where: \.isNaN) { return .nan }
        return -logSoftmax.map { exp($0) > 0 ? exp($0) * $0 : 0 }.reduce(0, +)
    }

    /// No row at all is no row kept: the accuracy is 0/0, NaN, as `mean`'s loss (not absent).
    @Test(arguments: Backends.names)
    func anEmptyBatchHasANaNAccuracy(_ device: String) throws {
        let summary = try Backends.engine(device).crossEntropySummary(
            Tensor<Float>(shape: [0, 4], scalars: []), target: .labels([]), extras: .predictedClasses)
        #expect(summary.tokenAccuracy?.isNaN == true && summary.loss.scalar.isNaN, "on \(device): \(summary)")
        #expect(summary.predictedClasses?.shape == [0] && summary.rowsKept == 0)
    }

    @Test(arguments: Case.all, Backends.names)
    func extrasMatchReference(_ testCase: Case, device: String) throws {
        try check(Double.self, testCase, device: device, rtol: 1e-12)
        try check(Float.self, testCase, device: device, rtol: 2e-5)
    }

    private func check<T: LogitsScalar>(_: T.Type, _ testCase: Case, device: String, rtol: Double) throws {
        let engine = Backends.engine(device)
        var random = SeededRandom(seed: testCase.seed)
        let shape = testCase.shape
        let classes = shape[1]
        let rowShape = [shape[0]] + shape.dropFirst(2)
        let rows = rowShape.reduce(1, *)
        // Logits on a coarse grid, so that rows hold ties for their maximum.
        var stored = (0..<shape.reduce(1, *)).map { _ in T(Double(Int.random(in: -8...8, using: &random)) / 4) }
        var reference = Reference(shape: shape, logits: stored.map(Double.init))
        var targets = (0..<rows).map { _ in Int64.random(in: 0..<Int64(classes), using: &random) }
        targets[rows - 1] = -100
        let special = rows > 3 && classes > 1
        if special {
            // Row 0 holds a NaN after its maximum; row 1 is -inf throughout but for one class.
            stored[reference.index(row: 0, clazz: classes - 1)] = .nan
            for c in 0..<classes {
                stored[reference.index(row: 1, clazz: c)] = c == classes / 2 ? 1 : -.infinity
            }
            reference.logits = stored.map(Double.init)
        }
        reference.targets = targets
        // The argmax as the reference computes it, on the rows' values.
        let predicted = (0..<rows).map { row in
            targets[row] == -100
                ? Int64(-1)
                : Self.argmax((0..<classes).map { reference.logits[reference.index(row: row, clazz: $0)] })
        }
        let argmax = Tensor(shape: shape, scalars: stored).argmax()
        let expectedArgmax = (0..<rows).map { row in
            Self.argmax((0..<classes).map { reference.logits[reference.index(row: row, clazz: $0)] })
        }
        #expect(argmax.shape == rowShape && argmax.scalars == expectedArgmax, "\(T.self) \(testCase): argmax \(argmax)")
        let kept = (0..<rows).filter { targets[$0] != -100 }
        let accuracy = Double(kept.filter { predicted[$0] == targets[$0] }.count) / Double(kept.count)
        let context = "\(T.self) \(testCase.testDescription) on \(device)"

        let summary = try engine.crossEntropySummary(
            Tensor(shape: shape, scalars: stored),
            target: .classIndices(Tensor(shape: rowShape, scalars: targets)),
            extras: [.predictedClasses, .entropy, .logSumExp])
        let predictedClasses = try #require(summary.predictedClasses, "\(context): no predicted classes")
        #expect(predictedClasses.shape == rowShape, "\(context): shape \(predictedClasses.shape)")
        #expect(predictedClasses.scalars == predicted, "\(context): \(predictedClasses.scalars) vs \(predicted)")
        #expect(
            summary.tokenAccuracy.map { isClose($0, accuracy, rtol: 1e-15) } == true,
            "\(context): accuracy \(summary.tokenAccuracy ?? -1) vs \(accuracy)")
        let entropy = try #require(summary.entropy, "\(context): no entropy")
        let expectedEntropy = (0..<rows).map { Self.entropy(reference.logSoftmax(row: $0)) }
        let entropyMismatch = firstMismatch(
            entropy.scalars.map(Double.init), expectedEntropy, rtol: rtol, atol: rtol)
        #expect(entropyMismatch == nil, "\(context): entropy \(entropyMismatch ?? "")")
        let lse = try #require(summary.logSumExp, "\(context): no logsumexp")
        let lseMismatch = firstMismatch(
            lse.scalars.map(Double.init), (0..<rows).map { reference.logSumExp(row: $0) }, rtol: rtol, atol: rtol)
        #expect(lseMismatch == nil, "\(context): logsumexp \(lseMismatch ?? "")")
        if special {
            #expect(entropy.scalars[0].isNaN, "\(context): the NaN row's entropy \(entropy.scalars[0])")
            #expect(entropy.scalars[1] == 0, "\(context): the one-hot row's entropy \(entropy.scalars[1])")
        }
        let plain = try engine.crossEntropySummary(
            Tensor(shape: shape, scalars: stored), target: .classIndices(Tensor(shape: rowShape, scalars: targets)))
        #expect(
            plain.predictedClasses == nil && plain.tokenAccuracy == nil && plain.entropy == nil
                && plain.logSumExp == nil, "\(context): extras not asked for")
        let lossMismatch = firstMismatch(
            plain.loss.scalars.map(Double.init), summary.loss.scalars.map(Double.init), rtol: 0)
        #expect(lossMismatch == nil, "\(context): loss with and without extras \(lossMismatch ?? "")")
    }

    /// Probability targets have predicted classes but no token accuracy; no row kept gives NaN.
    @Test(arguments: Backends.names)
    func accuracyNeedsClassIndices(device: String) throws {
        let engine = Backends.engine(device)
        let logits = Tensor<Float>(shape: [2, 3], scalars: [1, 3, 2, 0, 0, 5])
        let probabilities = CrossEntropyTarget<Float>.probabilities(
            Tensor(shape: [2, 3], scalars: [0.2, 0.3, 0.5, 1, 0, 0]))
        let summary = try engine.crossEntropySummary(logits, target: probabilities, extras: .predictedClasses)
        #expect(summary.predictedClasses?.scalars == [1, 2] && summary.tokenAccuracy == nil, "\(summary)")
        let ignored = CrossEntropyTarget<Float>.classIndices(Tensor(shape: [2], scalars: [-100, -100]))
        let none = try engine.crossEntropySummary(logits, target: ignored, extras: .predictedClasses)
        #expect(none.predictedClasses?.scalars == [-1, -1], "\(none)")
        #expect(none.tokenAccuracy?.isNaN == true, "\(none)")
    }
}
