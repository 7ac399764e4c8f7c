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
        self.init(Float.roundedToOdd(value))
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

extension BinaryFloatingPoint {
    /// `value` rounded to this type to odd: toward zero, then with the last significand bit set if
    /// anything was lost. A second rounding, to a type of at least two fewer bits (bfloat16 after `Float`,
    /// `Float` or bfloat16 after `Double`), then rounds as one rounding of `value` would: the first cannot
    /// land on a tie the value is not on. Infinities and NaN are kept; a value beyond the type's range
    /// becomes its infinity or largest value, as a plain conversion makes it.
    @usableFromInline
    static func roundedToOdd<Wide: BinaryFloatingPoint>(_ value: Wide) -> Self {
        var narrow = Self(value)
        if narrow.isFinite, Wide(narrow) != value {
            if Wide(narrow).magnitude > value.magnitude {
                narrow = narrow.sign == .minus ? narrow.nextUp : narrow.nextDown
            }
            narrow = Self(
                sign: narrow.sign, exponentBitPattern: narrow.exponentBitPattern,
                significandBitPattern: narrow.significandBitPattern | 1)
        }
        return narrow
    }
}
