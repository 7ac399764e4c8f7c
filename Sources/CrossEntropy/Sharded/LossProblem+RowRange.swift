extension LossProblem {
    /// Rows `range` of this problem of `(N, C)` logits as a problem of their own, which keeps the whole
    /// batch's divisor: their gradient is scaled as the whole batch's is.
    func rows(_ range: Range<Int>) -> LossProblem {
        var part = self
        part.batch = batch.rows(range)
        return part
    }
}

extension RowBatch {
    /// Rows `range` of this batch of contiguous rows (`inner` 1), as a batch of their own.
    func rows(_ range: Range<Int>) -> RowBatch {
        precondition(layout.inner == 1 && given == nil && keptExps == nil, "a row range of contiguous rows")
        let classes = layout.classes
        func part<E>(_ buffer: UnsafeBufferPointer<E>) -> UnsafeBufferPointer<E> {
            UnsafeBufferPointer(rebasing: buffer[range.lowerBound * classes..<range.upperBound * classes])
        }
        var batch = self
        // A problem that only folds merged statistics has no logits.
        if !logits.isEmpty { batch.logits = part(logits) }
        batch.probabilities = probabilities.map(part)
        batch.targets = targets.map { UnsafeBufferPointer(rebasing: $0[range]) }
        batch.layout.outer = range.count
        batch.layout.rowShape = [range.count]
        return batch
    }
}

extension UpstreamGradient {
    /// The upstream factors of rows `range`, of an upstream already checked against the rows.
    func rows(_ range: Range<Int>) -> UpstreamGradient {
        switch self {
        case .scalar: self
        case .elements(let values): .elements(Array(values[range]))
        }
    }
}
