import CPURowKernels
import KernelContract
import OpenCLHost

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The staged path: host inputs on a device that does not share host memory (a discrete GPU, or any
/// device with `XENT_OPENCL_COPY=1`). The rows go in pieces through pinned staging memory
/// (`CL_MEM_ALLOC_HOST_PTR`) on two queues, so that the upload of piece k + 1 and the download of piece
/// k − 1 (on the transfer queue) overlap the kernels of piece k (on the backend's queue), and the host's
/// copies into and out of the staging memory overlap them too:
///
///     piece k:  wait for upload k → launch k → [copy out k − 2, copy in k + 1, upload k + 1] → wait for
///               k's statistics → download k
///
/// Three slots of pinned and device buffers take the pieces in turn. Targets, class probabilities and
/// per-row values are copied as on the other paths (the targets and per-row values are O(rows)).
extension OpenCLBackend {
    func runStaged<T: LogitsScalar>(
        _ batch: RowBatch<T>, output: RowOutput?, outer: Range<Int>, program: Program, weight: Buffer?,
        results: UnsafePointer<xent_row_results>
    ) throws -> Double {
        let layout = batch.layout
        let blockElements = layout.classes * layout.inner
        let inputBytes = MemoryLayout<T>.stride
        let outputBytes = output?.dtype.byteCount ?? 0
        let blocksPerPiece = min(
            outer.count,
            max(1, stagedPieceBytes.withLock { $0 } / max(1, blockElements * max(inputBytes, outputBytes))))
        let pieces = stride(from: outer.lowerBound, to: outer.upperBound, by: blocksPerPiece).map {
            $0..<min($0 + blocksPerPiece, outer.upperBound)
        }
        let inPlace = output?.isInPlace(over: batch.logits) ?? false
        let transfers = try transferQueue.withLock { queue in
            if let queue { return queue }
            let made = try CommandQueue(context: context)
            queue = made
            return made
        }
        let pieceElements = blocksPerPiece * blockElements
        let logits = UnsafeRawBufferPointer(batch.logits)
        // One staged call at a time: the slots are the backend's, and the link is one anyway.
        return try staging.withLock { slots in
            try slots.prepare(
                count: min(3, pieces.count), inputBytes: pieceElements * inputBytes,
                outputBytes: inPlace ? 0 : pieceElements * outputBytes, queue: transfers, context: context)
            var uploads: [Event?] = Array(repeating: nil, count: pieces.count)
            /// Copies piece `index`'s logits into its slot's staging memory and enqueues their upload.
            func upload(_ index: Int) throws {
                let slot = slots.slots[index % slots.slots.count]
                let bytes = layout.elements(of: pieces[index]).byteRange(stride: inputBytes)
                parallelCopy(UnsafeRawBufferPointer(rebasing: logits[bytes]), into: slot.stagedInput.bytes)
                uploads[index] = try transfers.enqueueWrite(
                    slot.deviceInput, from: UnsafeRawBufferPointer(rebasing: slot.stagedInput.bytes[..<bytes.count]))
            }
            var lossSum = 0.0
            // A failure leaves no transfer in flight and no download to copy to a caller who is gone.
            do {
                try upload(0)
                for (index, piece) in pieces.enumerated() {
                    let slot = slots.slots[index % slots.slots.count]
                    if let uploaded = uploads[index] { try queue.enqueueWait(for: uploaded) }
                    lossSum += try runChunk(
                        batch, output: output, outer: piece, program: program, weight: weight, results: results,
                        resident: (slot.deviceInput, inPlace ? nil : slot.deviceOutput)
                    ) {
                        guard index + 1 < pieces.count else { return }
                        try slots.slots[(index + 1) % slots.slots.count].finishDownload()
                        try upload(index + 1)
                    }
                    if let output {
                        let bytes = layout.elements(of: piece).byteRange(stride: output.dtype.byteCount)
                        let destination = UnsafeMutableRawBufferPointer(rebasing: output.destination[bytes])
                        try slot.startDownload(inPlace: inPlace, into: destination, on: transfers)
                    }
                }
                for slot in slots.slots { try slot.finishDownload() }
            } catch {
                try? transfers.finish()
                for slot in slots.slots { slot.abandonDownload() }
                throw error
            }
            return lossSum
        }
    }
}

extension Range<Int> {
    /// The bytes of these elements, each `stride` bytes.
    fileprivate func byteRange(stride: Int) -> Range<Int> { (lowerBound * stride)..<(upperBound * stride) }
}

/// Copies `source` into the start of `destination` on the cores (one copy thread reads host memory at a
/// fraction of what a PCIe link moves), in pieces of at least 1 MiB.
private func parallelCopy(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) {
    precondition(source.count <= destination.count, "the staging memory is too small")
    guard let from = source.baseAddress, let to = destination.baseAddress else { return }
    let total = source.count
    let share = Swift.max(1 << 20, (total + copyThreads - 1) / copyThreads)
    _ = concurrentMap((total + share - 1) / share) { piece in
        let start = piece * share
        (to + start).copyMemory(from: from + start, byteCount: Swift.min(share, total - start))
    }
}

/// The cores the staging copies run on.
private let copyThreads = Swift.max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))

