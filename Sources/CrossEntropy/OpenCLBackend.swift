import CPURowKernels
import OpenCLHost

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How the OpenCL kernels map rows to work.
enum KernelFamily: String, Sendable, CustomStringConvertible {
    /// One work-item per row, vector loads along the row: for CPU-like devices.
    case perRow = "per-row"
    /// One work-group per row, merged in local memory: for GPUs.
    case perGroup = "per-group"

    /// The environment variable that overrides the family chosen by device type.
    static let environmentVariable = "XENT_OPENCL_KERNELS"

    var description: String { rawValue }
}

/// The row kernels on one OpenCL device.
///
/// Programs are built once per data type and kept; kernels are made per call (setting a kernel's
/// arguments is not thread-safe), so one backend serves any number of threads.
final class OpenCLBackend: RowBackend {
    let device: Device
    let family: KernelFamily
    private let context: Context
    private let queue: CommandQueue
    /// Lanes of the kernels' vector loads: the device's preferred float width, at least 4.
    private let vectorWidth: Int
    /// Rows up to this size are read twice (maximum, then sums): from the core's cache on CPU devices.
    private let cachedRowBytes = 256 * 1024
    /// CPU-like devices read and write host memory in place (`CL_MEM_USE_HOST_PTR`); others get copies.
    private let zeroCopy: Bool
    /// Stands in for an optional input the kernel is told (by its flags) not to read.
    private let placeholder: Buffer
    /// Built programs by their build options.
    private let programs = LockedValue<[String: Program]>([:])
    /// Values per row in the kernels' statistics: max, log_sum, target logit, smooth, mass, lse.
    private static let statCount = 6
    /// Gradient rows from this size on take `row_gradient_runs` (as the C fallback pipelines rows from
    /// 16 KiB on; smaller rows keep `row_outputs`).
    private static let gradientRunRowBytes = 16 * 1024
    /// Consecutive rows per work-item of `row_gradient_runs`: the first row of each run is not overlapped.
    private static let gradientRunLength = 8
    /// The most rows one launch takes, bounding the statistics read back at once.
    private static let maxRowsPerLaunch = 1 << 20

    /// Work-items per group in the per-group family: a power of two the device allows, at most 256.
    private let groupSize: Int
    /// The largest buffer one chunk of logits may take: the device's CL_DEVICE_MAX_MEM_ALLOC_SIZE, or less.
    private let allocationLimit: Int
    /// How many of the next chunks fail as if the device were out of memory (a test hook).
    private let simulatedAllocationFailures = LockedValue(0)

    /// Opens `device` and builds its `Float` program, so that a broken driver or kernel fails here.
    /// Engines share backends through `shared(device:at:family:)`.
    private init(device: Device, family: KernelFamily, maxAllocationBytes: Int?) throws {
        self.device = device
        self.family = family
        allocationLimit = min(maxAllocationBytes ?? device.maxAllocationBytes, device.maxAllocationBytes)
        groupSize = [256, 128, 64, 32, 16, 8, 4, 2, 1].first { $0 <= device.maxWorkGroupSize } ?? 1
        do {
            context = try Context(device: device)
            queue = try CommandQueue(context: context)
            placeholder = try Buffer(context: context, byteCount: 16, flags: .readOnly)
        } catch {
            throw CrossEntropyError(.openCLFailure, "\(device.name): \(error)")
        }
        let width = device.preferredFloatVectorWidth
        vectorWidth = [16, 8, 4].first { $0 <= width } ?? 4
        zeroCopy = device.type.contains(.cpu) || device.hostUnifiedMemory
        _ = try program(for: .float32)
    }

    /// Every backend made so far, by device location and kernel family.
    private static let backends = LockedValue<[String: OpenCLBackend]>([:])

    /// The process's one backend for the device at `location` and `family` (by default: the environment
    /// variable `XENT_OPENCL_KERNELS`, `per-row` or `per-group`, else per-group for GPUs and accelerators
    /// and per-row for the rest), so that each program is built once per process and device.
    /// `maxAllocationBytes` lowers the chunk size below the device's limit (for tests of the chunking).
    static func shared(
        device: Device, at location: (platform: Int, device: Int), family: KernelFamily? = nil,
        maxAllocationBytes: Int? = nil
    ) throws -> OpenCLBackend {
        let family = try family ?? defaultFamily(for: device)
        return try backends.withLock { backends in
            let key = "\(location.platform):\(location.device):\(family):\(maxAllocationBytes ?? 0)"
            if let backend = backends[key] { return backend }
            let backend = try OpenCLBackend(device: device, family: family, maxAllocationBytes: maxAllocationBytes)
            backends[key] = backend
            return backend
        }
    }

