import CPURowKernels
import CrossEntropy

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The speed of plain passes over memory with every core, the yardsticks `xent bench` sets beside a
/// memory-bound kernel: a read-only pass (for the loss) and a copy with streamed stores (for the loss and
/// its gradient, which read the logits once and write the gradient once).
enum MemoryBandwidth {
    /// Reads `values` once, split into one contiguous slab per online core, and returns the sum (so the
    /// pass cannot be skipped) and the seconds it took.
    static func read(_ values: UnsafeBufferPointer<Float>) -> (sum: Float, seconds: Double) {
        guard let first = values.baseAddress else { return (0, 0) }
        let count = values.count
        var partial: [Float] = []
        let seconds = secondsElapsed {
            partial = inSlabs(count) { begin, end in xent_read_sum(first + begin, Int64(end - begin)) }
        }
        return (partial.reduce(0, +), seconds)
    }

    /// Copies `from` into `to` (of the same count) with streamed stores, one contiguous slab per online
    /// core, and returns the seconds it took.
    static func copy(from: UnsafeBufferPointer<Float>, to: UnsafeMutableBufferPointer<Float>) -> Double {
        guard let source = from.baseAddress, let destination = to.baseAddress else { return 0 }
        precondition(from.count == to.count, "copy of \(from.count) floats into \(to.count)")
        return secondsElapsed {
            _ = inSlabs(from.count) { begin, end in
                xent_copy_stream(source + begin, destination + begin, Int64(end - begin))
            }
        }
    }

    /// `body(begin, end)` for one contiguous slab of `0..<count` per online core, run in parallel.
    private static func inSlabs<R>(_ count: Int, _ body: (Int, Int) -> R) -> [R] {
        let threads = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        return concurrentMap(threads) { thread in
            body(count * thread / threads, count * (thread + 1) / threads)
        }
    }
}
