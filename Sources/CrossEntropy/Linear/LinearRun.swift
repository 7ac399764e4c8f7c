import CPURowKernels
import Logging
import OpenCLHost

/// One fused linear cross-entropy call in progress: what its chunks have added up so far.
struct LinearRun<T: LinearScalar> {
    let problem: LinearProblem
    let gradients: Bool
    let hasBias: Bool
    /// Where the row kernels log kernel builds and retries: the engine's logger.
    let logger: Logger
    /// `mean` and `sum`: the sum of the chunks' losses (each already divided by the whole batch's
    /// divisor), and of their z-loss parts.
    private var lossTotal = 0.0
    private var zLossTotal = 0.0
    /// `none`: each row's loss and z-loss (0 for an ignored row).
    private var rowLosses: [T]
    private var rowZLosses: [T]
    /// Each row's logsumexp (NaN for an ignored row).
    private var logSumExp: [T]
    private var hiddenGradient: [T]
    private var weightGradient: [T]
    private var biasGradient: [T]

    init(problem: LinearProblem, gradients: Bool, hasBias: Bool, logger: Logger) {
        self.problem = problem
        self.gradients = gradients
        self.hasBias = hasBias
        self.logger = logger
        let perRow = problem.options.reduction == .none ? problem.rows : 0
        rowLosses = [T](repeating: 0, count: perRow)
        rowZLosses = [T](repeating: 0, count: perRow)
        logSumExp = [T](repeating: .nan, count: problem.rows)
        // The gradients are written by the chunks' GEMMs (the first chunk's with beta 0), so they start
        // uninitialised, but for the rows no chunk writes and for a call with no chunk at all.
        let written = gradients && !problem.keptRows.isEmpty
        hiddenGradient = Self.array(count: gradients ? problem.rows * problem.hiddenSize : 0, zeroed: !written)
        weightGradient = Self.array(count: gradients ? problem.classes * problem.hiddenSize : 0, zeroed: !written)
        biasGradient = Self.array(count: gradients && hasBias ? problem.classes : 0, zeroed: !written)
        if written && problem.keptRows.count < problem.rows {
            let ignoreIndex = Int64(problem.options.ignoreIndex)
            let hiddenSize = problem.hiddenSize
            hiddenGradient.withUnsafeMutableBufferPointer { gradient in
                for row in problem.targets.indices where problem.targets[row] == ignoreIndex {
                    (gradient.baseAddress! + row * hiddenSize).update(repeating: 0, count: hiddenSize)
                }
            }
        }
    }

    /// `count` elements, zeros or uninitialised (to be overwritten whole: writing the output once is
    /// cheaper than twice). No elements is a plain empty array: `Array(unsafeUninitializedCapacity: 0)`
    /// writes its count into the standard library's one shared empty storage, a write ThreadSanitizer
    /// reports as a race with every other thread reading an empty array.
    private static func array(count: Int, zeroed: Bool) -> [T] {
        guard count > 0, !zeroed else { return [T](repeating: 0, count: count) }
        return [T](unsafeUninitializedCapacity: count) { _, initialized in
            initialized = count
        }
    }

    /// The chunks of kept rows, `rows` at most each: ranges of indices into `problem.keptRows`.
    private func chunks(of rows: Int) -> [Range<Int>] {
        let count = problem.keptRows.count
        return stride(from: 0, to: count, by: rows).map { $0..<min($0 + rows, count) }
    }

