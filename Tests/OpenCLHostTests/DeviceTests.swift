import OpenCLHost
import Testing

/// Tests that need an OpenCL device. They are skipped only when there is no platform and
/// `XENT_REQUIRE_OPENCL` is not `1`; with it set, a missing platform or device fails them.
@Suite(
    .enabled(
        if: try TestEnvironment.deviceTestsApply(),
        "needs an OpenCL platform; XENT_REQUIRE_OPENCL=1 fails instead of skipping"))
struct DeviceTests {
    /// The first device, with a context and queue on it; fails the test when there is none.
    struct Fixture {
        let device: Device
        let context: Context
        let queue: CommandQueue

        init() throws {
            let device = try #require(
                try TestEnvironment.firstDevice(), "no OpenCL device, but one is required")
            self.device = device
            self.context = try Context(device: device)
            self.queue = try CommandQueue(context: context)
        }
    }

    @Test func listsPlatformsAndDevices() throws {
        let platforms = try Platform.all()
        #expect(!platforms.isEmpty, "no OpenCL platform, but one is required")
        let platform = try #require(platforms.first)
        #expect(!platform.name.isEmpty)
        #expect(!platform.version.isEmpty)

        let device = try #require(try platform.devices().first)
        #expect(device.platformName == platform.name)
        #expect(!device.name.isEmpty)
        #expect(device.version.hasPrefix("OpenCL "))
        #expect(device.openCLCVersion.hasPrefix("OpenCL C "))
        #expect(!device.type.isEmpty)
        #expect(device.computeUnits > 0)
        #expect(device.globalMemoryBytes > 0)
        #expect(device.maxAllocationBytes > 0)
        #expect(device.maxAllocationBytes <= device.globalMemoryBytes)
        #expect(device.localMemoryBytes > 0)
        #expect(device.maxWorkGroupSize > 0)
        #expect(device.preferredFloatVectorWidth > 0)
        #expect(!device.extensions.isEmpty)
        #expect(device.extensions.allSatisfy { !$0.isEmpty && !$0.contains(" ") })
        if device.extensions.contains("cl_khr_fp64") {
            #expect(device.supportsFloat64)
        }
    }

    /// PoCL returns no device to a `clGetDeviceIDs` made while another thread's first one is
    /// setting the devices up; discovery must serialize. (Every test here discovers the device,
    /// in parallel, so the whole suite guards this too.)
    @Test func discoversTheSameDevicesFromManyTasksAtOnce() async throws {
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try Platform.all().reduce(0) { count, platform in
                        count + (try platform.devices().count)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(counts.count == 8)
        #expect(counts.allSatisfy { $0 > 0 && $0 == counts[0] })
    }

    @Test func addsAConstantToHostMemory() throws {
        let fixture = try Fixture()
        let program = try Program(
            context: fixture.context,
            sources: [
                """
                __kernel void add(__global const float* a, __global float* b, float k) {
                    size_t i = get_global_id(0); b[i] = a[i] + k; }
                """
            ],
            options: "")
        #expect(program.options == "")
        let count = 1000
        let k: Float = 0.375
        let input = (0..<count).map { Float($0) * 0.1 - 17 }
        var output = [Float](repeating: .nan, count: count)
        try input.withUnsafeBytes { inputBytes in
            let a = try Buffer(
                context: fixture.context, flags: [.readOnly, .useHostPointer],
                hostMemory: inputBytes)
            let b = try Buffer(
                context: fixture.context, byteCount: inputBytes.count, flags: .writeOnly)
            #expect(a.byteCount == count * 4)
            #expect(b.byteCount == count * 4)
            let kernel = try Kernel(program: program, name: "add")
            try kernel.setArgument(0, a)
            try kernel.setArgument(1, b)
            try kernel.setArgument(2, k)
            try fixture.queue.enqueue(kernel, globalSize: count)
            try output.withUnsafeMutableBytes { try fixture.queue.read(b, into: $0) }
        }
        #expect(output == input.map { $0 + k })
    }

    /// Host memory that starts mid-allocation, as slices of larger arrays do, works with
    /// `.useHostPointer` for reading and writing.
    @Test func usesHostMemoryAtAnOffset() throws {
        let fixture = try Fixture()
        let program = try Program(
            context: fixture.context,
            sources: ["__kernel void twice(__global int* x) { x[get_global_id(0)] *= 2; }"],
            options: "")
        var values: [Int32] = Array(0..<1001)
        try values.withUnsafeMutableBytes { bytes in
            let slice = UnsafeRawBufferPointer(rebasing: bytes[4...])
            let buffer = try Buffer(
                context: fixture.context, flags: [.readWrite, .useHostPointer], hostMemory: slice)
            let kernel = try Kernel(program: program, name: "twice")
            try kernel.setArgument(0, buffer)
            try fixture.queue.enqueue(kernel, globalSize: 1000)
            var result = [Int32](repeating: 0, count: 1000)
            try result.withUnsafeMutableBytes { try fixture.queue.read(buffer, into: $0) }
            #expect(result == (1..<1001).map { $0 * 2 })
        }
        #expect(values[0] == 0)
    }

    @Test func concatenatesSourcesAndAppliesOptions() throws {
        let fixture = try Fixture()
        let options = "-DSCALE=3 -cl-std=CL1.2"
        let program = try Program(
            context: fixture.context,
            sources: [
                "#define OFFSET 5\n",
                "__kernel void affine(__global int* x) { x[get_global_id(0)] ",
                "= x[get_global_id(0)] * SCALE + OFFSET; }",
            ],
            options: options)
        #expect(program.options == options)
        let values: [Int32] = Array(0..<64)
        let buffer = try Buffer(context: fixture.context, byteCount: 64 * 4, flags: .readWrite)
        try values.withUnsafeBytes { try fixture.queue.write(buffer, from: $0) }
        let kernel = try Kernel(program: program, name: "affine")
        try kernel.setArgument(0, buffer)
        try fixture.queue.enqueue(kernel, globalSize: 64, localSize: 16)
        try fixture.queue.finish()
        // Read the second half only, through an offset.
        var secondHalf = [Int32](repeating: 0, count: 32)
        try secondHalf.withUnsafeMutableBytes {
            try fixture.queue.read(buffer, offset: 32 * 4, into: $0)
        }
        #expect(secondHalf == values[32...].map { $0 * 3 + 5 })
    }

    @Test func passesEveryScalarTypeByValue() throws {
        let fixture = try Fixture()
        let program = try Program(
            context: fixture.context,
            sources: [
                """
                __kernel void scalars(__global long* out, int a, long b, uint c, ulong d,
                                      float e) {
                    out[0] = a; out[1] = b; out[2] = c; out[3] = as_long(d); out[4] = as_int(e);
                }
                """
            ],
            options: "")
        let out = try Buffer(context: fixture.context, byteCount: 5 * 8, flags: .writeOnly)
        let kernel = try Kernel(program: program, name: "scalars")
        try kernel.setArgument(0, out)
        try kernel.setArgument(1, Int32(-123_456))
        try kernel.setArgument(2, Int64.min + 7)
        try kernel.setArgument(3, UInt32.max - 1)
        try kernel.setArgument(4, UInt64.max - 2)
        try kernel.setArgument(5, Float(-1.5))
        try fixture.queue.enqueue(kernel, globalSize: 1)
        var result = [Int64](repeating: 0, count: 5)
        try result.withUnsafeMutableBytes { try fixture.queue.read(out, into: $0) }
        #expect(
            result == [
                -123_456, Int64.min + 7, Int64(UInt32.max - 1), Int64(bitPattern: UInt64.max - 2),
                Int64(Int32(bitPattern: Float(-1.5).bitPattern)),
            ])
    }

    @Test(
        .enabled(
            if: try TestEnvironment.firstDeviceSupportsFloat64(),
            "needs a device with cl_khr_fp64"))
    func passesDoublesWhenSupported() throws {
        let fixture = try Fixture()
        let program = try Program(
            context: fixture.context,
            sources: [
                """
                #pragma OPENCL EXTENSION cl_khr_fp64 : enable
                __kernel void twice(__global double* out, double x) { out[0] = 2.0 * x; }
                """
            ],
            options: "")
        let out = try Buffer(context: fixture.context, byteCount: 8, flags: .writeOnly)
        let kernel = try Kernel(program: program, name: "twice")
        try kernel.setArgument(0, out)
        try kernel.setArgument(1, 0.1)
        try fixture.queue.enqueue(kernel, globalSize: 1)
        var result = [Double.nan]
        try result.withUnsafeMutableBytes { try fixture.queue.read(out, into: $0) }
        #expect(result == [0.2])
    }

    @Test func usesLocalMemory() throws {
        let fixture = try Fixture()
        let program = try Program(
            context: fixture.context,
            sources: [
                """
                __kernel void reverseGroups(__global const int* in, __global int* out,
                                            __local int* scratch) {
                    size_t l = get_local_id(0), n = get_local_size(0);
                    size_t base = get_group_id(0) * n;
                    scratch[l] = in[base + l];
                    barrier(CLK_LOCAL_MEM_FENCE);
                    out[base + l] = scratch[n - 1 - l];
                }
                """
            ],
            options: "")
        let group = 16
        let values: [Int32] = Array(0..<256)
        let output = try Buffer(context: fixture.context, byteCount: 256 * 4, flags: .writeOnly)
        var result = [Int32](repeating: -1, count: 256)
        try values.withUnsafeBytes { bytes in
            let input = try Buffer(
                context: fixture.context, flags: [.readOnly, .copyHostPointer], hostMemory: bytes)
            let kernel = try Kernel(program: program, name: "reverseGroups")
            try kernel.setArgument(0, input)
            try kernel.setArgument(1, output)
            try kernel.setLocalArgument(2, byteCount: group * 4)
            try fixture.queue.enqueue(kernel, globalSize: values.count, localSize: group)
        }
        try result.withUnsafeMutableBytes { try fixture.queue.read(output, into: $0) }
        let expected = stride(from: 0, to: 256, by: group).flatMap {
            values[$0..<$0 + group].reversed()
        }
        #expect(result == expected)
    }

    @Test func reportsBuildFailuresWithLogAndOptions() throws {
        let fixture = try Fixture()
        let options = "-DMARKER_OPTION=1"
        let error = try #require(throws: OpenCLError.self) {
            _ = try Program(
                context: fixture.context,
                sources: ["__kernel void broken(__global float* x) { x[0] = 1.0f +; }"],
                options: options)
        }
        #expect(error.status == .buildProgramFailure)
        #expect(error.call == "clBuildProgram")
        #expect(error.options == options)
        #expect(error.buildLog.contains("error"))
        #expect(error.buildLog.contains("expected"))
        #expect(
            error.description.hasPrefix("clBuildProgram failed: CL_BUILD_PROGRAM_FAILURE (-11)"))
        #expect(error.description.contains(options))
        #expect(error.description.contains(error.buildLog))
    }

    @Test func reportsAMissingKernel() throws {
        let fixture = try Fixture()
        let program = try Program(
            context: fixture.context, sources: ["__kernel void present(void) {}"], options: "")
        let error = try #require(throws: OpenCLError.self) {
            _ = try Kernel(program: program, name: "absent")
        }
        #expect(error.status == .invalidKernelName)
        #expect(error.description == "clCreateKernel failed: CL_INVALID_KERNEL_NAME (-46)")
        #expect(error.buildLog.isEmpty)
        #expect(error.options.isEmpty)
    }

    /// Statuses that only a broken API contract can cause stop the program rather than throw.
    @Test func trapsOnALaunchWithUnsetArguments() async throws {
        _ = try Fixture()
        let result = await #expect(
            processExitsWith: .failure, observing: [\.standardErrorContent]
        ) {
            let fixture = try Fixture()
            let program = try Program(
                context: fixture.context,
                sources: ["__kernel void one(__global int* x) { x[0] = 1; }"], options: "")
            try fixture.queue.enqueue(Kernel(program: program, name: "one"), globalSize: 1)
        }
        let standardError = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(
            standardError.contains("clEnqueueNDRangeKernel failed: CL_INVALID_KERNEL_ARGS (-52)"))
    }

    @Test func reportsABufferLargerThanTheDeviceAllows() throws {
        let fixture = try Fixture()
        let error = try #require(throws: OpenCLError.self) {
            _ = try Buffer(
                context: fixture.context, byteCount: fixture.device.maxAllocationBytes + 1,
                flags: .readWrite)
        }
        #expect(error.status == .invalidBufferSize)
        #expect(error.description == "clCreateBuffer failed: CL_INVALID_BUFFER_SIZE (-61)")
    }

    @Test func acceptsEmptyBuffersAndTransfers() throws {
        let fixture = try Fixture()
        let empty = try Buffer(context: fixture.context, byteCount: 0, flags: .readWrite)
        #expect(empty.byteCount == 0)
        let emptyCopy = try Buffer(
            context: fixture.context, flags: [.readOnly, .copyHostPointer],
            hostMemory: UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(emptyCopy.byteCount == 0)
        try fixture.queue.read(empty, into: UnsafeMutableRawBufferPointer(start: nil, count: 0))
        try fixture.queue.write(empty, from: UnsafeRawBufferPointer(start: nil, count: 0))
        let program = try Program(
            context: fixture.context, sources: ["__kernel void nothing(void) {}"], options: "")
        try fixture.queue.enqueue(Kernel(program: program, name: "nothing"), globalSize: 0)
        try fixture.queue.finish()
    }
}
