import CPURowKernels
import KernelContract
import Logging
import OpenCLHost

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The row kernels on one OpenCL device.
///
/// Programs are built once per data type and kept (`OpenCLBackend+Programs.swift`); kernels are made
/// per launch (setting a kernel's arguments is not thread-safe), so one backend serves any number of
/// threads. Batches larger than one allocation run in chunks (`OpenCLBackend+Chunking.swift`).
final class OpenCLBackend: RowBackend {
    let device: Device
    let family: KernelFamily
    let context: Context
    let queue: CommandQueue
    /// Lanes of the kernels' vector loads: the device's preferred float width, at least 4.
    let vectorWidth: Int
    /// Work-items per group in the per-group family: the largest power of two up to 256 that the device
    /// allows (`CL_DEVICE_MAX_WORK_GROUP_SIZE`) and whose merge scratch takes at most half its local
    /// memory; each program's kernels are checked to take it (`CL_KERNEL_WORK_GROUP_SIZE`).
    let groupSize: Int
    /// Whether the kernels may prefetch (`XENT_PREFETCH`): not on Oclgrind 21.10, which cannot run
    /// `llvm.prefetch` (its kernels would fail to build).
    let prefetch: Bool
    /// CPU-like devices read and write host memory in place (`CL_MEM_USE_HOST_PTR`); others take the
    /// staged path (`OpenCLBackend+Staging.swift`), as do all devices when the environment variable
    /// `XENT_OPENCL_COPY` is `1` (so that the staged path is tested on a CPU device).
    let zeroCopy: Bool
    /// The environment variable that forces copies on every device.
    static let forceCopyVariable = "XENT_OPENCL_COPY"
    /// Stands in for an optional input the kernel is told (by its flags) not to read.
    let placeholder: Buffer
    /// The split rows' scratch (`OpenCLBackend+Groups.swift`), kept from launch to launch.
    let splitScratch = LockedValue(SplitRowScratch())
    /// Built programs by their build options.
    let programs = LockedValue<[String: Program]>([:])
    /// The largest buffer one chunk of logits may take: the device's CL_DEVICE_MAX_MEM_ALLOC_SIZE, or less.
    let allocationLimit: Int
    /// Local memory the per-group family's plans may count on, below the device's (a test hook: 0 makes
    /// every row be read again for its outputs).
    let localMemoryLimit = LockedValue<Int?>(nil)
    /// The staged path's pinned and device buffers (`OpenCLBackend+Staging.swift`), kept from call to call.
    let staging = LockedValue(StagingSlots())
    /// The queue of the staged path's transfers, beside `queue`'s kernels; made on first use.
    let transferQueue = LockedValue<CommandQueue?>(nil)
    /// Logits per staged piece, in bytes: `XENT_OPENCL_STAGING_BYTES` if it is a positive number, else
    /// 16 MiB (a test hook lowers it).
    let stagedPieceBytes = LockedValue(
        getenv(OpenCLBackend.stagingBytesVariable).flatMap { Int(String(cString: $0)) }.flatMap { $0 > 0 ? $0 : nil }
            ?? 16 << 20)
    /// The environment variable that sets the staged pieces' size.
    static let stagingBytesVariable = "XENT_OPENCL_STAGING_BYTES"
    /// How many of the next chunks fail as if the device were out of memory (a test hook).
    let simulatedAllocationFailures = LockedValue(0)

    /// Opens `device` and builds its `Float` program, so that a broken driver or kernel fails here.
    /// Engines share backends through `shared(device:at:family:maxAllocationBytes:logger:)`.
    convenience init(
        device: Device, family: KernelFamily, maxAllocationBytes: Int?, forceCopies: Bool = false, logger: Logger
    ) throws {
        let (context, queue) = try Self.openCLCall(on: device) {
            let context = try Context(device: device)
            return (context, try CommandQueue(context: context))
        }
        try self.init(
            context: context, queue: queue, family: family, maxAllocationBytes: maxAllocationBytes,
            forceCopies: forceCopies, logger: logger)
    }

