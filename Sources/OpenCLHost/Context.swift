import COpenCL

/// An OpenCL context holding one device.
///
/// Sendable: OpenCL 1.2 §A.2 makes every API call thread-safe except `clSetKernelArg` on one
/// kernel, which a context never makes.
public final class Context: @unchecked Sendable {
    /// The `cl_context`, released in `deinit`.
    let handle: cl_context
    /// The context's only device.
    public let device: Device

    /// Creates a context for `device`.
    public init(device: Device) throws(OpenCLError) {
        var deviceID: cl_device_id? = device.id
        self.handle = try clCreate("clCreateContext") { status in
            clCreateContext(nil, 1, &deviceID, nil, nil, status)
        }
        self.device = device
    }

    /// Adopts a context made elsewhere (retained here, released in `deinit`), for `device`, one of its
    /// devices.
    public init(retaining handle: OpaquePointer, device: Device) throws(OpenCLError) {
        try clCall("clRetainContext") { clRetainContext(handle) }
        self.handle = handle
        self.device = device
    }

    deinit {
        clReleaseContext(handle)
    }
}
