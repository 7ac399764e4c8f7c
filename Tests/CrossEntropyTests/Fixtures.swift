import CrossEntropy
import Foundation
import NPY
import Testing

/// One PyTorch 2.15 case from `Fixtures/` (format in `Fixtures/README.md`).
struct Fixture: Decodable, Sendable, CustomTestStringConvertible {
    let name: String
    let reduction: String
    let ignoreIndex: Int
    let labelSmoothing: Double
    let weight: Bool
    let targetKind: String
    let logitsDType: String
    let shape: [Int]
    let error: Bool
    let grad: Bool?

    enum CodingKeys: String, CodingKey {
        case name, reduction, weight, shape, error, grad
        case ignoreIndex = "ignore_index"
        case labelSmoothing = "label_smoothing"
        case targetKind = "target_kind"
        case logitsDType = "logits_dtype"
    }

    var testDescription: String { name }

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// Every case of the manifest.
    static let all: [Fixture] = {
        let data = try! Data(contentsOf: folder.appendingPathComponent("manifest.json"))
        return try! JSONDecoder().decode([Fixture].self, from: data)
    }()

    func path(_ file: String) -> String {
        Fixture.folder.appendingPathComponent(name).appendingPathComponent(file).path
    }

    func file(_ name: String) throws -> NPYFile { try NPYFile(path: path(name)) }

    var options: CrossEntropyOptions {
        get throws {
            CrossEntropyOptions(
                reduction: LossReduction(rawValue: reduction)!,
                weight: weight ? try file("weight.npy").doubles() : nil,
                ignoreIndex: ignoreIndex, labelSmoothing: labelSmoothing)
        }
    }

    func logits<T: LogitsScalar>(as: T.Type) throws -> Tensor<T> {
        let file = try file("logits.npy")
        return Tensor(shape: file.shape, scalars: file.doubles().map { T($0) })
    }

    func target<T: LogitsScalar>(as: T.Type) throws -> CrossEntropyTarget<T> {
        let file = try file("target.npy")
        switch file.dtype {
        case .int64:
            return .classIndices(
                Tensor(shape: file.shape, scalars: file.withUnsafeBufferPointer(of: Int64.self) { Array($0) }))
        case .int32:
            return .classIndices32(
                Tensor(shape: file.shape, scalars: file.withUnsafeBufferPointer(of: Int32.self) { Array($0) }))
        default: return .probabilities(Tensor(shape: file.shape, scalars: file.doubles().map { T($0) }))
        }
    }

    /// The relative tolerance fitting the case's precision (README: a few 1e-6, wide rows a few 1e-5).
    var lossTolerance: Double {
        switch logitsDType {
        case "float64": 1e-12
        case "float16": 1e-4
        default: shape.count > 1 && shape[1] > 10_000 ? 5e-5 : 5e-6
        }
    }
}
