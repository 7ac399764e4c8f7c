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

        /// A buffer of `values` with `access` (`CL_MEM_READ_WRITE`, `_READ_ONLY`, `_WRITE_ONLY`), which the
        /// caller releases.
        func buffer(_ values: [Float], access: Int32 = CL_MEM_READ_WRITE) throws -> cl_mem {
            var status: cl_int = 0
            let buffer = values.withUnsafeBytes {
                clCreateBuffer(
                    context, cl_mem_flags(access | CL_MEM_COPY_HOST_PTR), $0.count,
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

    /// Logits in a buffer the caller made read-only, whole and at an aligned offset (a sub-buffer that
    /// inherits the access), give the loss; a read-only buffer is refused as an output, a write-only one
    /// as logits, and an output overlapping the logits in part.
    @Test func bufferAccessIsRespected() throws {
        let caller = try CallerOpenCL()
        let engine = try CrossEntropyEngine(openCLQueue: caller.queue)
        let padding = caller.alignment / MemoryLayout<Float>.stride
        let values: [Float] = [1, 2, 3, 4, 0.5, -1]
        let expected = try Backends.engine("cpu").crossEntropy(logits: values, labels: [2, 0])
        let readOnly = try caller.buffer([Float](repeating: 0, count: padding) + values, access: CL_MEM_READ_ONLY)
        let writeOnly = try caller.buffer([Float](repeating: 0, count: values.count), access: CL_MEM_WRITE_ONLY)
        defer {
            clReleaseMemObject(readOnly)
            clReleaseMemObject(writeOnly)
        }
        let whole = try engine.deviceArray(wrapping: readOnly, count: padding + values.count, of: Float.self)
        let atOffset = try engine.deviceArray(
            wrapping: readOnly, byteOffset: padding * MemoryLayout<Float>.stride, count: values.count, of: Float.self)
        let loss = try engine.crossEntropy(atOffset, shape: [2, 3], target: .labels([2, 0]))
        #expect(isClose(Double(loss.scalar), Double(expected.scalar), rtol: 1e-6))
        let output = try engine.deviceArray(wrapping: writeOnly, count: values.count, of: Float.self)
        try engine.softmax(atOffset, shape: [2, 3], into: output)
        let softmax = try caller.read(writeOnly, count: values.count)
        #expect(abs(Double(softmax[0..<3].reduce(0, +)) - 1) < 1e-6, "\(softmax)")
        for (attempt, code) in [
            ({ try engine.softmax(atOffset, shape: [2, 3], into: atOffset) }, CrossEntropyError.Code.invalidOption),
            ({ _ = try engine.crossEntropy(output, shape: [2, 3], target: .labels([2, 0])) }, .invalidOption),
            ({ try engine.logSoftmax(whole, shape: [padding + 6, 1], into: whole) }, .invalidOption),
        ] as [(() throws -> Void, CrossEntropyError.Code)] {
            let error = #expect(throws: CrossEntropyError.self) { try attempt() }
            #expect(error?.code == code, "\(String(describing: error))")
        }
        // Two wraps of one buffer: the same memory is in place; a region overlapping it in part is refused.
        let shared = try caller.buffer([Float](repeating: 0, count: padding) + values)
        defer { clReleaseMemObject(shared) }
        let first = try engine.deviceArray(wrapping: shared, count: values.count, of: Float.self)
        let again = try engine.deviceArray(wrapping: shared, count: values.count, of: Float.self)
        let shifted = try engine.deviceArray(
            wrapping: shared, byteOffset: padding * MemoryLayout<Float>.stride, count: values.count, of: Float.self)
        try engine.softmax(first, shape: [2, 3], into: again)
        let inPlace = try caller.read(shared, count: 3)
        #expect(abs(Double(inPlace.reduce(0, +)) - 1) < 1e-6, "\(inPlace)")
        let overlap = #expect(throws: CrossEntropyError.self) {
            try engine.softmax(first, shape: [2, 3], into: shifted)
        }
        #expect(overlap?.code == .invalidOption && overlap?.message.contains("overlaps") == true)
    }

    /// Whether the first device can make an out-of-order queue (PoCL can; some drivers cannot).
    static let outOfOrderQueues =
        (try? CallerOpenCL(queueProperties: cl_command_queue_properties(CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)))
        != nil

    @Test(.enabled(if: outOfOrderQueues, "the device makes no out-of-order queue"))
    func anOutOfOrderQueueIsRefused() throws {
        let caller = try CallerOpenCL(
            queueProperties: cl_command_queue_properties(CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE))
        let error = #expect(throws: CrossEntropyError.self) { try CrossEntropyEngine(openCLQueue: caller.queue) }
        #expect(error?.code == .invalidOption)
    }
}
