import OpenCLHost

/// What `xent bench` compares an OpenCL call with, measured in the same run: a read-only pass over a
/// buffer in the device's memory (`read_probe` in `memory_probe.cl`) for the loss, a copy of it into
/// another (`copy_probe`) for the loss and gradient, both timed by the device, as host calls are compared
/// with passes over host memory; and an upload into it from pinned host memory, the link's speed that
/// host input on a discrete device is compared with.
package struct DeviceMemoryProbe {
    private let backend: OpenCLBackend
    private let readKernel: Kernel
    /// The copy's kernel, where copies were asked for.
    private let copyKernel: Kernel?
    /// The buffer read (and copied, and uploaded into), the sums written and the copy's destination: kept
    /// alive as long as the kernels that take them.
    private let buffers: [Buffer]
    private let globalSize: Int
    private let localSize: Int
    /// The bytes each pass reads.
    package let bytes: Int
    /// Pinned host memory of up to 256 MiB of the probed bytes, the upload's source.
    private let staging: StagingBuffer

    /// Probes over `bytes` (at most one allocation, rounded down to whole 16-byte vectors) of zeroed
    /// device memory; with `copies`, a second buffer of that size for the copy.
    init(backend: OpenCLBackend, bytes: Int, copies: Bool) throws {
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
        (readKernel, copyKernel, buffers) = try backend.openCLCall {
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
            let contiguous = Int32(device.type.contains(.cpu) ? 1 : 0)
            let sums = try Buffer(
                context: backend.context, byteCount: global * MemoryLayout<Float>.stride, flags: .writeOnly)
            let read = try Kernel(program: program, name: "read_probe")
            try read.setArgument(0, data)
            try read.setArgument(1, Int64(vectors))
            try read.setArgument(2, contiguous)
            try read.setArgument(3, sums)
            guard copies else { return (read, nil, [data, sums]) }
            let destination = try Buffer(context: backend.context, byteCount: max(probed, 16), flags: .writeOnly)
            let copy = try Kernel(program: program, name: "copy_probe")
            try copy.setArgument(0, data)
            try copy.setArgument(1, Int64(vectors))
            try copy.setArgument(2, contiguous)
            try copy.setArgument(3, destination)
            return (read, copy, [data, sums, destination])
        }
        staging = try backend.openCLCall {
            try StagingBuffer(queue: backend.queue, context: backend.context, byteCount: min(probed, 256 << 20))
        }
    }

    /// The device time of one read-only pass, in seconds.
    package func readSeconds() throws -> Double {
        try backend.openCLCall {
            try backend.queue.timedRun(readKernel, globalSize: globalSize, localSize: localSize)
        }
    }

    /// The device time of one copy of `bytes` into the second buffer, in seconds, where copies were asked
    /// for.
    package func copySeconds() throws -> Double? {
        try copyKernel.map { kernel in
            try backend.openCLCall { try backend.queue.timedRun(kernel, globalSize: globalSize, localSize: localSize) }
        }
    }

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
    /// Memory probes of `bytes` on the device that runs `dtype` logits (with `copies`, the copy probe too),
    /// or `nil` when that is the CPU fallback.
    package func deviceMemoryProbe(bytes: Int, for dtype: LogitsDType, copies: Bool) throws -> DeviceMemoryProbe? {
        guard let openCL = try backend(for: dtype) as? OpenCLBackend else { return nil }
        return try DeviceMemoryProbe(backend: openCL, bytes: bytes, copies: copies)
    }
}
