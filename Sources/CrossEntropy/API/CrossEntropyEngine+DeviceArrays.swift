import CPURowKernels
import OpenCLHost

extension CrossEntropyEngine {
    /// `values` copied to the device that runs logits of type `T` (this engine's device, or the CPU where
    /// it falls back for `T`), to stay there between calls.
    ///
    /// ```swift
    /// let logits = try engine.makeDeviceArray(hostLogits)          // one upload
    /// let gradient = try engine.makeDeviceArray(count: hostLogits.count, of: Float.self)
    /// for labels in batches {                                      // each call moves O(N) bytes
    ///     let result = try engine.crossEntropyWithGradient(
    ///         logits, shape: [rows, classes], target: .labels(labels), gradientInto: gradient)
    /// }
    /// let g = try gradient.read()                                  // only when the host needs it
    /// ```
    public func makeDeviceArray<T: LogitsScalar>(_ values: [T]) throws -> DeviceArray<T> {
        let array = try makeDeviceArray(count: values.count, of: T.self)
        try array.write(values)
        return array
    }

    /// `count` elements of type `T` on the device that runs logits of that type, uninitialised on OpenCL
    /// (zeros on the CPU): for a gradient to be written there.
    public func makeDeviceArray<T: LogitsScalar>(count: Int, of _: T.Type) throws -> DeviceArray<T> {
        guard count >= 0 else { throw CrossEntropyError(.invalidShape, "a device array of \(count) elements") }
        guard let openCL = try backend(for: T.dtype) as? OpenCLBackend else {
            let memory = UnsafeMutableBufferPointer<T>.allocate(capacity: count)
            memory.initialize(repeating: 0)
            return DeviceArray(count: count, storage: .host(memory))
        }
        let bytes = count * MemoryLayout<T>.stride
        guard bytes <= openCL.device.maxAllocationBytes else {
            throw CrossEntropyError(
                .deviceUnavailable,
                "\(openCL.device.name) allocates at most \(openCL.device.maxAllocationBytes) bytes at once, "
                    + "a device array of \(count) \(T.dtype) takes \(bytes)")
        }
        let buffer = try openCL.openCLCall { try Buffer(context: openCL.context, byteCount: bytes, flags: .readWrite) }
        return DeviceArray(count: count, storage: .openCL(buffer, openCL))
    }

    /// The loss of logits on the device, as `crossEntropy(logits:shape:target:options:)`: the logits are
    /// not copied; class-index targets (O(N)) and the per-row statistics are (probability targets, the
    /// logits' size, are copied to the device on each call).
    public func crossEntropy<T: LogitsScalar>(
        _ logits: DeviceArray<T>, shape: [Int], target: CrossEntropyTarget<T>, options: CrossEntropyOptions = .init()
    ) throws -> Tensor<T.Accumulator> {
        try target.withBuffer { target in
            switch try place(of: logits) {
            case .host(let memory):
                return try crossEntropy(
                    logits: UnsafeBufferPointer(memory), shape: shape, target: target, options: options)
            case .openCL(let buffer, let backend):
                return try withLossProblem(
                    logits: UnsafeBufferPointer(start: nil, count: 0), deviceCount: logits.count, shape: shape,
                    target: target, options: options, checkingTargetsWhileFolding: true
                ) { problem in
                    try backend.openCLCall {
                        try problem.loss {
                            try backend.runResident(
                                problem.batch, logits: buffer, output: nil, results: $0, logger: logger)
                        }.loss
                    }
                }
            }
        }
    }

    /// The loss of logits on the device with its gradient written into `gradient`, another array of this
    /// engine on the same device, or `logits` itself (in place): neither leaves the device.
    public func crossEntropyWithGradient<T: LogitsScalar>(
        _ logits: DeviceArray<T>, shape: [Int], target: CrossEntropyTarget<T>, options: CrossEntropyOptions = .init(),
        upstream: UpstreamGradient = .scalar(1), gradientInto gradient: DeviceArray<T>
    ) throws -> LossAndLogSumExp<T> {
        guard gradient.count == logits.count else {
            throw CrossEntropyError(
                .invalidShape, "gradient array has \(gradient.count) elements, the logits \(logits.count)")
        }
        return try target.withBuffer { target in
            switch (try place(of: logits), try place(of: gradient)) {
            case (.host(let logitsMemory), .host(let gradientMemory)):
                return try crossEntropyWithGradient(
                    logits: UnsafeBufferPointer(logitsMemory), shape: shape, target: target, options: options,
                    upstream: upstream, gradientInto: gradientMemory)
            case (.openCL(let logitsBuffer, let backend), .openCL(let gradientBuffer, _)):
                return try withLossProblem(
                    logits: UnsafeBufferPointer(start: nil, count: 0), deviceCount: logits.count, shape: shape,
                    target: target, options: options
                ) { problem in
                    let (scales, rowUpstream) = try problem.gradientScales(upstream: upstream)
                    let values = try (rowUpstream ?? []).withUnsafeBufferPointer { upstreamBuffer in
                        let output = RowOutput(
                            gradientInto: UnsafeMutableBufferPointer<T>(start: nil, count: 0), scales: scales,
                            rowUpstream: rowUpstream == nil ? nil : upstreamBuffer)
                        return try backend.openCLCall {
                            try problem.loss(keeping: .logSumExp) {
                                try backend.runResident(
                                    problem.batch, logits: logitsBuffer,
                                    destination: gradient === logits ? nil : gradientBuffer, output: output,
                                    results: $0, logger: logger)
                            }
                        }
                    }
                    return LossAndLogSumExp(
                        loss: values.loss, zLoss: values.zLoss,
                        logSumExp: Tensor(
                            shape: problem.batch.layout.rowShape, scalars: values.logSumExp.map { T.Accumulator($0) }))
                }
            default:
                preconditionFailure("the arrays of one engine and type share a device")
            }
        }
    }

    /// Where `array` is, checked to be on the device that runs its type here.
    private func place<T: LogitsScalar>(of array: DeviceArray<T>) throws -> DeviceArray<T>.Storage {
        let runner = try backend(for: T.dtype)
        switch array.storage {
        case .host where runner is CPUBackend:
            return array.storage
        case .openCL(_, let owner) where owner === (runner as? OpenCLBackend):
            return array.storage
        default:
            throw CrossEntropyError(
                .invalidOption, "a device array of another device used with an engine on \(device.name)")
        }
    }
}
