import Logging
import OpenCLHost

/// Computes cross-entropy and its primitives on one device: an OpenCL device or the CPU fallback.
///
/// An engine is made once (OpenCL programs are built once per device and data type, by the engines of a
/// process together; an engine on a caller's queue builds its own) and may be
/// shared by any number of tasks and threads. It logs what it decides to the `Logger` it is given:
/// the device chosen and why (`info`), falling back to the CPU (`warning`), kernel builds with their
/// time (`info`) and cache hits (`trace`), chunks halved after the device ran out of memory (`warning`).
///
/// ```swift
/// let engine = try CrossEntropyEngine(device: .auto)
/// print(engine.device)   // what was chosen, and why
/// let loss = try engine.crossEntropy(logits, target: .classIndices(labels))
/// ```
public final class CrossEntropyEngine: Sendable {
    /// The device this engine runs on, and why it was chosen.
    public let device: SelectedDevice
    /// Where the engine logs its decisions: the one it was made with, or one that drops every message.
    public let logger: Logger
    let backend: any RowBackend
    /// Runs what `backend` cannot (e.g. `Double` on a device without fp64), only when the choice was
    /// `auto`; `nil` when such input must be refused.
    let fallback: (any RowBackend)?
    /// The logits types already sent to `fallback`, so that each fallback is logged once.
    private let fellBack = LockedValue<Set<LogitsDType>>([])

    /// Makes an engine for `request`, or for the default (see `DeviceRequest`) when it is `nil`, logging
    /// to `logger` (by default nowhere).
    ///
    /// An explicit OpenCL request that cannot be met throws an error that says why; `auto` falls back to
    /// the CPU and records the reason in `device.reason`.
    public init(device request: DeviceRequest? = nil, logger: Logger? = nil) throws {
        let logger = logger ?? .quiet
        let request = try request ?? DeviceRequest.scopedDefault ?? DeviceRequest.fromEnvironment() ?? .auto
        (device, backend, fallback) = try Self.choose(request, logger: logger)
        self.logger = logger
        logger.info(
            "device chosen",
            metadata: ["device": "\(device.name)", "request": "\(request)", "reason": "\(device.reason)"])
    }

    /// The device `request` names, its backend, and the CPU fallback for what that backend cannot run
    /// when the request was `auto`.
    private static func choose(
        _ request: DeviceRequest, logger: Logger
    ) throws -> (SelectedDevice, any RowBackend, (any RowBackend)?) {
        let cpu = CPUBackend()
        let cpuName = "cpu (\(cpu.threads) threads)"
        switch request {
        case .cpu:
            return (SelectedDevice(kind: .cpu, name: cpuName, request: request, reason: "requested"), cpu, nil)
        case .openCL, .openCLDevice:
            let (location, clDevice) = try openCLDevice(for: request)
            let backend = try OpenCLBackend.shared(device: clDevice, at: location, logger: logger)
            let device = SelectedDevice(
                kind: .openCL(platform: location.platform, device: location.device), name: clDevice.name,
                request: request, reason: "requested")
            return (device, backend, nil)
        case .auto:
            let inventory = DeviceInventory.current()
            guard let gpu = inventory.firstGPU else {
                let reason =
                    inventory.problem.map { "\($0); using the CPU fallback" }
                    ?? "no OpenCL GPU; the CPU fallback is faster than OpenCL CPU devices here"
                return (SelectedDevice(kind: .cpu, name: cpuName, request: request, reason: reason), cpu, nil)
            }
            do {
                let backend = try OpenCLBackend.shared(
                    device: gpu.device, at: (gpu.platformIndex, gpu.deviceIndex), logger: logger)
                let device = SelectedDevice(
                    kind: .openCL(platform: gpu.platformIndex, device: gpu.deviceIndex), name: gpu.device.name,
                    request: request, reason: "the first OpenCL GPU")
                return (device, backend, cpu)
            } catch {
                logger.warning(
                    "OpenCL GPU failed; using the CPU fallback",
                    metadata: ["device": "\(gpu.device.name)", "error": "\(error)"])
                let reason = "OpenCL GPU \(gpu.device.name) failed (\(error)); using the CPU fallback"
                return (SelectedDevice(kind: .cpu, name: cpuName, request: request, reason: reason), cpu, nil)
            }
        }
    }

