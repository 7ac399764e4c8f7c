import CrossEntropy
import Foundation

/// A plain float64 cross-entropy computed as PyTorch computes it, step by step, independent of the
/// library's kernels: the reference the backends are checked against. Special values follow PyTorch's
/// rules by plain IEEE arithmetic:
///
/// - `log_softmax` of a row is `(x − max) − log Σ exp(x − max)`, and NaN everywhere when the row holds a NaN
///   or has no finite maximum (+inf gives inf − inf, a row of −inf gives −inf + inf). Keeping `x − max` apart
///   from the log-sum keeps a row of ties at ±1e30 exact, where `max + log Σ` would round the log-sum away.
/// - `logsumexp` of a row is `max + log Σ exp(x − max)`: NaN with a NaN, +inf with +inf, −inf for a row
///   of −inf.
/// - The loss is `−w_y·lp_y`, with smoothing `(1 − ε)·(−w_y·lp_y) + ε/C·(−Σ_c w_c·lp_c)`; with probabilities
///   `−Σ_c lp_c·q'_c·w_c` with `q' = (1 − ε)·q + ε/C`. So −inf at the target is +inf, −inf elsewhere is harmless
///   without smoothing and +inf with it, and a zero weight (or probability) meeting −inf is NaN.
/// - Ignored rows contribute 0 and are not counted; `mean` divides by the kept rows' total weight (by the
///   row count for probabilities), so a mean over nothing is 0/0 = NaN.
/// - Soft-capping reads every logit as `s·tanh(x / s)`; the gradient carries `1 − tanh²(x / s)`.
/// - The z-loss adds `z·lse²` for each kept row; `mean` divides the z-loss part by the number of kept
///   rows, not by their weight (Liger Kernel's rule). Its gradient is `2·z·lse·softmax`.
/// - The gradient is PyTorch's backward: `g = d loss / d lp`, then `g − exp(lp)·Σ g`. One documented
///   difference: the library zeroes an ignored row's gradient (`CrossEntropyOptions.ignoreIndex`), where
///   PyTorch's log_softmax backward gives `0 − exp(NaN)·0 = NaN` for an ignored row whose log-softmax is NaN.
///
/// Each row's maximum and log-sum are computed once, so a row costs O(C) and rows of thousands of
/// classes are cheap.
struct Reference {
    var shape: [Int]
    var logits: [Double]
    var targets: [Int64]?
    var probabilities: [Double]?
    var options = CrossEntropyOptions()

    var classes: Int { shape.count == 1 ? shape[0] : shape[1] }
    var outer: Int { shape.count == 1 ? 1 : shape[0] }
    var inner: Int { shape.count <= 2 ? 1 : shape.dropFirst(2).reduce(1, *) }
    var rows: Int { outer * inner }
    /// The shape of per-row values: the loss for `none`, the targets, the logsumexp.
    var rowShape: [Int] { shape.count == 1 ? [] : [shape[0]] + shape.dropFirst(2) }

    func index(row: Int, clazz: Int) -> Int {
        (row / inner) * classes * inner + clazz * inner + row % inner
    }

    func weight(_ c: Int) -> Double { options.weight?[c] ?? 1 }

    /// One row of `values` (laid out like the logits).
    private func rowValues(_ values: [Double], row: Int) -> [Double] {
        let classes = classes
        let inner = inner
        let base = (row / inner) * classes * inner + row % inner
        var result = [Double]()
        result.reserveCapacity(classes)
        for clazz in 0..<classes {
            result.append(values[base + clazz * inner])
        }
        return result
    }

    /// One row of the logits as the loss reads them: soft-capped, `s·tanh(x / s)`, with a `softcap` s.
    func cappedRow(_ row: Int) -> [Double] {
        let x = rowValues(logits, row: row)
        guard let s = options.softcap else { return x }
        return x.map { s * tanh($0 / s) }
    }

    /// A row's maximum and `log Σ exp(x − max)`, computed once; `nil` when the row holds a NaN.
    private func statistics(_ x: [Double]) -> (max: Double, logSum: Double)? {
        if x.contains(where: \.isNaN) { return nil }
        guard let m = x.max() else { return (-.infinity, -.infinity) }
        guard m.isFinite else { return (m, .nan) }
        var sum = 0.0
        for value in x {
            sum += exp(value - m)
        }
        return (m, log(sum))
    }

