/// A dense array in C order with its shape: the owning counterpart of the buffer-based entry points.
///
/// Where a program has a `Tensor` of its own, this one is `CrossEntropy.Tensor`.
public struct Tensor<Scalar: Sendable>: Sendable {
    /// The extent of each dimension; `[]` is a scalar.
    public var shape: [Int]
    /// The elements in C (row-major) order; `shape.reduce(1, *)` of them.
    public var scalars: [Scalar]

    /// Wraps `scalars` in `shape`. Traps when the counts disagree, as an array index out of range does:
    /// that is a bug in the caller's code. `init(shape:checking:)` throws instead.
    public init(shape: [Int], scalars: [Scalar]) {
        precondition(Self.fits(shape, scalars.count), "shape \(shape) does not hold \(scalars.count) elements")
        self.shape = shape
        self.scalars = scalars
    }

    /// Wraps `scalars` in `shape`, or throws `.invalidShape` when the counts disagree (for shapes read
    /// from files or users).
    public init(shape: [Int], checking scalars: [Scalar]) throws {
        guard Self.fits(shape, scalars.count) else {
            throw CrossEntropyError(.invalidShape, "shape \(shape) does not hold \(scalars.count) elements")
        }
        self.init(shape: shape, scalars: scalars)
    }

    /// A scalar tensor of shape `[]`.
    public init(_ scalar: Scalar) {
        self.init(shape: [], scalars: [scalar])
    }

    /// A vector of shape `[values.count]`: a row of logits, or labels.
    public init(_ values: [Scalar]) {
        self.init(shape: [values.count], scalars: values)
    }

    /// A matrix of shape `[rows.count, C]` from its rows, such as `(N, C)` logits; throws `.invalidShape`
    /// when the rows are not all of the same length `C`.
    public init(rows: [[Scalar]]) throws {
        let width = rows.first?.count ?? 0
        if let row = rows.firstIndex(where: { $0.count != width }) {
            throw CrossEntropyError(
                .invalidShape, "row \(row) has \(rows[row].count) elements, row 0 has \(width)")
        }
        self.init(shape: [rows.count, width], scalars: rows.flatMap { $0 })
    }

    /// The only element of a scalar or one-element tensor, such as a `mean` or `sum` loss. Traps for any
    /// other count (a `none` loss: read `scalars`).
    public var scalar: Scalar {
        precondition(scalars.count == 1, "a tensor of shape \(shape) has \(scalars.count) elements, not one")
        return scalars[0]
    }

    private static func fits(_ shape: [Int], _ count: Int) -> Bool {
        shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == count
    }
}

extension Tensor: Equatable where Scalar: Equatable {}

extension Tensor where Scalar: FloatingPoint {
    /// `torch.argmax(self, dim=1)` (dim 0 for a vector): along the class dimension, the first index of
    /// each row's maximum (a NaN counts as the maximum, as in PyTorch), in the shape without that
    /// dimension — the predicted class of each row of logits.
    public func argmax() -> Tensor<Int64> {
        let classAxis = shape.count == 1 ? 0 : 1
        guard shape.count >= 1, shape[classAxis] > 0 else {
            preconditionFailure("argmax needs a non-empty class dimension, the shape is \(shape)")
        }
        let classes = shape[classAxis]
        let inner = shape.dropFirst(classAxis + 1).reduce(1, *)
        let outer = shape.prefix(classAxis).reduce(1, *)
        var result = [Int64](repeating: 0, count: outer * inner)
        for block in 0..<outer {
            for position in 0..<inner {
                let base = block * classes * inner + position
                var best = 0
                for c in 1..<classes where !scalars[base + best * inner].isNaN {
                    let value = scalars[base + c * inner]
                    if value.isNaN || value > scalars[base + best * inner] { best = c }
                }
                result[block * inner + position] = Int64(best)
            }
        }
        var resultShape = shape
        resultShape.remove(at: classAxis)
        return Tensor<Int64>(shape: resultShape, scalars: result)
    }
}