    /// An engine on an explicitly requested OpenCL device with a chosen kernel family (for tests and
    /// benchmarks of the family a device would not get by default), and optionally a smaller allocation
    /// limit than the device's, so that small batches are processed in several chunks.
    init(
        openCL request: DeviceRequest, family: KernelFamily, maxAllocationBytes: Int? = nil, logger: Logger = .quiet
    ) throws {
        self.logger = logger
        let (location, clDevice) = try Self.openCLDevice(for: request)
        backend = try OpenCLBackend.shared(
            device: clDevice, at: location, family: family, maxAllocationBytes: maxAllocationBytes, logger: logger)
        device = SelectedDevice(
            kind: .openCL(platform: location.platform, device: location.device), name: clDevice.name,
            request: request, reason: "requested, \(family) kernels")
        fallback = nil
    }

    /// An engine on `backend`, with `fallback` for what it cannot run: e.g. an unshared OpenCL backend (a
    /// test hook).
    init(
        backend: any RowBackend, device: SelectedDevice, fallback: (any RowBackend)? = nil, logger: Logger = .quiet
    ) {
        (self.device, self.backend, self.fallback, self.logger) = (device, backend, fallback, logger)
    }

    /// Does now the work the first call on logits of each of `dtypes` would do first, so that a program
    /// pays it up front: on OpenCL, building the kernels of that type (0.3–1.1 s each on PoCL without its
    /// on-disk cache; the engine builds the `Float` ones when it is made); on the CPU
    /// fallback, nothing. The kernels that write a `Float` gradient of `Float16` or `BFloat16` logits, and
    /// those of soft-capped logits, are built on their first use. Throws what that first call would (a
    /// device without `cl_khr_fp64` for `.float64`, a driver that cannot build the kernels).
    public func prepare(_ dtypes: [LogitsDType] = [.float32]) throws {
        for dtype in dtypes {
            try backend(for: dtype).prepare(dtype, logger: logger)
        }
    }

    /// The backend that runs `dtype`, or an error saying why none can.
    func backend(for dtype: LogitsDType) throws -> any RowBackend {
        guard let reason = backend.unsupportedReason(for: dtype) else { return backend }
        if let fallback {
            if fellBack.withLock({ $0.insert(dtype).inserted }) {
                logger.warning(
                    "logits type not supported by the device; using the CPU fallback",
                    metadata: ["device": "\(device.name)", "dtype": "\(dtype)", "reason": "\(reason)"])
            }
            return fallback
        }
        throw CrossEntropyError(.deviceUnavailable, "\(device.name) cannot run \(dtype) logits: \(reason)")
    }

    private static func openCLDevice(
        for request: DeviceRequest
    ) throws -> (location: (platform: Int, device: Int), device: Device) {
        let inventory = DeviceInventory.current()
        if let problem = inventory.problem {
            throw CrossEntropyError(.deviceUnavailable, "cannot use device '\(request)': \(problem)")
        }
        switch request {
        case .openCLDevice(let platform, let device):
            guard
                let entry = inventory.openCL.first(where: { $0.platformIndex == platform && $0.deviceIndex == device })
            else {
                let known = inventory.openCL.map { "opencl:\($0.platformIndex):\($0.deviceIndex)" }
                throw CrossEntropyError(
                    .deviceUnavailable,
                    "no OpenCL device \(platform):\(device); found \(known.isEmpty ? "none" : known.joined(separator: ", "))"
                )
            }
            return ((platform, device), entry.device)
        default:
            guard let first = inventory.openCL.first else {
                throw CrossEntropyError(.deviceUnavailable, "cannot use device 'opencl': no OpenCL device found")
            }
            return ((first.platformIndex, first.deviceIndex), first.device)
        }
    }
}
