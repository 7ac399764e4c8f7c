import COpenCL

/// How a buffer is allocated and may be accessed by kernels (`cl_mem_flags`).
public struct MemoryFlags: OptionSet, Sendable {
    /// The raw `cl_mem_flags` bits.
    public let rawValue: cl_mem_flags

    /// Wraps raw `cl_mem_flags` bits.
    public init(rawValue: cl_mem_flags) {
        self.rawValue = rawValue
    }

    /// `CL_MEM_READ_WRITE`: kernels read and write the buffer.
    public static let readWrite = Self(rawValue: cl_mem_flags(CL_MEM_READ_WRITE))
    /// `CL_MEM_WRITE_ONLY`: kernels only write the buffer.
    public static let writeOnly = Self(rawValue: cl_mem_flags(CL_MEM_WRITE_ONLY))
    /// `CL_MEM_READ_ONLY`: kernels only read the buffer.
    public static let readOnly = Self(rawValue: cl_mem_flags(CL_MEM_READ_ONLY))
    /// `CL_MEM_USE_HOST_PTR`: the buffer lives in, or is cached from, the caller's memory.
    public static let useHostPointer = Self(rawValue: cl_mem_flags(CL_MEM_USE_HOST_PTR))
    /// `CL_MEM_ALLOC_HOST_PTR`: allocate the buffer in host-accessible memory.
    public static let allocateHostPointer = Self(rawValue: cl_mem_flags(CL_MEM_ALLOC_HOST_PTR))
    /// `CL_MEM_COPY_HOST_PTR`: initialise the buffer with a copy of the caller's memory.
    public static let copyHostPointer = Self(rawValue: cl_mem_flags(CL_MEM_COPY_HOST_PTR))
}
