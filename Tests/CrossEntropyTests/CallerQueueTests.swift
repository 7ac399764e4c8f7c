import COpenCL
import Foundation
import Testing
import XentTestSupport

@testable import CrossEntropy

/// An engine on the caller's own OpenCL queue and context, over buffers the caller made (`cl_mem`,
/// with offsets), as a program whose logits come out of its own kernels uses it.
@Suite(.needsOpenCL) struct CallerQueueTests {
    /// The caller's side: a context and an in-order queue on the first OpenCL device, made with the C API.
    final class CallerOpenCL {
        let device: cl_device_id
        let context: cl_context
        let queue: cl_command_queue

        init(queueProperties: cl_command_queue_properties = 0) throws {
            var platform: cl_platform_id?
            var device: cl_device_id?
            try #require(clGetPlatformIDs(1, &platform, nil) == CL_SUCCESS)
            try #require(clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 1, &device, nil) == CL_SUCCESS)
            var status: cl_int = 0
            let context = try #require(clCreateContext(nil, 1, &device, nil, nil, &status))
            let queue = try #require(
                clCreateCommandQueue(context, device, queueProperties, &status), "status \(status)")
            (self.device, self.context, self.queue) = (device!, context, queue)
        }

        deinit {
            clReleaseCommandQueue(queue)
            clReleaseContext(context)
        }

        /// A buffer of `values`, which the caller releases.
        func buffer(_ values: [Float]) throws -> cl_mem {
            var status: cl_int = 0
            let buffer = values.withUnsafeBytes {
                clCreateBuffer(
                    context, cl_mem_flags(CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR), $0.count,
                    UnsafeMutableRawPointer(mutating: $0.baseAddress), &status)
            }
            return try #require(buffer, "clCreateBuffer: \(status)")
        }

        /// `count` floats from byte `offset` of `buffer`, read on the caller's queue.
        func read(_ buffer: cl_mem, offset: Int = 0, count: Int) throws -> [Float] {
            var values = [Float](repeating: 0, count: count)
            let status = values.withUnsafeMutableBytes {
                clEnqueueReadBuffer(queue, buffer, cl_bool(CL_TRUE), offset, $0.count, $0.baseAddress, 0, nil, nil)
            }
            try #require(status == CL_SUCCESS)
            return values
        }

        /// The device's sub-buffer alignment, in bytes.
        var alignment: Int {
            var bits: cl_uint = 0
            clGetDeviceInfo(
                device, cl_device_info(CL_DEVICE_MEM_BASE_ADDR_ALIGN), MemoryLayout<cl_uint>.size, &bits, nil)
            return Int(bits) / 8
        }
    }

    @Test func theCallersQueueAndBuffers() throws {
        let caller = try CallerOpenCL()
        let engine = try CrossEntropyEngine(openCLQueue: caller.queue)
        #expect(engine.device.reason == "the caller's OpenCL queue")
        var random = SeededRandom(seed: 4)
        let (rows, classes) = (6, 250)
        let values = (0..<(rows * classes)).map { _ in Float.random(in: -3...3, using: &random) }
        let labels = [1, 0, 249, -100, 7, 100]

        // The logits at an aligned offset in a larger buffer, the gradient into a buffer of its own.
        let padding = caller.alignment / MemoryLayout<Float>.stride
        let logitsBuffer = try caller.buffer([Float](repeating: .nan, count: padding) + values)
        let gradientBuffer = try caller.buffer([Float](repeating: 0, count: values.count))
        defer {
            clReleaseMemObject(logitsBuffer)
            clReleaseMemObject(gradientBuffer)
        }
        let logits = try engine.deviceArray(
            wrapping: logitsBuffer, byteOffset: padding * MemoryLayout<Float>.stride, count: values.count,
            of: Float.self)
        let gradient = try engine.deviceArray(wrapping: gradientBuffer, count: values.count, of: Float.self)
        let result = try engine.crossEntropyWithGradient(
            logits, shape: [rows, classes], target: .labels(labels), gradientInto: gradient)
        let onDevice = try caller.read(gradientBuffer, count: values.count)
        let expected = try Backends.engine("cpu").crossEntropyWithGradient(
            Tensor(shape: [rows, classes], scalars: values), target: .labels(labels))
        #expect(isClose(Double(result.loss.scalar), Double(expected.loss.scalar), rtol: 1e-6))
        let mismatch = firstMismatch(
            onDevice.map(Double.init), expected.gradient.scalars.map(Double.init), rtol: 1e-5, atol: 1e-7)
        #expect(mismatch == nil, "\(mismatch ?? "")")
        #expect(try caller.read(logitsBuffer, count: padding).allSatisfy(\.isNaN), "the padding was written")

        if caller.alignment > MemoryLayout<Float>.stride {
            let misaligned = #expect(throws: CrossEntropyError.self) {
                try engine.deviceArray(wrapping: logitsBuffer, byteOffset: 4, count: 10, of: Float.self)
            }
            #expect(misaligned?.code == .openCLFailure, "\(String(describing: misaligned))")
        }
        let tooLong = #expect(throws: CrossEntropyError.self) {
            try engine.deviceArray(wrapping: gradientBuffer, count: values.count + 1, of: Float.self)
        }
        #expect(tooLong?.code == .invalidShape)
        let other = try CallerOpenCL()
        let foreign = try other.buffer([1, 2])
        defer { clReleaseMemObject(foreign) }
        let wrongContext = #expect(throws: CrossEntropyError.self) {
            try engine.deviceArray(wrapping: foreign, count: 2, of: Float.self)
        }
        #expect(wrongContext?.code == .invalidOption)
    }

    @Test func anOutOfOrderQueueIsRefused() throws {
        guard
            let caller = try? CallerOpenCL(
                queueProperties: cl_command_queue_properties(CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE))
        else { return }  // a device without out-of-order queues cannot make one
        let error = #expect(throws: CrossEntropyError.self) { try CrossEntropyEngine(openCLQueue: caller.queue) }
        #expect(error?.code == .invalidOption)
    }
}
