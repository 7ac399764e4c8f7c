import Synchronization

/// What this process has moved between host and OpenCL devices and run on them, counted where the
/// host layer makes each call (so no copy can go uncounted): bytes copied to devices (buffers made
/// from host memory with `.copyHostPointer`, writes), bytes copied back (reads), and the device time of
/// kernels enqueued through `CommandQueue.enqueue` (from event profiling, added once each completes).
public struct TransferCounters: Sendable, Equatable {
    /// Bytes copied from host memory to devices.
    public var hostToDeviceBytes: Int
    /// Bytes copied from devices to host memory.
    public var deviceToHostBytes: Int
    /// Kernel execution time on the devices, in nanoseconds (`CL_PROFILING_COMMAND_END − START`).
    public var kernelNanoseconds: Int

    /// The totals so far.
    public static var total: TransferCounters {
        TransferCounters(
            hostToDeviceBytes: hostToDevice.load(ordering: .relaxed),
            deviceToHostBytes: deviceToHost.load(ordering: .relaxed),
            kernelNanoseconds: kernelTime.load(ordering: .relaxed))
    }

    /// What happened between `earlier` and these totals.
    public static func - (later: TransferCounters, earlier: TransferCounters) -> TransferCounters {
        TransferCounters(
            hostToDeviceBytes: later.hostToDeviceBytes - earlier.hostToDeviceBytes,
            deviceToHostBytes: later.deviceToHostBytes - earlier.deviceToHostBytes,
            kernelNanoseconds: later.kernelNanoseconds - earlier.kernelNanoseconds)
    }

    static func addHostToDevice(_ bytes: Int) { hostToDevice.add(bytes, ordering: .relaxed) }
    static func addDeviceToHost(_ bytes: Int) { deviceToHost.add(bytes, ordering: .relaxed) }
    static func addKernelTime(_ nanoseconds: Int) { kernelTime.add(nanoseconds, ordering: .relaxed) }
}

private let hostToDevice = Atomic<Int>(0)
private let deviceToHost = Atomic<Int>(0)
private let kernelTime = Atomic<Int>(0)
