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
    /// Whether kernels may read it (it was not made `CL_MEM_WRITE_ONLY`).
    public let kernelsMayRead: Bool
    /// Whether kernels may write it (it was not made `CL_MEM_READ_ONLY`).
    public let kernelsMayWrite: Bool
    /// The buffer whose memory this is, and where in it: itself, or the parent of a `region`.
    private let parent: (handle: cl_mem, bytes: Range<Int>)?

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
        (kernelsMayRead, kernelsMayWrite) = Self.kernelAccess(flags)
        parent = nil
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
        (kernelsMayRead, kernelsMayWrite) = Self.kernelAccess(flags)
        parent = nil
        if deviceFlags.contains(.copyHostPointer) {
            TransferCounters.addHostToDevice(hostMemory.count)
        }
    }

    /// Adopts a buffer made elsewhere (retained here, released in `deinit`): `byteCount` is its size.
    public init(retaining handle: OpaquePointer) throws(OpenCLError) {
        var size = 0
        var flags: cl_mem_flags = 0
        try clCall("clGetMemObjectInfo") {
            clGetMemObjectInfo(handle, cl_mem_info(CL_MEM_SIZE), MemoryLayout<Int>.size, &size, nil)
        }
        try clCall("clGetMemObjectInfo") {
            clGetMemObjectInfo(handle, cl_mem_info(CL_MEM_FLAGS), MemoryLayout<cl_mem_flags>.size, &flags, nil)
        }
        try clCall("clRetainMemObject") { clRetainMemObject(handle) }
        self.handle = handle
        byteCount = size
        hostAddress = nil
        (kernelsMayRead, kernelsMayWrite) = Self.kernelAccess(MemoryFlags(rawValue: flags))
        parent = nil
    }

    private init(region handle: cl_mem, of parent: Buffer, bytes: Range<Int>) {
        self.handle = handle
        byteCount = bytes.count
        hostAddress = nil
        (kernelsMayRead, kernelsMayWrite) = (parent.kernelsMayRead, parent.kernelsMayWrite)
        self.parent = (parent.parent?.handle ?? parent.handle, bytes)
    }

    /// Whether this buffer and `other` are the same memory (`true`), memory that overlaps in part
    /// (`nil`), or apart (`false`), as far as this process made them (two sub-buffers a caller made of
    /// one buffer count as apart).
    public func sameMemory(as other: Buffer) -> Bool? {
        let (mine, theirs) = (parent ?? (handle, 0..<byteCount), other.parent ?? (other.handle, 0..<other.byteCount))
        guard mine.handle == theirs.handle, mine.bytes.overlaps(theirs.bytes) else { return false }
        return mine.bytes == theirs.bytes ? true : nil
    }

    private static func kernelAccess(_ flags: MemoryFlags) -> (read: Bool, write: Bool) {
        (!flags.contains(.writeOnly), !flags.contains(.readOnly))
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
        // Flags 0: the region inherits the parent's access (a read-write region of a read-only buffer is
        // refused).
        let handle = try clCreate("clCreateSubBuffer") { status in
            clCreateSubBuffer(self.handle, 0, cl_buffer_create_type(CL_BUFFER_CREATE_TYPE_REGION), &region, status)
        }
        let start = (parent?.bytes.lowerBound ?? 0) + offset
        return Buffer(region: handle, of: self, bytes: start..<(start + byteCount))
    }

    deinit {
        clReleaseMemObject(handle)
    }
}
