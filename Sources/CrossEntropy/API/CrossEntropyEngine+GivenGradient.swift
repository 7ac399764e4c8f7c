import CPURowKernels
import KernelContract

extension CrossEntropyEngine {
    /// The gradient of the loss with respect to the logits from each row's saved logsumexp: the backward
    /// half of a forward call that kept it (`crossEntropySummary(…, extras: .logSumExp)`, or the
    /// `logSumExp` of an earlier loss and gradient), in one pass that reads the logits and writes the
    /// gradient without computing the rows' sums again — what PyTorch's autograd does with the
    /// logsumexp it saves.
    ///
    /// `logSumExp` must be that of the same logits (after soft-capping) with the same options: it is
    /// trusted, not checked. `upstream` is as in `crossEntropyWithGradient`. For probability targets each
    /// row's target mass is summed on the host first (one read of the probabilities).
    public func crossEntropyGradient<T: LogitsScalar>(
        logits: UnsafeBufferPointer<T>, shape: [Int], target: CrossEntropyTargetBuffer<T>,
        logSumExp: UnsafeBufferPointer<T.Accumulator>, options: CrossEntropyOptions = .init(),
        upstream: UpstreamGradient = .scalar(1), gradientInto gradient: UnsafeMutableBufferPointer<T>
    ) throws {
        guard gradient.count == logits.count else {
            throw CrossEntropyError(
                .invalidShape, "gradient buffer has \(gradient.count) elements, the logits \(logits.count)")
        }
        try withLossProblem(logits: logits, shape: shape, target: target, options: options) { problem in
            let layout = problem.batch.layout
            guard logSumExp.count == layout.rows else {
                throw CrossEntropyError(
                    .invalidShape, "logSumExp has \(logSumExp.count) values for \(layout.rows) rows")
            }
            var saved = RowPartials(rows: layout.rows)
            saved.max = logSumExp.map { Double($0) }
            saved.logSum = [Double](repeating: 0, count: layout.rows)
            if let probabilities = problem.batch.probabilities {
                saved.mass = Self.targetMass(probabilities, layout: layout, options: options)
            }
            try writeGivenGradient(
                of: problem.batch,
                given: gradientCoefficients(
                    problem, merged: saved, options: options, classes: layout.classes, upstream: upstream),
                into: gradient)
        }
    }

    /// Writes the gradient of `batch`'s logits into `gradient` from each row's given logsumexp and
    /// coefficients (`gradientCoefficients`), computing no statistics.
    func writeGivenGradient<T: LogitsScalar>(
        of batch: RowBatch<T>, given: [Double], into gradient: UnsafeMutableBufferPointer<T>
    ) throws {
        try given.withUnsafeBufferPointer { given in
            var batch = batch
            batch.given = given
            var results = xent_row_results()
            _ = try backend(for: T.dtype).run(
                batch,
                output: RowOutput(gradientInto: gradient, scales: GradientScales(loss: 1, zLoss: 0), rowUpstream: nil),
                results: &results, logger: logger)
        }
    }

    /// `crossEntropyGradient(logits:shape:target:logSumExp:options:upstream:gradientInto:)` on tensors:
    /// the gradient in the logits' shape and type.
    public func crossEntropyGradient<T: LogitsScalar>(
        _ logits: Tensor<T>, target: CrossEntropyTarget<T>, logSumExp: Tensor<T.Accumulator>,
        options: CrossEntropyOptions = .init(), upstream: UpstreamGradient = .scalar(1)
    ) throws -> Tensor<T> {
        var gradient = [T](repeating: 0, count: logits.scalars.count)
        try logits.scalars.withUnsafeBufferPointer { logitsBuffer in
            try target.withBuffer { targetBuffer in
                try logSumExp.scalars.withUnsafeBufferPointer { lse in
                    try gradient.withUnsafeMutableBufferPointer { gradientBuffer in
                        try crossEntropyGradient(
                            logits: logitsBuffer, shape: logits.shape, target: targetBuffer, logSumExp: lse,
                            options: options, upstream: upstream, gradientInto: gradientBuffer)
                    }
                }
            }
        }
        return Tensor(shape: logits.shape, scalars: gradient)
    }

    /// Each row's `Σ_c w_c·((1 − ε)·p_c + ε/C)`: the total of its weighted, smoothed target probabilities.
    private static func targetMass<T: LogitsScalar>(
        _ probabilities: UnsafeBufferPointer<T>, layout: RowLayout, options: CrossEntropyOptions
    ) -> [Double] {
        let eps = options.labelSmoothing
        let classes = layout.classes
        return (0..<layout.rows).map { row in
            let base = (row / layout.inner) * classes * layout.inner + row % layout.inner
            var mass = 0.0
            for c in 0..<classes {
                let p = Double(probabilities[base + c * layout.inner])
                mass += (options.weight?[c] ?? 1) * ((1 - eps) * p + eps / Double(classes))
            }
            return mass
        }
    }

    /// Each row's logsumexp and gradient coefficients (`XENT_GIVEN_COUNT` values, see `XENT_GIVEN_MAX`),
    /// as the kernels' own `class_index_gradient` and `probability_gradient` compute them from a row's
    /// statistics: here from merged or saved ones, with `whole`'s divisor (the whole batch's).
    func gradientCoefficients<T: LogitsScalar>(
        _ whole: LossProblem<T>, merged: RowPartials, options: CrossEntropyOptions, classes: Int,
        upstream: UpstreamGradient
    ) throws -> [Double] {
        let (scales, rowUpstream) = try whole.gradientScales(upstream: upstream)
        let count = Int(XENT_GIVEN_COUNT)
        let eps = options.labelSmoothing
        let weightTotal = options.weight?.reduce(0, +) ?? Double(classes)
        var given = [Double](repeating: 0, count: count * merged.rows)
        for row in 0..<merged.rows {
            let u = rowUpstream?[row] ?? 1
            let scale = scales.loss * u
            let zScale = scales.zLoss * u
            let lse = merged.max[row] + merged.logSum[row]
            let zTerm = zScale != 0 ? zScale * lse : 0
            var (a, b, t) = (0.0, 0.0, 0.0)
            if let targets = whole.batch.targets {
                let y = targets[row]
                if y != whole.batch.ignoreIndex {
                    let wy = options.weight?[Int(y)] ?? 1
                    (a, b, t) = (
                        scale * ((1 - eps) * wy + eps * weightTotal / Double(classes)) + zTerm,
                        scale * eps / Double(classes), scale * (1 - eps) * wy
                    )
                }
            } else {
                (a, b) = (scale * merged.mass[row] + zTerm, scale)
            }
            given[count * row + Int(XENT_GIVEN_MAX)] = merged.max[row]
            given[count * row + Int(XENT_GIVEN_LOG_SUM)] = merged.logSum[row]
            given[count * row + Int(XENT_GIVEN_A)] = a
            given[count * row + Int(XENT_GIVEN_B)] = b
            given[count * row + Int(XENT_GIVEN_T)] = t
        }
        return given
    }
}
