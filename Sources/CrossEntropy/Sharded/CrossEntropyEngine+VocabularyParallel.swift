import CPURowKernels
import KernelContract

extension CrossEntropyEngine {
    /// The loss of rows whose classes are split among the members of `collective` (Megatron-LM's
    /// vocabulary-parallel cross-entropy): this member holds the columns `slice` of every row, `(N,
    /// slice.range.count)`, class indices are global, class weights are given for all the classes. Each
    /// member computes its slice's `rowPartials`, the partials are merged with two all-reduces of O(N)
    /// doubles, and every member gets the whole loss and writes the gradient of its own columns into
    /// `gradientInto` (when given). Every option applies as to the full logits.
    ///
    /// Probability targets are this slice's columns of them, `(N, slice.range.count)`.
    public func vocabularyParallelCrossEntropy<T: LogitsScalar>(
        logits: UnsafeBufferPointer<T>, shape: [Int], slice: ClassSlice, target: CrossEntropyTargetBuffer<T>,
        options: CrossEntropyOptions = .init(), collective: some Collective, upstream: UpstreamGradient = .scalar(1),
        gradientInto gradient: UnsafeMutableBufferPointer<T>? = nil
    ) throws -> ShardedLoss<T> {
        let partials = try rowPartials(logits: logits, shape: shape, slice: slice, target: target, options: options)
        let clock = ContinuousClock()
        var reduced: (partials: RowPartials, bytes: Int)!
        let elapsed = try clock.measure { reduced = try partials.allReduced(over: collective) }
        var result = try crossEntropy(
            logits: logits, shape: shape, slice: slice, target: target, merged: reduced.partials, options: options,
            upstream: upstream, gradientInto: gradient)
        result.reducedBytes = reduced.bytes
        result.reduceSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return result
    }

    /// Each row's partial statistics over the classes `slice`, from logits holding only those columns
    /// (`(N, slice.range.count)`, global class indices, class weights for all the classes): what the
    /// members of a vocabulary-parallel loss merge (`RowPartials.merged(with:)`, `allReduced(over:)`).
    public func rowPartials<T: LogitsScalar>(
        logits: UnsafeBufferPointer<T>, shape: [Int], slice: ClassSlice, target: CrossEntropyTargetBuffer<T>,
        options: CrossEntropyOptions = .init()
    ) throws -> RowPartials {
        try withSliceProblem(logits: logits, shape: shape, slice: slice, target: target, options: options) {
            problem in
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
            let statistics = (0..<rows).map { merged.statistics(row: $0) }
            return try withWholeRowsProblem(local, slice: slice, target: target, options: options) { whole in
                let values = try whole.loss(keeping: .logSumExp) { results in
                    statistics.withUnsafeBufferPointer { xent_fold_rows(results, 0, $0.baseAddress, Int64(rows)) }
                }
                if let gradient {
                    try writeGivenGradient(
                        of: local.batch,
                        given: gradientCoefficients(
                            whole, merged: merged, options: options, classes: slice.classes, upstream: upstream),
                        into: gradient)
                }
                guard case .known(let kept) = whole.divisor else {
                    preconditionFailure("the targets of a sharded loss are checked before its rows run")
                }
                return ShardedLoss(
                    loss: values.loss, zLoss: values.zLoss,
                    logSumExp: Tensor(
                        shape: local.batch.layout.rowShape, scalars: values.logSumExp.map { T.Accumulator($0) }),
                    rowsKept: kept.count, divisor: options.reduction == .mean ? kept.weight : nil, reducedBytes: 0,
                    reduceSeconds: 0)
            }
        }
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
