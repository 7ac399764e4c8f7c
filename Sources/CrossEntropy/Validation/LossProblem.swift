import CPURowKernels

/// The rows whose class-index target is not ignored (every row, for probability targets).
struct KeptRows: Equatable {
    /// How many: what `mean` divides the z-loss by.
    var count: Int
    /// Their total weight (`count` without class weights): what `mean` divides the cross-entropy by.
    var weight: Double
}

/// What `mean` divides by.
enum Divisor: Equatable {
    /// Known before the rows run.
    case known(KeptRows)
    /// Counted as the rows are folded, which checks the targets in the same step (class-index targets
    /// without weights: see `withLossProblem`).
    case countedWhileFolding
}

/// The loss of a call, with its z-loss part and what `mean` divided by.
struct LossValues<Accumulator: LogitsScalar> {
    /// The loss, z-loss included: a scalar for `mean` and `sum`, one value per row for `none`.
    var loss: Tensor<Accumulator>
    /// The z-loss part, shaped as `loss` (zero without a z-loss).
    var zLoss: Tensor<Accumulator>
    /// Each row's logsumexp, when it was asked for (else empty).
    var logSumExp: [Double]
    /// Each row's predicted class (-1 for an ignored row), when it was asked for (else empty).
    var predicted: [Int64]
    /// The fraction of the rows kept whose predicted class is their target: with the predicted classes
    /// of class-index targets (NaN when no row is kept), else `nil`.
    var tokenAccuracy: Double?
    /// Each row's entropy, when it was asked for (else empty).
    var entropy: [Double]
    /// The rows not ignored.
    var kept: KeptRows
}

/// A validated loss call: the batch the backends run and what the host needs to finish the loss.
struct LossProblem<T: LogitsScalar> {
    var batch: RowBatch<T>
    var reduction: LossReduction
    /// Per-class weights at full precision, or `nil` for all ones.
    var weight: [Double]?
    /// What `mean` divides by.
    var divisor: Divisor
    /// The z-loss's scale (0: none).
    var zLossScale: Double

    /// The loss's shape: the target's for `none` (a scalar for unbatched logits), else a scalar.
    var lossShape: [Int] { reduction == .none ? batch.layout.rowShape : [] }

    /// Calls `body` with the C loss formula of this call (valid only inside `body`).
    func withLossRule<R>(_ body: (UnsafePointer<xent_loss_rule>) throws -> R) rethrows -> R {
        try withUnsafeDoubles(weight) { weightPointer in
            var rule = xent_loss_rule(
                targets: batch.targets?.baseAddress, weight: weightPointer, ignore_index: batch.ignoreIndex,
                label_smoothing: batch.labelSmoothing, classes: Int64(batch.layout.classes))
            return try body(&rule)
        }
    }

