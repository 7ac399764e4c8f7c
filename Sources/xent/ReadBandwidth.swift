import CPURowKernels
import CrossEntropy

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The speed of a read-only pass over memory with every core: the yardstick `xent bench` sets beside a
/// memory-bound kernel.
enum ReadBandwidth {
    /// Reads `values` once, split into one contiguous slab per online core, and returns the sum (so the
    /// pass cannot be skipped) and the seconds it took.
    static func measure(_ values: UnsafeBufferPointer<Float>) -> (sum: Float, seconds: Double) {
        guard let first = values.baseAddress else { return (0, 0) }
        let threads = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let count = values.count
        let clock = ContinuousClock()
        let start = clock.now
        let partial = concurrentMap(threads) { thread in
            let begin = count * thread / threads
            return xent_read_sum(first + begin, Int64(count * (thread + 1) / threads - begin))
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return (partial.reduce(0, +), seconds)
    }
}
