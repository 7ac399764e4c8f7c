import Logging
import OpenCLHost

extension OpenCLBackend {
    /// The most rows one launch takes, bounding the statistics read back at once.
    static let maxRowsPerLaunch = 1 << 20

    /// Runs `body` over whole `outer` blocks small enough for one allocation, halving the chunk and
    /// retrying when the device runs out of memory (a warning to `logger` each time).
    func forEachChunk(
        of layout: RowLayout, elementBytes: Int, logger: Logger, _ body: (Range<Int>) throws -> Void
    ) throws {
        let blockBytes = max(1, layout.classes * layout.inner * elementBytes)
        var blocksPerChunk = max(
            1, min(layout.outer, allocationLimit / blockBytes, Self.maxRowsPerLaunch / max(layout.inner, 1)))
        var first = 0
        while first < layout.outer {
            let chunk = first..<min(first + blocksPerChunk, layout.outer)
            do {
                try body(chunk)
                first = chunk.upperBound
            } catch let error as OpenCLError {
                guard error.status.isAllocationFailure, blocksPerChunk > 1 else {
                    throw CrossEntropyError(.openCLFailure, "\(device.name): \(error)")
                }
                blocksPerChunk /= 2
                logger.warning(
                    "OpenCL device out of memory: chunk halved and retried",
                    metadata: [
                        "device": "\(device.name)", "status": "\(error.status)",
                        "rows": "\(blocksPerChunk * layout.inner)",
                    ])
            }
        }
    }

    /// Makes the next `count` chunks fail as if the device were out of memory, as NVIDIA reports it at
    /// enqueue: the chunk is halved and retried (a test hook).
    func simulateAllocationFailures(_ count: Int) {
        simulatedAllocationFailures.withLock { $0 = count }
    }

    /// How many of the simulated failures have not fired yet (a test hook).
    var pendingSimulatedAllocationFailures: Int { simulatedAllocationFailures.withLock { $0 } }

    /// Throws an allocation failure if one is still to be simulated (see `simulateAllocationFailures`).
    func failIfSimulated() throws {
        try simulatedAllocationFailures.withLock { remaining in
            guard remaining > 0 else { return }
            remaining -= 1
            throw OpenCLError(status: .memObjectAllocationFailure, call: "clCreateBuffer (simulated)")
        }
    }
}

extension OpenCLStatus {
    /// Whether the device ran out of memory: the chunk should shrink and the call be retried.
    var isAllocationFailure: Bool {
        self == .memObjectAllocationFailure || self == .outOfResources || self == .outOfHostMemory
    }
}
