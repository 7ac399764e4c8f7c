import KernelContract
import OpenCLHost

extension OpenCLBackend {
    /// What the per-group family's plans are made from on this device.
    var groupGeometry: GroupPlan.Geometry {
        GroupPlan.Geometry(
            groupSize: groupSize, vectorWidth: vectorWidth, computeUnits: device.computeUnits,
            localMemoryBytes: localMemoryLimit.withLock { $0 } ?? device.localMemoryBytes)
    }

    /// The per-group family's plan for the rows of `arguments`, accumulated in `Acc`.
    func groupPlan<Acc: LogitsScalar>(for arguments: RowKernelArguments, accumulator _: Acc.Type) -> GroupPlan {
        let options = arguments.options
        return GroupPlan(
            classes: Int(options.classes), inner: Int(options.inner), rows: arguments.rows,
            accumulatorBytes: MemoryLayout<Acc>.stride,
            keepsRows: arguments.destination != nil && options.flags & XENT_GIVEN_GRADIENT == 0,
            geometry: groupGeometry)
    }

    /// Launches the per-group family over the rows of `arguments` as their plan says: one launch of
    /// teams, or, for split rows, the slices' states, their merge per row and the outputs by slice; given
    /// gradients (XENT_GIVEN_GRADIENT) read their terms from the statistics buffer.
    func enqueueGroupRows<Acc: LogitsScalar>(
        _ arguments: RowKernelArguments, program: Program, accumulator: Acc.Type
    ) throws {
        let plan = groupPlan(for: arguments, accumulator: Acc.self)
        let rows = arguments.rows
        guard rows > 0 else { return }
        let rowsPerGroup = plan.rowsPerGroup(groupSize: groupSize)
        // The teams' launch, and the outputs by slice: work-groups (part, rows' group) in two dimensions.
        let groups = (rows + rowsPerGroup - 1) / rowsPerGroup
        let sliceRange = (global: (plan.parts * groupSize, groups), local: (groupSize, 1))
        if arguments.options.flags & XENT_GIVEN_GRADIENT != 0 {
            let outputs = NormOutputsArguments(
                rows: arguments, team: plan.team, parts: plan.parts, norms: arguments.statistics)
            try queue.enqueue(
                makeKernel(program, outputs, accumulator: Acc.self), globalSize: sliceRange.global,
                localSize: sliceRange.local)
            return
        }
        guard plan.parts > 1 else {
            let teams = GroupRowArguments(rows: arguments, plan: plan)
            try queue.enqueue(
                makeKernel(program, teams, accumulator: Acc.self), globalSize: groups * groupSize,
                localSize: groupSize)
            return
        }
        // The scratch is shared by the launches of every thread: they take it in turn, and the queue runs
        // their commands in the order enqueued.
        try splitScratch.withLock { scratch in
            let valueBytes = MemoryLayout<Acc>.stride
            let partials = try scratch.partials.buffer(
                atLeast: 4 * rows * plan.parts * valueBytes, in: context)
            let norms = try scratch.norms.buffer(atLeast: Int(XENT_STAT_COUNT) * rows * valueBytes, in: context)
            let slices = RowPartialsArguments(rows: arguments, parts: plan.parts, partials: partials)
            try queue.enqueue(
                makeKernel(program, slices, accumulator: Acc.self), globalSize: sliceRange.global,
                localSize: sliceRange.local)
            let merge = MergePartialsArguments(rows: arguments, parts: plan.parts, partials: partials, norms: norms)
            try queue.enqueue(makeKernel(program, merge, accumulator: Acc.self), globalSize: rows)
            if arguments.destination != nil {
                let outputs = NormOutputsArguments(rows: arguments, team: plan.team, parts: plan.parts, norms: norms)
                try queue.enqueue(
                    makeKernel(program, outputs, accumulator: Acc.self), globalSize: sliceRange.global,
                    localSize: sliceRange.local)
            }
        }
    }
}

/// The device memory of split rows between their launches: the slices' states (`partials`) and each
/// row's output terms (`norms`). Kept by the backend and grown as needed rather than made per launch,
/// which saves two allocations per call. (With a buffer per launch, Oclgrind reported the second call's
/// reads of them as uninitialized, the values read being right; it reports nothing once they outlive
/// the launches.)
struct SplitRowScratch {
    /// A buffer that grows to the largest size asked of it.
    struct GrowingBuffer {
        private var current: Buffer?

        /// A buffer of at least `bytes` bytes in `context`: the one held, or a larger one that replaces it.
        mutating func buffer(atLeast bytes: Int, in context: Context) throws -> Buffer {
            if let current, current.byteCount >= bytes { return current }
            let buffer = try Buffer(context: context, byteCount: bytes, flags: .readWrite)
            current = buffer
            return buffer
        }
    }

    var partials = GrowingBuffer()
    var norms = GrowingBuffer()
}
