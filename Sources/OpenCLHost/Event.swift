import COpenCL

/// A command's completion, as a non-blocking transfer returns it (`cl_event`, released in `deinit`).
///
/// Sendable: OpenCL 1.2 §A.2 makes every API call thread-safe except `clSetKernelArg` on one kernel,
/// which an event never makes.
public final class Event: @unchecked Sendable {
    let handle: cl_event

    init(_ handle: cl_event) {
        self.handle = handle
    }

    deinit {
        clReleaseEvent(handle)
    }

    /// Blocks until the command has completed; throws if it failed.
    public func wait() throws(OpenCLError) {
        var event: cl_event? = handle
        try clCall("clWaitForEvents") { clWaitForEvents(1, &event) }
    }
}
