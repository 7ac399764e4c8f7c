import COpenCL

/// Host memory the device copies to and from at its full speed: a buffer allocated by the driver in
/// host memory it can reach directly (`CL_MEM_ALLOC_HOST_PTR`, pinned memory on discrete GPUs), mapped
/// once for the host's use for as long as it lives. Transfers between it and device buffers are plain
/// `enqueueWrite`/`enqueueRead` from and into its bytes.
///
/// Not Sendable: its bytes are one owner's scratch.
public final class StagingBuffer {
    private let buffer: Buffer
    private let queue: CommandQueue
    /// The mapped bytes, valid until `deinit` unmaps them.
    public let bytes: UnsafeMutableRawBufferPointer

    /// Allocates `byteCount` bytes of pinned host memory in `queue`'s context and maps them on `queue`.
    public init(queue: CommandQueue, context: Context, byteCount: Int) throws(OpenCLError) {
        let buffer = try Buffer(context: context, byteCount: byteCount, flags: [.readWrite, .allocateHostPointer])
        self.buffer = buffer
        self.queue = queue
        let size = max(byteCount, 1)
        let address = try clCreate("clEnqueueMapBuffer") { status in
            clEnqueueMapBuffer(
                queue.handle, buffer.handle, cl_bool(CL_TRUE), cl_map_flags(CL_MAP_READ | CL_MAP_WRITE), 0, size, 0,
                nil, nil, status)
        }
        bytes = UnsafeMutableRawBufferPointer(start: address, count: byteCount)
    }

    deinit {
        if let address = bytes.baseAddress {
            clEnqueueUnmapMemObject(queue.handle, buffer.handle, address, 0, nil, nil)
            clFinish(queue.handle)
        }
    }
}
