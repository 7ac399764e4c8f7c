import CPURowKernels
import KernelContract

/// A block of a vocabulary-parallel member's rows whose exps were kept by its partials pass
/// (`RowBatch.keptExps`) and whose merged statistics are known: what its gradient is written from, by
/// a later block's partials pass (`withGradient`) or by a given-gradient run (`finish`).
struct KeptBlock<Accumulator: LogitsScalar> {
    /// The block's rows among the member's.
    var range: Range<Int>
    /// Each row's exps relative to its own maximum over the member's classes.
    var exps: UnsafeBufferPointer<Accumulator>
    /// Each row's given values (`XENT_GIVEN_COUNT`), relative to the row's kept exps.
    var given: [Double]
    /// The rows without a finite maximum over the member's classes, whose exps are not relative to one,
    /// with their given values relative to the merged maximum: written again from their logits.
    var fromLogits: [(row: Int, given: ArraySlice<Double>)]

    /// `given` (as `gradientCoefficients` makes them, relative to the merged maximum) taken relative to
    /// each row's `localMax`: `exp(x − lse) = exp(x − m) · exp(−((max − m) + logSum))`.
    init(range: Range<Int>, exps: UnsafeBufferPointer<Accumulator>, localMax: [Double], given: [Double]) {
        let count = Int(XENT_GIVEN_COUNT)
        (self.range, self.exps, self.given, fromLogits) = (range, exps, given, [])
        for (row, m) in localMax.enumerated() {
            let values = given[count * row..<count * (row + 1)]
            guard m.isFinite else {
                fromLogits.append((row, values))
                continue
            }
            let top = values[values.startIndex + Int(XENT_GIVEN_MAX)]
            self.given[count * row + Int(XENT_GIVEN_MAX)] = m
            self.given[count * row + Int(XENT_GIVEN_LOG_SUM)] =
                (top - m) + values[values.startIndex + Int(XENT_GIVEN_LOG_SUM)]
        }
    }

    /// Calls `body` with the description of this block's gradient for the partials pass of a block of
    /// `rows` rows to write beside its own (at most its rows of this block's), or with `nil` for no block.
    func withGradient<T: LogitsScalar, R>(
        of local: LossProblem<T>, into gradient: UnsafeMutableBufferPointer<T>, beside rows: Int,
        _ body: (xent_pending_gradient) throws -> R
    ) rethrows -> R where T.Accumulator == Accumulator {
        let classes = local.batch.layout.classes
        return try given.withUnsafeBufferPointer { given in
            try body(
                xent_pending_gradient(
                    kept: UnsafeRawPointer(exps.baseAddress), given: given.baseAddress,
                    targets: local.batch.targets!.baseAddress! + range.lowerBound,
                    destination: UnsafeMutableRawPointer(gradient.baseAddress! + range.lowerBound * classes),
                    rows: Int64(min(rows, range.count))))
        }
    }

    /// Writes the gradient of this block's rows from `first` on from their kept exps, then that of its
    /// rows without a finite maximum from their logits.
    func finish<T: LogitsScalar>(
        of local: LossProblem<T>, into gradient: UnsafeMutableBufferPointer<T>, from first: Int,
        engine: CrossEntropyEngine
    ) throws where T.Accumulator == Accumulator {
        let classes = local.batch.layout.classes
        let count = Int(XENT_GIVEN_COUNT)
        func rowsGradient(_ rows: Range<Int>) -> UnsafeMutableBufferPointer<T> {
            UnsafeMutableBufferPointer(
                rebasing: gradient[
                    (range.lowerBound + rows.lowerBound) * classes..<(range.lowerBound + rows.upperBound) * classes])
        }
        if first < range.count {
            var batch = local.batch.rows(range.lowerBound + first..<range.upperBound)
            batch.keptExps = UnsafeMutableBufferPointer(
                mutating: UnsafeBufferPointer(rebasing: exps[(first * classes)...]))
            try engine.writeGivenGradient(
                of: batch, given: Array(given[(first * count)...]), into: rowsGradient(first..<range.count))
        }
        for (row, values) in fromLogits {
            try engine.writeGivenGradient(
                of: local.batch.rows(range.lowerBound + row..<range.lowerBound + row + 1), given: Array(values),
                into: rowsGradient(row..<row + 1))
        }
    }
}

extension Optional {
    /// `body` with the wrapped block's pending gradient, or with none.
    func withGradient<T: LogitsScalar, R>(
        of local: LossProblem<T>, into gradient: UnsafeMutableBufferPointer<T>, beside rows: Int,
        _ body: (xent_pending_gradient?) throws -> R
    ) rethrows -> R where Wrapped == KeptBlock<T.Accumulator> {
        guard let block = self else { return try body(nil) }
        return try block.withGradient(of: local, into: gradient, beside: rows) { try body($0) }
    }
}
