import COpenCL

/// An OpenCL buffer object.
///
/// Sendable: OpenCL 1.2 §A.2 makes every API call thread-safe except `clSetKernelArg` on one
/// kernel, which a buffer never makes.
public final class Buffer: @unchecked Sendable {
    /// The `cl_mem`, released in `deinit`.
    let handle: cl_mem
    /// The size asked for, in bytes.
    public let byteCount: Int
    /// The host memory a `.useHostPointer` buffer is, else `nil`: reading it back there copies nothing.
    let hostAddress: UnsafeRawPointer?

    /// Creates a device-allocated buffer of `byteCount` bytes.
    ///
    /// OpenCL rejects empty buffers, so a `byteCount` of 0 allocates 1 byte; `byteCount` stays 0.
    ///
    /// - Parameter flags: access and allocation flags; neither `.useHostPointer` nor
    ///   `.copyHostPointer`, which belong to `init(context:flags:hostMemory:)`.
    public init(context: Context, byteCount: Int, flags: MemoryFlags) throws(OpenCLError) {
        precondition(byteCount >= 0, "byteCount must not be negative")
        precondition(
            flags.isDisjoint(with: [.useHostPointer, .copyHostPointer]),
            "use init(context:flags:hostMemory:) for buffers over host memory")
        self.handle = try clCreate("clCreateBuffer") { status in
            clCreateBuffer(context.handle, flags.rawValue, max(byteCount, 1), nil, status)
        }
        self.byteCount = byteCount
        hostAddress = nil
    }

    /// Creates a buffer over, or initialised from, host memory.
    ///
    /// With `.useHostPointer` the device may use `hostMemory` directly (zero copy on CPU devices):
    /// the caller keeps that memory alive, and does not otherwise touch it, until the buffer is
    /// gone and every command using it has completed (a blocking read or `finish()` on the
    /// in-order queue waits for those). Kernels writing such a buffer write that memory, so pass
    /// `.readOnly` unless the memory may be mutated. With `.copyHostPointer` the bytes are copied at creation.
    /// Empty `hostMemory` yields a 1-byte device buffer whose `byteCount` is 0.
    ///
    /// - Parameter flags: must contain `.useHostPointer` or `.copyHostPointer`.
    public init(context: Context, flags: MemoryFlags, hostMemory: UnsafeRawBufferPointer)
        throws(OpenCLError)
    {
        precondition(
            !flags.isDisjoint(with: [.useHostPointer, .copyHostPointer]),
            "a buffer over host memory needs .useHostPointer or .copyHostPointer")
        let address = hostMemory.isEmpty ? nil : hostMemory.baseAddress
        let deviceFlags =
            address == nil ? flags.subtracting([.useHostPointer, .copyHostPointer]) : flags
        self.handle = try clCreate("clCreateBuffer") { status in
            clCreateBuffer(
                context.handle, deviceFlags.rawValue, max(hostMemory.count, 1),
                UnsafeMutableRawPointer(mutating: address), status)
        }
        self.byteCount = hostMemory.count
        hostAddress = deviceFlags.contains(.useHostPointer) ? address : nil
        if deviceFlags.contains(.copyHostPointer) {
            TransferCounters.addHostToDevice(hostMemory.count)
        }
    }

    deinit {
        clReleaseMemObject(handle)
    }
}
