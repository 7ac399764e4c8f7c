#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Which device should run the loss: a value, parsed from `auto`, `cpu`, `opencl` or `opencl:P:D`.
///
/// Precedence when an engine is made: the explicit argument, then a scoped default set with
/// `withDefault(_:operation:)`, then the environment variable `XENT_DEVICE`, then `auto`.
public enum DeviceRequest: Sendable, Hashable, CustomStringConvertible {
    /// An OpenCL GPU when there is one, else the CPU; the choice and its reason are recorded.
    case auto
    /// The CPU fallback, which needs no OpenCL.
    case cpu
    /// The first OpenCL device of the first platform that has one.
    case openCL
    /// Device `device` of platform `platform`, both counted from 0 as `xent devices` lists them.
    case openCLDevice(platform: Int, device: Int)

    /// The first OpenCL device: the earlier name of `openCL`.
    @available(*, deprecated, renamed: "openCL")
    public static var opencl: DeviceRequest { .openCL }

    /// The environment variable read when no device is given.
    public static let environmentVariable = "XENT_DEVICE"

    /// Parses `auto`, `cpu`, `opencl` or `opencl:P:D`.
    public init(parsing text: String) throws {
        switch text {
        case "auto": self = .auto
        case "cpu": self = .cpu
        case "opencl": self = .openCL
        default:
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "opencl", let platform = Int(parts[1]), let device = Int(parts[2]),
                platform >= 0, device >= 0
            else {
                throw CrossEntropyError(
                    .invalidDevice, "unknown device '\(text)': expected auto, cpu, opencl or opencl:P:D")
            }
            self = .openCLDevice(platform: platform, device: device)
        }
    }

    /// The request named by `XENT_DEVICE`, or `nil` when it is unset or empty.
    public static func fromEnvironment() throws -> DeviceRequest? {
        guard let value = getenv(environmentVariable).map({ String(cString: $0) }), !value.isEmpty else {
            return nil
        }
        do {
            return try DeviceRequest(parsing: value)
        } catch let error as CrossEntropyError {
            throw CrossEntropyError(error.code, "\(environmentVariable): \(error.message)")
        }
    }

    /// The default for engines made inside `operation` (on this task and its children).
    @TaskLocal public static var scopedDefault: DeviceRequest?

    /// Runs `operation` with `request` as the default device of the engines it makes.
    public static func withDefault<R>(_ request: DeviceRequest, operation: () throws -> R) rethrows -> R {
        try $scopedDefault.withValue(request, operation: operation)
    }

    /// The request in its parseable form.
    public var description: String {
        switch self {
        case .auto: "auto"
        case .cpu: "cpu"
        case .openCL: "opencl"
        case .openCLDevice(let platform, let device): "opencl:\(platform):\(device)"
        }
    }
}
