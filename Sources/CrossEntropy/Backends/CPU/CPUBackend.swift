import CPURowKernels
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The fallback that needs no OpenCL: the C row kernels (one build per ISA, picked at load time) over
/// all cores, each thread taking one contiguous slab of rows and folding its rows' statistics itself.
struct CPUBackend: RowBackend {
    /// Worker threads: the number of online cores, or what `XENT_CPU_THREADS` says.
    let threads: Int
    /// The bytes of kept exps a thread's rows take per block (`keptExpsBlockBytes`): 512 KiB, so that the
    /// three blocks in flight (one written, one merged, one read) fit a 2 MiB L2 beside the logits passing
    /// through (on the Xeons this was tuned on, 1 MiB blocks lost a fifth of the speed), or what
    /// `XENT_KEPT_EXPS_BYTES` says.
    let keptExpsBytesPerThread: Int

    /// The environment variable that sets the CPU fallback's threads (and OpenBLAS's): for several
    /// processes sharing a machine, as the ranks of `mpirun` do.
    static let threadsVariable = "XENT_CPU_THREADS"

    /// A backend using `threads`, or every online core, or `XENT_CPU_THREADS` threads when that is a
    /// positive number, with blocks of kept exps of `keptExpsBytesPerThread` (by default 512 KiB or
    /// `XENT_KEPT_EXPS_BYTES`).
    init(threads: Int? = nil, keptExpsBytesPerThread: Int? = nil) {
        func named(_ variable: String) -> Int? { getenv(variable).flatMap { Int(String(cString: $0)) } }
        self.threads =
            threads ?? named(Self.threadsVariable).map { max(1, $0) } ?? max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        self.keptExpsBytesPerThread = max(1, keptExpsBytesPerThread ?? named("XENT_KEPT_EXPS_BYTES") ?? 512 << 10)
    }

    var name: String { "cpu" }

    var keptExpsBlockBytes: Int? { threads * keptExpsBytesPerThread }

    func unsupportedReason(for dtype: LogitsDType) -> String? { nil }

    /// The C row kernels need no preparation.
    func prepare(_ dtype: LogitsDType, logger: Logger) {}

    func run<T: LogitsScalar>(
        _ batch: RowBatch<T>, output: RowOutput?, results: UnsafePointer<xent_row_results>, logger: Logger
    ) throws -> Double {
        let dtype = T.dtype.contractCode
        return batch.withRows(output: output) { rows in
            withUnsafePointer(to: rows) { rowsPointer in
                sumOverSlabs(of: batch.layout.rows, classes: batch.layout.classes, results: results) {
                    slab, slabResults in
                    guard let output else {
                        return xent_run_rows(
                            dtype, rowsPointer, nil, slabResults, Int64(slab.lowerBound), Int64(slab.upperBound))
                    }
                    return withOutputs(output) { outputs in
                        xent_run_rows(
                            dtype, rowsPointer, outputs, slabResults, Int64(slab.lowerBound), Int64(slab.upperBound))
                    }
                }
            }
        }
    }

    func gather<T: LogitsScalar>(
        _ batch: RowBatch<T>, into gathered: UnsafeMutableBufferPointer<Double>, logger: Logger
    ) throws {
        let layout = batch.layout
        guard let targets = batch.targets else { return }
        for row in 0..<layout.rows {
            let y = Int(targets[row])
            let base = (row / layout.inner) * layout.classes * layout.inner + row % layout.inner
            gathered[row] = (0..<layout.classes).contains(y) ? Double(batch.logits[base + y * layout.inner]) : 0
        }
    }

    /// Splits `0..<rows` into one contiguous slab per thread, runs them in parallel and adds up what
    /// they return, in slab order; small work stays on the calling thread. Each slab folds into
    /// `results` through its own target check, if `results` has one, and the slabs' checks are added
    /// to it in slab order.
    private func sumOverSlabs(
        of rows: Int, classes: Int, results: UnsafePointer<xent_row_results>,
        _ body: (Range<Int>, UnsafePointer<xent_row_results>) -> Double
    ) -> Double {
        let work = rows * max(classes, 1)
        let slabs = min(threads, rows, max(1, work / 32_768))
        guard slabs > 1 else { return body(0..<rows, results) }
        let runs = concurrentMap(slabs) { slab in
            var slabResults = results.pointee
            var check = xent_target_check(first_bad: -1, kept: 0)
            let sum = withUnsafeMutablePointer(to: &check) { check in
                slabResults.check = slabResults.check == nil ? nil : check
                return body((rows * slab / slabs)..<(rows * (slab + 1) / slabs), &slabResults)
            }
            return (sum: sum, check: check)
        }
        if let check = results.pointee.check {
            for run in runs {
                check.pointee.first_bad = check.pointee.first_bad >= 0 ? check.pointee.first_bad : run.check.first_bad
                check.pointee.kept += run.check.kept
            }
        }
        return runs.reduce(0) { $0 + $1.sum }
    }

    private func withOutputs<R>(_ output: RowOutput, _ body: (UnsafePointer<xent_outputs>) -> R) -> R {
        let outputs = xent_outputs(
            destination: output.destination.baseAddress, dtype: output.dtype.contractCode,
            row_upstream: output.rowUpstream?.baseAddress, cached: 0)
        return withUnsafePointer(to: outputs, body)
    }
}
