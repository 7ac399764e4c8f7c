import CrossEntropy
import Foundation

/// A plain float64 cross-entropy written from PyTorch's definition, independent of the library's
/// kernels: the reference the backends are checked against.
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

    func index(row: Int, clazz: Int) -> Int {
        (row / inner) * classes * inner + clazz * inner + row % inner
    }

    func logSumExp(row: Int) -> Double {
        let values = (0..<classes).map { logits[index(row: row, clazz: $0)] }
        let m = values.max() ?? -.infinity
        guard m.isFinite else { return m == -.infinity ? -.infinity : .nan }
        return m + log(values.map { exp($0 - m) }.reduce(0, +))
    }

    func logSoftmax(row: Int, clazz: Int) -> Double {
        logits[index(row: row, clazz: clazz)] - logSumExp(row: row)
    }

    func weight(_ c: Int) -> Double { options.weight?[c] ?? 1 }

    /// Per-row losses and the divisor of `mean`.
    func rowLosses() -> (losses: [Double], divisor: Double) {
        let epsilon = options.labelSmoothing
        var losses: [Double] = []
        var divisor = 0.0
        for row in 0..<rows {
            let lp = (0..<classes).map { logSoftmax(row: row, clazz: $0) }
            if let probabilities {
                var loss = 0.0
                for c in 0..<classes {
                    let q = (1 - epsilon) * probabilities[index(row: row, clazz: c)] + epsilon / Double(classes)
                    loss -= weight(c) * q * lp[c]
                }
                losses.append(loss)
                divisor += 1
                continue
            }
            let y = Int(targets![row])
            if y == options.ignoreIndex {
                losses.append(0)
                continue
            }
            var loss = -(1 - epsilon) * weight(y) * lp[y]
            if epsilon > 0 {
                loss -= epsilon / Double(classes) * (0..<classes).map { weight($0) * lp[$0] }.reduce(0, +)
            }
            losses.append(loss)
            divisor += weight(y)
        }
        return (losses, divisor)
    }

    /// The reduced loss (for `none`, the per-row losses).
    func loss() -> [Double] {
        let (losses, divisor) = rowLosses()
        switch options.reduction {
        case .none: return losses
        case .sum: return [losses.reduce(0, +)]
        case .mean: return [losses.reduce(0, +) / divisor]
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

/// A seeded generator, so every failure names a reproducible case.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
