// BFloat16 as a Swift floating-point type: every operation done in Float (or Double, for the fused
// multiply-add) and rounded once to bfloat16.

extension BFloat16: Equatable, Hashable, Comparable {
    /// Whether the values are equal, as their `Float`s (`0 == -0`, NaN equals nothing).
    @inlinable
    public static func == (lhs: BFloat16, rhs: BFloat16) -> Bool { lhs.floatValue == rhs.floatValue }

    /// Whether `lhs` is below `rhs`, as their `Float`s.
    @inlinable
    public static func < (lhs: BFloat16, rhs: BFloat16) -> Bool { lhs.floatValue < rhs.floatValue }

    /// Hashes the value as its `Float` does (so that `0` and `-0`, which are equal, hash alike).
    @inlinable
    public func hash(into hasher: inout Hasher) { floatValue.hash(into: &hasher) }
}

extension BFloat16: ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral {
    /// The literal rounded once to bfloat16.
    @inlinable
    public init(floatLiteral value: Double) { self.init(value) }

    /// The literal rounded to bfloat16.
    @inlinable
    public init(integerLiteral value: Int) { self.init(value) }

    /// `value` rounded once to bfloat16: through a `Double` rounded to odd where it is not exact.
    /// (The standard library's generic conversion would call back into the integer literal.)
    @inlinable
    public init<Source: BinaryInteger>(_ value: Source) {
        var wide = Double(value)
        let back = Source(exactly: wide)
        if back != value {
            // Toward zero where the Double went past the value, then the last bit set.
            if back.map({ value < 0 ? $0 < value : $0 > value }) ?? true {
                wide = value < 0 ? wide.nextUp : wide.nextDown
            }
            wide = Double(bitPattern: wide.bitPattern | 1)
        }
        self.init(wide)
    }
}

extension BFloat16: BinaryFloatingPoint {
    /// The 7 stored significand bits.
    public typealias RawSignificand = UInt16
    /// The 8 exponent bits.
    public typealias RawExponent = UInt
    /// The unbiased exponent.
    public typealias Exponent = Int
    /// The absolute value's type.
    public typealias Magnitude = BFloat16
    /// The distance between two values.
    public typealias Stride = BFloat16

    /// bfloat16 has 8 exponent bits, as `Float`.
    @inlinable public static var exponentBitCount: Int { 8 }
    /// bfloat16 stores 7 significand bits.
    @inlinable public static var significandBitCount: Int { 7 }

    /// The value of these fields.
    @inlinable
    public init(sign: FloatingPointSign, exponentBitPattern: UInt, significandBitPattern: UInt16) {
        let signBit: UInt16 = sign == .minus ? 0x8000 : 0
        self.init(
            bitPattern: signBit | UInt16(truncatingIfNeeded: (exponentBitPattern & 0xFF) << 7)
                | (significandBitPattern & 0x7F))
    }

    /// `significand` · 2^`exponent` with `sign`, rounded to bfloat16.
    @inlinable
    public init(sign: FloatingPointSign, exponent: Int, significand: BFloat16) {
        self.init(Float(sign: sign, exponent: exponent, significand: significand.floatValue))
    }

    #if !(os(Windows) || os(Android)) && (arch(i386) || arch(x86_64))
        /// `value` rounded once to bfloat16.
        @inlinable
        public init(_ value: Float80) { self.init(Double.roundedToOdd(value)) }
    #endif

    /// The stored exponent bits.
    @inlinable public var exponentBitPattern: UInt { UInt((bitPattern >> 7) & 0xFF) }
    /// The stored significand bits.
    @inlinable public var significandBitPattern: UInt16 { bitPattern & 0x7F }
    /// The power of two at or below the magnitude, with the sign.
    @inlinable public var binade: BFloat16 { BFloat16(floatValue.binade) }
    /// The bits of the significand below its leading one that are in use (-1 for 0, inf and NaN).
    @inlinable public var significandWidth: Int { floatValue.significandWidth }

    /// The quiet NaN `0x7FC0`, as PyTorch writes it.
    @inlinable public static var nan: BFloat16 { BFloat16(bitPattern: 0x7FC0) }
    /// A signalling NaN.
    @inlinable public static var signalingNaN: BFloat16 { BFloat16(bitPattern: 0x7FA0) }
    /// Positive infinity.
    @inlinable public static var infinity: BFloat16 { BFloat16(bitPattern: 0x7F80) }
    /// The largest finite value, about 3.39e38.
    @inlinable public static var greatestFiniteMagnitude: BFloat16 { BFloat16(bitPattern: 0x7F7F) }
    /// π rounded toward zero (3.140625), as the standard types round it.
    @inlinable public static var pi: BFloat16 { BFloat16(Double.pi) }
    /// The smallest normal value, 2^-126.
    @inlinable public static var leastNormalMagnitude: BFloat16 { BFloat16(bitPattern: 0x0080) }
    /// The smallest subnormal value, 2^-133.
    @inlinable public static var leastNonzeroMagnitude: BFloat16 { BFloat16(bitPattern: 0x0001) }

