import CPURowKernels
import KernelContract

extension CrossEntropyEngine {
    /// The loss of rows whose classes are split among the members of `collective` (Megatron-LM's
    /// vocabulary-parallel cross-entropy): this member holds the columns `slice` of every row, `(N,
    /// slice.range.count)`, class indices are global, class weights are given for all the classes. Each
    /// member computes its slice's `rowPartials`, the partials are merged with an all-gather of five
    /// doubles a row (`RowPartials.allReduced(over:)`), and every member gets the whole loss and writes
    /// the gradient of its own columns into `gradientInto` (when given). Every option applies as to the
    /// full logits.
    ///
    /// On the CPU fallback, a gradient of logits that are not soft-capped is computed in blocks of rows
    /// whose exps stay in cache between the partials and the gradient (one all-gather per block): one read
    /// of the logits and one exp per element, as a single process's fused loss and gradient.
    ///
    /// Probability targets are this slice's columns of them, `(N, slice.range.count)`.
    public func vocabularyParallelCrossEntropy<T: LogitsScalar>(
        logits: UnsafeBufferPointer<T>, shape: [Int], slice: ClassSlice, target: CrossEntropyTargetBuffer<T>,
        options: CrossEntropyOptions = .init(), collective: some Collective, upstream: UpstreamGradient = .scalar(1),
        gradientInto gradient: UnsafeMutableBufferPointer<T>? = nil
    ) throws -> ShardedLoss<T> {
        // Every member takes the same path with the same blocks (a member alone would wait forever in
        // collectives the others never run): the fewest rows a block that any member keeps exps for, 0
        // where one cannot (no gradient, soft-capping, in place, no classes, a backend that keeps none),
        // and the members' row counts, which must agree.
        let rows = shape.first ?? 0
        var blockRows = 0
        if let gradient, options.softcap == nil, shape.count == 2, rows > 0, shape[1] > 0,
            UnsafeRawPointer(gradient.baseAddress) != UnsafeRawPointer(logits.baseAddress),
            let blockBytes = try backend(for: T.dtype).keptExpsBlockBytes
        {
            blockRows = min(rows, max(1, blockBytes / (shape[1] * MemoryLayout<T.Accumulator>.stride)))
        }
        var agreed = [-Double(blockRows), Double(rows), -Double(rows)]
        try collective.allReduce(&agreed, .max)
        guard agreed[1] == -agreed[2] else {
            throw CrossEntropyError(
                .invalidShape,
                "the members of a vocabulary-parallel loss disagree on the rows: from \(Int(-agreed[2])) to \(Int(agreed[1]))"
            )
        }
        if agreed[0] < 0, let gradient {
            return try blockedVocabularyParallelCrossEntropy(
                logits: logits, shape: shape, slice: slice, target: target, options: options, collective: collective,
                upstream: upstream, gradientInto: gradient, blockRows: Int(-agreed[0]))
        }
        let partials = try rowPartials(logits: logits, shape: shape, slice: slice, target: target, options: options)
        var reduced: (partials: RowPartials, bytes: Int)!
        let seconds = try Self.seconds { reduced = try partials.allReduced(over: collective) }
        var result = try crossEntropy(
            logits: logits, shape: shape, slice: slice, target: target, merged: reduced.partials, options: options,
            upstream: upstream, gradientInto: gradient)
        result.reducedBytes = reduced.bytes
        result.reduceSeconds = seconds
        return result
    }

