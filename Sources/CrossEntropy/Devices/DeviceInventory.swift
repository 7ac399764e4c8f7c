import OpenCLHost

/// Every device an engine could run on, as `xent devices` lists them.
public struct DeviceInventory: Sendable {
    /// One OpenCL device and where it was found.
    public struct OpenCLEntry: Sendable {
        /// The platform's position in the loader's list.
        public let platformIndex: Int
        /// The device's position in its platform's list.
        public let deviceIndex: Int
        /// The platform's name.
        public let platformName: String
        /// The device and its properties.
        let device: Device

        /// The device's name.
        public var name: String { device.name }
        /// `CPU`, `GPU`, `accelerator`, …
        public var type: String { device.type.description }
        /// Parallel compute units.
        public var computeUnits: Int { device.computeUnits }
        /// Global memory in bytes.
        public var globalMemoryBytes: Int { device.globalMemoryBytes }
        /// The largest single allocation in bytes.
        public var maxAllocationBytes: Int { device.maxAllocationBytes }
        /// The OpenCL C version the device compiles, e.g. `OpenCL C 1.2 pocl`.
        public var openCLCVersion: String { device.openCLCVersion }
        /// Whether `Double` logits can run on it.
        public var supportsFloat64: Bool { device.supportsFloat64 }
        /// The request that selects exactly this device.
        public var request: DeviceRequest { .openCLDevice(platform: platformIndex, device: deviceIndex) }
        /// Whether `auto` would take it.
        var isGPU: Bool { device.type.isGPUOrAccelerator }
    }

    /// Every OpenCL device of every platform.
    public let openCL: [OpenCLEntry]
    /// Why there are no OpenCL devices (no OpenCL runtime, no platform, or the loader failed), or `nil`.
    public let problem: String?

    /// The first GPU or accelerator, which `auto` prefers.
    public var firstGPU: OpenCLEntry? { openCL.first(where: \.isGPU) }

    /// Looks at the OpenCL platforms present now. Never throws: a missing or broken OpenCL runtime is
    /// recorded in `problem`.
    public static func current() -> DeviceInventory {
        if let problem = OpenCLRuntime.problem {
            return DeviceInventory(openCL: [], problem: problem)
        }
        do {
            let platforms = try Platform.all()
            guard !platforms.isEmpty else {
                return DeviceInventory(
                    openCL: [], problem: "no OpenCL platform found (CL_PLATFORM_NOT_FOUND_KHR)")
            }
            var entries: [OpenCLEntry] = []
            for (platformIndex, platform) in platforms.enumerated() {
                for (deviceIndex, device) in try platform.devices().enumerated() {
                    entries.append(
                        OpenCLEntry(
                            platformIndex: platformIndex, deviceIndex: deviceIndex, platformName: platform.name,
                            device: device))
                }
            }
            return DeviceInventory(
                openCL: entries, problem: entries.isEmpty ? "OpenCL platforms found, but no devices" : nil)
        } catch {
            return DeviceInventory(openCL: [], problem: "the OpenCL runtime failed: \(error)")
        }
    }
}
