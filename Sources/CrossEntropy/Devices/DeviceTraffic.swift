import OpenCLHost

/// What this process has copied between host memory and OpenCL devices, and the device time of the
/// kernels it ran there, counted by the OpenCL host layer at each call (so no copy goes uncounted).
/// The CPU fallback moves and counts nothing. Differences of two readings measure a stretch of work:
///
/// ```swift
/// let before = DeviceTraffic.total
/// _ = try engine.crossEntropy(logits, shape: [n, c], target: .labels(labels))
/// print((DeviceTraffic.total - before).hostToDeviceBytes)
/// ```
public struct DeviceTraffic: Sendable, Equatable {
    /// Bytes copied from host memory to devices (buffers made from host memory, writes).
    public var hostToDeviceBytes: Int
    /// Bytes copied from devices to host memory (reads).
    public var deviceToHostBytes: Int
    /// The kernels' execution time on the devices, from OpenCL event profiling, in seconds.
    public var kernelSeconds: Double

    /// The totals since the process started.
    public static var total: DeviceTraffic {
        let counters = TransferCounters.total
        return DeviceTraffic(
            hostToDeviceBytes: counters.hostToDeviceBytes, deviceToHostBytes: counters.deviceToHostBytes,
            kernelSeconds: Double(counters.kernelNanoseconds) * 1e-9)
    }

    /// What happened between `earlier` and `later`.
    public static func - (later: DeviceTraffic, earlier: DeviceTraffic) -> DeviceTraffic {
        DeviceTraffic(
            hostToDeviceBytes: later.hostToDeviceBytes - earlier.hostToDeviceBytes,
            deviceToHostBytes: later.deviceToHostBytes - earlier.deviceToHostBytes,
            kernelSeconds: later.kernelSeconds - earlier.kernelSeconds)
    }
}
