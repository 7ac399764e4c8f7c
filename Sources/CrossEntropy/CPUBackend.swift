import CPURowKernels
import Dispatch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The fallback that needs no OpenCL: the C row kernels (one build per ISA, picked at load time) over
/// all cores, each thread taking one contiguous slab of rows.
struct CPUBackend: RowBackend {
    /// Worker threads: the number of online cores.
    let threads: Int

    /// A backend using every online core.
    init() {
        threads = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }

    var name: String { "cpu" }

    func unsupportedReason(for dtype: LogitsDType) -> String? { nil }

    func run<T: LogitsScalar>(
        _ batch: RowBatch<T>, output: RowOutput<T>?, consume: RowStatisticsConsumer
    ) throws {
        let layout = batch.layout
        let rowsPerChunk = Self.rowsPerChunk(layout, elementBytes: MemoryLayout<T>.stride)
        var stats = [xent_row_stat](repeating: xent_row_stat(), count: min(rowsPerChunk, layout.rows))
        let dtype = T.dtype.cDType
        var first = 0
        while first < layout.rows {
            let chunk = first..<min(first + rowsPerChunk, layout.rows)
            try stats.withUnsafeMutableBufferPointer { statsBuffer in
                batch.withRows { rows in
                    withUnsafePointer(to: rows) { rowsPointer in
                        forEachSlab(of: chunk, classes: layout.classes) { slab in
                            let out = statsBuffer.baseAddress! + (slab.lowerBound - chunk.lowerBound)
                            if let output {
                                withOutputs(output) { outputs in
                                    xent_row_outputs(
                                        dtype, rowsPointer, outputs, Int64(slab.lowerBound), Int64(slab.upperBound), out
                                    )
                                }
                            } else {
                                xent_row_statistics(
                                    dtype, rowsPointer, Int64(slab.lowerBound), Int64(slab.upperBound), out)
                            }
                        }
                    }
                }
                try consume(chunk, UnsafeBufferPointer(rebasing: statsBuffer[..<chunk.count]))
            }
            first = chunk.upperBound
        }
    }

    func gather<T: LogitsScalar>(
        _ batch: RowBatch<T>, into gathered: UnsafeMutableBufferPointer<Double>
    ) throws {
        let layout = batch.layout
        guard let targets = batch.targets else { return }
        for row in 0..<layout.rows {
            let y = Int(targets[row])
            let base = (row / layout.inner) * layout.classes * layout.inner + row % layout.inner
            gathered[row] = (0..<layout.classes).contains(y) ? Double(batch.logits[base + y * layout.inner]) : 0
        }
    }

    /// About 16 MiB of logits per chunk, and at most 65,536 rows, in whole `inner` blocks, so the
    /// statistics stay small.
    static func rowsPerChunk(_ layout: RowLayout, elementBytes: Int) -> Int {
        let rowBytes = max(1, layout.classes * elementBytes)
        let rows = min(1 << 16, max(1, (16 << 20) / rowBytes))
        let inner = max(layout.inner, 1)
        return max(inner, rows / inner * inner)
    }

    /// Splits `rows` into one contiguous slab per thread and runs them in parallel; small work stays on
    /// the calling thread.
    private func forEachSlab(of rows: Range<Int>, classes: Int, _ body: (Range<Int>) -> Void) {
        let work = rows.count * max(classes, 1)
        let slabs = min(threads, rows.count, max(1, work / 32_768))
        guard slabs > 1 else { return body(rows) }
        // concurrentPerform returns only after every iteration has finished, so `body` does not outlive
        // this call, and the slabs are disjoint: sharing it across the workers is safe.
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: slabs) { slab in
            let begin = rows.lowerBound + rows.count * slab / slabs
            let end = rows.lowerBound + rows.count * (slab + 1) / slabs
            body(begin..<end)
        }
    }

    private func withOutputs<T>(_ output: RowOutput<T>, _ body: (UnsafePointer<xent_outputs>) -> Void) {
        let outputs = xent_outputs(
            destination: UnsafeMutableRawPointer(output.destination.baseAddress),
            kind: output.kind,
            gradient_scale: output.gradientScale,
            row_upstream: output.rowUpstream?.baseAddress)
        withUnsafePointer(to: outputs, body)
    }
}

extension LogitsDType {
    /// The C row kernels' tag for this type.
    var cDType: xent_dtype {
        switch self {
        case .float16: XENT_F16
        case .float32: XENT_F32
        case .float64: XENT_F64
        }
    }
}
