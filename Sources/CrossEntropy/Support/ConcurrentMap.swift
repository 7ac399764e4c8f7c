import Dispatch

/// `body(0)`, …, `body(count - 1)` run in parallel on the cores (a single one on the calling thread),
/// and their results in order.
package func concurrentMap<Result>(_ count: Int, _ body: (Int) -> Result) -> [Result] {
    guard count > 1 else { return (0..<count).map(body) }
    return [Result](unsafeUninitializedCapacity: count) { buffer, initializedCount in
        // concurrentPerform returns only after every iteration has finished, so neither `body` nor
        // `buffer` outlives this call, and each iteration initializes its own element only.
        nonisolated(unsafe) let body = body
        nonisolated(unsafe) let buffer = buffer
        DispatchQueue.concurrentPerform(iterations: count) { index in
            (buffer.baseAddress! + index).initialize(to: body(index))
        }
        initializedCount = count
    }
}
