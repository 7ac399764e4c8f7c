import Glibc
import OpenCLHost

/// What the process environment says about the OpenCL tests.
enum TestEnvironment {
    /// `XENT_REQUIRE_OPENCL=1` (set by CI): tests needing an OpenCL device must run, and fail
    /// when there is none, instead of being skipped.
    static var requiresOpenCL: Bool {
        variable("XENT_REQUIRE_OPENCL") == "1"
    }

    /// Whether the tests needing an OpenCL device apply: a platform is present, or one is
    /// required. They are skipped only when there is no platform and none is required.
    static func deviceTestsApply() throws -> Bool {
        try requiresOpenCL || !Platform.all().isEmpty
    }

    /// The first device of the first platform that has one, or nil.
    static func firstDevice() throws -> Device? {
        for platform in try Platform.all() {
            if let device = try platform.devices().first {
                return device
            }
        }
        return nil
    }

    /// Whether the first device supports `cl_khr_fp64`. Where there is no device at all this is
    /// whether one is required, so that the tests it enables then fail rather than skip.
    static func firstDeviceSupportsFloat64() throws -> Bool {
        try firstDevice()?.supportsFloat64 ?? requiresOpenCL
    }

    /// Whether `OCL_ICD_VENDORS` names an existing, empty directory, so that the ICD loader
    /// can find no platform.
    static var icdVendorsIsEmptyDirectory: Bool {
        guard let path = variable("OCL_ICD_VENDORS"), let directory = opendir(path) else {
            return false
        }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." {
                return false
            }
        }
        return true
    }

    private static func variable(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
