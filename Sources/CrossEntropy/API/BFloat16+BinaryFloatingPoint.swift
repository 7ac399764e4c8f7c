// BFloat16 as a Swift floating-point type: every operation done in Float (or Double, for the fused
// multiply-add) and rounded once to bfloat16.

extension BFloat16: Equatable, Hashable, Comparable {
    @inlinable
    public static func == (lhs: BFloat16, rhs: BFloat16) -> Bool { lhs.floatValue == rhs.floatValue }

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
    public typealias RawSignificand = UInt16
    public typealias RawExponent = UInt
    public typealias Exponent = Int
    public typealias Magnitude = BFloat16
    public typealias Stride = BFloat16

    @inlinable public static var exponentBitCount: Int { 8 }
    @inlinable public static var significandBitCount: Int { 7 }

    @inlinable
    public init(sign: FloatingPointSign, exponentBitPattern: UInt, significandBitPattern: UInt16) {
        let signBit: UInt16 = sign == .minus ? 0x8000 : 0
        self.init(
            bitPattern: signBit | UInt16(truncatingIfNeeded: (exponentBitPattern & 0xFF) << 7)
                | (significandBitPattern & 0x7F))
    }

    @inlinable
    public init(sign: FloatingPointSign, exponent: Int, significand: BFloat16) {
        self.init(Float(sign: sign, exponent: exponent, significand: significand.floatValue))
    }

    #if !(os(Windows) || os(Android)) && (arch(i386) || arch(x86_64))
        /// `value` rounded once to bfloat16.
        @inlinable
        public init(_ value: Float80) { self.init(Double(exactly: value) ?? Self.roundedToOdd(value)) }

        /// `value` rounded to a `Double` to odd: a rounding after which one more to bfloat16 is exact.
        @usableFromInline
        static func roundedToOdd(_ value: Float80) -> Double {
            var narrow = Double(value)
            guard narrow.isFinite else { return narrow }
            if abs(Float80(narrow)) > abs(value) {
                narrow = Double(bitPattern: narrow.bitPattern - 1)
            }
            return Double(bitPattern: narrow.bitPattern | 1)
        }
    #endif

    @inlinable public var exponentBitPattern: UInt { UInt((bitPattern >> 7) & 0xFF) }
    @inlinable public var significandBitPattern: UInt16 { bitPattern & 0x7F }
    @inlinable public var binade: BFloat16 { BFloat16(floatValue.binade) }
    @inlinable public var significandWidth: Int { floatValue.significandWidth }

    @inlinable public static var nan: BFloat16 { BFloat16(bitPattern: 0x7FC0) }
    @inlinable public static var signalingNaN: BFloat16 { BFloat16(bitPattern: 0x7FA0) }
    @inlinable public static var infinity: BFloat16 { BFloat16(bitPattern: 0x7F80) }
    @inlinable public static var greatestFiniteMagnitude: BFloat16 { BFloat16(bitPattern: 0x7F7F) }
    /// π rounded to bfloat16.
    @inlinable public static var pi: BFloat16 { BFloat16(Double.pi) }
    @inlinable public static var leastNormalMagnitude: BFloat16 { BFloat16(bitPattern: 0x0080) }
    @inlinable public static var leastNonzeroMagnitude: BFloat16 { BFloat16(bitPattern: 0x0001) }

    @inlinable public var ulp: BFloat16 {
        guard isFinite else { return .nan }
        let next = BFloat16(bitPattern: (bitPattern & 0x7FFF) + 1)
        return BFloat16(next.floatValue - magnitude.floatValue)
    }
    @inlinable public var sign: FloatingPointSign { bitPattern & 0x8000 != 0 ? .minus : .plus }
    @inlinable public var exponent: Int { floatValue.exponent }
    @inlinable public var significand: BFloat16 { BFloat16(floatValue.significand) }
    @inlinable public var magnitude: BFloat16 { BFloat16(bitPattern: bitPattern & 0x7FFF) }
    @inlinable public var nextUp: BFloat16 {
        if isNaN || self == .infinity { return self }
        if bitPattern == 0x8000 || bitPattern == 0 { return .leastNonzeroMagnitude }
        return BFloat16(bitPattern: sign == .minus ? bitPattern - 1 : bitPattern + 1)
    }

    @inlinable public var isNormal: Bool { exponentBitPattern != 0 && exponentBitPattern != 0xFF }
    @inlinable public var isFinite: Bool { exponentBitPattern != 0xFF }
    @inlinable public var isZero: Bool { bitPattern & 0x7FFF == 0 }
    @inlinable public var isSubnormal: Bool { exponentBitPattern == 0 && significandBitPattern != 0 }
    @inlinable public var isInfinite: Bool { bitPattern & 0x7FFF == 0x7F80 }
    @inlinable public var isNaN: Bool { bitPattern & 0x7FFF > 0x7F80 }
    @inlinable public var isSignalingNaN: Bool { isNaN && bitPattern & 0x40 == 0 }
    @inlinable public var isCanonical: Bool { true }

    @inlinable
    public static func + (lhs: BFloat16, rhs: BFloat16) -> BFloat16 { BFloat16(lhs.floatValue + rhs.floatValue) }
    @inlinable
    public static func - (lhs: BFloat16, rhs: BFloat16) -> BFloat16 { BFloat16(lhs.floatValue - rhs.floatValue) }
    @inlinable
    public static func * (lhs: BFloat16, rhs: BFloat16) -> BFloat16 { BFloat16(lhs.floatValue * rhs.floatValue) }
    @inlinable
    public static func / (lhs: BFloat16, rhs: BFloat16) -> BFloat16 { BFloat16(lhs.floatValue / rhs.floatValue) }
    @inlinable
    public static func += (lhs: inout BFloat16, rhs: BFloat16) { lhs = lhs + rhs }
    @inlinable
    public static func -= (lhs: inout BFloat16, rhs: BFloat16) { lhs = lhs - rhs }
    @inlinable
    public static func *= (lhs: inout BFloat16, rhs: BFloat16) { lhs = lhs * rhs }
    @inlinable
    public static func /= (lhs: inout BFloat16, rhs: BFloat16) { lhs = lhs / rhs }

    @inlinable
    public mutating func negate() { bitPattern ^= 0x8000 }

    @inlinable
    public mutating func formRemainder(dividingBy other: BFloat16) {
        self = BFloat16(floatValue.remainder(dividingBy: other.floatValue))
    }

    @inlinable
    public mutating func formTruncatingRemainder(dividingBy other: BFloat16) {
        self = BFloat16(floatValue.truncatingRemainder(dividingBy: other.floatValue))
    }

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

    @inlinable
    public mutating func round(_ rule: FloatingPointRoundingRule) { self = BFloat16(floatValue.rounded(rule)) }

    @inlinable
    public func isEqual(to other: BFloat16) -> Bool { floatValue == other.floatValue }
    @inlinable
    public func isLess(than other: BFloat16) -> Bool { floatValue < other.floatValue }
    @inlinable
    public func isLessThanOrEqualTo(_ other: BFloat16) -> Bool { floatValue <= other.floatValue }

    @inlinable
    public func distance(to other: BFloat16) -> BFloat16 { other - self }
    @inlinable
    public func advanced(by amount: BFloat16) -> BFloat16 { self + amount }
}
