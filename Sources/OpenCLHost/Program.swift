import COpenCL

/// An OpenCL program built from source for its context's device.
///
/// Sendable: a built program is immutable, and OpenCL 1.2 §A.2 makes every API call thread-safe
/// except `clSetKernelArg` on one kernel, which a program never makes.
public final class Program: @unchecked Sendable {
    /// The `cl_program`, released in `deinit`.
    let handle: cl_program
    /// The build options the program was built with.
    public let options: String

    /// Creates a program from `sources`, concatenated in order, and builds it for the context's
    /// device with `options` (for example `-DVEC=16 -cl-std=CL1.2`).
    ///
    /// A failed compilation throws an error whose status is `.buildProgramFailure`; that error,
    /// like any other `clBuildProgram` failure (`.invalidBuildOptions`, for one), carries the
    /// device's build log and `options`, and its description includes both.
    public init(context: Context, sources: [String], options: String) throws(OpenCLError) {
        let source = sources.joined()
        self.handle = try clCreate("clCreateProgramWithSource") { status in
            source.withCString { cString in
                var strings: UnsafePointer<CChar>? = cString
                return clCreateProgramWithSource(context.handle, 1, &strings, nil, status)
            }
        }
        self.options = options
        // From here on a throw runs deinit, which releases the program.
        var device: cl_device_id? = context.device.id
        do throws(OpenCLError) {
            try clCall("clBuildProgram") { clBuildProgram(handle, 1, &device, options, nil, nil) }
        } catch {
            let log: String
            do throws(OpenCLError) {
                log = try clString("clGetProgramBuildInfo") { size, value, sizeReturned in
                    clGetProgramBuildInfo(
                        handle, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), size, value,
                        sizeReturned)
                }
            } catch {
                log = "(build log unavailable: \(error))"
            }
            throw OpenCLError(
                status: error.status, call: error.call, buildLog: log, options: options)
        }
    }

    deinit {
        clReleaseProgram(handle)
    }
}
