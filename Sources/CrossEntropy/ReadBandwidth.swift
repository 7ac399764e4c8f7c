import CPURowKernels
import Dispatch

/// The speed of a read-only pass over memory with every core: the yardstick for a memory-bound kernel.
public enum ReadBandwidth {
    /// Reads `values` once, split into one contiguous slab per core, and returns the sum (so the pass
    /// cannot be skipped) and the seconds it took.
    public static func measure(_ values: UnsafeBufferPointer<Float>) -> (sum: Float, seconds: Double) {
        guard let first = values.baseAddress else { return (0, 0) }
        let threads = CPUBackend().threads
        let partial = UnsafeMutableBufferPointer<Float>.allocate(capacity: threads)
        defer { partial.deallocate() }
        let clock = ContinuousClock()
        let start = clock.now
        // The workers write disjoint elements of `partial` and finish before concurrentPerform returns.
        nonisolated(unsafe) let sums = partial
        nonisolated(unsafe) let base = first
        let count = values.count
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            let begin = count * thread / threads
            let end = count * (thread + 1) / threads
            sums[thread] = xent_read_sum(base + begin, Int64(end - begin))
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return (partial.reduce(0, +), seconds)
    }
}