    /// A backend of its own, which no engine shares: only its `Float` program is built (a test hook).
    static func makeUnshared(device: Device, family: KernelFamily) throws -> OpenCLBackend {
        try OpenCLBackend(device: device, family: family, maxAllocationBytes: nil)
    }

    /// How many programs have been built: one per data type used so far (a test hook).
    var builtProgramCount: Int { programs.withLock { $0.count } }

    private static func defaultFamily(for device: Device) throws -> KernelFamily {
        if let name = getenv(KernelFamily.environmentVariable).map({ String(cString: $0) }), !name.isEmpty {
            guard let family = KernelFamily(rawValue: name) else {
                throw CrossEntropyError(
                    .invalidOption, "\(KernelFamily.environmentVariable)=\(name): expected per-row or per-group")
            }
            return family
        }
        return device.type.isGPUOrAccelerator ? .perGroup : .perRow
    }

    var name: String { device.name }

    func unsupportedReason(for dtype: LogitsDType) -> String? {
        dtype == .float64 && !device.supportsFloat64 ? "the device has no cl_khr_fp64 (double precision)" : nil
    }

    /// The program for `dtype`, built on first use.
    func program(for dtype: LogitsDType) throws -> Program {
        let dtypeCode =
            switch dtype {
            case .float16: 0
            case .float32: 1
            case .float64: 2
            }
        let options =
            "-cl-std=CL1.2 -DXENT_DTYPE=\(dtypeCode) -DXENT_VEC=\(vectorWidth) -DXENT_CACHED_ROW_BYTES=\(cachedRowBytes)"
            + " -DXENT_GROUP=\(groupSize)"
        return try programs.withLock { cache in
            if let program = cache[options] { return program }
            do {
                let program = try Program(context: context, sources: KernelLibrary.sources(), options: options)
                cache[options] = program
                return program
            } catch let error as OpenCLError {
                throw CrossEntropyError(.openCLFailure, "\(device.name): \(error)")
            }
        }
    }

    func run<T: LogitsScalar>(
        _ batch: RowBatch<T>, output: RowOutput<T>?, results: UnsafePointer<xent_row_results>
    ) throws -> Double {
        let program = try program(for: T.dtype)
        let weight = try batch.weight.map { weight in
            try weight.withUnsafeBytes {
                try Buffer(context: context, flags: [.readOnly, .copyHostPointer], hostMemory: $0)
            }
        }
        var lossSum = 0.0
        try forEachChunk(of: batch.layout, elementBytes: MemoryLayout<T>.stride) { outer in
            lossSum += try runChunk(
                batch, output: output, outer: outer, program: program, weight: weight, results: results)
        }
        return lossSum
    }

    func gather<T: LogitsScalar>(
        _ batch: RowBatch<T>, into gathered: UnsafeMutableBufferPointer<Double>
    ) throws {
        guard let targets = batch.targets else { return }
        let program = try program(for: T.dtype)
        let layout = batch.layout
        try forEachChunk(of: layout, elementBytes: MemoryLayout<T>.stride) { outer in
            let rows = (outer.lowerBound * layout.inner)..<(outer.upperBound * layout.inner)
            let logits = try hostBuffer(batch.logits, elements: elementRange(outer, layout), writable: false)
            let targetBuffer = try hostBuffer(targets, elements: rows, writable: false)
            let result = try Buffer(
                context: context, byteCount: rows.count * MemoryLayout<T.Accumulator>.stride, flags: .writeOnly)
            let kernel = try Kernel(program: program, name: "gather_targets")
            try kernel.setArgument(0, logits)
            try kernel.setArgument(1, targetBuffer)
            try kernel.setArgument(2, Int64(rows.count))
            try kernel.setArgument(3, Int64(layout.classes))
            try kernel.setArgument(4, Int64(layout.inner))
            try kernel.setArgument(5, result)
            try queue.enqueue(kernel, globalSize: rows.count)
            var values = [T.Accumulator](repeating: 0, count: rows.count)
            try values.withUnsafeMutableBytes { try queue.read(result, into: $0) }
            for (offset, value) in values.enumerated() {
                gathered[rows.lowerBound + offset] = Double(value)
            }
        }
    }

    /// Whether these gradients take `row_gradient_runs` on the per-row family, which keeps two rows of
    /// exps in local memory and streams each row's gradient out of them while it computes the next
    /// row's (one exp per element, writes overlapped with work): class-index targets without label
    /// smoothing, on contiguous rows of at least `gradientRunRowBytes` that fit in the cache and, twice,
    /// in the device's local memory.
    private func takesGradientRuns<T: LogitsScalar>(_ batch: RowBatch<T>, _ output: RowOutput<T>) -> Bool {
        let rowBytes = batch.layout.classes * MemoryLayout<T>.stride
        return family == .perRow && output.kind == XENT_OUTPUT_GRADIENT && batch.targets != nil
            && batch.probabilities == nil && batch.labelSmoothing == 0
            && batch.layout.inner == 1 && batch.layout.classes >= vectorWidth
            && rowBytes >= Self.gradientRunRowBytes && rowBytes <= cachedRowBytes
            && gradientRunScratchBytes(batch.layout.classes, T.Accumulator.self) <= device.localMemoryBytes
    }

