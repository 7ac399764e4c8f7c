/// The device an engine runs on, and why it was chosen.
public struct SelectedDevice: Sendable, CustomStringConvertible {
    /// What kind of device it is.
    public enum Kind: Sendable, Hashable {
        /// The CPU fallback.
        case cpu
        /// OpenCL device `device` of platform `platform`.
        case openCL(platform: Int, device: Int)
    }

    /// What kind of device it is.
    public let kind: Kind
    /// A human-readable name, e.g. `cpu (2 threads)` or the OpenCL device's name.
    public let name: String
    /// What was asked for.
    public let request: DeviceRequest
    /// Why this device: the request itself, or what `auto` found.
    public let reason: String

    /// `name (reason)`.
    public var description: String { "\(name) (\(reason))" }
}