    /// `torch.logsumexp` of one row: NaN with a NaN, +inf with +inf, −inf for a row of −inf.
    func logSumExp(row: Int) -> Double {
        guard let (m, logSum) = statistics(cappedRow(row)) else { return .nan }
        return m.isInfinite ? m : m + logSum
    }

    /// `torch.log_softmax` of one row: `(x − max) − log Σ`.
    func logSoftmax(row: Int) -> [Double] {
        let x = cappedRow(row)
        guard let (m, logSum) = statistics(x), m.isFinite else {
            return [Double](repeating: .nan, count: x.count)
        }
        return x.map { ($0 - m) - logSum }
    }

    /// One element of `torch.log_softmax` (O(C): prefer `logSoftmax(row:)` for a whole row).
    func logSoftmax(row: Int, clazz: Int) -> Double {
        logSoftmax(row: row)[clazz]
    }

    /// `torch.softmax` of one row: `exp(log_softmax)`.
    func softmax(row: Int) -> [Double] {
        logSoftmax(row: row).map { exp($0) }
    }

    /// The smoothed probability target of one element.
    private func smoothed(_ q: Double) -> Double {
        let epsilon = options.labelSmoothing
        return epsilon > 0 ? q * (1 - epsilon) + epsilon / Double(classes) : q
    }

    /// Per-row losses (0 when ignored) and the divisor of `mean`.
    func rowLosses() -> (losses: [Double], divisor: Double) {
        let epsilon = options.labelSmoothing
        let classes = classes
        var losses = [Double](repeating: 0, count: rows)
        var divisor = 0.0
        for row in 0..<rows {
            if let probabilities {
                let lp = logSoftmax(row: row)
                let q = rowValues(probabilities, row: row)
                var sum = 0.0
                for clazz in 0..<classes {
                    sum += lp[clazz] * smoothed(q[clazz]) * weight(clazz)
                }
                losses[row] = -sum
                divisor += 1
                continue
            }
            guard let targets else { preconditionFailure("a loss needs a target") }
            let y = targets[row]
            if y == Int64(options.ignoreIndex) { continue }
            let lp = logSoftmax(row: row)
            let wy = weight(Int(y))
            let nll = -lp[Int(y)] * wy
            if epsilon > 0 {
                var smooth = 0.0
                for clazz in 0..<classes {
                    smooth += lp[clazz] * weight(clazz)
                }
                losses[row] = (1 - epsilon) * nll + epsilon / Double(classes) * -smooth
            } else {
                losses[row] = nll
            }
            divisor += wy
        }
        return (losses, divisor)
    }

    /// Whether row `row` counts: its class-index target is not ignored (every row for probabilities).
    func isKept(row: Int) -> Bool {
        probabilities != nil || targets?[row] != Int64(options.ignoreIndex)
    }

    /// Each row's z-loss, `z·lse²`, 0 for an ignored row.
    func rowZLosses() -> [Double] {
        (0..<rows).map { row in
            guard options.zLossScale != 0, isKept(row: row) else { return 0 }
            let lse = logSumExp(row: row)
            return options.zLossScale * lse * lse
        }
    }

    /// The z-loss part of the reduced loss (for `none`, of each row's).
    func zLoss() -> [Double] {
        let z = rowZLosses()
        let kept = (0..<rows).filter { isKept(row: $0) }.count
        switch options.reduction {
        case .none: return z
        case .sum: return [z.reduce(0, +)]
        case .mean: return [options.zLossScale == 0 ? 0 : z.reduce(0, +) / Double(kept)]
        }
    }

    /// The reduced loss, its z-loss part included (for `none`, the per-row losses).
    func loss() -> [Double] {
        let (losses, divisor) = rowLosses()
        let z = zLoss()
        switch options.reduction {
        case .none: return zip(losses, z).map(+)
        case .sum: return [losses.reduce(0, +) + z[0]]
        case .mean: return [losses.reduce(0, +) / divisor + z[0]]
        }
    }