    /// The local memory of `row_gradient_runs`: two rows of exps, each padded to whole vectors.
    private func gradientRunScratchBytes<Acc>(_ classes: Int, _: Acc.Type) -> Int {
        2 * ((classes + vectorWidth - 1) / vectorWidth) * vectorWidth * MemoryLayout<Acc>.stride
    }

    /// Makes the next `count` chunks fail as if the device were out of memory, as NVIDIA reports it at
    /// enqueue: the chunk is halved and retried (a test hook).
    func simulateAllocationFailures(_ count: Int) {
        simulatedAllocationFailures.withLock { $0 = count }
    }

    /// How many of the simulated failures have not fired yet (a test hook).
    var pendingSimulatedAllocationFailures: Int { simulatedAllocationFailures.withLock { $0 } }

    private func runChunk<T: LogitsScalar>(
        _ batch: RowBatch<T>, output: RowOutput<T>?, outer: Range<Int>, program: Program, weight: Buffer?,
        results: UnsafePointer<xent_row_results>
    ) throws -> Double {
        typealias Acc = T.Accumulator
        let layout = batch.layout
        let rows = (outer.lowerBound * layout.inner)..<(outer.upperBound * layout.inner)
        let elements = elementRange(outer, layout)
        try simulatedAllocationFailures.withLock { remaining in
            guard remaining > 0 else { return }
            remaining -= 1
            throw OpenCLError(status: .memObjectAllocationFailure, call: "clCreateBuffer (simulated)")
        }
        let inPlace = output?.isInPlace(over: batch.logits) ?? false
        let logits = try hostBuffer(batch.logits, elements: elements, writable: inPlace)
        let probabilities = try batch.probabilities.map { try hostBuffer($0, elements: elements, writable: false) }
        let targets = try batch.targets.map { try hostBuffer($0, elements: rows, writable: false) }
        let stats = try Buffer(
            context: context, byteCount: Self.statCount * rows.count * MemoryLayout<Acc>.stride, flags: .writeOnly)

        let suffix = family == .perGroup ? "_group" : ""
        let runs = output.map { takesGradientRuns(batch, $0) } ?? false
        let name = output == nil ? "row_statistics" : runs ? "row_gradient_runs" : "row_outputs"
        let kernel = try Kernel(program: program, name: name + suffix)
        var flags: Int32 = 0
        if targets != nil { flags |= 1 }
        if probabilities != nil { flags |= 2 }
        if weight != nil { flags |= 4 }
        if batch.accumulateSmooth { flags |= 8 }
        try kernel.setArgument(0, logits)
        try kernel.setArgument(1, probabilities ?? placeholder)
        try kernel.setArgument(2, targets ?? placeholder)
        try kernel.setArgument(3, weight ?? placeholder)
        try kernel.setArgument(4, Int64(rows.count))
        try kernel.setArgument(5, Int64(layout.classes))
        try kernel.setArgument(6, Int64(layout.inner))
        try setAccumulator(kernel, 7, batch.labelSmoothing, as: Acc.self)
        try kernel.setArgument(8, flags)
        try kernel.setArgument(9, stats)

        var destination: Buffer?
        var upstream: Buffer?
        if let output {
            destination =
                inPlace
                ? logits
                : try zeroCopy
                    ? hostBuffer(
                        UnsafeBufferPointer(output.destination), elements: elements, writable: true)
                    : Buffer(context: context, byteCount: elements.count * MemoryLayout<T>.stride, flags: .writeOnly)
            if let rowUpstream = output.rowUpstream {
                let values = rowUpstream[rows].map { Acc($0) }
                upstream = try values.withUnsafeBytes {
                    try Buffer(context: context, flags: [.readOnly, .copyHostPointer], hostMemory: $0)
                }
            }
            try kernel.setArgument(10, destination!)
            try kernel.setArgument(11, Int32(output.kind.rawValue))
            try setAccumulator(kernel, 12, output.gradientScale, as: Acc.self)
            try setAccumulator(kernel, 13, batch.weightTotal, as: Acc.self)
            try kernel.setArgument(14, batch.ignoreIndex)
            try kernel.setArgument(15, Int32(upstream == nil ? 0 : 1))
            try kernel.setArgument(16, upstream ?? placeholder)
        }
        if family == .perGroup {
            try queue.enqueue(kernel, globalSize: rows.count * groupSize, localSize: groupSize)
        } else if runs {
            try kernel.setArgument(17, Int64(Self.gradientRunLength))
            try kernel.setLocalArgument(18, byteCount: gradientRunScratchBytes(layout.classes, Acc.self))
            try queue.enqueue(
                kernel, globalSize: (rows.count + Self.gradientRunLength - 1) / Self.gradientRunLength,
                localSize: 1)
        } else {
            try queue.enqueue(kernel, globalSize: rows.count)
        }

        var values = [Acc](repeating: 0, count: Self.statCount * rows.count)
        try values.withUnsafeMutableBytes { try queue.read(stats, into: $0) }
        if let output, let destination {
            // Zero-copy buffers are the destination memory itself: the read only synchronises it.
            let slice = UnsafeMutableRawBufferPointer(
                rebasing: UnsafeMutableRawBufferPointer(output.destination)[
                    (elements.lowerBound * MemoryLayout<T>.stride)..<(elements.upperBound * MemoryLayout<T>.stride)])
            try queue.read(destination, into: slice)
        }
        // Converted by concrete, not generic, code: this loop runs once per row. `Acc` is Float or Double,
        // so the cast names the type the array already has (`as?` would cast element by element).
        let rowStats =
            Acc.self == Float.self
            ? Self.rowStatistics(unsafeBitCast(values, to: [Float].self))
            : Self.rowStatistics(unsafeBitCast(values, to: [Double].self))
        return rowStats.withUnsafeBufferPointer {
            xent_fold_rows(results, Int64(rows.lowerBound), $0.baseAddress, Int64(rows.count))
        }
    }

