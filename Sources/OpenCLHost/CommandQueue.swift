import COpenCL

/// An in-order OpenCL command queue without profiling, on a context's device.
///
/// Sendable: OpenCL 1.2 §A.2 makes every API call thread-safe except `clSetKernelArg` on one
/// kernel, which a queue never makes.
public final class CommandQueue: @unchecked Sendable {
    /// The `cl_command_queue`, released in `deinit`.
    let handle: cl_command_queue

    /// Creates an in-order queue on `context`'s device.
    public init(context: Context) throws(OpenCLError) {
        self.handle = try clCreate("clCreateCommandQueue") { status in
            clCreateCommandQueue(context.handle, context.device.id, 0, status)
        }
    }

    deinit {
        clReleaseCommandQueue(handle)
    }

    /// Blocks until every command enqueued so far has completed.
    public func finish() throws(OpenCLError) {
        try clCall("clFinish") { clFinish(handle) }
    }

    /// Enqueues a 1-D NDRange launch of `kernel` with its arguments as set now.
    ///
    /// - Parameters:
    ///   - globalSize: the number of work items; the caller rounds it to a multiple of
    ///     `localSize`. Zero enqueues nothing.
    ///   - localSize: the work-group size; nil lets the driver choose.
    public func enqueue(_ kernel: Kernel, globalSize: Int, localSize: Int? = nil)
        throws(OpenCLError)
    {
        precondition(globalSize >= 0, "globalSize must not be negative")
        precondition(localSize.map { $0 > 0 } ?? true, "localSize must be positive")
        guard globalSize > 0 else { return }
        var global = globalSize
        var local = localSize ?? 0
        try clCall("clEnqueueNDRangeKernel") {
            withUnsafeMutablePointer(to: &local) { local in
                clEnqueueNDRangeKernel(
                    handle, kernel.handle, 1, nil, &global, localSize == nil ? nil : local, 0, nil,
                    nil)
            }
        }
    }

    /// Copies `destination.count` bytes from `buffer`, starting `offset` bytes in, into host
    /// memory, returning once the copy (and every command before it) has completed.
    public func read(
        _ buffer: Buffer, offset: Int = 0, into destination: UnsafeMutableRawBufferPointer
    ) throws(OpenCLError) {
        checkRange(of: buffer, offset: offset, count: destination.count)
        guard let address = destination.baseAddress, destination.count > 0 else { return }
        try clCall("clEnqueueReadBuffer") {
            clEnqueueReadBuffer(
                handle, buffer.handle, cl_bool(CL_TRUE), offset, destination.count, address,
                0, nil, nil)
        }
    }

    /// Copies `source` into `buffer`, starting `offset` bytes in, returning once the copy (and
    /// every command before it) has completed.
    public func write(_ buffer: Buffer, offset: Int = 0, from source: UnsafeRawBufferPointer)
        throws(OpenCLError)
    {
        checkRange(of: buffer, offset: offset, count: source.count)
        guard let address = source.baseAddress, source.count > 0 else { return }
        try clCall("clEnqueueWriteBuffer") {
            clEnqueueWriteBuffer(
                handle, buffer.handle, cl_bool(CL_TRUE), offset, source.count, address,
                0, nil, nil)
        }
    }

    /// Enqueues setting the whole of `buffer` to zero bytes.
    public func zero(_ buffer: Buffer) throws(OpenCLError) {
        var pattern: UInt8 = 0
        try clCall("clEnqueueFillBuffer") {
            clEnqueueFillBuffer(handle, buffer.handle, &pattern, 1, 0, max(buffer.byteCount, 1), 0, nil, nil)
        }
    }

    private func checkRange(of buffer: Buffer, offset: Int, count: Int) {
        precondition(
            offset >= 0 && offset <= buffer.byteCount - count,
            "bytes \(offset)..<\(offset + count) lie outside a buffer of \(buffer.byteCount) bytes")
    }
}
