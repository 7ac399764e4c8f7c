import CrossEntropy
import Foundation
import NPY
import Testing
import XentTestSupport

/// One PyTorch 2.15 case (`Tests/XentTestSupport`), with what the library's tests need of it.
typealias Fixture = FixtureCase

extension FixtureCase: CustomTestStringConvertible {
    /// Each case shows by its name.
    public var testDescription: String { name }
}

extension FixtureCase {
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
