import OpenCLHost

/// Elements kept on an engine's device between calls, so that a call moves O(N) bytes (targets, per-row
/// results, the loss) instead of the logits: a buffer in the engine's OpenCL context, or host memory when
/// the engine runs on the CPU fallback, so that code written for a GPU runs unchanged on a headless box.
///
/// Made by an engine (`CrossEntropyEngine.makeDeviceArray(_:)`) and usable with the engines that run its
/// type on the same device (engines of one process share a device's context; an engine on a caller's
/// queue has its own). A call runs its whole batch in one launch (no chunking: the array was allocated
/// whole). Like any device buffer, it must not be written by one call while another uses it.
///
/// `@unchecked Sendable`: the array itself never changes after it is made; what it holds is device
/// memory, which the calls that use it read and write, as the caller sequences them.
public final class DeviceArray<Scalar: LogitsScalar>: @unchecked Sendable {
    /// The number of elements.
    public let count: Int
    let storage: Storage

    /// Where the elements are.
    enum Storage {
        /// Host memory this array owns (the CPU fallback's device).
        case host(UnsafeMutableBufferPointer<Scalar>)
        /// An OpenCL buffer of `backend`'s context.
        case openCL(Buffer, OpenCLBackend)
    }

    init(count: Int, storage: Storage) {
        self.count = count
        self.storage = storage
    }

    deinit {
        if case .host(let memory) = storage {
            memory.deallocate()
        }
    }

    /// The elements, copied to the host.
    public func read() throws -> [Scalar] {
        switch storage {
        case .host(let memory):
            return Array(memory)
        case .openCL(let buffer, let backend):
            var values = [Scalar](repeating: 0, count: count)
            try backend.openCLCall {
                try values.withUnsafeMutableBytes { try backend.queue.read(buffer, into: $0) }
            }
            return values
        }
    }

    /// Replaces the elements with `values`, copied to the device; throws `.invalidShape` unless there
    /// are `count` of them.
    public func write(_ values: [Scalar]) throws {
        guard values.count == count else {
            throw CrossEntropyError(.invalidShape, "\(values.count) values for a device array of \(count)")
        }
        switch storage {
        case .host(let memory):
            _ = memory.update(fromContentsOf: values)
        case .openCL(let buffer, let backend):
            try backend.openCLCall {
                try values.withUnsafeBytes { try backend.queue.write(buffer, from: $0) }
            }
        }
    }
}
