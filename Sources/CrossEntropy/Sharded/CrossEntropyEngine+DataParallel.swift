extension CrossEntropyEngine {
    /// The loss of rows split among the members of `collective` (data parallelism): this member holds
    /// some rows with all their classes, as `crossEntropyWithGradient` takes them, and every member gets
    /// the loss of the whole batch. `mean` divides by the whole batch's divisor (its total weight of rows
    /// kept, one all-reduce of two doubles), so the gradients every member writes into `gradientInto`
    /// (when given) add up to the whole batch's — the normalisation Hugging Face fixed in 2024 with
    /// `num_items_in_batch`. For `none` the loss is this member's rows'.
    public func dataParallelCrossEntropy<T: LogitsScalar>(
        logits: UnsafeBufferPointer<T>, shape: [Int], target: CrossEntropyTargetBuffer<T>,
        options: CrossEntropyOptions = .init(), collective: some Collective, upstream: UpstreamGradient = .scalar(1),
        gradientInto gradient: UnsafeMutableBufferPointer<T>? = nil, firstRow: Int = 0
    ) throws -> ShardedLoss<T> {
        if let gradient, gradient.count != logits.count {
            throw CrossEntropyError(
                .invalidShape, "gradient buffer has \(gradient.count) elements, the logits \(logits.count)")
        }
        if case .classIndices(let indices, _) = target, shape.count >= 2 {
            let (position, _) = checkTargets(
                indices, classes: shape[1], ignoreIndex: Int64(options.ignoreIndex), weight: nil)
            if let position {
                throw targetOutOfBounds(indices, at: position, classes: shape[1], firstRow: firstRow)
            }
        }
        return try withLossProblem(logits: logits, shape: shape, target: target, options: options) { local in
            var problem = local
            guard case .known(let kept) = problem.divisor else {
                preconditionFailure("targets checked before the rows run have a known divisor")
            }
            let clock = ContinuousClock()
            var reduceSeconds = 0.0
            func allReduce(_ values: inout [Double]) throws {
                let elapsed = try clock.measure { try collective.allReduce(&values, .sum) }
                reduceSeconds += Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            }
            var counts = [Double(kept.count), kept.weight]
            try allReduce(&counts)
            let whole = KeptRows(count: Int(counts[0]), weight: counts[1])
            problem.divisor = .known(whole)
            let backend = try backend(for: T.dtype)
            let values: LossValues<T.Accumulator>
            if let gradient {
                let (scales, rowUpstream) = try problem.gradientScales(upstream: upstream)
                values = try (rowUpstream ?? []).withUnsafeBufferPointer { upstreamBuffer in
                    let output = RowOutput(
                        gradientInto: gradient, scales: scales, rowUpstream: rowUpstream == nil ? nil : upstreamBuffer)
                    return try problem.loss(keeping: .logSumExp) {
                        try backend.run(problem.batch, output: output, results: $0, logger: logger)
                    }
                }
            } else {
                values = try problem.loss(keeping: .logSumExp) {
                    try backend.run(problem.batch, output: nil, results: $0, logger: logger)
                }
            }
            var loss = values.loss
            var zLoss = values.zLoss
            var reducedBytes = counts.count * MemoryLayout<Double>.stride
            if options.reduction != .none {
                // Each member's part is already divided by the whole batch's divisor: the sum is the loss.
                var parts = [Double(values.loss.scalars[0]), Double(values.zLoss.scalars[0])]
                try allReduce(&parts)
                reducedBytes += parts.count * MemoryLayout<Double>.stride
                loss = Tensor(T.Accumulator(parts[0]))
                zLoss = Tensor(T.Accumulator(parts[1]))
            }
            return ShardedLoss(
                loss: loss, zLoss: zLoss,
                logSumExp: Tensor(
                    shape: problem.batch.layout.rowShape, scalars: values.logSumExp.map { T.Accumulator($0) }),
                rowsKept: whole.count, divisor: options.reduction == .mean ? whole.weight : nil,
                reducedBytes: reducedBytes, reduceSeconds: reduceSeconds)
        }
    }
}