    /// The kernels on `queue`'s device in `context`, which may be the caller's (an engine made on them);
    /// builds the `Float` program.
    /// `forceCopies` makes it take the staged path on any device (a test hook, as `XENT_OPENCL_COPY`).
    init(
        context: Context, queue: CommandQueue, family: KernelFamily, maxAllocationBytes: Int?,
        forceCopies: Bool = false,
        logger: Logger
    ) throws {
        let device = context.device
        self.device = device
        self.family = family
        self.context = context
        self.queue = queue
        allocationLimit = min(maxAllocationBytes ?? device.maxAllocationBytes, device.maxAllocationBytes)
        // The merge's scratch takes 4 accumulators (8 bytes in Double programs) per work-item, at most half
        // the local memory, the rest for rows kept there.
        groupSize =
            [256, 128, 64, 32, 16, 8, 4, 2, 1].first {
                $0 <= device.maxWorkGroupSize && 2 * 4 * 8 * $0 <= device.localMemoryBytes
            } ?? 1
        prefetch = !device.name.hasPrefix("Oclgrind")
        placeholder = try Self.openCLCall(on: device) { try Buffer(context: context, byteCount: 16, flags: .readOnly) }
        let width = device.preferredFloatVectorWidth
        vectorWidth = [16, 8, 4].first { $0 <= width } ?? 4
        zeroCopy =
            !forceCopies && (device.type.contains(.cpu) || device.hostUnifiedMemory)
            && getenv(Self.forceCopyVariable).map { String(cString: $0) } != "1"
        _ = try program(for: .float32, logger: logger)
    }

    var name: String { device.name }

    /// The OpenCL kernels keep no exps.
    var keptExpsBlockBytes: Int? { nil }

    /// Runs `body`, reporting an OpenCL failure as `.openCLFailure` naming this device.
    func openCLCall<R>(_ body: () throws -> R) throws -> R {
        try Self.openCLCall(on: device, body)
    }

    /// Runs `body`, reporting an OpenCL failure as `.openCLFailure` naming `device`.
    static func openCLCall<R>(on device: Device, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as OpenCLError {
            throw CrossEntropyError(.openCLFailure, "\(device.name): \(error)")
        }
    }

    func unsupportedReason(for dtype: LogitsDType) -> String? {
        dtype == .float64 && !device.supportsFloat64 ? "the device has no cl_khr_fp64 (double precision)" : nil
    }

    /// Builds the program for `dtype` (logits and outputs of that type, no soft-capping), as its first
    /// call would.
    func prepare(_ dtype: LogitsDType, logger: Logger) throws {
        _ = try program(for: dtype, logger: logger)
    }

    func run<T: LogitsScalar>(
        _ batch: RowBatch<T>, output: RowOutput?, results: UnsafePointer<xent_row_results>, logger: Logger
    ) throws -> Double {
        precondition(batch.keptExps == nil, "kept exps are the CPU fallback's (see RowBatch.keptExps)")
        let program = try program(
            for: T.dtype, outputs: output?.dtype ?? T.dtype, softcap: batch.softcap, logger: logger)
        let weight = try weightBuffer(batch)
        var lossSum = 0.0
        // A chunk's largest buffer is its logits or its outputs (a Float gradient of 16-bit logits is twice
        // their bytes).
        let elementBytes = max(MemoryLayout<T>.stride, output?.dtype.byteCount ?? 0)
        try forEachChunk(of: batch.layout, elementBytes: elementBytes, logger: logger) { outer in
            lossSum +=
                try zeroCopy
                ? runChunk(batch, output: output, outer: outer, program: program, weight: weight, results: results)
                : runStaged(batch, output: output, outer: outer, program: program, weight: weight, results: results)
        }
        return lossSum
    }

