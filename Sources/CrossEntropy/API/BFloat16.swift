/// A bfloat16 value: the upper 16 bits of a `Float` (1 sign bit, 8 exponent bits, 7 stored significand
/// bits), the storage type of language-model logits. Swift has none.
///
/// It is a storage type: arithmetic is done in `Float` and rounded back, which gives the correctly rounded
/// result for `+`, `-`, `*`, `/` and the square root (a `Float` holds more than twice bfloat16's bits).
/// Every conversion into bfloat16 rounds to nearest, ties to even, as PyTorch's does; a NaN becomes the
/// quiet NaN `0x7FC0`, as in PyTorch.
@frozen
public struct BFloat16: Sendable {
    /// The value's 16 bits, as stored in memory.
    public var bitPattern: UInt16

    /// The value whose bits are `bitPattern`.
    @inlinable
    public init(bitPattern: UInt16) {
        self.bitPattern = bitPattern
    }

    /// `value` rounded to the nearest bfloat16, ties to even (NaN: `0x7FC0`).
    @inlinable
    public init(_ value: Float) {
        let bits = value.bitPattern
        bitPattern = value.isNaN ? 0x7FC0 : UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    /// `value` rounded to the nearest bfloat16, ties to even, in one rounding (NaN: `0x7FC0`): it is first
    /// rounded to a `Float` to odd (toward zero, then the last bit set if anything was lost), which
    /// keeps the second rounding from landing on a tie that the value itself is not on.
    @inlinable
    public init(_ value: Double) {
        var narrow = Float(value)
        if narrow.isFinite, Double(narrow) != value {
            if abs(Double(narrow)) > abs(value) {
                narrow = Float(bitPattern: narrow.bitPattern - 1)
            }
            narrow = Float(bitPattern: narrow.bitPattern | 1)
        }
        self.init(narrow)
    }

    /// The value as a `Float` (exact).
    @inlinable
    public var floatValue: Float { Float(bitPattern: UInt32(bitPattern) << 16) }
}

extension Float {
    /// The value of `value` (exact).
    @inlinable
    public init(_ value: BFloat16) {
        self = value.floatValue
    }
}

extension Double {
    /// The value of `value` (exact).
    @inlinable
    public init(_ value: BFloat16) {
        self = Double(value.floatValue)
    }
}

extension BFloat16: CustomStringConvertible, CustomDebugStringConvertible {
    /// The value as its `Float` prints.
    public var description: String { floatValue.description }
    /// The value as its `Float` prints, with the type.
    public var debugDescription: String { "BFloat16(\(floatValue))" }
}
