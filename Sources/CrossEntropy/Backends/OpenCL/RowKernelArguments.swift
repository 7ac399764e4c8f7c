import KernelContract
import OpenCLHost

/// Sets a kernel's arguments one after another, in the order of its signature, so that no argument
/// index is written by hand: each kernel signature's parameters are listed once, as the fields of one
/// of the argument types below, in the order `Kernels/cross_entropy_rows.cl` declares them
/// (`ROW_KERNEL_PARAMETERS` for every row kernel, gathered there into a `row_batch`).
struct KernelArgumentList {
    private let kernel: Kernel
    /// Whether the kernel's accumulator parameters (`ACC`) are `double`, else `float`.
    private let doubleAccumulator: Bool
    /// Stands in for a buffer the kernel is told (by its flags or kind) not to read.
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

    /// A `row_options`: the contract's options in the program's accumulation type.
    mutating func append(_ options: xent_row_options_f64) throws(OpenCLError) {
        if doubleAccumulator {
            try kernel.setArgument(next, byValue: options)
        } else {
            try kernel.setArgument(next, byValue: xent_narrow_row_options(options))
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
protocol KernelArguments {
    /// The kernel these arguments are for, in `family`.
    func kernelName(in family: KernelFamily) -> String
    /// Appends every argument, in the signature's order.
    func append(to list: inout KernelArgumentList) throws(OpenCLError)
}

/// `ROW_KERNEL_PARAMETERS`: `row_statistics` writes each row's statistics into `statistics`,
/// XENT_STAT_COUNT values per row in the contract's slots; `row_outputs`, when there is a `destination`,
/// also each row's log-softmax, softmax or loss gradient, as the options' `kind` says; with
/// XENT_GIVEN_GRADIENT, `row_outputs` reads each row's given values from `statistics` instead. These are
/// the per-row family's kernels; the per-group family's take these parameters and a plan (below).
struct RowKernelArguments: KernelArguments {
    var logits: Buffer
    /// Class probabilities in the logits' layout, or `nil`.
    var probabilities: Buffer?
    /// One class index per row, or `nil`.
    var targets: Buffer?
    /// Per-class weights in the accumulation type, or `nil`.
    var weight: Buffer?
    var statistics: Buffer
    /// The outputs, in the logits' layout (may be the logits' own buffer), or `nil` for statistics only.
    var destination: Buffer? = nil
    /// One upstream factor per row (reduction `none`), or `nil`.
    var upstream: Buffer? = nil
    var rows: Int
    /// The options of these rows and of their outputs (`RowBatch.options(for:)`).
    var options: xent_row_options_f64

    func kernelName(in family: KernelFamily) -> String {
        precondition(family == .perRow, "the per-group family's row kernels take a plan (GroupRowArguments)")
        return destination == nil ? "row_statistics" : "row_outputs"
    }

    func append(to list: inout KernelArgumentList) throws(OpenCLError) {
        try list.append(logits)
        try list.append(probabilities)
        try list.append(targets)
        try list.append(weight)
        try list.append(statistics)
        try list.append(destination)
        try list.append(upstream)
        try list.append(Int64(rows))
        try list.append(options)
    }
}

/// `row_statistics_group`, and `row_outputs_group` when there is a destination (per-group family): each
/// team of `plan.team` work-items takes a row, and the outputs are computed from the group's rows kept in
/// local memory when the plan keeps them (`plan.cacheBytes`).
struct GroupRowArguments: KernelArguments {
    var rows: RowKernelArguments
    var plan: GroupPlan

    func kernelName(in family: KernelFamily) -> String {
        rows.destination == nil ? "row_statistics_group" : "row_outputs_group"
    }

    func append(to list: inout KernelArgumentList) throws(OpenCLError) {
        try rows.append(to: &list)
        try list.append(Int64(plan.team))
        if rows.destination != nil {
            try list.append(Int64(plan.cacheBytes > 0 ? 1 : 0))
            try list.appendLocal(byteCount: max(plan.cacheBytes, 16))  // unused, but not empty, without a cache
        }
    }
}

/// `row_partials_group` (per-group family, split rows): slice `g % parts` of row `g / parts` folded by
/// work-group `g` into its state, four values at `partials[4 g]`.
struct RowPartialsArguments: KernelArguments {
    var rows: RowKernelArguments
    var parts: Int
    var partials: Buffer

    func kernelName(in family: KernelFamily) -> String { "row_partials_group" }

    func append(to list: inout KernelArgumentList) throws(OpenCLError) {
        try rows.append(to: &list)
        try list.append(Int64(parts))
        try list.append(partials)
    }
}

/// `row_merge_partials` (per-group family, split rows): each row's slices merged, its statistics
/// written, and its output terms kept in `norms` (XENT_STAT_COUNT values per row).
struct MergePartialsArguments: KernelArguments {
    var rows: RowKernelArguments
    var parts: Int
    var partials: Buffer
    var norms: Buffer

    func kernelName(in family: KernelFamily) -> String { "row_merge_partials" }

    func append(to list: inout KernelArgumentList) throws(OpenCLError) {
        try rows.append(to: &list)
        try list.append(Int64(parts))
        try list.append(partials)
        try list.append(norms)
    }
}

/// `row_outputs_from_norms_group` (per-group family): outputs from each row's kept output terms —
/// `row_merge_partials`'s, or the given ones (XENT_GIVEN_GRADIENT) in the statistics buffer — teams of
/// `team` taking the (row, slice) pairs in order, `parts` slices per row.
struct NormOutputsArguments: KernelArguments {
    var rows: RowKernelArguments
    var team: Int
    var parts: Int
    var norms: Buffer

    func kernelName(in family: KernelFamily) -> String { "row_outputs_from_norms_group" }

    func append(to list: inout KernelArgumentList) throws(OpenCLError) {
        try rows.append(to: &list)
        try list.append(Int64(team))
        try list.append(Int64(parts))
        try list.append(norms)
    }
}

/// `row_gradient_runs` (per-row family only): the loss gradients of XENT_PATH_PIPELINED_GRADIENT,
/// XENT_GRADIENT_RUN_ROWS rows per work-item, with two rows of exps in local memory.
struct GradientRunArguments: KernelArguments {
    var rows: RowKernelArguments
    /// Two rows of exps, each padded to whole vectors.
    var scratchBytes: Int

    func kernelName(in family: KernelFamily) -> String { "row_gradient_runs" }

    func append(to list: inout KernelArgumentList) throws(OpenCLError) {
        try rows.append(to: &list)
        try list.appendLocal(byteCount: scratchBytes)
    }
}

/// `gather_targets` (both families): each row's target logit, in the accumulation type.
struct GatherArguments: KernelArguments {
    var logits: Buffer
    var targets: Buffer
    var rows: Int
    var classes: Int
    var inner: Int
    var gathered: Buffer

    func kernelName(in family: KernelFamily) -> String { "gather_targets" }

    func append(to list: inout KernelArgumentList) throws(OpenCLError) {
        try list.append(logits)
        try list.append(targets)
        try list.append(Int64(rows))
        try list.append(Int64(classes))
        try list.append(Int64(inner))
        try list.append(gathered)
    }
}

/// `row_extras` (both families): each row's predicted class and entropy, from its logits and the
/// statistics a row kernel wrote.
struct RowExtrasArguments: KernelArguments {
    var logits: Buffer
    var statistics: Buffer
    var rows: Int
    var options: xent_row_options_f64
    var predicted: Buffer
    var entropy: Buffer

    func kernelName(in family: KernelFamily) -> String { "row_extras" }

    func append(to list: inout KernelArgumentList) throws(OpenCLError) {
        try list.append(logits)
        try list.append(statistics)
        try list.append(Int64(rows))
        try list.append(options)
        try list.append(predicted)
        try list.append(entropy)
    }
}