    /// `run` over logits already in `logits`, a buffer of this backend's context holding the whole batch
    /// (`batch.logits` is not read): the outputs go to `destination`, another such buffer, or overwrite
    /// the logits when it is `nil`, and only the statistics come back.
    func runResident<T: LogitsScalar>(
        _ batch: RowBatch<T>, logits: Buffer, destination: Buffer? = nil, output: RowOutput?,
        results: UnsafePointer<xent_row_results>, logger: Logger
    ) throws -> Double {
        precondition(batch.keptExps == nil, "kept exps are the CPU fallback's (see RowBatch.keptExps)")
        let program = try program(
            for: T.dtype, outputs: output?.dtype ?? T.dtype, softcap: batch.softcap, logger: logger)
        let weight = try weightBuffer(batch)
        return try runChunk(
            batch, output: output, outer: 0..<batch.layout.outer, program: program, weight: weight, results: results,
            resident: (logits, destination))
    }

    func gather<T: LogitsScalar>(
        _ batch: RowBatch<T>, into gathered: UnsafeMutableBufferPointer<Double>, logger: Logger
    ) throws {
        guard let targets = batch.targets else { return }
        let program = try program(for: T.dtype, logger: logger)
        let layout = batch.layout
        try forEachChunk(of: layout, elementBytes: MemoryLayout<T>.stride, logger: logger) { outer in
            let rows = layout.rows(of: outer)
            let result = try Buffer(
                context: context, byteCount: rows.count * MemoryLayout<T.Accumulator>.stride, flags: .writeOnly)
            let arguments = GatherArguments(
                logits: try hostBuffer(batch.logits, elements: layout.elements(of: outer), writable: false),
                targets: try hostBuffer(targets, elements: rows, writable: false), rows: rows.count,
                classes: layout.classes, inner: layout.inner, gathered: result)
            try queue.enqueue(makeKernel(program, arguments, accumulator: T.Accumulator.self), globalSize: rows.count)
            try readWidened(
                result, count: rows.count, as: T.Accumulator.self, into: gathered.baseAddress! + rows.lowerBound)
        }
    }

    /// The class weights of `batch` in the accumulation type, copied to the device, or `nil` for none.
    private func weightBuffer<T: LogitsScalar>(_ batch: RowBatch<T>) throws -> Buffer? {
        try batch.weight.map { weight in
            try weight.withUnsafeBytes {
                try Buffer(context: context, flags: [.readOnly, .copyHostPointer], hostMemory: $0)
            }
        }
    }

