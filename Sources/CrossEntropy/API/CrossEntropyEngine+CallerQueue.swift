import Logging
import OpenCLHost

extension CrossEntropyEngine {
    /// An engine on an OpenCL command queue the caller already has (a `cl_command_queue`), in its context:
    /// the convention of CLBlast and clFFT, for programs whose logits come out of their own kernels. Its
    /// kernels run on that queue, after whatever the caller enqueued before each call, and each call
    /// returns once its work has completed — so there is no event to wait for. The queue must execute in
    /// order; the queue and its context are retained while the engine lives. Device time is counted in
    /// `DeviceTraffic` only if the queue was made with `CL_QUEUE_PROFILING_ENABLE`. The engine builds its
    /// own kernels (engines on a caller's queue share none). `device.kind` gives the device's place in
    /// `DeviceInventory`, or platform and device -1 where the inventory does not list it.
    public convenience init(openCLQueue queue: OpaquePointer, logger: Logger? = nil) throws {
        let logger = logger ?? .quiet
        let (commandQueue, context) = try Self.adopt(queue)
        guard !commandQueue.isOutOfOrder else {
            throw CrossEntropyError(
                .invalidOption, "the OpenCL queue runs out of order; an engine needs an in-order queue")
        }
        let device = context.device
        let backend = try OpenCLBackend(
            context: context, queue: commandQueue, family: OpenCLBackend.defaultFamily(for: device),
            maxAllocationBytes: nil, logger: logger)
        let location = DeviceInventory.current().openCL.first { $0.device == device }
        let selected = SelectedDevice(
            kind: .openCL(platform: location?.platformIndex ?? -1, device: location?.deviceIndex ?? -1),
            name: device.name, request: location?.request ?? .openCL, reason: "the caller's OpenCL queue")
        self.init(backend: backend, device: selected, logger: logger)
        logger.info("device chosen", metadata: ["device": "\(device.name)", "reason": "the caller's OpenCL queue"])
    }

    /// `count` elements of type `T` at `byteOffset` in a buffer the caller owns (a `cl_mem` of this engine's
    /// context), used in place: results written into it are the caller's to read. The buffer is retained
    /// while the array lives. A nonzero offset must be a multiple of the device's base address alignment
    /// (`CL_DEVICE_MEM_BASE_ADDR_ALIGN` bits, divided by 8 for bytes), and the buffer not itself a
    /// sub-buffer: OpenCL makes a sub-buffer there. A buffer made `CL_MEM_READ_ONLY` serves as logits, not
    /// as an output; one made `CL_MEM_WRITE_ONLY` only as an output (calls refuse otherwise).
    public func deviceArray<T: LogitsScalar>(
        wrapping buffer: OpaquePointer, byteOffset: Int = 0, count: Int, of _: T.Type
    ) throws -> DeviceArray<T> {
        guard let openCL = try backend(for: T.dtype) as? OpenCLBackend else {
            throw CrossEntropyError(
                .deviceUnavailable, "\(device.name) runs \(T.dtype) logits on the CPU: an OpenCL buffer cannot be used")
        }
        return try openCL.openCLCall {
            let whole = try Buffer(retaining: buffer)
            guard try whole.belongs(to: openCL.context) else {
                throw CrossEntropyError(
                    .invalidOption, "the OpenCL buffer belongs to another context than the engine's")
            }
            let bytes = count * MemoryLayout<T>.stride
            guard count >= 0, byteOffset >= 0, byteOffset + bytes <= whole.byteCount else {
                throw CrossEntropyError(
                    .invalidShape,
                    "\(count) \(T.dtype) at byte \(byteOffset) do not fit a buffer of \(whole.byteCount) bytes")
            }
            // At offset 0 the buffer itself (the array's count bounds what is used), so that a caller's own
            // sub-buffer works too; OpenCL makes no sub-buffer of a sub-buffer.
            let storage = byteOffset == 0 ? whole : try whole.region(offset: byteOffset, byteCount: bytes)
            return DeviceArray(count: count, storage: .openCL(storage, openCL))
        }
    }

    /// The caller's queue and its context, retained.
    private static func adopt(_ queue: OpaquePointer) throws -> (CommandQueue, Context) {
        do {
            let commandQueue = try CommandQueue(retaining: queue)
            return (commandQueue, try commandQueue.context())
        } catch {
            throw CrossEntropyError(.openCLFailure, "the caller's OpenCL queue: \(error)")
        }
    }
}
