import KernelContract
import Logging
import OpenCLHost

extension OpenCLBackend {
    /// How many programs have been built: one per set of build options used so far (the logits' and the
    /// outputs' types, the soft-cap), a test hook.
    var builtProgramCount: Int { programs.withLock { $0.count } }

    /// The program for logits of `dtype` and outputs of `outputs` (by default the same), with logits
    /// soft-capped at `softcap` when not 0, built on first use.
    /// Its tunables are `-D` defines and part of the cache key; those every device shares are in the
    /// contract header, whose text starts the sources. The cap is a constant of its program (`XENT_SOFTCAP`,
    /// written so that it reads back exactly in the accumulation type), so that a program without one
    /// pays nothing for it. A build is logged at `info` with its time, a program served from the cache at
    /// `trace`.
    func program(
        for dtype: LogitsDType, outputs: LogitsDType? = nil, softcap: Double = 0, logger: Logger
    ) throws -> Program {
        var options =
            "-cl-std=CL1.2 -DXENT_DTYPE=\(dtype.contractCode) -DXENT_OUT_DTYPE=\((outputs ?? dtype).contractCode)"
            + " -DXENT_VEC=\(vectorWidth) -DXENT_GROUP=\(groupSize) -DXENT_PREFETCH=\(prefetch ? 1 : 0)"
        if softcap != 0 {
            options += dtype == .float64 ? " -DXENT_SOFTCAP=\(softcap)" : " -DXENT_SOFTCAP=\(Float(softcap))f"
        }
        return try programs.withLock { cache in
            if let program = cache[options] {
                logger.trace("OpenCL program served from the cache", metadata: ["options": "\(options)"])
                return program
            }
            do {
                let start = ContinuousClock.now
                let program = try Program(context: context, sources: KernelLibrary.sources(), options: options)
                var metadata: Logger.Metadata = [
                    "device": "\(device.name)", "options": "\(options)",
                    "seconds": "\((ContinuousClock.now - start).seconds)",
                ]
                if family == .perGroup {
                    metadata["preferred_work_group_multiple"] = "\(try checkGroupKernels(of: program))"
                }
                cache[options] = program
                logger.info("OpenCL program built", metadata: metadata)
                return program
            } catch let error as OpenCLError {
                throw CrossEntropyError(.openCLFailure, "\(device.name): \(error)")
            }
        }
    }
}

extension OpenCLBackend {
    /// The per-group family's kernels in work-groups of `XENT_GROUP`.
    static let groupKernelNames = [
        "row_statistics_group", "row_outputs_group", "row_partials_group", "row_outputs_from_norms_group",
    ]

    /// Checks that every per-group kernel of `program` takes groups of `groupSize` on this device (a kernel
    /// needing more registers than a group of that size can have would fail at launch), and returns the
    /// kernels' preferred work-group size multiple (the device's warp or wavefront), logged with the build.
    private func checkGroupKernels(of program: Program) throws -> Int {
        var multiple = 1
        for name in Self.groupKernelNames {
            let kernel = try Kernel(program: program, name: name)
            let largest = try kernel.maxWorkGroupSize(on: device)
            guard largest >= groupSize else {
                throw CrossEntropyError(
                    .openCLFailure,
                    "\(device.name): \(name) runs at most \(largest) work-items a group, the per-group kernels "
                        + "need \(groupSize); use \(KernelFamily.environmentVariable)=per-row")
            }
            multiple = max(multiple, try kernel.preferredWorkGroupSizeMultiple(on: device))
        }
        return multiple
    }
}
