import Foundation
import Testing
import XentTestSupport

@testable import CrossEntropy

/// The gradient from saved logsumexps (`crossEntropyGradient`) equals the fused loss and gradient's, for
/// every kind of target and option, on every backend.
@Suite struct SavedLogSumExpTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var shape: [Int]
        var probabilities = false
        var options = CrossEntropyOptions()
        var upstream: UpstreamGradient = .scalar(1)
    }

    static let cases: [Case] = [
        Case(testDescription: "mean", shape: [9, 37]),
        Case(
            testDescription: "weights, ignored rows, smoothing", shape: [12, 300],
            options: .init(weight: (0..<300).map { 0.5 + Double($0 % 7) / 4 }, labelSmoothing: 0.2)),
        Case(
            testDescription: "sum, z-loss, softcap", shape: [6, 1000],
            options: .init(reduction: .sum, zLossScale: 1e-3, softcap: 3)),
        Case(
            testDescription: "none with upstream, K-dim", shape: [3, 17, 4],
            options: .init(reduction: .none), upstream: .elements((0..<12).map { Double($0) / 5 - 1 })),
        Case(
            testDescription: "probabilities, weights, smoothing", shape: [5, 64], probabilities: true,
            options: .init(weight: (0..<64).map { 1 + Double($0) / 64 }, labelSmoothing: 0.1)),
        Case(testDescription: "one class", shape: [4, 1]),
    ]

    @Test(arguments: cases, Backends.names)
    func savedLogSumExpGivesTheFusedGradient(_ testCase: Case, _ device: String) throws {
        try check(Float.self, testCase, device, rtol: 1e-5)
        try check(Double.self, testCase, device, rtol: 1e-12)
    }

    private func check<T: LogitsScalar>(_: T.Type, _ testCase: Case, _ device: String, rtol: Double) throws {
        let engine = Backends.engine(device)
        var random = SeededRandom(seed: 5)
        let shape = testCase.shape
        let classes = shape[1]
        let count = shape.reduce(1, *)
        let logits = Tensor(
            shape: shape, scalars: (0..<count).map { _ in T(Double.random(in: -6...6, using: &random)) })
        let rowShape = [shape[0]] + shape.dropFirst(2)
        let target: CrossEntropyTarget<T>
        if testCase.probabilities {
            let raw = (0..<count).map { _ in Double.random(in: 0...1, using: &random) }
            target = .probabilities(Tensor(shape: shape, scalars: raw.map { T($0) }))
        } else {
            var indices = (0..<rowShape.reduce(1, *)).map { _ in Int64.random(in: 0..<Int64(classes), using: &random) }
            indices[0] = -100
            target = .classIndices(Tensor(shape: rowShape, scalars: indices))
        }
        let fused = try engine.crossEntropyWithGradient(
            logits, target: target, options: testCase.options, upstream: testCase.upstream)
        let fromSaved = try engine.crossEntropyGradient(
            logits, target: target, logSumExp: fused.logSumExp, options: testCase.options,
            upstream: testCase.upstream)
        #expect(fromSaved.shape == shape)
        // Each element is a difference of two terms (softmax and target), so its error is relative to the
        // row's largest, not to itself.
        let expected = fused.gradient.scalars.map(Double.init)
        let scale = expected.map(abs).max() ?? 0
        let mismatch = firstMismatch(fromSaved.scalars.map(Double.init), expected, rtol: rtol, atol: rtol * scale)
        #expect(mismatch == nil, "\(T.self) \(testCase.testDescription) on \(device): \(mismatch ?? "")")
    }

    @Test func aLogSumExpPerRowIsRequired() throws {
        let engine = try CrossEntropyEngine(device: .cpu)
        let logits = try Tensor<Float>(rows: [[1, 2, 3], [4, 5, 6]])
        let error = #expect(throws: CrossEntropyError.self) {
            try engine.crossEntropyGradient(logits, target: .labels([0, 1]), logSumExp: Tensor([1, 2, 3]))
        }
        #expect(error?.code == .invalidShape && error?.message == "logSumExp has 3 values for 2 rows")
    }
}
