import Testing
import XentTestSupport

@testable import CrossEntropy

/// One combination of options and target kind over random logits, for tests that compare two ways of
/// computing the same loss and gradient (saved logsumexps, device arrays) across everything a call takes.
struct OptionCase: Sendable, CustomTestStringConvertible {
    var testDescription: String
    var shape: [Int]
    var probabilities = false
    var options = CrossEntropyOptions()
    var upstream: UpstreamGradient = .scalar(1)

    static let all: [OptionCase] = [
        OptionCase(testDescription: "mean", shape: [33, 70]),
        OptionCase(
            testDescription: "weights, ignored rows, smoothing", shape: [9, 2000],
            options: .init(weight: (0..<2000).map { 0.5 + Double($0 % 7) / 4 }, labelSmoothing: 0.2)),
        OptionCase(
            testDescription: "sum, z-loss, softcap", shape: [6, 1000],
            options: .init(reduction: .sum, zLossScale: 1e-3, softcap: 3)),
        OptionCase(
            testDescription: "none with upstream, K-dim", shape: [3, 17, 4],
            options: .init(reduction: .none), upstream: .elements((0..<12).map { Double($0) / 5 - 1 })),
        OptionCase(
            testDescription: "probabilities, weights, smoothing", shape: [5, 64], probabilities: true,
            options: .init(weight: (0..<64).map { 1 + Double($0) / 64 }, labelSmoothing: 0.1)),
        OptionCase(testDescription: "one class", shape: [4, 1]),
    ]

    /// Logits in ±6 and a target of this case's kind (class indices with the last row ignored, or
    /// probabilities in [0, 1]), drawn from `seed`.
    func inputs<T: LogitsScalar>(_: T.Type, seed: UInt64) -> (logits: Tensor<T>, target: CrossEntropyTarget<T>) {
        var random = SeededRandom(seed: seed)
        let count = shape.reduce(1, *)
        let logits = Tensor(
            shape: shape, scalars: (0..<count).map { _ in T(Double.random(in: -6...6, using: &random)) })
        guard !probabilities else {
            let values = (0..<count).map { _ in T(Double.random(in: 0...1, using: &random)) }
            return (logits, .probabilities(Tensor(shape: shape, scalars: values)))
        }
        let rowShape = [shape[0]] + shape.dropFirst(2)
        var indices = (0..<rowShape.reduce(1, *)).map { _ in Int64.random(in: 0..<Int64(shape[1]), using: &random) }
        indices[indices.count - 1] = -100
        return (logits, .classIndices(Tensor(shape: rowShape, scalars: indices)))
    }
}
