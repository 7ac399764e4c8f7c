import COpenCL

/// The kinds of an OpenCL device (`cl_device_type`).
public struct DeviceType: OptionSet, Sendable, CustomStringConvertible {
    /// The raw `cl_device_type` bits.
    public let rawValue: cl_device_type

    /// Wraps raw `cl_device_type` bits.
    public init(rawValue: cl_device_type) {
        self.rawValue = rawValue
    }

    /// `CL_DEVICE_TYPE_CPU`.
    public static let cpu = Self(rawValue: cl_device_type(CL_DEVICE_TYPE_CPU))
    /// `CL_DEVICE_TYPE_GPU`.
    public static let gpu = Self(rawValue: cl_device_type(CL_DEVICE_TYPE_GPU))
    /// `CL_DEVICE_TYPE_ACCELERATOR`.
    public static let accelerator = Self(rawValue: cl_device_type(CL_DEVICE_TYPE_ACCELERATOR))
    /// `CL_DEVICE_TYPE_DEFAULT`: the platform's default device.
    public static let `default` = Self(rawValue: cl_device_type(CL_DEVICE_TYPE_DEFAULT))
    /// `CL_DEVICE_TYPE_CUSTOM`.
    public static let custom = Self(rawValue: cl_device_type(CL_DEVICE_TYPE_CUSTOM))

    /// Whether the device is a GPU or an accelerator: a wide device that wants work-groups of
    /// cooperating work-items, where `auto` offloads and the per-group kernels run.
    public var isGPUOrAccelerator: Bool { !isDisjoint(with: [.gpu, .accelerator]) }

    /// The names of the set kinds joined by `", "`, for example `CPU` or `GPU, default`;
    /// bits without a name appear in hexadecimal, and no bits read `none`.
    public var description: String {
        let named: [(DeviceType, String)] = [
            (.cpu, "CPU"), (.gpu, "GPU"), (.accelerator, "accelerator"), (.custom, "custom"),
            (.default, "default"),
        ]
        var names = named.filter { contains($0.0) }.map(\.1)
        let unnamed = subtracting([.cpu, .gpu, .accelerator, .custom, .default])
        if !unnamed.isEmpty {
            names.append("0x" + String(unnamed.rawValue, radix: 16))
        }
        return names.isEmpty ? "none" : names.joined(separator: ", ")
    }
}