    /// The vocabulary-parallel loss and gradient in blocks of rows whose exps stay in the cores' caches
    /// from the partials pass to the gradient pass (blocks of `blockRows` rows, agreed by the members):
    /// each block's partials are computed keeping `exp(x − max)` of this member's columns,
    /// their merge started (`Collective.startAllGather`) and finished a block later, so that the members'
    /// jitter within a block costs no wait, and the block's gradient written from the kept exps, rescaled
    /// to the merged logsumexp — with class-index targets, streamed out while the partials of the block
    /// after next are computed (`RowBatch.pendingGradient`). The logits are read once and the gradient
    /// written once, with one exp per element, as a single process's fused loss and gradient does.
    private func blockedVocabularyParallelCrossEntropy<T: LogitsScalar>(
        logits: UnsafeBufferPointer<T>, shape: [Int], slice: ClassSlice, target: CrossEntropyTargetBuffer<T>,
        options: CrossEntropyOptions, collective: some Collective, upstream: UpstreamGradient,
        gradientInto gradient: UnsafeMutableBufferPointer<T>, blockRows: Int
    ) throws -> ShardedLoss<T> {
        guard gradient.count == logits.count else {
            throw CrossEntropyError(
                .invalidShape, "gradient buffer has \(gradient.count) elements, the logits \(logits.count)")
        }
        return try withSliceProblem(logits: logits, shape: shape, slice: slice, target: target, options: options) {
            local in
            try withWholeRowsProblem(local, slice: slice, target: target, options: options) { whole in
                _ = try whole.gradientScales(upstream: upstream)  // refuses a bad upstream before any work
                let rows = local.batch.layout.rows
                let classes = local.batch.layout.classes
                // Class indices compare as the accumulation type in the interleaved kernel. Its three
                // blocks of exps: one being written, one being merged, one whose gradient is written.
                let interleaved = local.batch.probabilities == nil && classes < 1 << 24
                let buffers = interleaved ? 3 : 1
                var kept = [T.Accumulator](repeating: 0, count: buffers * blockRows * classes)
                var merged = RowPartials(rows: rows)
                var (bytes, seconds) = (0, 0.0)
                try kept.withUnsafeMutableBufferPointer { kept in
                    // The block whose merge was started last, and the one whose gradient is to be written.
                    var merging:
                        (
                            range: Range<Int>, exps: UnsafeBufferPointer<T.Accumulator>, localMax: [Double],
                            merge: RowPartials.StartedAllReduce
                        )?
                    var writing: KeptBlock<T.Accumulator>?
                    // Finishes the block being merged: its partials into `merged`, its gradient's block.
                    func finishMerging() throws -> KeptBlock<T.Accumulator>? {
                        guard let block = merging else { return nil }
                        merging = nil
                        var reduced: (partials: RowPartials, bytes: Int)!
                        seconds += try Self.seconds { reduced = try block.merge.finish() }
                        bytes += reduced.bytes
                        merged.replace(rows: block.range, with: reduced.partials)
                        return try KeptBlock(
                            range: block.range, exps: block.exps, localMax: block.localMax,
                            given: gradientCoefficients(
                                whole.rows(block.range), merged: reduced.partials, options: options,
                                classes: slice.classes, upstream: upstream.rows(block.range)))
                    }
                    for (index, start) in stride(from: 0, to: rows, by: blockRows).enumerated() {
                        let range = start..<min(rows, start + blockRows)
                        let first = index % buffers * blockRows * classes
                        let exps = UnsafeMutableBufferPointer(rebasing: kept[first..<first + range.count * classes])
                        var block = local.rows(range)
                        block.batch.keptExps = exps
                        let partials = try writing.withGradient(of: local, into: gradient, beside: range.count) {
                            block.batch.pendingGradient = $0
                            return try rowPartials(of: block)
                        }
                        try writing?.finish(of: local, into: gradient, from: range.count, engine: self)
                        var merge: RowPartials.StartedAllReduce!
                        seconds += try Self.seconds { merge = try partials.startAllReduced(over: collective) }
                        // The last block's merge has had this block's time to complete: its gradient is
                        // written beside the next block's partials.
                        writing = try finishMerging()
                        merging = (range, UnsafeBufferPointer(exps), partials.max, merge)
                        if !interleaved {
                            try finishMerging()?.finish(of: local, into: gradient, from: 0, engine: self)
                        }
                    }
                    try writing?.finish(of: local, into: gradient, from: 0, engine: self)
                    try finishMerging()?.finish(of: local, into: gradient, from: 0, engine: self)
                }
                var result = try shardedLoss(local: local, whole: whole, merged: merged, options: options)
                result.reducedBytes = bytes
                result.reduceSeconds = seconds
                return result
            }
        }
    }

