import CPURowKernels

/// PyTorch's error for the target at `position`, outside `0..<classes`; `firstRow` is the place of
/// `targets`' first row in a larger batch (a data-parallel member's rows), which the message counts from.
func targetOutOfBounds(_ targets: UnsafeBufferPointer<Int64>, at position: Int, classes: Int, firstRow: Int = 0)
    -> CrossEntropyError
{
    CrossEntropyError(
        .targetOutOfBounds,
        "Target \(targets[position]) is out of bounds (target index \(firstRow + position), \(classes) classes).")
}

/// The position of the first target outside `0..<classes` that is not `ignoreIndex`, and the targets
/// not ignored: how many, and their total weight (`mean`'s divisor; the count without weights).
/// Blocks of a fixed size are checked in parallel and their totals added in order, so the divisor does
/// not depend on the number of cores.
func checkTargets(
    _ targets: UnsafeBufferPointer<Int64>, classes: Int, ignoreIndex: Int64, weight: UnsafePointer<Double>?
) -> (position: Int?, kept: KeptRows) {
    let blockSize = 1 << 20
    let blocks = concurrentMap((targets.count + blockSize - 1) / blockSize) { block in
        let first = block * blockSize
        var count: Int64 = 0
        var total = 0.0
        let position = xent_check_targets(
            targets.baseAddress! + first, Int64(min(blockSize, targets.count - first)), Int64(classes), ignoreIndex,
            weight, &count, &total)
        return (position: position < 0 ? nil : first + Int(position), kept: KeptRows(count: Int(count), weight: total))
    }
    let kept = blocks.reduce(KeptRows(count: 0, weight: 0)) {
        KeptRows(count: $0.count + $1.kept.count, weight: $0.weight + $1.kept.weight)
    }
    return (blocks.lazy.compactMap(\.position).first, kept)
}

/// Class-index targets have the logits' shape without the class dimension: `()` for `(C)` logits.
func checkTargetShape(_ targetShape: [Int], count: Int, layout: RowLayout) throws {
    if targetShape != layout.rowShape {
        if layout.rowShape.isEmpty {
            throw CrossEntropyError(
                .invalidShape,
                "unbatched logits of shape [\(layout.classes)] need a scalar target, got shape \(targetShape)")
        }
        let targetBatch = targetShape.first.map(String.init) ?? "scalar"
        if targetShape.first != layout.outer {
            throw CrossEntropyError(
                .invalidShape,
                "Expected input batch_size (\(layout.outer)) to match target batch_size (\(targetBatch)).")
        }
        throw CrossEntropyError(.invalidShape, "Expected target size \(layout.rowShape), got \(targetShape)")
    }
    guard count == layout.rows else {
        throw CrossEntropyError(
            .invalidShape, "target shape \(targetShape) needs \(layout.rows) elements, got \(count)")
    }
}