    /// The cross-entropy of one chunk's logits (`logits`, or a device buffer of `deviceCount` when empty)
    /// run by `run`, with every option of the call, `mean`'s divisor that of the whole batch and the
    /// gradient, when asked, written over the logits; its losses and logsumexps are kept.
    private mutating func chunkLoss(
        _ chunk: Range<Int>, logits: UnsafeMutableBufferPointer<T>, deviceCount: Int? = nil,
        _ run: (RowBatch<T>, RowOutput?, UnsafePointer<xent_row_results>) throws -> Double
    ) throws {
        let keptRows = problem.keptRows[chunk]
        let targets = keptRows.map { problem.targets[$0] }
        var upstream = problem.upstream
        if case .elements(let values) = upstream {
            upstream = .elements(keptRows.map { values[$0] })
        }
        let values = try targets.withUnsafeBufferPointer { targets in
            try withLossProblem(
                logits: UnsafeBufferPointer(logits), deviceCount: deviceCount, shape: [chunk.count, problem.classes],
                target: .classIndices(targets, shape: [chunk.count]), options: problem.options
            ) { chunkProblem in
                var chunkProblem = chunkProblem
                chunkProblem.divisor = .known(problem.kept)
                let (scales, rowUpstream) = try chunkProblem.gradientScales(upstream: upstream)
                return try (rowUpstream ?? []).withUnsafeBufferPointer { rowUpstreamBuffer in
                    let output =
                        gradients
                        ? RowOutput(
                            gradientInto: logits, scales: scales,
                            rowUpstream: rowUpstream == nil ? nil : rowUpstreamBuffer) : nil
                    return try chunkProblem.loss(keeping: .logSumExp) { try run(chunkProblem.batch, output, $0) }
                }
            }
        }
        for (index, row) in keptRows.enumerated() {
            logSumExp[row] = T(values.logSumExp[index])
        }
        if problem.options.reduction == .none {
            for (index, row) in keptRows.enumerated() {
                rowLosses[row] = values.loss.scalars[index]
                rowZLosses[row] = values.zLoss.scalars[index]
            }
        } else {
            lossTotal += Double(values.loss.scalars[0])
            zLossTotal += Double(values.zLoss.scalars[0])
        }
    }

    /// The rows of `chunk` are consecutive rows of the hidden states: read and written in place.
    private func isContiguous(_ chunk: Range<Int>) -> Bool {
        problem.keptRows[chunk.upperBound - 1] - problem.keptRows[chunk.lowerBound] == chunk.count - 1
    }

    /// The call on the CPU: OpenBLAS's GEMMs, `backend`'s row kernels.
    mutating func onCPU(_ backend: any RowBackend, threads: Int, _ inputs: LinearInputs<T>) throws {
        let logger = logger
        if let missing = OpenBLAS.problem(threads: threads) {
            throw CrossEntropyError(
                .deviceUnavailable,
                "the linear cross-entropy on the CPU needs OpenBLAS: \(missing) (Debian: apt-get install libopenblas0)")
        }
        let (classes, hiddenSize) = (problem.classes, problem.hiddenSize)
        var logits = Self.array(count: problem.chunkRows * classes, zeroed: false)
        // Rows of a chunk that are not consecutive (some rows between them are ignored) are gathered here,
        // and their hidden gradient scattered from here.
        let someIgnored = problem.keptRows.count < problem.rows
        var gathered = [T](repeating: 0, count: someIgnored ? problem.chunkRows * hiddenSize : 0)
        var gatheredGradient = [T](repeating: 0, count: someIgnored && gradients ? problem.chunkRows * hiddenSize : 0)
        let ones = [T](repeating: 1, count: problem.chunkRows)
        for (index, chunk) in chunks(of: problem.chunkRows).enumerated() {
            let rows = chunk.count
            let firstRow = problem.keptRows[chunk.lowerBound]
            let contiguous = isContiguous(chunk)
            if !contiguous {
                for (offset, row) in problem.keptRows[chunk].enumerated() {
                    gathered.withUnsafeMutableBufferPointer {
                        _ = UnsafeMutableBufferPointer(rebasing: $0[(offset * hiddenSize)...]).initialize(
                            from: inputs.hidden[(row * hiddenSize)..<((row + 1) * hiddenSize)])
                    }
                }
            }
            try gathered.withUnsafeBufferPointer { gatheredBuffer in
                try logits.withUnsafeMutableBufferPointer { logitsBuffer in
                    let x =
                        contiguous ? inputs.hidden.baseAddress! + firstRow * hiddenSize : gatheredBuffer.baseAddress!
                    let chunkLogits = UnsafeMutableBufferPointer(rebasing: logitsBuffer[0..<(rows * classes)])
                    if let bias = inputs.bias {
                        for row in 0..<rows {
                            _ = UnsafeMutableBufferPointer(rebasing: chunkLogits[(row * classes)...]).initialize(
                                from: bias)
                        }
                    }
                    OpenBLAS.gemm(
                        m: rows, n: classes, k: hiddenSize, alpha: 1, x, lda: hiddenSize, inputs.weight.baseAddress!,
                        ldb: hiddenSize, transposeB: true, beta: inputs.bias == nil ? 0 : 1, chunkLogits.baseAddress!,
                        ldc: classes)
                    try chunkLoss(chunk, logits: chunkLogits) {
                        try backend.run($0, output: $1, results: $2, logger: logger)
                    }
                    guard gradients else { return }
                    let g = UnsafePointer(chunkLogits.baseAddress!)
                    let accumulate: T = index == 0 ? 0 : 1
                    hiddenGradient.withUnsafeMutableBufferPointer { hiddenGradientBuffer in
                        gatheredGradient.withUnsafeMutableBufferPointer { gatheredGradientBuffer in
                            let gx =
                                contiguous
                                ? hiddenGradientBuffer.baseAddress! + firstRow * hiddenSize
                                : gatheredGradientBuffer.baseAddress!
                            OpenBLAS.gemm(
                                m: rows, n: hiddenSize, k: classes, alpha: 1, g, lda: classes,
                                inputs.weight.baseAddress!, ldb: hiddenSize, beta: 0, gx, ldc: hiddenSize)
                            if !contiguous {
                                for (offset, row) in problem.keptRows[chunk].enumerated() {
                                    (hiddenGradientBuffer.baseAddress! + row * hiddenSize).update(
                                        from: gx + offset * hiddenSize, count: hiddenSize)
                                }
                            }
                        }
                    }
                    weightGradient.withUnsafeMutableBufferPointer {
                        OpenBLAS.gemm(
                            m: classes, n: hiddenSize, k: rows, alpha: 1, g, lda: classes, transposeA: true, x,
                            ldb: hiddenSize, beta: accumulate, $0.baseAddress!, ldc: hiddenSize)
                    }
                    if hasBias {
                        ones.withUnsafeBufferPointer { ones in
                            biasGradient.withUnsafeMutableBufferPointer {
                                OpenBLAS.gemvTransposed(
                                    m: rows, n: classes, alpha: 1, g, lda: classes, ones.baseAddress!, beta: accumulate,
                                    $0.baseAddress!)
                            }
                        }
                    }
                }
            }
        }
    }

