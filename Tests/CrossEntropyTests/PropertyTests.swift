import CrossEntropy
import Foundation
import Testing
import XentTestSupport

/// Identities the loss and its primitives must satisfy whatever the values, on every backend.
@Suite struct PropertyTests {
    /// Logits shapes with (N, C), unbatched (C) and K-dim layouts.
    static let shapes: [[Int]] = [[5, 17], [3, 70], [13], [2, 4, 3], [2, 5, 3, 2]]

    /// Adding a constant to every logit of a row changes neither the loss (any options, either kind of
    /// target) nor the softmax, the log-softmax or the gradient.
    @Test(arguments: shapes, Backends.names)
    func shiftingARowChangesNothing(shape: [Int], device: String) throws {
        let engine = Backends.engine(device)
        let layout = Layout(shape)
        let seed = UInt64(shape.reduce(0) { $0 * 31 + $1 })
        var random = SeededRandom(seed: seed)
        let x = (0..<layout.count).map { _ in Double.random(in: -3...3, using: &random) }
        let shifts = (0..<layout.rows).map { _ in Double.random(in: -100...100, using: &random) }
        var shifted = x
        for row in 0..<layout.rows {
            for clazz in 0..<layout.classes {
                shifted[layout.index(row: row, clazz: clazz)] += shifts[row]
            }
        }
        let targets = layout.randomTargets(&random)
        let probabilities = layout.randomProbabilities(&random)
        let weight = (0..<layout.classes).map { _ in Double.random(in: 0.5...2, using: &random) }
        let context = "shape \(shape) seed \(seed) on \(device)"
        let original = Tensor(shape: shape, scalars: x)
        let moved = Tensor(shape: shape, scalars: shifted)

        let variants: [(String, CrossEntropyTarget<Double>, CrossEntropyOptions)] = [
            ("indices", .classIndices(Tensor(shape: layout.rowShape, scalars: targets)), .init(reduction: .none)),
            (
                "indices, weighted, smoothing 0.3",
                .classIndices(Tensor(shape: layout.rowShape, scalars: targets)),
                .init(reduction: .none, weight: weight, labelSmoothing: 0.3)
            ),
            ("probabilities", .probabilities(Tensor(shape: shape, scalars: probabilities)), .init(reduction: .none)),
        ]
        for (name, target, options) in variants {
            for reduction in LossReduction.allCases {
                var options = options
                options.reduction = reduction
                let before = try engine.crossEntropyWithGradient(original, target: target, options: options)
                let after = try engine.crossEntropyWithGradient(moved, target: target, options: options)
                let lossMismatch = firstMismatch(after.loss.scalars, before.loss.scalars, rtol: 1e-11, atol: 1e-11)
                #expect(lossMismatch == nil, "\(context), \(name), \(reduction): loss \(lossMismatch ?? "")")
                let gradientMismatch = firstMismatch(
                    after.gradient.scalars, before.gradient.scalars, rtol: 1e-11, atol: 1e-11)
                #expect(
                    gradientMismatch == nil, "\(context), \(name), \(reduction): gradient \(gradientMismatch ?? "")")
            }
        }
        let softmaxMismatch = firstMismatch(
            try engine.softmax(moved).scalars, try engine.softmax(original).scalars, rtol: 1e-11, atol: 1e-14)
        #expect(softmaxMismatch == nil, "\(context): softmax \(softmaxMismatch ?? "")")
        let logSoftmaxMismatch = firstMismatch(
            try engine.logSoftmax(moved).scalars, try engine.logSoftmax(original).scalars, rtol: 1e-11, atol: 1e-11)
        #expect(logSoftmaxMismatch == nil, "\(context): logSoftmax \(logSoftmaxMismatch ?? "")")
        // logsumexp moves with the row.
        let lseBefore = try engine.logSumExp(original).scalars
        let lseAfter = try engine.logSumExp(moved).scalars
        let lseMismatch = firstMismatch(lseAfter, zip(lseBefore, shifts).map { $0 + $1 }, rtol: 1e-12, atol: 1e-11)
        #expect(lseMismatch == nil, "\(context): logSumExp \(lseMismatch ?? "")")
    }

    /// log_softmax(log_softmax(x)) == log_softmax(x): its rows already sum to one in probability (the
    /// seed notebook's LogSoftmax-twice).
    @Test(arguments: shapes + [[3, 1001]], Backends.names)
    func logSoftmaxIsIdempotent(shape: [Int], device: String) throws {
        let engine = Backends.engine(device)
        let layout = Layout(shape)
        let seed = UInt64(shape.reduce(1) { $0 * 17 + $1 })
        var random = SeededRandom(seed: seed)
        let x = Tensor(shape: shape, scalars: (0..<layout.count).map { _ in Float.random(in: -5...5, using: &random) })
        let once = try engine.logSoftmax(x)
        let twice = try engine.logSoftmax(once)
        #expect(twice.shape == shape)
        let mismatch = firstMismatch(
            twice.scalars.map(Double.init), once.scalars.map(Double.init), rtol: 1e-6, atol: 1e-6)
        #expect(mismatch == nil, "shape \(shape) seed \(seed) on \(device): \(mismatch ?? "")")
        let lse = try engine.logSumExp(once).scalars
        #expect(lse.allSatisfy { abs($0) < 1e-6 }, "logsumexp of log-softmax rows, shape \(shape): \(lse)")
    }

    /// `(N, C, d1, …)` logits give what the same rows laid out class-last as `(N·d1·…, C)` give: the same
    /// per-element losses in the same order, the same reductions, the same gradient (transposed back).
    @Test(arguments: [[3, 7, 5], [2, 37, 4], [2, 5, 3, 2], [1, 70, 3]], Backends.names)
    func kDimEqualsFlattenedRows(shape: [Int], device: String) throws {
        let engine = Backends.engine(device)
        let layout = Layout(shape)
        let seed = UInt64(shape.reduce(7) { $0 * 13 + $1 })
        var random = SeededRandom(seed: seed)
        let x = (0..<layout.count).map { _ in Float.random(in: -4...4, using: &random) }
        var targets = layout.randomTargets(&random)
        targets[1] = -100
        let probabilities = layout.randomProbabilities(&random).map { Float($0) }
        let weight = (0..<layout.classes).map { _ in Double.random(in: 0.5...2, using: &random) }
        let flatShape = [layout.rows, layout.classes]
        let flat = layout.classLast(x)
        let context = "shape \(shape) seed \(seed) on \(device)"

        let variants: [(String, CrossEntropyTarget<Float>, CrossEntropyTarget<Float>, CrossEntropyOptions)] = [
            (
                "indices", .classIndices(Tensor(shape: layout.rowShape, scalars: targets)),
                .classIndices(Tensor(shape: [layout.rows], scalars: targets)), .init()
            ),
            (
                "indices, weighted, smoothing 0.2", .classIndices(Tensor(shape: layout.rowShape, scalars: targets)),
                .classIndices(Tensor(shape: [layout.rows], scalars: targets)),
                .init(weight: weight, labelSmoothing: 0.2)
            ),
            (
                "probabilities", .probabilities(Tensor(shape: shape, scalars: probabilities)),
                .probabilities(Tensor(shape: flatShape, scalars: layout.classLast(probabilities))),
                .init(weight: weight)
            ),
        ]
        for (name, target, flatTarget, options) in variants {
            for reduction in LossReduction.allCases {
                var options = options
                options.reduction = reduction
                let kDim = try engine.crossEntropyWithGradient(
                    Tensor(shape: shape, scalars: x), target: target, options: options)
                let rows = try engine.crossEntropyWithGradient(
                    Tensor(shape: flatShape, scalars: flat), target: flatTarget, options: options)
                let label = "\(context), \(name), \(reduction)"
                #expect(kDim.loss.shape == (reduction == .none ? layout.rowShape : []), "\(label): loss shape")
                let lossMismatch = firstMismatch(
                    kDim.loss.scalars.map(Double.init), rows.loss.scalars.map(Double.init), rtol: 1e-6, atol: 1e-6)
                #expect(lossMismatch == nil, "\(label): loss \(lossMismatch ?? "")")
                let gradientMismatch = firstMismatch(
                    layout.classLast(kDim.gradient.scalars).map(Double.init), rows.gradient.scalars.map(Double.init),
                    rtol: 1e-5, atol: 1e-7)
                #expect(gradientMismatch == nil, "\(label): gradient \(gradientMismatch ?? "")")
                let lseMismatch = firstMismatch(
                    kDim.logSumExp.scalars.map(Double.init), rows.logSumExp.scalars.map(Double.init), rtol: 1e-6)
                #expect(lseMismatch == nil, "\(label): logSumExp \(lseMismatch ?? "")")
            }
        }
    }

    /// `mean` is the weighted sum divided by the total weight of the targets not ignored, with or without
    /// label smoothing; the gradient scales the same way.
    @Test(arguments: [[6, 7], [2, 5, 3]], Backends.names)
    func weightedMeanIsSumOverWeightOfKeptTargets(shape: [Int], device: String) throws {
        let engine = Backends.engine(device)
        let layout = Layout(shape)
        let seed = UInt64(shape.reduce(3) { $0 * 11 + $1 })
        var random = SeededRandom(seed: seed)
        let x = Tensor(shape: shape, scalars: (0..<layout.count).map { _ in Double.random(in: -3...3, using: &random) })
        let ignoreIndex = 3
        var targets = layout.randomTargets(&random)
        targets[0] = Int64(ignoreIndex)
        targets[layout.rows - 1] = Int64(ignoreIndex)
        targets[1] = ignoreIndex == 0 ? 1 : 0
        let weight = (0..<layout.classes).map { _ in Double.random(in: 0.25...3, using: &random) }
        let kept = targets.filter { $0 != Int64(ignoreIndex) }
        let totalWeight = kept.map { weight[Int($0)] }.reduce(0, +)
        let target = CrossEntropyTarget<Double>.classIndices(Tensor(shape: layout.rowShape, scalars: targets))
        for smoothing in [0, 0.3] {
            let options = { (reduction: LossReduction) in
                CrossEntropyOptions(
                    reduction: reduction, weight: weight, ignoreIndex: ignoreIndex, labelSmoothing: smoothing)
            }
            let context = "shape \(shape) seed \(seed) smoothing \(smoothing) on \(device)"
            let mean = try engine.crossEntropy(x, target: target, options: options(.mean)).scalar
            let sum = try engine.crossEntropy(x, target: target, options: options(.sum)).scalar
            let none = try engine.crossEntropy(x, target: target, options: options(.none)).scalars
            #expect(
                isClose(mean, sum / totalWeight, rtol: 1e-12),
                "\(context): mean \(mean), sum/weight \(sum / totalWeight)")
            #expect(
                isClose(none.reduce(0, +), sum, rtol: 1e-12), "\(context): Σ none \(none.reduce(0, +)), sum \(sum)")
            // The plain count of kept rows is not the divisor (the weights differ).
            #expect(!isClose(mean, sum / Double(kept.count), rtol: 1e-6), "\(context): mean divides by the row count")
            let meanGradient = try engine.crossEntropyWithGradient(x, target: target, options: options(.mean))
            let sumGradient = try engine.crossEntropyWithGradient(x, target: target, options: options(.sum))
            let mismatch = firstMismatch(
                meanGradient.gradient.scalars, sumGradient.gradient.scalars.map { $0 / totalWeight }, rtol: 1e-12,
                atol: 1e-15)
            #expect(mismatch == nil, "\(context): mean gradient vs sum gradient / weight: \(mismatch ?? "")")
        }
    }

    /// Weighted targets are checked before the run, in blocks of 2^20, in parallel: the error names the
    /// first bad target even when a later block holds another, and `mean` divides by the kept weight of
    /// every block.
    @Test func weightedTargetsAreCheckedAcrossBlocks() throws {
        let engine = Backends.engine("cpu")
        let rows = 2_500_000
        let weight = [0.5, 2.0]
        var targets = (0..<rows).map { Int64($0 % 3 == 0 ? -100 : $0 % 2) }
        let logits = Tensor<Float>(shape: [rows, 2], scalars: (0..<(2 * rows)).map { Float($0 % 5) - 2 })
        let kept = targets.filter { $0 != -100 }.map { weight[Int($0)] }.reduce(0, +)
        let sum = try engine.crossEntropy(
            logits, target: .classIndices(Tensor(shape: [rows], scalars: targets)),
            options: .init(reduction: .sum, weight: weight)
        ).scalar
        let mean = try engine.crossEntropy(
            logits, target: .classIndices(Tensor(shape: [rows], scalars: targets)), options: .init(weight: weight)
        ).scalar
        #expect(
            isClose(Double(mean), Double(sum) / kept, rtol: 1e-6),
            "mean \(mean), sum / kept weight \(Double(sum) / kept)")
        targets[2_400_000] = 7
        targets[1_500_001] = 2
        try expectTargetError(
            engine, logits, targets, .init(weight: weight), "Target 2 is out of bounds (target index 1500001")
        targets[1_000_003] = -5
        try expectTargetError(
            engine, logits, targets, .init(weight: weight), "Target -5 is out of bounds (target index 1000003")
    }

    /// Unweighted targets of a forward loss are checked as the rows are folded, by each CPU thread in
    /// its slab (or by the OpenCL backend chunk by chunk): the error names the first bad target also
    /// when a later slab holds another, and `mean` divides by the count of targets kept in every slab.
    @Test(arguments: Backends.names)
    func unweightedTargetsAreCheckedWhileFolding(device: String) throws {
        let engine = Backends.engine(device)
        let rows = 100_000
        var targets = (0..<rows).map { Int64($0 % 3 == 0 ? -100 : $0 % 2) }
        let logits = Tensor<Float>(shape: [rows, 2], scalars: (0..<(2 * rows)).map { Float($0 % 5) - 2 })
        let kept = Double(targets.filter { $0 != -100 }.count)
        let target = CrossEntropyTarget<Float>.classIndices(Tensor(shape: [rows], scalars: targets))
        let sum = try engine.crossEntropy(logits, target: target, options: .init(reduction: .sum)).scalar
        let mean = try engine.crossEntropy(logits, target: target).scalar
        #expect(isClose(Double(mean), Double(sum) / kept, rtol: 1e-6), "mean \(mean), sum / kept \(Double(sum) / kept)")
        // Bad targets in the second half only, then in both halves (one slab each on two cores).
        targets[90_000] = 7
        targets[60_001] = 2
        try expectTargetError(engine, logits, targets, .init(), "Target 2 is out of bounds (target index 60001")
        targets[40_003] = -5
        try expectTargetError(engine, logits, targets, .init(), "Target -5 is out of bounds (target index 40003")
    }

    private func expectTargetError(
        _ engine: CrossEntropyEngine, _ logits: Tensor<Float>, _ targets: [Int64], _ options: CrossEntropyOptions,
        _ message: String
    ) throws {
        do {
            _ = try engine.crossEntropy(
                logits, target: .classIndices(Tensor(shape: [targets.count], scalars: targets)), options: options)
            Issue.record("out-of-range targets were accepted")
        } catch let error as CrossEntropyError {
            #expect(error.code == .targetOutOfBounds, "\(error)")
            #expect(error.message.contains(message), "\(error)")
            // Foundation's description of any error is the message (LocalizedError).
            #expect((error as any Error).localizedDescription == error.message, "\(error.localizedDescription)")
        }
    }

    /// `gather` picks `x[n, y[n], k…]` exactly, for every logits type and layout.
    @Test(arguments: [[7, 37], [13], [2, 5, 3], [2, 4, 3, 2], [3, 1001]], Backends.names)
    func gatherPicksTargetLogitsExactly(shape: [Int], device: String) throws {
        let engine = Backends.engine(device)
        try gatherCheck(Float.self, shape: shape, engine)
        try gatherCheck(Double.self, shape: shape, engine)
        try gatherCheck(Float16.self, shape: shape, engine)
    }

    /// Float16 logits accumulate in Float: on the same values (all exact in Float16) every row's loss
    /// and logsumexp equal the Float call's, bit for bit; shapes whose rows the CPU runs a square of
    /// lanes at a time (16 and 32 classes) and one it transposes element by element (20).
    @Test(arguments: [[40, 16], [40, 32], [40, 20], [3, 1001]], Backends.names)
    func float16AccumulatesLikeFloat(shape: [Int], device: String) throws {
        let engine = Backends.engine(device)
        let layout = Layout(shape)
        var random = SeededRandom(seed: UInt64(shape.reduce(3) { $0 * 13 + $1 }))
        let halves = (0..<layout.count).map { _ in Float16(Float.random(in: -8...8, using: &random)) }
        let targets = Tensor(shape: layout.rowShape, scalars: layout.randomTargets(&random))
        let options = CrossEntropyOptions(reduction: .none)
        let half = try engine.crossEntropy(
            Tensor(shape: shape, scalars: halves), target: .classIndices(targets), options: options)
        let float = try engine.crossEntropy(
            Tensor(shape: shape, scalars: halves.map(Float.init)), target: .classIndices(targets), options: options)
        #expect(half.scalars == float.scalars, "\(shape) on \(device): losses differ")
        let halfLogSumExp = try engine.logSumExp(Tensor(shape: shape, scalars: halves))
        let floatLogSumExp = try engine.logSumExp(Tensor(shape: shape, scalars: halves.map(Float.init)))
        #expect(halfLogSumExp.scalars == floatLogSumExp.scalars, "\(shape) on \(device): logsumexp differs")
    }

    /// nll_loss(log_softmax(x), y) == cross_entropy(x, y), for every reduction, with weights and an
    /// ignored target.
    @Test(arguments: [[7, 37], [13], [2, 5, 3], [3, 1001]], Backends.names)
    func nllOfLogSoftmaxIsCrossEntropy(shape: [Int], device: String) throws {
        let engine = Backends.engine(device)
        let layout = Layout(shape)
        let seed = UInt64(shape.reduce(5) { $0 * 7 + $1 })
        var random = SeededRandom(seed: seed)
        let x = Tensor(shape: shape, scalars: (0..<layout.count).map { _ in Float.random(in: -4...4, using: &random) })
        var targets = layout.randomTargets(&random)
        if layout.rows > 1 {
            targets[1] = -100
        }
        let weight = (0..<layout.classes).map { _ in Double.random(in: 0.5...2, using: &random) }
        let target = CrossEntropyTarget<Float>.classIndices(Tensor(shape: layout.rowShape, scalars: targets))
        let logSoftmax = try engine.logSoftmax(x)
        for weight in [nil, weight] {
            for reduction in LossReduction.allCases {
                let options = CrossEntropyOptions(reduction: reduction, weight: weight)
                let nll = try engine.nllLoss(logSoftmax, target: target, options: options)
                let crossEntropy = try engine.crossEntropy(x, target: target, options: options)
                let context = "shape \(shape) seed \(seed) \(reduction) weighted \(weight != nil) on \(device)"
                #expect(nll.shape == crossEntropy.shape, "\(context): shapes \(nll.shape) vs \(crossEntropy.shape)")
                let mismatch = firstMismatch(
                    nll.scalars.map(Double.init), crossEntropy.scalars.map(Double.init), rtol: 1e-6, atol: 1e-6)
                #expect(mismatch == nil, "\(context): \(mismatch ?? "")")
            }
        }
    }

    private func gatherCheck<T: LogitsScalar>(_: T.Type, shape: [Int], _ engine: CrossEntropyEngine) throws {
        let layout = Layout(shape)
        let seed = UInt64(shape.reduce(11) { $0 * 5 + $1 })
        var random = SeededRandom(seed: seed)
        let x = (0..<layout.count).map { _ in T(Double.random(in: -8...8, using: &random)) }
        let targets = layout.randomTargets(&random)
        let gathered = try engine.gather(
            Tensor(shape: shape, scalars: x), classIndices: Tensor(shape: layout.rowShape, scalars: targets))
        let expected = (0..<layout.rows).map { x[layout.index(row: $0, clazz: Int(targets[$0]))] }
        #expect(gathered.shape == layout.rowShape, "\(T.self) shape \(shape): gathered shape \(gathered.shape)")
        #expect(
            gathered.scalars == expected,
            "\(T.self) shape \(shape) seed \(seed) on \(engine.device.name): \(gathered.scalars) vs \(expected)")
    }
}