    /// The scalar whose gradient `crossEntropyWithGradient` returns: the loss, or for `none` the sum of
    /// the upstream-weighted losses.
    func objective(upstream: [Double]? = nil) -> Double {
        let values = loss()
        guard let upstream else { return values.reduce(0, +) }
        return zip(values, upstream).map(*).reduce(0, +)
    }

    /// d objective / d logits by central differences.
    func finiteDifferenceGradient(step: Double = 1e-6, upstream: [Double]? = nil) -> [Double] {
        var copy = self
        return logits.indices.map { i in
            copy.logits[i] = logits[i] + step
            let up = copy.objective(upstream: upstream)
            copy.logits[i] = logits[i] - step
            let down = copy.objective(upstream: upstream)
            copy.logits[i] = logits[i]
            return (up - down) / (2 * step)
        }
    }

    /// d loss / d logits (for `none`, of the upstream-weighted sum), by PyTorch's backward formulas; an
    /// ignored row's gradient is 0, as the library gives.
    func gradient(upstream: UpstreamGradient) -> [Double] {
        let epsilon = options.labelSmoothing
        let classes = classes
        let divisor = options.reduction == .mean ? rowLosses().divisor : 1
        let kept = Double((0..<rows).filter { isKept(row: $0) }.count)
        var gradient = [Double](repeating: 0, count: logits.count)
        for row in 0..<rows {
            let scale: Double
            let zScale: Double
            switch (options.reduction, upstream) {
            case (.none, .elements(let values)): (scale, zScale) = (values[row], values[row])
            case (.mean, .scalar(let value)): (scale, zScale) = (value / divisor, value / kept)
            case (_, .scalar(let value)): (scale, zScale) = (value, value)
            default: preconditionFailure("upstream \(upstream) does not fit reduction \(options.reduction)")
            }
            var g = [Double](repeating: 0, count: classes)
            if let probabilities {
                let q = rowValues(probabilities, row: row)
                for clazz in 0..<classes {
                    g[clazz] = -(scale * smoothed(q[clazz]) * weight(clazz))
                }
            } else {
                guard let targets else { preconditionFailure("a gradient needs a target") }
                let y = targets[row]
                if y == Int64(options.ignoreIndex) { continue }
                g[Int(y)] -= weight(Int(y)) * (epsilon > 0 ? scale * (1 - epsilon) : scale)
                if epsilon > 0 {
                    for clazz in 0..<classes {
                        g[clazz] -= epsilon / Double(classes) * scale * weight(clazz)
                    }
                }
            }
            let lp = logSoftmax(row: row)
            let total = g.reduce(0, +)
            // d(z·lse²)/dx_c = 2·z·lse·softmax_c
            let zTerm = options.zLossScale == 0 ? 0 : zScale * 2 * options.zLossScale * logSumExp(row: row)
            let x = rowValues(logits, row: row)
            for clazz in 0..<classes {
                // d capped / dx = 1 − tanh²(x / s)
                let capFactor = options.softcap.map { 1 - pow(tanh(x[clazz] / $0), 2) } ?? 1
                gradient[index(row: row, clazz: clazz)] =
                    (g[clazz] - exp(lp[clazz]) * total + zTerm * exp(lp[clazz])) * capFactor
            }
        }
        return gradient
    }
}

/// Whether `actual` is within `atol + rtol·|expected|` of `expected`, NaN matching NaN and infinities
/// matching exactly.
func isClose(_ actual: Double, _ expected: Double, rtol: Double, atol: Double = 0) -> Bool {
    if expected.isNaN { return actual.isNaN }
    if expected.isInfinite { return actual == expected }
    return abs(actual - expected) <= atol + rtol * abs(expected)
}

/// The first index where the arrays differ beyond the tolerance, with both values, or `nil`.
func firstMismatch(_ actual: [Double], _ expected: [Double], rtol: Double, atol: Double = 0) -> String? {
    guard actual.count == expected.count else { return "count \(actual.count) != \(expected.count)" }
    for i in actual.indices where !isClose(actual[i], expected[i], rtol: rtol, atol: atol) {
        return "element \(i): \(actual[i]) vs expected \(expected[i])"
    }
    return nil
}