    /// The call on an OpenCL device: CLBlast's GEMMs and `backend`'s row kernels on device buffers. The
    /// inputs go to the device once, the gradients come back once; the chunks' logits never leave it.
    mutating func onOpenCL(_ backend: OpenCLBackend, _ inputs: LinearInputs<T>) throws {
        if let missing = CLBlast.problem {
            throw CrossEntropyError(
                .deviceUnavailable,
                "the linear cross-entropy on OpenCL needs CLBlast: \(missing) (Debian: apt-get install libclblast1)")
        }
        guard !problem.keptRows.isEmpty else { return }
        do {
            try runOnOpenCL(backend, inputs)
        } catch let error as OpenCLError {
            throw CrossEntropyError(.openCLFailure, "\(backend.device.name): \(error)")
        }
    }

    private mutating func runOnOpenCL(_ backend: OpenCLBackend, _ inputs: LinearInputs<T>) throws {
        let logger = logger
        let (classes, hiddenSize, keptCount) = (problem.classes, problem.hiddenSize, problem.keptRows.count)
        let stride = MemoryLayout<T>.stride
        let context = backend.context
        let queue = backend.queue
        // The kept rows' hidden states, gathered into one matrix when some rows are ignored.
        let hidden: Buffer
        if keptCount == problem.rows {
            hidden = try backend.hostBuffer(inputs.hidden, elements: 0..<inputs.hidden.count, writable: false)
        } else {
            var gathered = [T](repeating: 0, count: keptCount * hiddenSize)
            for (offset, row) in problem.keptRows.enumerated() {
                for column in 0..<hiddenSize {
                    gathered[offset * hiddenSize + column] = inputs.hidden[row * hiddenSize + column]
                }
            }
            hidden = try gathered.withUnsafeBytes {
                try Buffer(context: context, flags: [.readOnly, .copyHostPointer], hostMemory: $0)
            }
        }
        let weight = try backend.hostBuffer(inputs.weight, elements: 0..<inputs.weight.count, writable: false)
        let bias = try inputs.bias.map { try backend.hostBuffer($0, elements: 0..<$0.count, writable: false) }
        // One chunk's logits are one buffer: no larger than the device allows.
        let chunkRows = min(problem.chunkRows, max(1, backend.allocationLimit / max(1, classes * stride)))
        let logits = try Buffer(context: context, byteCount: chunkRows * classes * stride, flags: .readWrite)
        let ones = try [T](repeating: 1, count: chunkRows).withUnsafeBytes {
            try Buffer(context: context, flags: [.readOnly, .copyHostPointer], hostMemory: $0)
        }
        let hiddenGradient = try Buffer(context: context, byteCount: keptCount * hiddenSize * stride, flags: .readWrite)
        let weightGradient = try Buffer(context: context, byteCount: classes * hiddenSize * stride, flags: .readWrite)
        let biasGradient = try Buffer(context: context, byteCount: classes * stride, flags: .readWrite)
        // CLBlast reads C even where beta is 0 (0 · NaN is NaN): every matrix it writes starts as zeros.
        for buffer in [hiddenGradient, weightGradient, biasGradient] {
            try queue.zero(buffer)
        }
        for chunk in chunks(of: chunkRows) {
            let rows = chunk.count
            let x = DeviceMatrix(hidden, offset: chunk.lowerBound * hiddenSize, rowStride: hiddenSize)
            let g = DeviceMatrix(logits, rowStride: classes)
            let w = DeviceMatrix(weight, rowStride: hiddenSize)
            try queue.zero(logits)
            try queue.gemm(
                m: rows, n: classes, k: hiddenSize, alpha: T(1), a: x, b: w, transposeB: true, beta: 0, into: g)
            if let bias {
                try queue.ger(m: rows, n: classes, alpha: T(1), x: ones, y: bias, into: g)
            }
            try chunkLoss(chunk, logits: UnsafeMutableBufferPointer(start: nil, count: 0), deviceCount: rows * classes)
            {
                try backend.runResident($0, logits: logits, output: $1, results: $2, logger: logger)
            }
            guard gradients else { continue }
            try queue.gemm(
                m: rows, n: hiddenSize, k: classes, alpha: T(1), a: g, b: w, beta: 0,
                into: DeviceMatrix(hiddenGradient, offset: chunk.lowerBound * hiddenSize, rowStride: hiddenSize))
            try queue.gemm(
                m: classes, n: hiddenSize, k: rows, alpha: T(1), a: g, transposeA: true, b: x, beta: 1,
                into: DeviceMatrix(weightGradient, rowStride: hiddenSize))
            if hasBias {
                try queue.gemv(
                    m: rows, n: classes, alpha: T(1), a: g, transposed: true, x: ones, beta: 1, into: biasGradient)
            }
        }
        guard gradients else { return }
        try weightGradient.read(into: &self.weightGradient, queue: queue)
        if hasBias {
            try biasGradient.read(into: &self.biasGradient, queue: queue)
        }
        var keptGradient = [T](repeating: 0, count: keptCount * hiddenSize)
        try hiddenGradient.read(into: &keptGradient, queue: queue)
        for (offset, row) in problem.keptRows.enumerated() {
            for column in 0..<hiddenSize {
                self.hiddenGradient[row * hiddenSize + column] = keptGradient[offset * hiddenSize + column]
            }
        }
    }