/// A logits shape read as PyTorch does: `(outer, classes, inner)`.
private struct Layout {
    let shape: [Int]
    var classes: Int { shape.count == 1 ? shape[0] : shape[1] }
    var outer: Int { shape.count == 1 ? 1 : shape[0] }
    var inner: Int { shape.dropFirst(2).reduce(1, *) }
    var rows: Int { outer * inner }
    var count: Int { shape.reduce(1, *) }
    var rowShape: [Int] { shape.count == 1 ? [] : [shape[0]] + shape.dropFirst(2) }

    init(_ shape: [Int]) { self.shape = shape }

    func index(row: Int, clazz: Int) -> Int {
        (row / inner) * classes * inner + clazz * inner + row % inner
    }

    func randomTargets(_ random: inout SeededRandom) -> [Int64] {
        (0..<rows).map { _ in Int64.random(in: 0..<Int64(classes), using: &random) }
    }

    /// Positive probabilities in the logits' layout, each row summing to 1.
    func randomProbabilities(_ random: inout SeededRandom) -> [Double] {
        var values = (0..<count).map { _ in Double.random(in: 0.05...1, using: &random) }
        for row in 0..<rows {
            let total = (0..<classes).map { values[index(row: row, clazz: $0)] }.reduce(0, +)
            for clazz in 0..<classes {
                values[index(row: row, clazz: clazz)] /= total
            }
        }
        return values
    }

    /// The same values laid out `(rows, classes)`.
    func classLast<E>(_ values: [E]) -> [E] {
        (0..<rows).flatMap { row in (0..<classes).map { values[index(row: row, clazz: $0)] } }
    }
}