    /// The distance from the magnitude to the next larger value.
    @inlinable public var ulp: BFloat16 {
        guard isFinite else { return .nan }
        // The largest finite value's ulp is the step below it (the next pattern up is infinity).
        let magnitude = bitPattern & 0x7FFF
        return magnitude == 0x7F7F
            ? BFloat16(Float(bitPattern: 0x7F7F_0000) - Float(bitPattern: 0x7F7E_0000))
            : BFloat16(Float(bitPattern: UInt32(magnitude + 1) << 16) - Float(bitPattern: UInt32(magnitude) << 16))
    }
    /// The sign bit.
    @inlinable public var sign: FloatingPointSign { bitPattern & 0x8000 != 0 ? .minus : .plus }
    /// The unbiased exponent of the value.
    @inlinable public var exponent: Int { floatValue.exponent }
    /// The significand, in [1, 2) for finite non-zero values.
    @inlinable public var significand: BFloat16 { BFloat16(floatValue.significand) }
    /// The absolute value.
    @inlinable public var magnitude: BFloat16 { BFloat16(bitPattern: bitPattern & 0x7FFF) }
    /// The least value above this one.
    @inlinable public var nextUp: BFloat16 {
        if isNaN { return BFloat16(bitPattern: bitPattern | 0x40) }  // quieted, as Float's
        if self == .infinity { return self }
        if bitPattern == 0x8000 || bitPattern == 0 { return .leastNonzeroMagnitude }
        return BFloat16(bitPattern: sign == .minus ? bitPattern - 1 : bitPattern + 1)
    }

    /// Whether the value is normal.
    @inlinable public var isNormal: Bool { exponentBitPattern != 0 && exponentBitPattern != 0xFF }
    /// Whether the value is finite.
    @inlinable public var isFinite: Bool { exponentBitPattern != 0xFF }
    /// Whether the value is ±0.
    @inlinable public var isZero: Bool { bitPattern & 0x7FFF == 0 }
    /// Whether the value is subnormal.
    @inlinable public var isSubnormal: Bool { exponentBitPattern == 0 && significandBitPattern != 0 }
    /// Whether the value is ±infinity.
    @inlinable public var isInfinite: Bool { bitPattern & 0x7FFF == 0x7F80 }
    /// Whether the value is NaN.
    @inlinable public var isNaN: Bool { bitPattern & 0x7FFF > 0x7F80 }
    /// Whether the value is a signalling NaN.
    @inlinable public var isSignalingNaN: Bool { isNaN && bitPattern & 0x40 == 0 }
    /// Every bfloat16 encoding is canonical.
    @inlinable public var isCanonical: Bool { true }

    /// The sum, rounded once.
    @inlinable
    public static func + (lhs: BFloat16, rhs: BFloat16) -> BFloat16 { BFloat16(lhs.floatValue + rhs.floatValue) }
    /// The difference, rounded once.
    @inlinable
    public static func - (lhs: BFloat16, rhs: BFloat16) -> BFloat16 { BFloat16(lhs.floatValue - rhs.floatValue) }
    /// The product, rounded once.
    @inlinable
    public static func * (lhs: BFloat16, rhs: BFloat16) -> BFloat16 { BFloat16(lhs.floatValue * rhs.floatValue) }
    /// The quotient, rounded once.
    @inlinable
    public static func / (lhs: BFloat16, rhs: BFloat16) -> BFloat16 { BFloat16(lhs.floatValue / rhs.floatValue) }
    /// Adds `rhs`, rounded once.
    @inlinable
    public static func += (lhs: inout BFloat16, rhs: BFloat16) { lhs = lhs + rhs }
    /// Subtracts `rhs`, rounded once.
    @inlinable
    public static func -= (lhs: inout BFloat16, rhs: BFloat16) { lhs = lhs - rhs }
    /// Multiplies by `rhs`, rounded once.
    @inlinable
    public static func *= (lhs: inout BFloat16, rhs: BFloat16) { lhs = lhs * rhs }
    /// Divides by `rhs`, rounded once.
    @inlinable
    public static func /= (lhs: inout BFloat16, rhs: BFloat16) { lhs = lhs / rhs }

    /// Flips the sign.
    @inlinable
    public mutating func negate() { bitPattern ^= 0x8000 }

    /// Replaces the value by its IEEE remainder (exact).
    @inlinable
    public mutating func formRemainder(dividingBy other: BFloat16) {
        self = BFloat16(floatValue.remainder(dividingBy: other.floatValue))
    }

    /// Replaces the value by its truncating remainder (exact).
    @inlinable
    public mutating func formTruncatingRemainder(dividingBy other: BFloat16) {
        self = BFloat16(floatValue.truncatingRemainder(dividingBy: other.floatValue))
    }

    /// Replaces the value by its square root, rounded once.
    @inlinable
    public mutating func formSquareRoot() { self = BFloat16(floatValue.squareRoot()) }

    /// self + lhs · rhs rounded once: the product is exact in Double, and the sum is rounded to Double
    /// to odd (its lost part found by the two-sum) before the rounding to bfloat16.
    @inlinable
    public mutating func addProduct(_ lhs: BFloat16, _ rhs: BFloat16) {
        let product = Double(lhs) * Double(rhs)
        let addend = Double(self)
        var sum = product + addend
        if sum.isFinite {
            let rounded = sum - product
            let lost = (product - (sum - rounded)) + (addend - rounded)
            if lost != 0, sum.bitPattern & 1 == 0 {
                sum = lost > 0 ? sum.nextUp : sum.nextDown
            }
        }
        self = BFloat16(sum)
    }

    /// Rounds the value to an integral one by `rule`.
    @inlinable
    public mutating func round(_ rule: FloatingPointRoundingRule) { self = BFloat16(floatValue.rounded(rule)) }

    /// IEEE equality.
    @inlinable
    public func isEqual(to other: BFloat16) -> Bool { floatValue == other.floatValue }
    /// IEEE less-than.
    @inlinable
    public func isLess(than other: BFloat16) -> Bool { floatValue < other.floatValue }
    /// IEEE less-than-or-equal.
    @inlinable
    public func isLessThanOrEqualTo(_ other: BFloat16) -> Bool { floatValue <= other.floatValue }

    /// `other - self`.
    @inlinable
    public func distance(to other: BFloat16) -> BFloat16 { other - self }
    /// `self + amount`.
    @inlinable
    public func advanced(by amount: BFloat16) -> BFloat16 { self + amount }
}
