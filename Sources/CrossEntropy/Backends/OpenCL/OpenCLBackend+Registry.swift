import Logging
import OpenCLHost

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension OpenCLBackend {
    /// Every backend made so far, by device location, kernel family and allocation limit.
    private static let backends = LockedValue<[String: OpenCLBackend]>([:])

    /// The process's one backend for the device at `location` and `family` (by default: the environment
    /// variable `XENT_OPENCL_KERNELS`, `per-row` or `per-group`, else per-group for GPUs and accelerators
    /// and per-row for the rest), so that each program is built once per process and device.
    /// `maxAllocationBytes` lowers the chunk size below the device's limit (for tests of the chunking).
    /// A backend's first program is built when it is made, logged to `logger`.
    static func shared(
        device: Device, at location: (platform: Int, device: Int), family: KernelFamily? = nil,
        maxAllocationBytes: Int? = nil, logger: Logger
    ) throws -> OpenCLBackend {
        let family = try family ?? defaultFamily(for: device)
        return try backends.withLock { backends in
            let key = "\(location.platform):\(location.device):\(family):\(maxAllocationBytes ?? 0)"
            if let backend = backends[key] { return backend }
            let backend = try OpenCLBackend(
                device: device, family: family, maxAllocationBytes: maxAllocationBytes, logger: logger)
            backends[key] = backend
            return backend
        }
    }

    /// A backend of its own, which no engine shares: only its `Float` program is built; `forceCopies` puts
    /// it on the staged path (a test hook).
    static func makeUnshared(
        device: Device, family: KernelFamily, forceCopies: Bool = false, logger: Logger = .quiet
    ) throws -> OpenCLBackend {
        try OpenCLBackend(
            device: device, family: family, maxAllocationBytes: nil, forceCopies: forceCopies, logger: logger)
    }

    static func defaultFamily(for device: Device) throws -> KernelFamily {
        if let name = getenv(KernelFamily.environmentVariable).map({ String(cString: $0) }), !name.isEmpty {
            guard let family = KernelFamily(rawValue: name) else {
                throw CrossEntropyError(
                    .invalidOption, "\(KernelFamily.environmentVariable)=\(name): expected per-row or per-group")
            }
            return family
        }
        return device.type.isGPUOrAccelerator ? .perGroup : .perRow
    }
}
