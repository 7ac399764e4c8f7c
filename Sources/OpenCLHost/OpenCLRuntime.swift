import COpenCL

/// The OpenCL ICD loader (`libOpenCL.so.1`), which nothing links: it is opened at run time, on the first
/// OpenCL call, so that a machine without it still runs everything that needs no OpenCL.
public enum OpenCLRuntime {
    /// The environment variable naming the loader library to open instead of `libOpenCL.so.1`.
    public static let libraryVariable = "XENT_OPENCL_LIBRARY"

    /// Why the OpenCL runtime cannot be used (the library cannot be opened, or lacks a function), or
    /// `nil` when it is loaded. Opens it on the first call. Without it, `Platform.all()` is empty.
    public static var problem: String? {
        xent_opencl_runtime_problem().map { String(cString: $0) }
    }
}