    /// The loss of rows whose statistics `fold` turns into row results (on a backend, or with
    /// `xent_fold_rows`): `fold` gets where they go and returns the sum of the row losses. Returns the
    /// loss in the loss's shape, its z-loss part, and the per-row results `extras` asks for (the
    /// predicted classes and entropies only from runs without outputs). Throws for a target out of
    /// bounds when the targets are checked while folding.
    ///
    /// The z-loss needs only each row's logsumexp, which the fold gives: it is added here, O(rows), as
    /// the token accuracy is counted from the predicted classes.
    ///
    /// With `statistics` (one per row), each row's statistics are kept there too.
    func loss(
        keeping extras: LossExtras = [], statistics: UnsafeMutablePointer<xent_row_stat>? = nil,
        _ fold: (UnsafePointer<xent_row_results>) throws -> Double
    ) throws -> LossValues<T.Accumulator> {
        let rows = batch.layout.rows
        var rowLosses = [Double](repeating: 0, count: reduction == .none ? rows : 0)
        var logSumExp = [Double](repeating: 0, count: extras.contains(.logSumExp) || zLossScale != 0 ? rows : 0)
        var predicted = [Int64](repeating: 0, count: extras.contains(.predictedClasses) ? rows : 0)
        var entropy = [Double](repeating: 0, count: extras.contains(.entropy) ? rows : 0)
        var check = xent_target_check(first_bad: -1, kept: 0)
        let sum = try withLossRule { rule in
            try rowLosses.withUnsafeMutableBufferPointer { rowLosses in
                try logSumExp.withUnsafeMutableBufferPointer { logSumExp in
                    try predicted.withUnsafeMutableBufferPointer { predicted in
                        try entropy.withUnsafeMutableBufferPointer { entropy in
                            try withUnsafeMutablePointer(to: &check) { check in
                                // An empty array may still have an address: results not kept get none.
                                var results = xent_row_results(
                                    rule: rule, row_losses: rowLosses.isEmpty ? nil : rowLosses.baseAddress,
                                    lse: logSumExp.isEmpty ? nil : logSumExp.baseAddress,
                                    check: divisor == .countedWhileFolding ? check : nil,
                                    predicted: predicted.isEmpty ? nil : predicted.baseAddress,
                                    entropy: entropy.isEmpty ? nil : entropy.baseAddress, statistics: statistics)
                                return try fold(&results)
                            }
                        }
                    }
                }
            }
        }
        let kept: KeptRows
        switch divisor {
        case .known(let known):
            kept = known
        case .countedWhileFolding:
            if check.first_bad >= 0, let targets = batch.targets {
                throw targetOutOfBounds(targets, at: Int(check.first_bad), classes: batch.layout.classes)
            }
            kept = KeptRows(count: Int(check.kept), weight: Double(check.kept))
        }
        let rowZLosses = zLossScale == 0 ? [] : rowZLosses(logSumExp)
        let zSum = rowZLosses.reduce(0, +)
        let losses: [Double]
        let zLosses: [Double]
        switch reduction {
        case .none:
            zLosses = rowZLosses.isEmpty ? [Double](repeating: 0, count: rows) : rowZLosses
            losses = rowZLosses.isEmpty ? rowLosses : zip(rowLosses, rowZLosses).map(+)
        case .sum:
            zLosses = [zSum]
            losses = [sum + zSum]
        case .mean:
            // With no row kept both parts are 0/0, NaN, as PyTorch's mean over nothing.
            zLosses = [zSum / Double(kept.count)]
            losses = [zLossScale == 0 ? sum / kept.weight : sum / kept.weight + zLosses[0]]
        }
        var tokenAccuracy: Double?
        if extras.contains(.predictedClasses), let targets = batch.targets {
            var correct = 0
            for row in 0..<rows {
                if targets[row] == batch.ignoreIndex {
                    predicted[row] = -1
                } else if predicted[row] == targets[row] {
                    correct += 1
                }
            }
            tokenAccuracy = Double(correct) / Double(kept.count)
        }
        return LossValues(
            loss: Tensor(shape: lossShape, scalars: losses.map { T.Accumulator($0) }),
            zLoss: Tensor(shape: lossShape, scalars: zLosses.map { T.Accumulator($0) }),
            logSumExp: extras.contains(.logSumExp) ? logSumExp : [], predicted: predicted,
            tokenAccuracy: tokenAccuracy, entropy: entropy, kept: kept)
    }

    /// `nll_loss` of these rows from each row's `gathered` log-probability: with lse = 0 the
    /// cross-entropy row loss is exactly NLL's `−w[y]·lp[y]`.
    func nllLoss(gathered: [Double]) throws -> Tensor<T.Accumulator> {
        let statistics = gathered.map {
            xent_row_stat(lse: 0, max: 0, log_sum: 0, target_logit: $0, smooth: 0, mass: 0)
        }
        return try loss { xent_fold_rows($0, 0, statistics, Int64(statistics.count)) }.loss
    }

    /// Each row's z-loss, `zLossScale · lse²`, 0 for an ignored row.
    private func rowZLosses(_ logSumExp: [Double]) -> [Double] {
        guard let targets = batch.targets else { return logSumExp.map { zLossScale * $0 * $0 } }
        let ignoreIndex = batch.ignoreIndex
        return logSumExp.indices.map { row in
            targets[row] == ignoreIndex ? 0 : zLossScale * logSumExp[row] * logSumExp[row]
        }
    }

    /// The factors every row's gradient is multiplied by, and the per-row factors for `none`.
    func gradientScales(upstream: UpstreamGradient) throws -> (scales: GradientScales, rows: [Double]?) {
        guard case .known(let kept) = divisor else {
            preconditionFailure("a gradient needs its targets checked and its divisor known before the rows run")
        }
        let z = 2 * zLossScale
        switch (reduction, upstream) {
        case (.mean, .scalar(let g)):
            return (GradientScales(loss: g / kept.weight, zLoss: z == 0 ? 0 : z * g / Double(kept.count)), nil)
        case (.sum, .scalar(let g)), (.none, .scalar(let g)):
            return (GradientScales(loss: g, zLoss: z * g), nil)
        case (.none, .elements(let values)):
            guard values.count == batch.layout.rows else {
                throw CrossEntropyError(
                    .invalidShape,
                    "upstream gradient has \(values.count) elements but the loss has \(batch.layout.rows)")
            }
            return (GradientScales(loss: 1, zLoss: z), values)
        case (_, .elements):
            throw CrossEntropyError(
                .invalidOption,
                "upstream gradient of reduction '\(reduction)' must be a scalar, not one value per element")
        }
    }
}

