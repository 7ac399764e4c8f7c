/// The storage types the loss accepts for logits and probabilities.
public enum LogitsDType: String, Sendable, CaseIterable, CustomStringConvertible {
    /// IEEE half precision, accumulated in `Float`.
    case float16
    /// bfloat16 (`BFloat16`), accumulated in `Float`.
    case bfloat16
    /// IEEE single precision, accumulated in `Float`.
    case float32
    /// IEEE double precision, accumulated in `Double`.
    case float64

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .float16, .bfloat16: 2
        case .float32: 4
        case .float64: 8
        }
    }

    /// The name, as `float32`.
    public var description: String { rawValue }
}

/// A floating-point type that logits can be stored in: `Float16`, `BFloat16`, `Float` or `Double`.
public protocol LogitsScalar: BinaryFloatingPoint, Sendable {
    /// The type sums are accumulated in and losses returned in: `Float` for `Float16`, `BFloat16` and
    /// `Float`, `Double` for `Double`.
    associatedtype Accumulator: LogitsScalar
    /// This type's storage tag.
    static var dtype: LogitsDType { get }
}

extension Float16: LogitsScalar {
    /// Sums of `Float16` logits are accumulated in `Float`.
    public typealias Accumulator = Float
    /// The storage tag of `Float16`.
    public static var dtype: LogitsDType { .float16 }
}

extension BFloat16: LogitsScalar {
    /// Sums of `BFloat16` logits are accumulated in `Float`.
    public typealias Accumulator = Float
    /// The storage tag of `BFloat16`.
    public static var dtype: LogitsDType { .bfloat16 }
}

extension Float: LogitsScalar {
    /// Sums of `Float` logits are accumulated in `Float`.
    public typealias Accumulator = Float
    /// The storage tag of `Float`.
    public static var dtype: LogitsDType { .float32 }
}

extension Double: LogitsScalar {
    /// Sums of `Double` logits are accumulated in `Double`.
    public typealias Accumulator = Double
    /// The storage tag of `Double`.
    public static var dtype: LogitsDType { .float64 }
}
