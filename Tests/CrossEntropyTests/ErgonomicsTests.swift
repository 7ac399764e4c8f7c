import Foundation
import Testing
import XentTestSupport

@testable import CrossEntropy

/// The entry points over plain arrays and label targets, against the Tensor entry points they stand
/// for, and `Tensor`'s checked initializers.
@Suite struct ErgonomicsTests {
    static let rows = 7
    static let classes = 11

    static func logits() -> [Float] {
        var random = SeededRandom(seed: 21)
        return (0..<(rows * classes)).map { _ in Float.random(in: -4...4, using: &random) }
    }

    static let labels = [3, 0, 10, -100, 5, 5, 1]
    static let options = CrossEntropyOptions(
        weight: (0..<classes).map { 0.5 + Double($0) / 10 }, labelSmoothing: 0.1)

    @Test(arguments: Backends.names)
    func arraysGiveWhatTensorsGive(_ device: String) throws {
        let engine = Backends.engine(device)
        let logits = Self.logits()
        let tensor = Tensor(shape: [Self.rows, Self.classes], scalars: logits)
        let target = CrossEntropyTarget<Float>.classIndices(Tensor(Self.labels.map { Int64($0) }))
        for reduction in LossReduction.allCases {
            var options = Self.options
            options.reduction = reduction
            let viaArrays = try engine.crossEntropy(logits: logits, labels: Self.labels, options: options)
            let viaTensors = try engine.crossEntropy(tensor, target: target, options: options)
            #expect(viaArrays == viaTensors, "\(reduction) on \(device)")
            let viaLabels = try engine.crossEntropy(tensor, target: .labels(Self.labels), options: options)
            #expect(viaLabels == viaTensors, "\(reduction) on \(device): .labels")
        }
        var gradient: [Float] = []
        let result = try engine.crossEntropyWithGradient(
            logits: logits, labels: Self.labels, options: Self.options, gradient: &gradient)
        let expected = try engine.crossEntropyWithGradient(tensor, target: target, options: Self.options)
        #expect(result.loss == expected.loss && gradient == expected.gradient.scalars, "on \(device)")
        // The same array again: its storage is reused, not reallocated.
        let storage = gradient.withUnsafeBufferPointer { $0.baseAddress }
        _ = try engine.crossEntropyWithGradient(
            logits: logits, labels: Self.labels, options: Self.options, gradient: &gradient)
        #expect(gradient.withUnsafeBufferPointer { $0.baseAddress } == storage)
        #expect(gradient == expected.gradient.scalars)
    }

    @Test func labelBuffersInferTheirShape() throws {
        let engine = try CrossEntropyEngine(device: .cpu)
        let logits = Self.logits()
        let indices = Self.labels.map { Int64($0) }
        let (inferred, explicit) = try logits.withUnsafeBufferPointer { logits in
            try indices.withUnsafeBufferPointer { indices in
                (
                    try engine.crossEntropy(
                        logits: logits, shape: [Self.rows, Self.classes], target: .labels(indices)),
                    try engine.crossEntropy(
                        logits: logits, shape: [Self.rows, Self.classes],
                        target: .classIndices(indices, shape: [Self.rows]))
                )
            }
        }
        #expect(inferred == explicit)
    }

    @Test(arguments: [(10, 3), (10, 0), (0, 2)])
    func logitsThatDoNotSplitIntoTheLabelsRowsAreRefused(_ logitCount: Int, _ labelCount: Int) throws {
        let engine = try CrossEntropyEngine(device: .cpu)
        let error = #expect(throws: CrossEntropyError.self) {
            try engine.crossEntropy(
                logits: [Float](repeating: 0, count: logitCount), labels: [Int](repeating: 0, count: labelCount))
        }
        #expect(error?.code == .invalidShape, "\(String(describing: error))")
    }

    @Test func tensorsFromRows() throws {
        let matrix = try Tensor<Float>(rows: [[1, 2, 3], [4, 5, 6]])
        #expect(matrix.shape == [2, 3] && matrix.scalars == [1, 2, 3, 4, 5, 6])
        #expect(try Tensor<Float>(rows: []).shape == [0, 0])
        let ragged = #expect(throws: CrossEntropyError.self) { try Tensor<Float>(rows: [[1, 2], [3]]) }
        #expect(ragged?.code == .invalidShape && ragged?.message == "row 1 has 1 elements, row 0 has 2")
        #expect(Tensor<Float>([1, 2]).shape == [2])
        #expect(Tensor<Float>(3).scalar == 3)
    }

    @Test func checkedShapes() throws {
        #expect(try Tensor(shape: [2, 2], checking: [1, 2, 3, 4] as [Float]).shape == [2, 2])
        for (shape, count) in [([2, 2], 3), ([-1, -2], 2), ([], 0)] {
            let error = #expect(throws: CrossEntropyError.self) {
                try Tensor(shape: shape, checking: [Float](repeating: 0, count: count))
            }
            #expect(error?.code == .invalidShape, "\(shape) with \(count)")
        }
    }

    /// One wording per error: the options' own check, which every call and the command line use, in
    /// PyTorch's words where PyTorch has the option.
    @Test func optionsAreCheckedInOneWording() throws {
        let engine = try CrossEntropyEngine(device: .cpu)
        let cases: [(CrossEntropyOptions, String)] = [
            (.init(labelSmoothing: 1.5), "label_smoothing must be between 0.0 and 1.0. Got: 1.5"),
            (.init(zLossScale: -1), "z_loss_scale must be a finite number of at least 0.0. Got: -1.0"),
            (.init(softcap: 0), "softcap must be a finite number greater than 0.0. Got: 0.0"),
        ]
        for (options, message) in cases {
            let direct = #expect(throws: CrossEntropyError.self) { try options.validate() }
            #expect(direct?.code == .invalidOption && direct?.message == message)
            let viaCall = #expect(throws: CrossEntropyError.self) {
                try engine.crossEntropy(logits: Self.logits(), labels: Self.labels, options: options)
            }
            #expect(viaCall == direct)
        }
        #expect(throws: Never.self) { try CrossEntropyOptions(labelSmoothing: 1, softcap: 30).validate() }
    }
}
