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

    /// Adopts a buffer made elsewhere (retained here, released in `deinit`): `byteCount` is its size.
    public init(retaining handle: OpaquePointer) throws(OpenCLError) {
        var size = 0
        try clCall("clGetMemObjectInfo") {
            clGetMemObjectInfo(handle, cl_mem_info(CL_MEM_SIZE), MemoryLayout<Int>.size, &size, nil)
        }
        try clCall("clRetainMemObject") { clRetainMemObject(handle) }
        self.handle = handle
        byteCount = size
        hostAddress = nil
    }

    private init(subBuffer handle: cl_mem, byteCount: Int) {
        self.handle = handle
        self.byteCount = byteCount
        hostAddress = nil
    }

    /// Whether this buffer belongs to `context`.
    public func belongs(to context: Context) throws(OpenCLError) -> Bool {
        var owner: cl_context?
        try clCall("clGetMemObjectInfo") {
            clGetMemObjectInfo(handle, cl_mem_info(CL_MEM_CONTEXT), MemoryLayout<cl_context?>.size, &owner, nil)
        }
        return owner == context.handle
    }

    /// A buffer over bytes `offset..<offset + byteCount` of this one (`clCreateSubBuffer`): the offset must
    /// be a multiple of the device's `CL_DEVICE_MEM_BASE_ADDR_ALIGN` (`CL_MISALIGNED_SUB_BUFFER_OFFSET`).
    public func region(offset: Int, byteCount: Int) throws(OpenCLError) -> Buffer {
        precondition(offset >= 0 && byteCount >= 0 && offset + byteCount <= self.byteCount, "region outside the buffer")
        var region = cl_buffer_region(origin: offset, size: max(byteCount, 1))
        let handle = try clCreate("clCreateSubBuffer") { status in
            clCreateSubBuffer(
                self.handle, cl_mem_flags(CL_MEM_READ_WRITE), cl_buffer_create_type(CL_BUFFER_CREATE_TYPE_REGION),
                &region, status)
        }
        return Buffer(subBuffer: handle, byteCount: byteCount)
    }

    deinit {
        clReleaseMemObject(handle)
    }
}