    /// The rows of `outer` blocks: their statistics, and their outputs when asked, launched as the
    /// contract's path for them says; returns the sum of their losses, folded into `results`.
    ///
    /// With `resident`, the logits are that device buffer (holding the rows of `outer` from its start)
    /// instead of `batch.logits`, and the output goes to its destination buffer, or overwrites the logits
    /// there: nothing is read back but the statistics. `whileRunning` runs once the kernels are enqueued,
    /// before waiting for them. The kernels have completed when this returns.
    func runChunk<T: LogitsScalar>(
        _ batch: RowBatch<T>, output: RowOutput?, outer: Range<Int>, program: Program, weight: Buffer?,
        results: UnsafePointer<xent_row_results>, resident: (logits: Buffer, destination: Buffer?)? = nil,
        whileRunning: () throws -> Void = {}
    ) throws -> Double {
        typealias Acc = T.Accumulator
        let layout = batch.layout
        let rows = layout.rows(of: outer)
        let elements = layout.elements(of: outer)
        try failIfSimulated()
        let inPlace =
            resident.map { $0.destination == nil } ?? (output?.isInPlace(over: batch.logits) ?? false)
        let logits = try resident?.logits ?? hostBuffer(batch.logits, elements: elements, writable: inPlace)
        var arguments = RowKernelArguments(
            logits: logits,
            probabilities: try batch.probabilities.map { try hostBuffer($0, elements: elements, writable: false) },
            targets: try batch.targets.map { try hostBuffer($0, elements: rows, writable: false) }, weight: weight,
            // Read-write: kernels read back slots they wrote (a probability row's gradient its mass,
            // `row_extras` every row's statistics); reading a write-only buffer is undefined in OpenCL.
            statistics: try batch.given.map { try givenBuffer($0, rows: rows, as: Acc.self) }
                ?? Buffer(
                    context: context, byteCount: Int(XENT_STAT_COUNT) * rows.count * MemoryLayout<Acc>.stride,
                    flags: .readWrite),
            rows: rows.count, options: batch.options(for: output))
        if let output {
            let outputBytes =
                (elements.lowerBound * output.dtype.byteCount)..<(elements.upperBound * output.dtype.byteCount)
            if inPlace {
                arguments.destination = logits
            } else if let destination = resident?.destination {
                arguments.destination = destination
            } else {
                arguments.destination =
                    try zeroCopy
                    ? hostBuffer(UnsafeRawBufferPointer(output.destination), bytes: outputBytes, writable: true)
                    : Buffer(context: context, byteCount: outputBytes.count, flags: .writeOnly)
            }
            arguments.upstream = try output.rowUpstream.map { rowUpstream in
                try rowUpstream[rows].map { Acc($0) }.withUnsafeBytes {
                    try Buffer(context: context, flags: [.readOnly, .copyHostPointer], hostMemory: $0)
                }
            }
        }
        if family == .perRow, output?.kind == XENT_OUTPUT_GRADIENT, batch.given == nil,
            gradientPath(batch) == XENT_PATH_PIPELINED_GRADIENT
        {
            let runs = GradientRunArguments(
                rows: arguments, scratchBytes: gradientRunScratchBytes(layout.classes, Acc.self))
            let runLength = Int(XENT_GRADIENT_RUN_ROWS)
            try queue.enqueue(
                makeKernel(program, runs, accumulator: Acc.self),
                globalSize: (rows.count + runLength - 1) / runLength, localSize: 1)
        } else if family == .perGroup {
            try enqueueGroupRows(arguments, program: program, accumulator: Acc.self)
        } else {
            try queue.enqueue(makeKernel(program, arguments, accumulator: Acc.self), globalSize: rows.count)
        }
        try whileRunning()
        if output == nil, results.pointee.predicted != nil || results.pointee.entropy != nil {
            try runExtras(arguments, rowRange: rows, program: program, accumulator: Acc.self, results: results)
        }

        // Given values are not statistics: nothing is read back or folded.
        let rowStatistics =
            batch.given == nil ? try readStatistics(arguments.statistics, rows: rows.count, as: Acc.self) : []
        if resident == nil, let output, let destination = arguments.destination {
            // Zero-copy buffers are the destination memory itself: the read only synchronises it.
            let slice = UnsafeMutableRawBufferPointer(
                rebasing: output.destination[
                    (elements.lowerBound * output.dtype.byteCount)..<(elements.upperBound * output.dtype.byteCount)])
            try queue.read(destination, into: slice)
        }
        guard batch.given == nil else {
            if resident != nil { try queue.finish() }  // nothing was read back to wait for them
            return 0
        }
        return rowStatistics.withUnsafeBufferPointer {
            xent_fold_rows(results, Int64(rows.lowerBound), $0.baseAddress, Int64(rows.count))
        }
    }

    /// The statistics buffer of `rows` holding their given logsumexps and gradient coefficients
    /// (`XENT_GIVEN_COUNT` of `given` per row, in the first slots of each row's `XENT_STAT_COUNT`).
    private func givenBuffer<Acc: LogitsScalar>(
        _ given: UnsafeBufferPointer<Double>, rows: Range<Int>, as _: Acc.Type
    ) throws -> Buffer {
        let (stride, count) = (Int(XENT_STAT_COUNT), Int(XENT_GIVEN_COUNT))
        var values = [Acc](repeating: 0, count: stride * rows.count)
        for (index, row) in rows.enumerated() {
            for slot in 0..<count {
                values[index * stride + slot] = Acc(given[row * count + slot])
            }
        }
        return try values.withUnsafeBytes {
            try Buffer(context: context, flags: [.readOnly, .copyHostPointer], hostMemory: $0)
        }
    }