/// Validates a loss call as PyTorch does (with its messages where it has good ones) and calls `body`
/// with the problem. Checks run in PyTorch's order: options, shapes, weights, then target values.
///
/// With `checkingTargetsWhileFolding`, class-index targets without weights are checked as the rows
/// are folded (`LossProblem.loss` throws for a bad one) instead of in a pass of their own: for a
/// forward loss, which writes nothing a bad target could leave half-done. Their gather is safe
/// either way; weights are gathered by target, so weighted targets are always checked first.
///
/// `deviceCount` is the logits' count when they are in a device buffer (`logits` then empty).
func withLossProblem<T: LogitsScalar, R>(
    logits: UnsafeBufferPointer<T>, deviceCount: Int? = nil, shape: [Int], target: CrossEntropyTargetBuffer<T>,
    options: CrossEntropyOptions, checkingTargetsWhileFolding: Bool = false, _ body: (LossProblem<T>) throws -> R
) throws -> R {
    try options.validate()
    let layout = try RowLayout(logitsShape: shape, count: deviceCount ?? logits.count)
    if let weight = options.weight, weight.count != layout.classes {
        throw CrossEntropyError(
            .invalidShape,
            "weight tensor should be defined either for all \(layout.classes) classes or no classes but got weight tensor of shape: [\(weight.count)]"
        )
    }
    var batch = RowBatch(logits: logits, layout: layout)
    batch.weight = options.weight?.map { T.Accumulator($0) }
    batch.weightTotal = options.weight?.reduce(0, +) ?? Double(layout.classes)
    batch.labelSmoothing = options.labelSmoothing
    batch.softcap = options.softcap ?? 0
    var problem = LossProblem(
        batch: batch, reduction: options.reduction, weight: options.weight,
        divisor: .known(KeptRows(count: layout.rows, weight: Double(layout.rows))), zLossScale: options.zLossScale)

    switch target {
    case .probabilities(let probabilities, let targetShape):
        guard options.ignoreIndex == -100 else {
            throw CrossEntropyError(
                .invalidOption,
                "ignore_index is not supported for probability targets (got \(options.ignoreIndex); it must stay -100)")
        }
        guard targetShape == shape, probabilities.count == layout.elements(of: 0..<layout.outer).count else {
            throw CrossEntropyError(
                .invalidShape, "probability targets must have the logits' shape \(shape), got \(targetShape)")
        }
        problem.batch.probabilities = probabilities
        problem.batch.accumulateSmooth = true
        return try body(problem)
    case .classIndices(let indices, let targetShape):
        return try withCheckedIndices(
            indices, shape: targetShape, problem: problem, options: options,
            whileFolding: checkingTargetsWhileFolding, body)
    case .classIndices32(let indices32, let targetShape):
        let indices = indices32.map(Int64.init)
        return try indices.withUnsafeBufferPointer {
            try withCheckedIndices(
                $0, shape: targetShape, problem: problem, options: options,
                whileFolding: checkingTargetsWhileFolding, body)
        }
    }
}

/// Calls `body` with class-index targets in the problem, checked now, or while folding when asked
/// `whileFolding` and there are no weights.
private func withCheckedIndices<T: LogitsScalar, R>(
    _ indices: UnsafeBufferPointer<Int64>, shape targetShape: [Int], problem: LossProblem<T>,
    options: CrossEntropyOptions, whileFolding: Bool, _ body: (LossProblem<T>) throws -> R
) throws -> R {
    var problem = problem
    let layout = problem.batch.layout
    try checkTargetShape(targetShape, count: indices.count, layout: layout)
    let ignoreIndex = Int64(options.ignoreIndex)
    if whileFolding && options.weight == nil {
        problem.divisor = .countedWhileFolding
    } else {
        let (position, kept) = withUnsafeDoubles(options.weight) { weight in
            checkTargets(indices, classes: layout.classes, ignoreIndex: ignoreIndex, weight: weight)
        }
        if let position {
            throw targetOutOfBounds(indices, at: position, classes: layout.classes)
        }
        problem.divisor = .known(kept)
    }
    problem.batch.targets = indices
    problem.batch.ignoreIndex = ignoreIndex
    problem.batch.accumulateSmooth = options.labelSmoothing > 0
    return try body(problem)
}

/// Calls `body` with the address of `values`, or NULL for `nil`.
func withUnsafeDoubles<R>(_ values: [Double]?, _ body: (UnsafePointer<Double>?) throws -> R) rethrows -> R {
    guard let values else { return try body(nil) }
    return try values.withUnsafeBufferPointer { try body($0.baseAddress) }
}
