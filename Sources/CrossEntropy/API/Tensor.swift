/// A dense array in C order with its shape: the owning counterpart of the buffer-based entry points.
public struct Tensor<Scalar: Sendable>: Sendable {
    /// The extent of each dimension; `[]` is a scalar.
    public var shape: [Int]
    /// The elements in C (row-major) order; `shape.reduce(1, *)` of them.
    public var scalars: [Scalar]

    /// Wraps `scalars` in `shape`. Traps when the counts disagree: that is a bug in the caller's code.
    public init(shape: [Int], scalars: [Scalar]) {
        precondition(
            shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == scalars.count,
            "shape \(shape) does not hold \(scalars.count) elements")
        self.shape = shape
        self.scalars = scalars
    }

    /// A scalar tensor of shape `[]`.
    public init(_ scalar: Scalar) {
        self.init(shape: [], scalars: [scalar])
    }

    /// The only element of a scalar or one-element tensor, else `nil`.
    public var scalar: Scalar? {
        scalars.count == 1 ? scalars[0] : nil
    }
}

extension Tensor: Equatable where Scalar: Equatable {}