    /// Each row's predicted class and entropy, where `results` asks for them, by `row_extras` over the
    /// logits and statistics of `rows`, read back into `results` at the rows' places.
    private func runExtras<Acc: LogitsScalar>(
        _ rows: RowKernelArguments, rowRange: Range<Int>, program: Program, accumulator: Acc.Type,
        results: UnsafePointer<xent_row_results>
    ) throws {
        let count = rowRange.count
        let extras = RowExtrasArguments(
            logits: rows.logits, statistics: rows.statistics, rows: count, options: rows.options,
            predicted: try Buffer(context: context, byteCount: count * MemoryLayout<Int64>.stride, flags: .writeOnly),
            entropy: try Buffer(context: context, byteCount: count * MemoryLayout<Acc>.stride, flags: .writeOnly))
        try queue.enqueue(makeKernel(program, extras, accumulator: Acc.self), globalSize: count)
        if let predicted = results.pointee.predicted {
            try queue.read(
                extras.predicted,
                into: UnsafeMutableRawBufferPointer(
                    start: predicted + rowRange.lowerBound, count: count * MemoryLayout<Int64>.stride))
        }
        if let entropy = results.pointee.entropy {
            try readWidened(extras.entropy, count: count, as: Acc.self, into: entropy + rowRange.lowerBound)
        }
    }

    /// The contract's path for these rows' loss gradients, given what `row_gradient_runs` takes: half
    /// precision too, rows from XENT_PIPELINED_ROW_BYTES only, no smoothing sums, and two rows of exps
    /// in the device's local memory.
    private func gradientPath<T: LogitsScalar>(_ batch: RowBatch<T>) -> xent_row_path {
        let layout = batch.layout
        // row_gradient_runs streams gradients out of its exps alone, with no soft-capping factor, and
        // needs two rows of them in local memory.
        let runsTakeRows =
            batch.softcap == 0
            && gradientRunScratchBytes(layout.classes, T.Accumulator.self) <= device.localMemoryBytes
        return xent_gradient_path(
            Int64(layout.classes), Int64(layout.inner), Int64(MemoryLayout<T>.stride), Int64(vectorWidth),
            batch.targets != nil && batch.probabilities == nil ? 1 : 0, batch.accumulateSmooth ? 1 : 0,
            runsTakeRows ? XENT_FUSES_GRADIENT | XENT_FUSES_HALF : 0)
    }

    /// The local memory of `row_gradient_runs`: two rows of exps, each padded to whole vectors.
    private func gradientRunScratchBytes<Acc>(_ classes: Int, _: Acc.Type) -> Int {
        2 * ((classes + vectorWidth - 1) / vectorWidth) * vectorWidth * MemoryLayout<Acc>.stride
    }

    /// The kernel of `arguments`' signature in this backend's family, its arguments set.
    func makeKernel<Acc: LogitsScalar>(
        _ program: Program, _ arguments: some KernelArguments, accumulator: Acc.Type
    ) throws -> Kernel {
        let kernel = try Kernel(program: program, name: arguments.kernelName(in: family))
        var list = KernelArgumentList(kernel: kernel, accumulator: Acc.self, placeholder: placeholder)
        try arguments.append(to: &list)
        return kernel
    }

    /// A buffer over `elements` of caller memory: the memory itself on zero-copy devices, else a copy.
    func hostBuffer<E>(_ memory: UnsafeBufferPointer<E>, elements: Range<Int>, writable: Bool) throws -> Buffer {
        try hostBuffer(
            UnsafeRawBufferPointer(memory),
            bytes: (elements.lowerBound * MemoryLayout<E>.stride)..<(elements.upperBound * MemoryLayout<E>.stride),
            writable: writable)
    }

    /// A buffer over `bytes` of caller memory: the memory itself on zero-copy devices, else a copy.
    func hostBuffer(_ memory: UnsafeRawBufferPointer, bytes: Range<Int>, writable: Bool) throws -> Buffer {
        var flags: MemoryFlags = writable ? .readWrite : .readOnly
        flags.insert(zeroCopy ? .useHostPointer : .copyHostPointer)
        return try Buffer(context: context, flags: flags, hostMemory: UnsafeRawBufferPointer(rebasing: memory[bytes]))
    }
}
