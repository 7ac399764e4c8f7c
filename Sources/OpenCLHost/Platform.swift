import COpenCL

/// An OpenCL platform: one installed driver, as listed by the ICD loader.
///
/// Sendable: platform IDs are immutable, and OpenCL 1.2 §A.2 makes every API call thread-safe
/// except `clSetKernelArg` on one kernel, which a platform never makes.
public final class Platform: @unchecked Sendable {
    /// The `cl_platform_id`. Platforms are not reference counted, so there is nothing to release.
    let id: cl_platform_id
    /// `CL_PLATFORM_NAME`.
    public let name: String
    /// `CL_PLATFORM_VENDOR`.
    public let vendor: String
    /// `CL_PLATFORM_VERSION`, for example `OpenCL 3.0 PoCL 3.1 ...`.
    public let version: String

    init(id: cl_platform_id) throws(OpenCLError) {
        func info(_ parameter: Int32) throws(OpenCLError) -> String {
            try clString("clGetPlatformInfo") { size, value, sizeReturned in
                clGetPlatformInfo(id, cl_platform_info(parameter), size, value, sizeReturned)
            }
        }
        self.id = id
        self.name = try info(CL_PLATFORM_NAME)
        self.vendor = try info(CL_PLATFORM_VENDOR)
        self.version = try info(CL_PLATFORM_VERSION)
    }

    /// All platforms; an empty array (not an error) when the ICD loader reports
    /// `CL_PLATFORM_NOT_FOUND_KHR` or finds zero platforms.
    public static func all() throws(OpenCLError) -> [Platform] {
        try ProcessLock.discovery.withLock { () throws(OpenCLError) in
            var count: cl_uint = 0
            do throws(OpenCLError) {
                try clCall("clGetPlatformIDs") { clGetPlatformIDs(0, nil, &count) }
            } catch {
                guard error.status == .platformNotFoundKHR else { throw error }
                return []
            }
            guard count > 0 else { return [] }
            var ids = [cl_platform_id?](repeating: nil, count: Int(count))
            try clCall("clGetPlatformIDs") { clGetPlatformIDs(count, &ids, nil) }
            var platforms: [Platform] = []
            for case let id? in ids {
                platforms.append(try Platform(id: id))
            }
            return platforms
        }
    }

    /// The platform's devices of every type; an empty array when it reports
    /// `CL_DEVICE_NOT_FOUND`.
    public func devices() throws(OpenCLError) -> [Device] {
        try ProcessLock.discovery.withLock { () throws(OpenCLError) in
            let allTypes = cl_device_type(CL_DEVICE_TYPE_ALL)
            var count: cl_uint = 0
            do throws(OpenCLError) {
                try clCall("clGetDeviceIDs") { clGetDeviceIDs(id, allTypes, 0, nil, &count) }
            } catch {
                guard error.status == .deviceNotFound else { throw error }
                return []
            }
            guard count > 0 else { return [] }
            var ids = [cl_device_id?](repeating: nil, count: Int(count))
            try clCall("clGetDeviceIDs") { clGetDeviceIDs(id, allTypes, count, &ids, nil) }
            var devices: [Device] = []
            for case let deviceID? in ids {
                devices.append(try Device(id: deviceID, platformName: name))
            }
            return devices
        }
    }
}
