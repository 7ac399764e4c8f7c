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
    /// (zeros on the CPU): for an output to be written there.
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
        try crossEntropySummary(logits, shape: shape, target: target, options: options).loss
    }

    /// The loss of logits on the device with its parts, counts and the per-row results `extras` asks for,
    /// as `crossEntropySummary(logits:shape:target:options:extras:)`.
    public func crossEntropySummary<T: LogitsScalar>(
        _ logits: DeviceArray<T>, shape: [Int], target: CrossEntropyTarget<T>, options: CrossEntropyOptions = .init(),
        extras: LossExtras = []
    ) throws -> LossSummary<T> {
        try target.withBuffer { target in
            try withLossProblem(
                logits: UnsafeBufferPointer(start: nil, count: 0), deviceCount: logits.count, shape: shape,
                target: target, options: options, checkingTargetsWhileFolding: true
            ) { problem in
                let values = try problem.loss(keeping: extras) {
                    try run(problem.batch, on: logits, output: nil, into: nil, results: $0)
                }
                return LossSummary(
                    values, rowShape: problem.batch.layout.rowShape, reduction: options.reduction, extras: extras)
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
            try withLossProblem(
                logits: UnsafeBufferPointer(start: nil, count: 0), deviceCount: logits.count, shape: shape,
                target: target, options: options
            ) { problem in
                let (scales, rowUpstream) = try problem.gradientScales(upstream: upstream)
                let values = try (rowUpstream ?? []).withUnsafeBufferPointer { upstreamBuffer in
                    let output = RowOutput(
                        gradientInto: UnsafeMutableBufferPointer<T>(start: nil, count: 0), scales: scales,
                        rowUpstream: rowUpstream == nil ? nil : upstreamBuffer)
                    return try problem.loss(keeping: .logSumExp) {
                        try run(problem.batch, on: logits, output: output, into: gradient, results: $0)
                    }
                }
                return LossAndLogSumExp(
                    loss: values.loss, zLoss: values.zLoss,
                    logSumExp: Tensor(
                        shape: problem.batch.layout.rowShape, scalars: values.logSumExp.map { T.Accumulator($0) }))
            }
        }
    }

    /// `torch.logsumexp(logits, dim=1)` of logits on the device: one value per row, read back.
    public func logSumExp<T: LogitsScalar>(_ logits: DeviceArray<T>, shape: [Int]) throws -> Tensor<T.Accumulator> {
        let layout = try RowLayout(logitsShape: shape, count: logits.count)
        var values = [Double](repeating: 0, count: layout.rows)
        try values.withUnsafeMutableBufferPointer { values in
            var results = xent_row_results()
            results.lse = values.baseAddress
            _ = try run(
                RowBatch(logits: UnsafeBufferPointer(start: nil, count: 0), layout: layout), on: logits, output: nil,
                into: nil, results: &results)
        }
        return Tensor(shape: layout.rowShape, scalars: values.map { T.Accumulator($0) })
    }

    /// `torch.log_softmax(logits, dim=1)` of logits on the device, written into `destination` (another
    /// array of this engine, or `logits` itself): nothing leaves the device.
    public func logSoftmax<T: LogitsScalar>(
        _ logits: DeviceArray<T>, shape: [Int], into destination: DeviceArray<T>
    ) throws {
        try rowOutputs(logits, shape: shape, kind: XENT_OUTPUT_LOG_SOFTMAX, into: destination)
    }

    /// `torch.softmax(logits, dim=1)` of logits on the device, written into `destination` (another array of
    /// this engine, or `logits` itself): nothing leaves the device.
    public func softmax<T: LogitsScalar>(_ logits: DeviceArray<T>, shape: [Int], into destination: DeviceArray<T>)
        throws
    {
        try rowOutputs(logits, shape: shape, kind: XENT_OUTPUT_SOFTMAX, into: destination)
    }

    /// `logits[n, target[n], …]` of logits on the device: each row's target logit, read back, in the
    /// target's shape. Every target must be a class index in `0..<C`.
    public func gather<T: LogitsScalar>(
        _ logits: DeviceArray<T>, shape: [Int], classIndices: Tensor<Int64>
    ) throws -> Tensor<T> {
        let layout = try RowLayout(logitsShape: shape, count: logits.count)
        return try classIndices.scalars.withUnsafeBufferPointer { targets in
            try checkGatherIndices(targets, shape: classIndices.shape, layout: layout)
            var batch = RowBatch(logits: UnsafeBufferPointer<T>(start: nil, count: 0), layout: layout)
            batch.targets = targets
            let gathered = try statistics(of: batch, on: logits).map { T($0.target_logit) }
            return Tensor(shape: layout.rowShape, scalars: gathered)
        }
    }

    /// `nll_loss` of log-probabilities on the device, as `nllLoss(_:target:options:)`.
    public func nllLoss<T: LogitsScalar>(
        _ logProbabilities: DeviceArray<T>, shape: [Int], target: CrossEntropyTarget<T>,
        options: CrossEntropyOptions = .init()
    ) throws -> Tensor<T.Accumulator> {
        try checkNLLOptions(target: target, options: options)
        return try target.withBuffer { targetBuffer in
            try withLossProblem(
                logits: UnsafeBufferPointer(start: nil, count: 0), deviceCount: logProbabilities.count, shape: shape,
                target: targetBuffer, options: options
            ) { problem in
                let gathered = try statistics(of: problem.batch, on: logProbabilities).map(\.target_logit)
                return try problem.nllLoss(gathered: gathered)
            }
        }
    }

    /// Each row's statistics of `batch`, whose logits are `logits`' elements.
    private func statistics<T: LogitsScalar>(
        of batch: RowBatch<T>, on logits: DeviceArray<T>
    ) throws -> [xent_row_stat] {
        var statistics = [xent_row_stat](repeating: xent_row_stat(), count: batch.layout.rows)
        try statistics.withUnsafeMutableBufferPointer { statistics in
            var results = xent_row_results()
            results.statistics = statistics.baseAddress
            _ = try run(batch, on: logits, output: nil, into: nil, results: &results)
        }
        return statistics
    }

    private func rowOutputs<T: LogitsScalar>(
        _ logits: DeviceArray<T>, shape: [Int], kind: xent_output_kind, into destination: DeviceArray<T>
    ) throws {
        guard destination.count == logits.count else {
            throw CrossEntropyError(
                .invalidShape, "destination array has \(destination.count) elements, the logits \(logits.count)")
        }
        let layout = try RowLayout(logitsShape: shape, count: logits.count)
        var results = xent_row_results()
        _ = try run(
            RowBatch(logits: UnsafeBufferPointer(start: nil, count: 0), layout: layout), on: logits,
            output: RowOutput(destination: UnsafeMutableBufferPointer<T>(start: nil, count: 0), kind: kind),
            into: destination, results: &results)
    }

    /// Runs `batch` over the elements of `logits` on the device that holds them, `output` written into
    /// `destination` (in place when it is `logits`).
    private func run<T: LogitsScalar>(
        _ batch: RowBatch<T>, on logits: DeviceArray<T>, output: RowOutput?, into destination: DeviceArray<T>?,
        results: UnsafePointer<xent_row_results>
    ) throws -> Double {
        let destinationPlace = try destination.map { try place(of: $0) }
        switch try place(of: logits) {
        case .host(let memory):
            var batch = batch
            batch.logits = UnsafeBufferPointer(memory)
            var output = output
            if case .host(let destinationMemory) = destinationPlace {
                output?.destination = UnsafeMutableRawBufferPointer(destinationMemory)
            }
            return try backend(for: T.dtype).run(batch, output: output, results: results, logger: logger)
        case .openCL(let buffer, let backend):
            guard buffer.kernelsMayRead else {
                throw CrossEntropyError(.invalidOption, "the logits' OpenCL buffer is write-only")
            }
            var separate: Buffer?
            if output != nil {
                let target: Buffer
                if case .openCL(let destinationBuffer, _)? = destinationPlace {
                    target = destinationBuffer
                } else {
                    target = buffer
                }
                guard target.kernelsMayWrite else {
                    throw CrossEntropyError(.invalidOption, "the output's OpenCL buffer is read-only")
                }
                switch target.sameMemory(as: buffer) {
                case true: separate = nil  // in place
                case false: separate = target
                case nil:
                    throw CrossEntropyError(
                        .invalidOption, "the output's device array overlaps the logits' without being the same")
                }
            }
            return try backend.openCLCall {
                try backend.runResident(
                    batch, logits: buffer, destination: separate, output: output, results: results, logger: logger)
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
