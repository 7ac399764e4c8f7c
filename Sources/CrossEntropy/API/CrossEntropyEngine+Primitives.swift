import CPURowKernels

extension CrossEntropyEngine {
    /// `torch.logsumexp(logits, dim=1)` (dim 0 for `(C)` logits): one value per row, in the target's shape.
    public func logSumExp<T: LogitsScalar>(_ logits: Tensor<T>) throws -> Tensor<T.Accumulator> {
        try logits.scalars.withUnsafeBufferPointer { buffer in
            let layout = try RowLayout(logitsShape: logits.shape, count: buffer.count)
            var values = [Double](repeating: 0, count: layout.rows)
            try values.withUnsafeMutableBufferPointer { values in
                var results = xent_row_results(
                    rule: nil, row_losses: nil, lse: values.baseAddress, check: nil, predicted: nil, entropy: nil,
                    statistics: nil)
                _ = try backend(for: T.dtype).run(
                    RowBatch(logits: buffer, layout: layout), output: nil, results: &results, logger: logger)
            }
            return Tensor(shape: layout.rowShape, scalars: values.map { T.Accumulator($0) })
        }
    }

    /// `torch.log_softmax(logits, dim=1)`: `x − logsumexp(x)` along the class dimension, in the logits'
    /// shape and type. Applying it twice changes nothing.
    public func logSoftmax<T: LogitsScalar>(_ logits: Tensor<T>) throws -> Tensor<T> {
        try rowOutputs(logits, kind: XENT_OUTPUT_LOG_SOFTMAX)
    }

    /// `torch.softmax(logits, dim=1)`: `exp(x − logsumexp(x))` along the class dimension.
    public func softmax<T: LogitsScalar>(_ logits: Tensor<T>) throws -> Tensor<T> {
        try rowOutputs(logits, kind: XENT_OUTPUT_SOFTMAX)
    }

    /// `logits[n, target[n], …]`: each row's target logit, in the target's shape. Every target must be
    /// a class index in `0..<C`.
    public func gather<T: LogitsScalar>(_ logits: Tensor<T>, classIndices: Tensor<Int64>) throws -> Tensor<T> {
        try logits.scalars.withUnsafeBufferPointer { logitsBuffer in
            try classIndices.scalars.withUnsafeBufferPointer { targets in
                let layout = try RowLayout(logitsShape: logits.shape, count: logitsBuffer.count)
                try checkGatherIndices(targets, shape: classIndices.shape, layout: layout)
                var batch = RowBatch(logits: logitsBuffer, layout: layout)
                batch.targets = targets
                var gathered = [Double](repeating: 0, count: layout.rows)
                try gathered.withUnsafeMutableBufferPointer {
                    try backend(for: T.dtype).gather(batch, into: $0, logger: logger)
                }
                return Tensor(shape: layout.rowShape, scalars: gathered.map { T($0) })
            }
        }
    }

    /// `torch.nn.functional.nll_loss(logProbabilities, target, weight, ignore_index, reduction)`:
    /// `−weight[y]·logProbabilities[y]` per row, reduced. Label smoothing and probability targets belong
    /// to `crossEntropy` and are refused here.
    public func nllLoss<T: LogitsScalar>(
        _ logProbabilities: Tensor<T>, target: CrossEntropyTarget<T>, options: CrossEntropyOptions = .init()
    ) throws -> Tensor<T.Accumulator> {
        try checkNLLOptions(target: target, options: options)
        return try logProbabilities.scalars.withUnsafeBufferPointer { logits in
            try target.withBuffer { targetBuffer in
                try withLossProblem(
                    logits: logits, shape: logProbabilities.shape, target: targetBuffer, options: options
                ) { problem in
                    var gathered = [Double](repeating: 0, count: problem.batch.layout.rows)
                    try gathered.withUnsafeMutableBufferPointer {
                        try backend(for: T.dtype).gather(problem.batch, into: $0, logger: logger)
                    }
                    return try problem.nllLoss(gathered: gathered)
                }
            }
        }
    }

    /// Refuses what `nll_loss` does not take: probability targets, label smoothing, z-loss, soft-capping.
    func checkNLLOptions<T: LogitsScalar>(target: CrossEntropyTarget<T>, options: CrossEntropyOptions) throws {
        if case .probabilities = target {
            throw CrossEntropyError(.invalidOption, "nll_loss takes class-index targets, not probabilities")
        }
        guard options.labelSmoothing == 0 else {
            throw CrossEntropyError(.invalidOption, "nll_loss has no label smoothing; use crossEntropy")
        }
        guard options.zLossScale == 0 else {
            throw CrossEntropyError(.invalidOption, "nll_loss has no z-loss; use crossEntropy")
        }
        guard options.softcap == nil else {
            throw CrossEntropyError(.invalidOption, "nll_loss has no soft-capping; use crossEntropy")
        }
    }

    /// Checks `gather`'s class indices: the rows' shape, and every index in `0..<C`.
    func checkGatherIndices(_ targets: UnsafeBufferPointer<Int64>, shape: [Int], layout: RowLayout) throws {
        try checkTargetShape(shape, count: targets.count, layout: layout)
        for (position, y) in targets.enumerated() where !(0..<Int64(layout.classes)).contains(y) {
            throw CrossEntropyError(
                .targetOutOfBounds,
                "index \(y) is out of bounds for \(layout.classes) classes (target index \(position))")
        }
    }

    private func rowOutputs<T: LogitsScalar>(_ logits: Tensor<T>, kind: xent_output_kind) throws -> Tensor<T> {
        var result = [T](repeating: 0, count: logits.scalars.count)
        try logits.scalars.withUnsafeBufferPointer { buffer in
            let layout = try RowLayout(logitsShape: logits.shape, count: buffer.count)
            try result.withUnsafeMutableBufferPointer { destination in
                var results = xent_row_results(
                    rule: nil, row_losses: nil, lse: nil, check: nil, predicted: nil, entropy: nil,
                    statistics: nil)
                _ = try backend(for: T.dtype).run(
                    RowBatch(logits: buffer, layout: layout), output: RowOutput(destination: destination, kind: kind),
                    results: &results, logger: logger)
            }
        }
        return Tensor(shape: logits.shape, scalars: result)
    }
}
