import COpenCL

/// An OpenCL device and the properties this package uses, read once when it is listed.
///
/// Sendable: the properties are immutable, and OpenCL 1.2 §A.2 makes every API call thread-safe
/// except `clSetKernelArg` on one kernel, which a device never makes.
public final class Device: @unchecked Sendable {
    /// The `cl_device_id`. Root devices are not reference counted, so there is nothing to release.
    let id: cl_device_id
    /// The name of the platform the device belongs to.
    public let platformName: String
    /// `CL_DEVICE_NAME`.
    public let name: String
    /// `CL_DEVICE_VENDOR`.
    public let vendor: String
    /// `CL_DRIVER_VERSION`.
    public let driverVersion: String
    /// `CL_DEVICE_VERSION`, for example `OpenCL 1.2 ...`.
    public let version: String
    /// `CL_DEVICE_OPENCL_C_VERSION`, for example `OpenCL C 1.2 ...`.
    public let openCLCVersion: String
    /// `CL_DEVICE_TYPE`.
    public let type: DeviceType
    /// `CL_DEVICE_MAX_COMPUTE_UNITS`.
    public let computeUnits: Int
    /// `CL_DEVICE_GLOBAL_MEM_SIZE`, in bytes.
    public let globalMemoryBytes: Int
    /// `CL_DEVICE_MAX_MEM_ALLOC_SIZE`: the largest single buffer, in bytes.
    public let maxAllocationBytes: Int
    /// `CL_DEVICE_LOCAL_MEM_SIZE`, in bytes.
    public let localMemoryBytes: Int
    /// `CL_DEVICE_MAX_WORK_GROUP_SIZE`.
    public let maxWorkGroupSize: Int
    /// `CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT`.
    public let preferredFloatVectorWidth: Int
    /// Whether kernels may use `double`: `cl_khr_fp64` is among the extensions, or
    /// `CL_DEVICE_DOUBLE_FP_CONFIG` is not zero.
    public let supportsFloat64: Bool
    /// `CL_DEVICE_HOST_UNIFIED_MEMORY`: whether the device shares memory with the host.
    public let hostUnifiedMemory: Bool
    /// `CL_DEVICE_EXTENSIONS`, split at spaces.
    public let extensions: [String]

    /// The device `id`, with its platform's name looked up.
    convenience init(id: cl_device_id) throws(OpenCLError) {
        var platform: cl_platform_id?
        try clCall("clGetDeviceInfo") {
            clGetDeviceInfo(id, cl_device_info(CL_DEVICE_PLATFORM), MemoryLayout<cl_platform_id?>.size, &platform, nil)
        }
        guard let platform else { throw OpenCLError(status: .invalidDevice, call: "clGetDeviceInfo") }
        try self.init(id: id, platformName: Platform(id: platform).name)
    }

    init(id: cl_device_id, platformName: String) throws(OpenCLError) {
        func string(_ parameter: Int32) throws(OpenCLError) -> String {
            try clString("clGetDeviceInfo") { size, value, sizeReturned in
                clGetDeviceInfo(id, cl_device_info(parameter), size, value, sizeReturned)
            }
        }
        func integer<Value: FixedWidthInteger>(
            _ parameter: Int32, as _: Value.Type
        ) throws(OpenCLError) -> Value {
            var value: Value = 0
            try clCall("clGetDeviceInfo") {
                withUnsafeMutableBytes(of: &value) {
                    clGetDeviceInfo(id, cl_device_info(parameter), $0.count, $0.baseAddress, nil)
                }
            }
            return value
        }
        func size(_ parameter: Int32) throws(OpenCLError) -> Int {
            Int(clamping: try integer(parameter, as: cl_ulong.self))
        }

        self.id = id
        self.platformName = platformName
        self.name = try string(CL_DEVICE_NAME)
        self.vendor = try string(CL_DEVICE_VENDOR)
        self.driverVersion = try string(CL_DRIVER_VERSION)
        self.version = try string(CL_DEVICE_VERSION)
        self.openCLCVersion = try string(CL_DEVICE_OPENCL_C_VERSION)
        self.type = DeviceType(rawValue: try integer(CL_DEVICE_TYPE, as: cl_device_type.self))
        self.computeUnits = Int(try integer(CL_DEVICE_MAX_COMPUTE_UNITS, as: cl_uint.self))
        self.globalMemoryBytes = try size(CL_DEVICE_GLOBAL_MEM_SIZE)
        self.maxAllocationBytes = try size(CL_DEVICE_MAX_MEM_ALLOC_SIZE)
        self.localMemoryBytes = try size(CL_DEVICE_LOCAL_MEM_SIZE)
        self.maxWorkGroupSize = try integer(CL_DEVICE_MAX_WORK_GROUP_SIZE, as: Int.self)
        self.preferredFloatVectorWidth = Int(
            try integer(CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, as: cl_uint.self))
        self.hostUnifiedMemory =
            try integer(CL_DEVICE_HOST_UNIFIED_MEMORY, as: cl_bool.self) != CL_FALSE
        let extensions = try string(CL_DEVICE_EXTENSIONS).split(separator: " ").map(String.init)
        self.extensions = extensions
        if extensions.contains("cl_khr_fp64") {
            self.supportsFloat64 = true
        } else {
            do throws(OpenCLError) {
                self.supportsFloat64 =
                    try integer(CL_DEVICE_DOUBLE_FP_CONFIG, as: cl_device_fp_config.self) != 0
            } catch {
                guard error.status == .invalidValue else { throw error }
                // Devices older than OpenCL 1.2 may not know the query: no double support.
                self.supportsFloat64 = false
            }
        }
    }
}

extension Device: Equatable {
    /// Whether both are the same OpenCL device (the same `cl_device_id`).
    public static func == (lhs: Device, rhs: Device) -> Bool { lhs.id == rhs.id }
}