    /// The kernels' statistics, `statCount` values per row, as the host's per-row statistics.
    private static func rowStatistics<Value: BinaryFloatingPoint>(_ values: [Value]) -> [xent_row_stat] {
        (0..<(values.count / statCount)).map { row in
            let first = statCount * row
            return xent_row_stat(
                lse: Double(values[first + 5]), max: Double(values[first]), log_sum: Double(values[first + 1]),
                target_logit: Double(values[first + 2]), smooth: Double(values[first + 3]),
                mass: Double(values[first + 4]))
        }
    }

    /// Runs `body` over whole `outer` blocks small enough for one allocation, halving the chunk and
    /// retrying when the device runs out of memory.
    private func forEachChunk(of layout: RowLayout, elementBytes: Int, _ body: (Range<Int>) throws -> Void) throws {
        let blockBytes = max(1, layout.classes * layout.inner * elementBytes)
        var blocksPerChunk = max(
            1, min(layout.outer, allocationLimit / blockBytes, Self.maxRowsPerLaunch / max(layout.inner, 1)))
        var first = 0
        while first < layout.outer {
            let chunk = first..<min(first + blocksPerChunk, layout.outer)
            do {
                try body(chunk)
                first = chunk.upperBound
            } catch let error as OpenCLError {
                guard error.status.isAllocationFailure, blocksPerChunk > 1 else {
                    throw CrossEntropyError(.openCLFailure, "\(device.name): \(error)")
                }
                blocksPerChunk /= 2
            }
        }
    }

    private func elementRange(_ outer: Range<Int>, _ layout: RowLayout) -> Range<Int> {
        let block = layout.classes * layout.inner
        return (outer.lowerBound * block)..<(outer.upperBound * block)
    }

    /// A buffer over `elements` of caller memory: the memory itself on zero-copy devices, else a copy.
    private func hostBuffer<E>(_ memory: UnsafeBufferPointer<E>, elements: Range<Int>, writable: Bool) throws -> Buffer
    {
        let bytes = UnsafeRawBufferPointer(
            rebasing: UnsafeRawBufferPointer(memory)[
                (elements.lowerBound * MemoryLayout<E>.stride)..<(elements.upperBound * MemoryLayout<E>.stride)])
        var flags: MemoryFlags = writable ? .readWrite : .readOnly
        flags.insert(zeroCopy ? .useHostPointer : .copyHostPointer)
        return try Buffer(context: context, flags: flags, hostMemory: bytes)
    }

    private func setAccumulator<Acc: LogitsScalar>(_ kernel: Kernel, _ index: Int, _ value: Double, as: Acc.Type) throws
    {
        if Acc.self == Double.self {
            try kernel.setArgument(index, value)
        } else {
            try kernel.setArgument(index, Float(value))
        }
    }
}

extension OpenCLStatus {
    /// Whether the device ran out of memory: the chunk should shrink and the call be retried.
    var isAllocationFailure: Bool {
        self == .memObjectAllocationFailure || self == .outOfResources || self == .outOfHostMemory
    }
}
