import COpenCL

/// One kernel of a built program, with its arguments.
///
/// Not Sendable: `clSetKernelArg` on one kernel is the one OpenCL call that is not thread-safe
/// (OpenCL 1.2 §A.2). Create a kernel per launch, or per thread.
public final class Kernel {
    /// The `cl_kernel`, released in `deinit`.
    let handle: cl_kernel
    /// The buffers set as arguments, by index, kept alive until they are replaced or the kernel
    /// goes away, since OpenCL does not retain them for `clSetKernelArg`.
    private var buffers: [Int: Buffer] = [:]

    /// Looks up the kernel function `name` in `program`.
    public init(program: Program, name: String) throws(OpenCLError) {
        self.handle = try clCreate("clCreateKernel") { status in
            clCreateKernel(program.handle, name, status)
        }
    }

    deinit {
        clReleaseKernel(handle)
    }

    /// Sets argument `index` to `buffer` (a `__global` or `__constant` pointer parameter).
    public func setArgument(_ index: Int, _ buffer: Buffer) throws(OpenCLError) {
        var memory: cl_mem? = buffer.handle
        try clCall("clSetKernelArg") {
            clSetKernelArg(handle, argumentIndex(index), MemoryLayout<cl_mem?>.size, &memory)
        }
        buffers[index] = buffer
    }

    /// Sets argument `index` to an `int` value.
    public func setArgument(_ index: Int, _ value: Int32) throws(OpenCLError) {
        try setValue(index, value)
    }

    /// Sets argument `index` to a `long` value.
    public func setArgument(_ index: Int, _ value: Int64) throws(OpenCLError) {
        try setValue(index, value)
    }

    /// Sets argument `index` to a `uint` value.
    public func setArgument(_ index: Int, _ value: UInt32) throws(OpenCLError) {
        try setValue(index, value)
    }

    /// Sets argument `index` to a `ulong` value.
    public func setArgument(_ index: Int, _ value: UInt64) throws(OpenCLError) {
        try setValue(index, value)
    }

    /// Sets argument `index` to a `float` value.
    public func setArgument(_ index: Int, _ value: Float) throws(OpenCLError) {
        try setValue(index, value)
    }

    /// Sets argument `index` to a `double` value; the device must support `double`.
    public func setArgument(_ index: Int, _ value: Double) throws(OpenCLError) {
        try setValue(index, value)
    }

    /// Sets argument `index` to `value` passed by value: a struct laid out as the kernel's parameter
    /// type (OpenCL C lays out structs as C does; put wider fields first so that no padding differs).
    public func setArgument<Value: BitwiseCopyable>(_ index: Int, byValue value: Value) throws(OpenCLError) {
        try setValue(index, value)
    }

    /// Sets argument `index`, a `__local` pointer parameter, to `byteCount` bytes of local memory
    /// per work group.
    public func setLocalArgument(_ index: Int, byteCount: Int) throws(OpenCLError) {
        precondition(byteCount > 0, "local memory arguments need at least 1 byte")
        try clCall("clSetKernelArg") {
            clSetKernelArg(handle, argumentIndex(index), byteCount, nil)
        }
        buffers[index] = nil
    }

    /// `CL_KERNEL_WORK_GROUP_SIZE`: the most work-items a group of this kernel may have on `device`,
    /// given the resources it was compiled to use.
    public func maxWorkGroupSize(on device: Device) throws(OpenCLError) -> Int {
        try workGroupInfo(CL_KERNEL_WORK_GROUP_SIZE, on: device)
    }

    /// `CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE`: the granularity of this kernel's work on `device`
    /// (the width of a warp or wavefront on GPUs).
    public func preferredWorkGroupSizeMultiple(on device: Device) throws(OpenCLError) -> Int {
        try workGroupInfo(CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE, on: device)
    }

    private func workGroupInfo(_ parameter: Int32, on device: Device) throws(OpenCLError) -> Int {
        var value = 0
        try clCall("clGetKernelWorkGroupInfo") {
            clGetKernelWorkGroupInfo(
                handle, device.id, cl_kernel_work_group_info(parameter), MemoryLayout<Int>.size, &value, nil)
        }
        return value
    }

    private func setValue<Value: BitwiseCopyable>(_ index: Int, _ value: Value)
        throws(OpenCLError)
    {
        try clCall("clSetKernelArg") {
            withUnsafeBytes(of: value) {
                clSetKernelArg(handle, argumentIndex(index), $0.count, $0.baseAddress)
            }
        }
        buffers[index] = nil
    }

    private func argumentIndex(_ index: Int) -> cl_uint {
        guard let argumentIndex = cl_uint(exactly: index) else {
            preconditionFailure("kernel argument index \(index) is out of range")
        }
        return argumentIndex
    }
}

@available(*, unavailable, message: "clSetKernelArg is not thread-safe; create a kernel per task")
extension Kernel: Sendable {}