    /// The seconds `body` takes.
    private static func seconds(_ body: () throws -> Void) throws -> Double {
        let elapsed = try ContinuousClock().measure(body)
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    /// Each row's partial statistics over the classes `slice`, from logits holding only those columns
    /// (`(N, slice.range.count)`, global class indices, class weights for all the classes): what the
    /// members of a vocabulary-parallel loss merge (`RowPartials.merged(with:)`, `allReduced(over:)`).
    public func rowPartials<T: LogitsScalar>(
        logits: UnsafeBufferPointer<T>, shape: [Int], slice: ClassSlice, target: CrossEntropyTargetBuffer<T>,
        options: CrossEntropyOptions = .init()
    ) throws -> RowPartials {
        try withSliceProblem(logits: logits, shape: shape, slice: slice, target: target, options: options) {
            try rowPartials(of: $0)
        }
    }

    /// The partials of the rows of a slice's problem (keeping their exps where its batch says so).
    private func rowPartials<T: LogitsScalar>(of problem: LossProblem<T>) throws -> RowPartials {
        let rows = problem.batch.layout.rows
        var statistics = [xent_row_stat](repeating: xent_row_stat(), count: rows)
        let backend = try backend(for: T.dtype)
        _ = try statistics.withUnsafeMutableBufferPointer { statistics in
            try problem.loss(statistics: statistics.baseAddress) {
                try backend.run(problem.batch, output: nil, results: $0, logger: logger)
            }
        }
        var partials = RowPartials(rows: rows)
        for row in 0..<rows {
            partials.set(row: row, from: statistics[row])
        }
        return partials
    }

    /// The loss of whole rows from their partials merged over all the classes, and the gradient of the
    /// columns `slice` (this member's logits) written into `gradientInto` when given: the last step of a
    /// vocabulary-parallel loss, with no communication (`reducedBytes` 0).
    public func crossEntropy<T: LogitsScalar>(
        logits: UnsafeBufferPointer<T>, shape: [Int], slice: ClassSlice, target: CrossEntropyTargetBuffer<T>,
        merged: RowPartials, options: CrossEntropyOptions = .init(), upstream: UpstreamGradient = .scalar(1),
        gradientInto gradient: UnsafeMutableBufferPointer<T>? = nil
    ) throws -> ShardedLoss<T> {
        if let gradient, gradient.count != logits.count {
            throw CrossEntropyError(
                .invalidShape, "gradient buffer has \(gradient.count) elements, the logits \(logits.count)")
        }
        return try withSliceProblem(logits: logits, shape: shape, slice: slice, target: target, options: options) {
            local in
            let rows = local.batch.layout.rows
            guard merged.rows == rows else {
                throw CrossEntropyError(.invalidShape, "merged partials of \(merged.rows) rows for \(rows) rows")
            }
            return try withWholeRowsProblem(local, slice: slice, target: target, options: options) { whole in
                let result = try shardedLoss(local: local, whole: whole, merged: merged, options: options)
                if let gradient {
                    try writeGivenGradient(
                        of: local.batch,
                        given: gradientCoefficients(
                            whole, merged: merged, options: options, classes: slice.classes, upstream: upstream),
                        into: gradient)
                }
                return result
            }
        }
    }

    /// The loss of whole rows from their merged partials (`whole` folds them), with no communication
    /// (`reducedBytes` 0).
    private func shardedLoss<T: LogitsScalar>(
        local: LossProblem<T>, whole: LossProblem<T>, merged: RowPartials, options: CrossEntropyOptions
    ) throws -> ShardedLoss<T> {
        let statistics = (0..<merged.rows).map { merged.statistics(row: $0) }
        let values = try whole.loss(keeping: .logSumExp) { results in
            statistics.withUnsafeBufferPointer { xent_fold_rows(results, 0, $0.baseAddress, Int64(merged.rows)) }
        }
        guard case .known(let kept) = whole.divisor else {
            preconditionFailure("the targets of a sharded loss are checked before its rows run")
        }
        return ShardedLoss(
            loss: values.loss, zLoss: values.zLoss,
            logSumExp: Tensor(shape: local.batch.layout.rowShape, scalars: values.logSumExp.map { T.Accumulator($0) }),
            rowsKept: kept.count, divisor: options.reduction == .mean ? kept.weight : nil, reducedBytes: 0,
            reduceSeconds: 0)
    }

    /// The problem of this member's columns: its logits, its slice of the class weights, class indices
    /// made local (a target outside the slice, or ignored, becomes `Int64.min`, the local ignore index:
    /// its row's statistics are computed all the same, with no target logit), the smoothing's `C` the
    /// whole class count; no z-loss (it is the whole row's, added when the merged statistics are folded).
    private func withSliceProblem<T: LogitsScalar, R>(
        logits: UnsafeBufferPointer<T>, shape: [Int], slice: ClassSlice, target: CrossEntropyTargetBuffer<T>,
        options: CrossEntropyOptions, _ body: (LossProblem<T>) throws -> R
    ) throws -> R {
        guard shape.count == 2, shape[1] == slice.range.count else {
            throw CrossEntropyError(
                .invalidShape, "the logits of \(slice) must have shape (N, \(slice.range.count)), got \(shape)")
        }
        if let weight = options.weight, weight.count != slice.classes {
            throw CrossEntropyError(
                .invalidShape,
                "weight tensor should be defined either for all \(slice.classes) classes or no classes but got weight tensor of shape: [\(weight.count)]"
            )
        }
        var local = options
        local.weight = options.weight.map { Array($0[slice.range]) }
        local.zLossScale = 0
        func run(_ problem: LossProblem<T>) throws -> R {
            var problem = problem
            problem.batch.smoothingClasses = slice.classes
            problem.batch.weightTotal = options.weight?.reduce(0, +) ?? Double(slice.classes)
            return try body(problem)
        }
        func runLocal(_ global: UnsafeBufferPointer<Int64>, shape targetShape: [Int]) throws -> R {
            let ignoreIndex = Int64(options.ignoreIndex)
            if targetShape == [shape[0]] {
                let (position, _) = checkTargets(global, classes: slice.classes, ignoreIndex: ignoreIndex, weight: nil)
                if let position { throw targetOutOfBounds(global, at: position, classes: slice.classes) }
            }
            let first = Int64(slice.range.lowerBound)
            let count = Int64(slice.range.count)
            let localTargets = global.map { y in
                y != ignoreIndex && y >= first && y - first < count ? y - first : Int64.min
            }
            local.ignoreIndex = Int(Int64.min)
            return try localTargets.withUnsafeBufferPointer {
                try withLossProblem(
                    logits: logits, shape: shape, target: .classIndices($0, shape: targetShape), options: local, run)
            }
        }
        switch target {
        case .classIndices(let indices, let targetShape):
            return try runLocal(indices, shape: targetShape)
        case .classIndices32(let indices32, let targetShape):
            return try indices32.map(Int64.init).withUnsafeBufferPointer { try runLocal($0, shape: targetShape) }
        case .probabilities:
            return try withLossProblem(logits: logits, shape: shape, target: target, options: local, run)
        }
    }

    /// The problem whose fold turns merged statistics into the loss of whole rows: the global class
    /// indices, weights and class count (for probability targets, `local` with the z-loss back).
    private func withWholeRowsProblem<T: LogitsScalar, R>(
        _ local: LossProblem<T>, slice: ClassSlice, target: CrossEntropyTargetBuffer<T>,
        options: CrossEntropyOptions, _ body: (LossProblem<T>) throws -> R
    ) throws -> R {
        let rows = local.batch.layout.rows
        func run(_ indices: UnsafeBufferPointer<Int64>) throws -> R {
            try withLossProblem(
                logits: UnsafeBufferPointer(start: nil, count: 0), deviceCount: rows * slice.classes,
                shape: [rows, slice.classes], target: .classIndices(indices, shape: [rows]), options: options, body)
        }
        switch target {
        case .classIndices(let indices, _):
            return try run(indices)
        case .classIndices32(let indices32, _):
            return try indices32.map(Int64.init).withUnsafeBufferPointer(run)
        case .probabilities:
            var whole = local
            whole.zLossScale = options.zLossScale
            whole.weight = options.weight
            return try body(whole)
        }
    }
}
