import OpenCLHost

/// A read-only pass over a buffer in an OpenCL device's memory (`read_probe` in `memory_probe.cl`), timed
/// by the device: what `xent bench` compares a resident loss with, as it compares host input with a pass
/// over host memory; and an upload into that buffer from pinned host memory, the link's speed that host
/// input on a discrete device is compared with.
package struct DeviceReadProbe {
    private let backend: OpenCLBackend
    private let kernel: Kernel
    /// The buffer read and the sums written: kept alive as long as the kernel that takes them.
    private let buffers: [Buffer]
    private let globalSize: Int
    private let localSize: Int
    /// The bytes each pass reads.
    package let bytes: Int
    /// Pinned host memory of up to 256 MiB of the probed bytes, the upload's source.
    private let staging: StagingBuffer

    /// A probe over `bytes` (at most one allocation, rounded down to whole 16-byte vectors) of zeroed
    /// device memory.
    init(backend: OpenCLBackend, bytes: Int) throws {
        self.backend = backend
        let vectors = min(bytes, backend.device.maxAllocationBytes) / 16
        let probed = vectors * 16
        self.bytes = probed
        let device = backend.device
        localSize = [256, 128, 64, 32, 16, 8, 4, 2, 1].first { $0 <= device.maxWorkGroupSize } ?? 1
        // Enough work-items to keep every compute unit's loads in flight, none without a vector to read.
        let items = max(localSize, min(vectors, device.computeUnits * 2048))
        let global = items / localSize * localSize
        globalSize = global
        let program = try backend.program(for: .float32, logger: .quiet)
        (kernel, buffers) = try backend.openCLCall {
            let data = try Buffer(context: backend.context, byteCount: max(probed, 16), flags: .readOnly)
            // Zeros written from the host, 64 MiB at a time (not clEnqueueFillBuffer, whose bytes Oclgrind
            // does not count as initialised).
            let zeros = [UInt8](repeating: 0, count: min(max(probed, 16), 64 << 20))
            try zeros.withUnsafeBytes { zeros in
                for offset in stride(from: 0, to: max(probed, 16), by: zeros.count) {
                    let count = min(zeros.count, max(probed, 16) - offset)
                    try backend.queue.write(
                        data, offset: offset, from: UnsafeRawBufferPointer(rebasing: zeros[..<count]))
                }
            }
            let sums = try Buffer(
                context: backend.context, byteCount: global * MemoryLayout<Float>.stride, flags: .writeOnly)
            let kernel = try Kernel(program: program, name: "read_probe")
            try kernel.setArgument(0, data)
            try kernel.setArgument(1, Int64(vectors))
            try kernel.setArgument(2, Int32(device.type.contains(.cpu) ? 1 : 0))
            try kernel.setArgument(3, sums)
            return (kernel, [data, sums])
        }
        staging = try backend.openCLCall {
            try StagingBuffer(queue: backend.queue, context: backend.context, byteCount: min(probed, 256 << 20))
        }
    }

    /// The device time of one pass, in seconds.
    package func seconds() throws -> Double {
        try backend.openCLCall { try backend.queue.timedRun(kernel, globalSize: globalSize, localSize: localSize) }
    }
}

extension DeviceReadProbe {
    /// The bytes one upload moves.
    package var uploadBytes: Int { staging.bytes.count }

    /// The wall time of one blocking copy of `uploadBytes` from pinned host memory to the device, in
    /// seconds.
    package func uploadSeconds() throws -> Double {
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            try backend.openCLCall { try backend.queue.write(buffers[0], from: UnsafeRawBufferPointer(staging.bytes)) }
        }
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }
}

extension CrossEntropyEngine {
    /// A read probe of `bytes` in the device memory of the device that runs `dtype` logits, or `nil` when
    /// that is the CPU fallback.
    package func deviceReadProbe(bytes: Int, for dtype: LogitsDType) throws -> DeviceReadProbe? {
        guard let openCL = try backend(for: dtype) as? OpenCLBackend else { return nil }
        return try DeviceReadProbe(backend: openCL, bytes: bytes)
    }
}
