/// What the loss compares the logits with.
public enum CrossEntropyTarget<Scalar: LogitsScalar>: Sendable {
    /// Class indices of shape `()` for `(C)` logits, `(N)` or `(N, d1, …, dk)`.
    case classIndices(Tensor<Int64>)
    /// Class indices stored as `Int32`; the same as `classIndices`.
    case classIndices32(Tensor<Int32>)
    /// Class probabilities of the logits' shape and type.
    case probabilities(Tensor<Scalar>)
}

/// A target in caller memory, read without copying for the duration of one call.
public enum CrossEntropyTargetBuffer<Scalar: LogitsScalar> {
    /// Class indices and their shape.
    case classIndices(UnsafeBufferPointer<Int64>, shape: [Int])
    /// Class indices stored as `Int32` and their shape.
    case classIndices32(UnsafeBufferPointer<Int32>, shape: [Int])
    /// Class probabilities of the logits' shape.
    case probabilities(UnsafeBufferPointer<Scalar>, shape: [Int])
}

extension CrossEntropyTarget {
    /// One class index per row of `(N, C)` logits, from plain integers: `.classIndices` of shape `(N)`.
    public static func labels(_ labels: [Int]) -> Self {
        .classIndices(Tensor(labels.map { Int64($0) }))
    }

    /// Calls `body` with this target's memory. (`throws`, not `rethrows`: Swift 6.3 miscompiles this
    /// switch as `rethrows` and releases the payload twice when `body` throws.)
    func withBuffer<R>(_ body: (CrossEntropyTargetBuffer<Scalar>) throws -> R) throws -> R {
        switch self {
        case .classIndices(let t):
            return try t.scalars.withUnsafeBufferPointer { try body(.classIndices($0, shape: t.shape)) }
        case .classIndices32(let t):
            return try t.scalars.withUnsafeBufferPointer { try body(.classIndices32($0, shape: t.shape)) }
        case .probabilities(let t):
            return try t.scalars.withUnsafeBufferPointer { try body(.probabilities($0, shape: t.shape)) }
        }
    }
}

extension CrossEntropyTargetBuffer {
    /// One class index per row of `(N, C)` logits: `.classIndices` of shape `(N)`.
    public static func labels(_ indices: UnsafeBufferPointer<Int64>) -> Self {
        .classIndices(indices, shape: [indices.count])
    }
}