    /// The call's results.
    func result() -> LinearCrossEntropyResult<T> {
        let reduction = problem.options.reduction
        let loss: Tensor<T>
        let zLoss: Tensor<T>
        if reduction == .none {
            loss = Tensor(shape: problem.targetShape, scalars: rowLosses)
            zLoss = Tensor(shape: problem.targetShape, scalars: rowZLosses)
        } else if reduction == .mean && problem.keptRows.isEmpty {
            // No chunk ran: both parts are 0/0, NaN, as PyTorch's mean over nothing.
            (loss, zLoss) = (Tensor(T.nan), Tensor(T.nan))
        } else {
            (loss, zLoss) = (Tensor(T(lossTotal)), Tensor(T(problem.options.zLossScale == 0 ? 0 : zLossTotal)))
        }
        return LinearCrossEntropyResult(
            loss: loss, zLoss: zLoss, rowsKept: problem.kept.count,
            divisor: reduction == .mean ? problem.kept.weight : nil,
            logSumExp: Tensor(shape: problem.targetShape, scalars: logSumExp),
            hiddenGradient: gradients ? Tensor(shape: problem.hiddenShape, scalars: hiddenGradient) : nil,
            linearWeightGradient: gradients
                ? Tensor(shape: [problem.classes, problem.hiddenSize], scalars: weightGradient) : nil,
            linearBiasGradient: gradients && hasBias ? Tensor(shape: [problem.classes], scalars: biasGradient) : nil)
    }
}

extension Buffer {
    /// Reads the whole of `values`' count from this buffer, on `queue` after what it holds.
    fileprivate func read<T>(into values: inout [T], queue: CommandQueue) throws {
        try values.withUnsafeMutableBytes { try queue.read(self, into: $0) }
    }
}