/// The staged path's slots, kept by the backend and grown as calls need.
struct StagingSlots {
    private(set) var slots: [StagingSlot] = []

    /// Makes the first `count` slots hold at least these sizes (slots reused where large enough; slots past
    /// `count` are kept for later calls, unused by this one, which takes pieces round the slots in turn).
    mutating func prepare(count: Int, inputBytes: Int, outputBytes: Int, queue: CommandQueue, context: Context) throws {
        for index in 0..<count {
            if index < slots.count, slots[index].holds(inputBytes: inputBytes, outputBytes: outputBytes) { continue }
            let slot = try StagingSlot(
                inputBytes: Swift.max(inputBytes, index < slots.count ? slots[index].inputBytes : 0),
                outputBytes: Swift.max(outputBytes, index < slots.count ? slots[index].outputBytes : 0),
                queue: queue, context: context)
            if index < slots.count { slots[index] = slot } else { slots.append(slot) }
        }
    }
}

/// One piece's memory on the staged path: its logits in pinned host memory and on the device, its
/// outputs on the device and in pinned host memory, and the download in flight to the caller.
///
/// Used under the backend's `staging` lock only.
final class StagingSlot {
    let stagedInput: StagingBuffer
    let deviceInput: Buffer
    let stagedOutput: StagingBuffer
    let deviceOutput: Buffer
    var inputBytes: Int { deviceInput.byteCount }
    var outputBytes: Int { deviceOutput.byteCount }
    /// The download in flight: its event, the staging memory it fills and where those bytes go.
    private var download: (event: Event?, staged: StagingBuffer, destination: UnsafeMutableRawBufferPointer)?

    init(inputBytes: Int, outputBytes: Int, queue: CommandQueue, context: Context) throws {
        stagedInput = try StagingBuffer(queue: queue, context: context, byteCount: inputBytes)
        deviceInput = try Buffer(context: context, byteCount: inputBytes, flags: .readWrite)
        stagedOutput = try StagingBuffer(queue: queue, context: context, byteCount: outputBytes)
        deviceOutput = try Buffer(context: context, byteCount: outputBytes, flags: .readWrite)
    }

    func holds(inputBytes: Int, outputBytes: Int) -> Bool {
        self.inputBytes >= inputBytes && self.outputBytes >= outputBytes
    }

    /// Enqueues the download of this piece's outputs, the first `destination.count` bytes of its device
    /// output (of its device logits when the outputs overwrote them, `inPlace`), into staging memory.
    func startDownload(inPlace: Bool, into destination: UnsafeMutableRawBufferPointer, on queue: CommandQueue)
        throws
    {
        let (source, staged) = inPlace ? (deviceInput, stagedInput) : (deviceOutput, stagedOutput)
        let event = try queue.enqueueRead(
            source, into: UnsafeMutableRawBufferPointer(rebasing: staged.bytes[..<destination.count]))
        download = (event, staged, destination)
    }

    /// Forgets the download in flight, once the queue has finished it (after a failure).
    func abandonDownload() {
        download = nil
    }

    /// Waits for the download in flight, if any, and copies its bytes to the caller.
    func finishDownload() throws {
        guard let (event, staged, destination) = download else { return }
        download = nil
        try event?.wait()
        parallelCopy(UnsafeRawBufferPointer(rebasing: staged.bytes[..<destination.count]), into: destination)
    }
}
