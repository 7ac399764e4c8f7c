import KernelContract
import OpenCLHost

/// Sets a kernel's arguments one after another, in the order of its signature, so that no argument
/// index is written by hand: each kernel's parameters are listed once, as the fields of one of the
/// argument types below, in the order `Kernels/cross_entropy_rows.cl` declares them once for every
/// row kernel (`ROW_STATISTICS_PARAMETERS`, `ROW_OUTPUT_PARAMETERS`, gathered there into a `row_batch`).
struct KernelArgumentList {
    private let kernel: Kernel
    /// Whether the kernel's accumulator parameters (`ACC`) are `double`, else `float`.
    private let doubleAccumulator: Bool
    /// Stands in for an optional buffer the kernel is told (by its flags) not to read.
    private let placeholder: Buffer
    /// The index the next argument takes.
    private var next = 0

    init<Accumulator: LogitsScalar>(kernel: Kernel, accumulator: Accumulator.Type, placeholder: Buffer) {
        self.kernel = kernel
        doubleAccumulator = Accumulator.self == Double.self
        self.placeholder = placeholder
    }

    /// A `__global` buffer, or the placeholder for an absent optional one.
    mutating func append(_ buffer: Buffer?) throws(OpenCLError) {
        try kernel.setArgument(next, buffer ?? placeholder)
        next += 1
    }

    /// A `long`.
    mutating func append(_ value: Int64) throws(OpenCLError) {
        try kernel.setArgument(next, value)
        next += 1
    }

    /// An `int`.
    mutating func append(_ value: Int32) throws(OpenCLError) {
        try kernel.setArgument(next, value)
        next += 1
    }

    /// An `ACC`: `float` or `double`, as the program's data type accumulates.
    mutating func appendAccumulator(_ value: Double) throws(OpenCLError) {
        if doubleAccumulator {
            try kernel.setArgument(next, value)
        } else {
            try kernel.setArgument(next, Float(value))
        }
        next += 1
    }

    /// A `__local` buffer of `byteCount` bytes per work-group.
    mutating func appendLocal(byteCount: Int) throws(OpenCLError) {
        try kernel.setLocalArgument(next, byteCount: byteCount)
        next += 1
    }
}

/// The arguments of one kernel signature.
protocol RowKernelArguments {
    /// The kernel these arguments are for, in `family`.
    static func kernelName(in family: KernelFamily) -> String
    /// Appends every argument, in the signature's order.
    func append(to list: inout KernelArgumentList) throws(OpenCLError)
}

/// `row_statistics` (`row_statistics_group`): each row's statistics into `statistics`, XENT_STAT_COUNT
/// values per row in the contract's slots. Its parameters open every other row kernel's.
struct RowStatisticsArguments: RowKernelArguments {
    var logits: Buffer
    /// Class probabilities in the logits' layout, or `nil`.
    var probabilities: Buffer?
    /// One class index per row, or `nil`.
    var targets: Buffer?
    /// Per-class weights in the accumulation type, or `nil`.
    var weight: Buffer?
    var rows: Int
    var classes: Int
    var inner: Int
    var labelSmoothing: Double
    /// Whether the smoothing sums are wanted (label smoothing or probabilities).
    var accumulateSmooth: Bool
    var statistics: Buffer

    /// The kernels' `flags`: which optional inputs are real, and whether to accumulate the smoothing sums.
    var flags: Int32 {
        var flags: Int32 = 0
        if targets != nil { flags |= XENT_HAS_TARGETS }
        if probabilities != nil { flags |= XENT_HAS_PROBABILITIES }
        if weight != nil { flags |= XENT_HAS_WEIGHT }
        if accumulateSmooth { flags |= XENT_ACCUMULATE_SMOOTH }
        return flags
    }

    static func kernelName(in family: KernelFamily) -> String {
        family == .perGroup ? "row_statistics_group" : "row_statistics"
    }

    func append(to list: inout KernelArgumentList) throws(OpenCLError) {
        try list.append(logits)
        try list.append(probabilities)
        try list.append(targets)
        try list.append(weight)
        try list.append(Int64(rows))
        try list.append(Int64(classes))
        try list.append(Int64(inner))
        try list.appendAccumulator(labelSmoothing)
        try list.append(flags)
        try list.append(statistics)
    }
}

/// `row_outputs` (`row_outputs_group`): the statistics, then each row's log-softmax, softmax or loss
/// gradient into `destination`.
struct RowOutputArguments: RowKernelArguments {
    var statistics: RowStatisticsArguments
    /// The logits' layout; may be the logits' own buffer (in place).
    var destination: Buffer
    var kind: xent_output_kind
    /// Every row's gradient is multiplied by these …
    var scales: GradientScales
    /// The weights' total over all classes (the class count without weights).
    var weightTotal: Double
    var ignoreIndex: Int64
    /// … and by this row's value, when present (reduction `none`).
    var upstream: Buffer?

    static func kernelName(in family: KernelFamily) -> String {
        family == .perGroup ? "row_outputs_group" : "row_outputs"
    }

    func append(to list: inout KernelArgumentList) throws(OpenCLError) {
        try statistics.append(to: &list)
        try list.append(destination)
        try list.append(Int32(kind.rawValue))
        try list.appendAccumulator(scales.loss)
        try list.appendAccumulator(scales.zLoss)
        try list.appendAccumulator(weightTotal)
        try list.append(ignoreIndex)
        try list.append(Int32(upstream == nil ? 0 : 1))
        try list.append(upstream)
    }
}

/// `row_gradient_runs` (per-row family only): the loss gradients of XENT_PATH_PIPELINED_GRADIENT,
/// XENT_GRADIENT_RUN_ROWS rows per work-item, with two rows of exps in local memory.
struct GradientRunArguments: RowKernelArguments {
    var outputs: RowOutputArguments
    /// Two rows of exps, each padded to whole vectors.
    var scratchBytes: Int

    static func kernelName(in family: KernelFamily) -> String { "row_gradient_runs" }

    func append(to list: inout KernelArgumentList) throws(OpenCLError) {
        try outputs.append(to: &list)
        try list.appendLocal(byteCount: scratchBytes)
    }
}

/// `gather_targets` (both families): each row's target logit, in the accumulation type.
struct GatherArguments: RowKernelArguments {
    var logits: Buffer
    var targets: Buffer
    var rows: Int
    var classes: Int
    var inner: Int
    var gathered: Buffer

    static func kernelName(in family: KernelFamily) -> String { "gather_targets" }

    func append(to list: inout KernelArgumentList) throws(OpenCLError) {
        try list.append(logits)
        try list.append(targets)
        try list.append(Int64(rows))
        try list.append(Int64(classes))
        try list.append(Int64(inner))
        try list.append(gathered)
    }
}
