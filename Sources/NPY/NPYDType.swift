/// Element types this package reads and writes (little-endian only).
///
/// The raw value is the NumPy `descr` string that names the type in a `.npy` header.
public enum NPYDType: String, Sendable, CaseIterable {
    /// IEEE 754 half precision, `<f2` (Swift `Float16`).
    case float16 = "<f2"
    /// IEEE 754 single precision, `<f4` (Swift `Float`).
    case float32 = "<f4"
    /// IEEE 754 double precision, `<f8` (Swift `Double`).
    case float64 = "<f8"
    /// bfloat16, `<V2`: what `np.save` writes for an `ml_dtypes.bfloat16` array (NumPy has no bfloat16;
    /// its elements are read as raw 16-bit patterns, the upper halves of `Float`s).
    case bfloat16 = "<V2"
    /// Unsigned 16-bit integer, `<u2` (Swift `UInt16`): also raw bfloat16 bit patterns where the reader
    /// says so.
    case uint16 = "<u2"
    /// Signed 32-bit integer, `<i4` (Swift `Int32`).
    case int32 = "<i4"
    /// Signed 64-bit integer, `<i8` (Swift `Int64`).
    case int64 = "<i8"

    /// The size of one element in bytes.
    public var byteCount: Int {
        switch self {
        case .float16, .bfloat16, .uint16: 2
        case .float32, .int32: 4
        case .float64, .int64: 8
        }
    }

    /// Whether the elements are IEEE 754 floating-point numbers.
    public var isFloatingPoint: Bool {
        switch self {
        case .float16, .bfloat16, .float32, .float64: true
        case .int32, .int64, .uint16: false
        }
    }

    /// The dtype whose elements are stored as Swift values of type `T`, or `nil` if `T` is
    /// none of `Float16`, `Float`, `Double`, `Int32`, `Int64` and `UInt16` (bfloat16, which has no
    /// Swift type here, is written from its bytes).
    init?<T>(scalarType: T.Type) {
        switch scalarType {
        case is Float16.Type: self = .float16
        case is Float.Type: self = .float32
        case is Double.Type: self = .float64
        case is Int32.Type: self = .int32
        case is Int64.Type: self = .int64
        case is UInt16.Type: self = .uint16
        default: return nil
        }
    }

    /// The supported `descr` strings, for error messages: `<f2, <f4, <f8, <V2, <u2, <i4, <i8`.
    static var supportedList: String {
        allCases.map(\.rawValue).joined(separator: ", ")
    }
}
