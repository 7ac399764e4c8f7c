#if MPI
    import CrossEntropy
    import CrossEntropyMPI
    import NPY

    /// A member's failure as the others learn it: the lowest rank that failed, which alone reports it.
    struct MemberFailed: Error {
        let rank: Int
    }

    /// An exit with status 0 and no message: another rank reports the failure and exits with 1.
    struct SilentFailure: Error {}

    /// The failure of a member whose message is already on standard error: status 1, nothing more.
    struct ReportedFailure: Error {}

    /// The MPI collective with a checkpoint before each all-reduce: a member that fails tells the others
    /// through the checkpoint they are waiting in (`failed(_:)`), so that every rank ends the run instead
    /// of waiting forever for a member that will not come.
    ///
    /// `@unchecked Sendable`: the communicator is used by this process's one thread.
    final class CheckpointedCollective: Collective, @unchecked Sendable {
        let base: MPICollective
        var rank: Int { base.rank }
        var size: Int { base.size }

        init(_ base: MPICollective) { self.base = base }

        func allReduce(_ values: inout [Double], _ operation: ReduceOperation) throws {
            try checkpoint(failed: false)
            try base.allReduce(&values, operation)
        }

        func allGather(_ values: [Double]) throws -> [Double] {
            try checkpoint(failed: false)
            return try base.allGather(values)
        }

        /// After the checkpoint, every member posts the gather's messages, so none waits for a member
        /// that failed.
        func startAllGather(_ values: [Double]) throws -> StartedAllGather {
            try checkpoint(failed: false)
            return try base.startAllGather(values)
        }

        /// Every member meets: throws `MemberFailed` with the lowest rank that failed, if any did.
        func checkpoint(failed: Bool) throws {
            var lowest = [-Double(failed ? rank : size)]
            try base.allReduce(&lowest, .max)
            let rank = Int(-lowest[0])
            if rank < size { throw MemberFailed(rank: rank) }
        }

        /// The same value on every member: rank 0's.
        func broadcast(_ value: Double) throws -> Double {
            var values = [rank == 0 ? value : -.infinity]
            try allReduce(&values, .max)
            return values[0]
        }
    }

    extension LossCommand {
        /// `xent loss --vocab-parallel` or `--data-parallel` under `mpirun`: each rank computes its share,
        /// rank 0 prints and writes `--out` and `--lse-out`, `--grad-out` is one file every rank writes its
        /// part of, renamed into place by rank 0 once every rank succeeded. A failure on any rank ends the
        /// run on all with one message (the lowest failing rank's) and no output file.
        func runSharded() throws {
            let world = try MPICollective.world()
            defer { MPICollective.finalize() }
            let collective = CheckpointedCollective(world)
            var staged: [NPYStagedFile] = []
            do {
                try computeSharded(collective, staged: &staged)
            } catch is MemberFailed {
                // Another member failed first, and reports it.
                for file in staged { file.discard() }
                try afterFailure(collective)
            } catch {
                for file in staged { file.discard() }
                var reporter = world.rank
                do {
                    try collective.checkpoint(failed: true)
                } catch let failure as MemberFailed {
                    reporter = failure.rank
                }
                if reporter == world.rank { writeToStandardError("xent: error: \(error)\n") }
                try afterFailure(collective, reported: reporter == world.rank)
            }
        }

        /// Ends a failed run once its one message is out: every member meets after the reporting member has
        /// written it, then the others end quietly with status 0 and the reporter with 1 — so mpirun, which
        /// aborts the job at the first nonzero status, never kills the reporter before its message is out,
        /// and still reports the run failed.
        private func afterFailure(_ collective: CheckpointedCollective, reported: Bool = false) throws -> Never {
            var meeting = [0.0]
            try? collective.base.allReduce(&meeting, .max)
            throw reported ? ReportedFailure() : SilentFailure()
        }

        private func computeSharded(_ collective: CheckpointedCollective, staged: inout [NPYStagedFile]) throws {
            let logitsFile = try NPYFile(path: logits)
            let targetFile = try NPYFile(path: target)
            let options = try classOptions.options()
            let engine = try deviceOptions.makeEngine()
            let result: LossResult
            switch try logitsType(of: logitsFile) {
            case .float32:
                result = try shardedResult(Float.self, logitsFile, targetFile, options, engine, collective, &staged)
            case .float64:
                result = try shardedResult(Double.self, logitsFile, targetFile, options, engine, collective, &staged)
            case .float16, .bfloat16:
                throw CommandError("\(logits): --vocab-parallel and --data-parallel take <f4 or <f8 logits")
            }
            // Every rank has written its part: rank 0 commits and prints.
            try collective.checkpoint(failed: false)
            guard collective.rank == 0 else { return }
            try result.write(loss: out, logSumExp: lseOut, predicted: nil)
            for file in staged { try file.commit() }
            result.printLoss(json: json)
        }

        private func shardedResult<T: LogitsScalar>(
            _: T.Type, _ logitsFile: NPYFile, _ targetFile: NPYFile, _ options: CrossEntropyOptions,
            _ engine: CrossEntropyEngine, _ collective: CheckpointedCollective, _ staged: inout [NPYStagedFile]
        ) throws -> LossResult {
            guard logitsFile.shape.count == 2 else {
                throw CommandError("\(logits): sharded logits must have shape (N, C), got \(logitsFile.shape)")
            }
            let (rows, classes) = (logitsFile.shape[0], logitsFile.shape[1])
            let probabilities = targetFile.dtype.isFloatingPoint
            if probabilities && targetFile.shape != logitsFile.shape {
                throw CommandError(
                    "\(target): probability targets must have the logits' shape \(logitsFile.shape), got \(targetFile.shape)"
                )
            }
            // The rank's share: columns of every row, or rows of every column.
            let share = ClassSlice(
                rank: collective.rank, of: collective.size, classes: sharding.vocabParallel ? classes : rows)
            let (localRows, localClasses) =
                sharding.vocabParallel ? (rows, share.range.count) : (share.range.count, classes)
            // A rank's rows are a contiguous part of a row-major file, read in place; its columns are
            // gathered, row by row, into a buffer of their own (the kernels take rows of contiguous classes).
            let rowRange = sharding.dataParallel ? share.range : 0..<rows
            func columns<E>(_ all: UnsafeBufferPointer<E>) -> [E] {
                (0..<rows).flatMap {
                    all[($0 * classes + share.range.lowerBound)..<($0 * classes + share.range.upperBound)]
                }
            }
            func rowsOf<E>(_ all: UnsafeBufferPointer<E>, width: Int) -> UnsafeBufferPointer<E> {
                UnsafeBufferPointer(rebasing: all[(rowRange.lowerBound * width)..<(rowRange.upperBound * width)])
            }
            let targets: [Int64]
            switch targetFile.dtype {
            case .int64: targets = targetFile.withUnsafeBufferPointer(of: Int64.self) { Array($0) }
            case .int32: targets = targetFile.withUnsafeBufferPointer(of: Int32.self) { $0.map(Int64.init) }
            case _ where probabilities: targets = []
            default:
                throw CommandError(
                    "\(target): target must be class indices (<i8, <i4) or floating probabilities, got \(targetFile.dtype.rawValue)"
                )
            }
            guard probabilities || targets.count == rows else {
                throw CommandError("\(target): class indices must have shape (\(rows)), got \(targetFile.shape)")
            }
            let allProbabilities = probabilities ? targetFile.doubles().map { T($0) } : []
            var gradient = [T](repeating: 0, count: gradOut == nil ? 0 : localRows * localClasses)
            let shape = [localRows, localClasses]
            let sharded = try logitsFile.withUnsafeBufferPointer(of: T.self) { allLogits in
                try allProbabilities.withUnsafeBufferPointer { allQ in
                    let gathered =
                        sharding.vocabParallel ? (columns(allLogits), probabilities ? columns(allQ) : []) : ([], [])
                    return try gathered.0.withUnsafeBufferPointer { gatheredLogits in
                        try gathered.1.withUnsafeBufferPointer { gatheredQ in
                            try targets.withUnsafeBufferPointer { allTargets in
                                try gradient.withUnsafeMutableBufferPointer { gradientBuffer in
                                    let logits =
                                        sharding.vocabParallel ? gatheredLogits : rowsOf(allLogits, width: classes)
                                    let q =
                                        sharding.vocabParallel || !probabilities
                                        ? gatheredQ : rowsOf(allQ, width: classes)
                                    let target: CrossEntropyTargetBuffer<T> =
                                        probabilities
                                        ? .probabilities(q, shape: shape)
                                        : .classIndices(rowsOf(allTargets, width: 1), shape: [localRows])
                                    let into = gradOut == nil ? nil : gradientBuffer
                                    if sharding.vocabParallel {
                                        return try engine.vocabularyParallelCrossEntropy(
                                            logits: logits, shape: shape, slice: ClassSlice(share.range, of: classes),
                                            target: target, options: options, collective: collective,
                                            gradientInto: into)
                                    }
                                    return try engine.dataParallelCrossEntropy(
                                        logits: logits, shape: shape, target: target, options: options,
                                        collective: collective, gradientInto: into, firstRow: share.range.lowerBound)
                                }
                            }
                        }
                    }
                }
            }
            if let gradOut {
                let dtype: NPYDType = T.self == Double.self ? .float64 : .float32
                // One file for all: rank 0 makes it under a name every rank is told, each writes its part.
                let tag = String(UInt64(try collective.broadcast(Double(UInt64.random(in: 0..<(1 << 52))))), radix: 16)
                if collective.rank == 0 {
                    staged.append(
                        try NPYStagedFile.stageZeros(dtype: dtype, shape: [rows, classes], to: gradOut, tag: tag))
                }
                try collective.checkpoint(failed: false)
                let file = try NPYStagedFile(sharing: gradOut, tag: tag, dtype: dtype, shape: [rows, classes])
                let size = MemoryLayout<T>.stride
                try gradient.withUnsafeBytes { bytes in
                    if sharding.dataParallel {
                        try file.write(bytes, atByte: share.range.lowerBound * classes * size)
                    } else {
                        for row in 0..<rows {
                            let rowBytes = UnsafeRawBufferPointer(
                                rebasing: bytes[(row * localClasses * size)..<((row + 1) * localClasses * size)])
                            try file.write(rowBytes, atByte: (row * classes + share.range.lowerBound) * size)
                        }
                    }
                }
            }
            var result = LossResult(
                lossShape: options.reduction == .none ? [rows] : [],
                lossDType: T.self == Double.self ? .float64 : .float32)
            result.zLoss = sharded.zLoss.scalars.map(Double.init)
            result.loss = sharded.loss.scalars.map(Double.init)
            result.rowsKept = sharded.rowsKept
            result.divisor = sharded.divisor
            // Per-row values of the data-parallel ranks are gathered to every rank by one sum (each rank
            // fills its own rows): O(N) doubles.
            func gathered(_ values: [Double]) throws -> [Double] {
                guard sharding.dataParallel else { return values }
                var all = [Double](repeating: 0, count: rows)
                for (offset, row) in share.range.enumerated() { all[row] = values[offset] }
                try collective.allReduce(&all, .sum)
                return all
            }
            if options.reduction == .none {
                result.loss = try gathered(result.loss)
                result.zLoss = try gathered(result.zLoss)
            }
            if lseOut != nil {
                result.logSumExp = Tensor(
                    shape: [rows], scalars: try gathered(sharded.logSumExp.scalars.map(Double.init)))
            }
            return result
        }
    }
#endif
