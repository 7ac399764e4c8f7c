import CrossEntropy
import Foundation
import Testing
import XentTestSupport

/// One random comparison with the float64 reference: a logits shape, a seed, and the logits' range.
struct ReferenceCase: Sendable, CustomTestStringConvertible {
    var shape: [Int]
    var seed: UInt64
    /// The logits are uniform in ±scale (before rounding to the logits' type).
    var scale: Double = 4

    var testDescription: String { "shape \(shape) ±\(scale) seed \(seed)" }

    var classes: Int { shape.count == 1 ? shape[0] : shape[1] }
    /// The target's shape: the logits' without the class dimension.
    var rowShape: [Int] { shape.count == 1 ? [] : [shape[0]] + shape.dropFirst(2) }
    var rows: Int { rowShape.reduce(1, *) }

    /// N = 1, C = 1, C = 3, C = 100 000 and other rows past the kernels' 256 KiB cached-row limit, N·C not
    /// a multiple of 16, ±1e4, unbatched and K-dim.
    static let float: [ReferenceCase] = [
        ReferenceCase(shape: [1, 10], seed: 101),
        ReferenceCase(shape: [6, 1], seed: 102),
        ReferenceCase(shape: [9, 3], seed: 103),
        ReferenceCase(shape: [2, 100_000], seed: 104),
        ReferenceCase(shape: [1, 100_000], seed: 105, scale: 30),
        ReferenceCase(shape: [2, 100_003], seed: 116),
        ReferenceCase(shape: [3, 65_537], seed: 117),
        ReferenceCase(shape: [7, 37], seed: 106),
        ReferenceCase(shape: [3, 1001], seed: 107),
        ReferenceCase(shape: [5, 17], seed: 108),
        ReferenceCase(shape: [4, 64], seed: 109),
        ReferenceCase(shape: [3, 200], seed: 110),
        ReferenceCase(shape: [13], seed: 111),
        ReferenceCase(shape: [6, 37], seed: 112, scale: 1e4),
        ReferenceCase(shape: [3, 1001], seed: 113, scale: 1e4),
        ReferenceCase(shape: [2, 5, 3], seed: 114),
        ReferenceCase(shape: [2, 4, 3, 2], seed: 115),
    ]

    static let double: [ReferenceCase] = [
        ReferenceCase(shape: [1, 10], seed: 201),
        ReferenceCase(shape: [6, 1], seed: 202),
        ReferenceCase(shape: [7, 37], seed: 203),
        ReferenceCase(shape: [3, 1001], seed: 204),
        ReferenceCase(shape: [2, 100_000], seed: 205),
        ReferenceCase(shape: [1, 40_003], seed: 210),
        ReferenceCase(shape: [13], seed: 206),
        ReferenceCase(shape: [6, 37], seed: 207, scale: 1e4),
        ReferenceCase(shape: [2, 5, 3], seed: 208),
        ReferenceCase(shape: [2, 4, 3, 2], seed: 209),
    ]

    static let float16: [ReferenceCase] = [
        ReferenceCase(shape: [1, 10], seed: 301),
        ReferenceCase(shape: [6, 1], seed: 302),
        ReferenceCase(shape: [9, 3], seed: 303),
        ReferenceCase(shape: [7, 37], seed: 304),
        ReferenceCase(shape: [3, 1001], seed: 305),
        ReferenceCase(shape: [13], seed: 306),
        ReferenceCase(shape: [2, 5, 3], seed: 307),
        ReferenceCase(shape: [2, 4, 3, 2], seed: 308),
        ReferenceCase(shape: [1, 140_001], seed: 309),
    ]

    static let bfloat16: [ReferenceCase] = [
        ReferenceCase(shape: [1, 10], seed: 401),
        ReferenceCase(shape: [6, 1], seed: 402),
        ReferenceCase(shape: [9, 3], seed: 403),
        ReferenceCase(shape: [40, 16], seed: 404),
        ReferenceCase(shape: [7, 37], seed: 405),
        ReferenceCase(shape: [3, 1001], seed: 406),
        ReferenceCase(shape: [13], seed: 407),
        ReferenceCase(shape: [2, 5, 3], seed: 408),
        ReferenceCase(shape: [2, 4, 3, 2], seed: 409),
        ReferenceCase(shape: [1, 140_001], seed: 410),
        ReferenceCase(shape: [6, 37], seed: 411, scale: 1e4),
    ]
}

/// The library against the float64 reference, computed from the very values the library was given
/// (the logits rounded to their type, then promoted to `Double`), on every backend.
@Suite struct ReferenceTests {
    @Test(arguments: ReferenceCase.float, Backends.names)
    func floatMatchesReference(_ testCase: ReferenceCase, device: String) throws {
        try compare(Float.self, testCase, Backends.engine(device))
    }

    @Test(arguments: ReferenceCase.double, Backends.names)
    func doubleMatchesReference(_ testCase: ReferenceCase, device: String) throws {
        try compare(Double.self, testCase, Backends.engine(device))
    }

    @Test(arguments: ReferenceCase.float16, Backends.names)
    func float16MatchesReference(_ testCase: ReferenceCase, device: String) throws {
        try compare(Float16.self, testCase, Backends.engine(device))
    }

    @Test(arguments: ReferenceCase.bfloat16, Backends.names)
    func bfloat16MatchesReference(_ testCase: ReferenceCase, device: String) throws {
        try compare(BFloat16.self, testCase, Backends.engine(device))
    }

    /// Every row of `(rows, classes)` logits holds at most one special value; each row's loss follows
    /// PyTorch's: NaN in, NaN out; +inf anywhere is NaN; -inf at the target is +inf; -inf elsewhere is
    /// harmless unless label smoothing reads it; a row of only -inf is NaN. The rows run contiguous and,
    /// transposed to `(1, C, rows)`, strided; the special values sit in the vector part and the tail.
    @Test(arguments: Backends.names, [5, 37, 70])
    func nonFiniteLogitsFollowPyTorch(device: String, classes: Int) throws {
        let engine = Backends.engine(device)
        let rows = EdgeRows(classes: classes, seed: UInt64(classes))
        for strided in [false, true] {
            let (shape, logits, targets) = rows.layout(strided: strided)
            for smoothing in [0.0, 0.1] {
                let options = CrossEntropyOptions(reduction: .none, labelSmoothing: smoothing)
                let loss = try engine.crossEntropy(
                    Tensor(shape: shape, scalars: logits),
                    target: .classIndices(Tensor(shape: [shape[0]] + shape.dropFirst(2), scalars: targets)),
                    options: options
                ).scalars.map(Double.init)
                let reference = Reference(
                    shape: shape, logits: logits.map(Double.init), targets: targets, options: options
                ).loss()
                for (row, kind) in rows.kinds.enumerated() {
                    let context =
                        "\(kind.name), C = \(classes), smoothing \(smoothing), strided \(strided), on \(device)"
                    let expected = kind.expected(smoothing: smoothing)
                    switch expected {
                    case .nan: #expect(loss[row].isNaN, "\(context): loss \(loss[row]), expected NaN")
                    case .positiveInfinity:
                        #expect(loss[row] == .infinity, "\(context): loss \(loss[row]), expected +inf")
                    case .finite: #expect(loss[row].isFinite, "\(context): loss \(loss[row]), expected finite")
                    }
                    #expect(
                        isClose(loss[row], reference[row], rtol: 1e-5, atol: 1e-6),
                        "\(context): loss \(loss[row]) vs reference \(reference[row])")
                }
                let mean = try engine.crossEntropy(
                    Tensor(shape: shape, scalars: logits),
                    target: .classIndices(Tensor(shape: [shape[0]] + shape.dropFirst(2), scalars: targets)),
                    options: CrossEntropyOptions(labelSmoothing: smoothing))
                #expect(mean.scalar.isNaN == true, "mean over rows with NaN, C = \(classes), on \(device)")
            }

            // The primitives agree with the reference row by row too (a +inf row is NaN there as well,
            // except logsumexp, which is +inf: see `logSumExpOfPositiveInfinityIsInfinity`).
            let reference = Reference(shape: shape, logits: logits.map(Double.init), targets: targets)
            let tensor = Tensor(shape: shape, scalars: logits)
            let logSoftmax = try engine.logSoftmax(tensor).scalars.map(Double.init)
            let softmax = try engine.softmax(tensor).scalars.map(Double.init)
            let lse = try engine.logSumExp(tensor).scalars.map(Double.init)
            for (row, kind) in rows.kinds.enumerated() {
                let context = "\(kind.name), C = \(classes), strided \(strided), on \(device)"
                let indices = (0..<classes).map { reference.index(row: row, clazz: $0) }
                let expectedLSE = reference.logSumExp(row: row)
                let expectedLogSoftmax = reference.logSoftmax(row: row)
                let mismatch = firstMismatch(indices.map { logSoftmax[$0] }, expectedLogSoftmax, rtol: 1e-5, atol: 1e-6)
                #expect(mismatch == nil, "\(context): logSoftmax \(mismatch ?? "")")
                let softmaxMismatch = firstMismatch(
                    indices.map { softmax[$0] }, expectedLogSoftmax.map(exp), rtol: 1e-5, atol: 1e-6)
                #expect(softmaxMismatch == nil, "\(context): softmax \(softmaxMismatch ?? "")")
                #expect(
                    isClose(lse[row], expectedLSE, rtol: 1e-6, atol: 1e-6),
                    "\(context): logSumExp \(lse[row]) vs reference \(expectedLSE)")
            }
        }
    }

    /// Rows past the cached-row limit are scanned in pieces of 256 KiB on OpenCL CPU devices (each in two
    /// passes, the pieces' maxima and sums merged): a piece of only -inf, or a special value confined to
    /// the second piece, behaves as in a row scanned whole.
    @Test(arguments: Backends.names)
    func longRowsWithSpecialValuesInOnePiece(device: String) throws {
        let engine = Backends.engine(device)
        let classes = 70_000  // pieces of 65 536 and 4 464 floats
        let piece = 65_536
        var random = SeededRandom(seed: 70_000)
        let base = (0..<classes).map { _ in Float(Double(random.next() >> 11) / Double(1 << 53) * 8 - 4) }
        let rows: [(name: String, values: [Float], target: Int64)] = [
            ("first piece -inf", base.indices.map { $0 < piece ? -.infinity : base[$0] }, 66_000),
            ("second piece -inf", base.indices.map { $0 >= piece ? -.infinity : base[$0] }, 5),
            ("NaN in the second piece", base.indices.map { $0 == 69_000 ? .nan : base[$0] }, 0),
            ("+inf in the second piece", base.indices.map { $0 == 68_000 ? .infinity : base[$0] }, 1),
            ("all -inf", [Float](repeating: -.infinity, count: classes), 0),
            ("maximum in the second piece", base.indices.map { $0 == 67_000 ? 30 : base[$0] }, 67_000),
        ]
        let logits = rows.flatMap(\.values)
        let targets = rows.map(\.target)
        let shape = [rows.count, classes]
        let reference = Reference(
            shape: shape, logits: logits.map(Double.init), targets: targets, options: .init(reduction: .none))
        let expectedLoss = reference.loss()
        let loss = try engine.crossEntropy(
            Tensor(shape: shape, scalars: logits), target: .classIndices(Tensor(shape: [rows.count], scalars: targets)),
            options: .init(reduction: .none)
        ).scalars
        let lse = try engine.logSumExp(Tensor(shape: shape, scalars: logits)).scalars
        for (row, kind) in rows.enumerated() {
            let context = "\(kind.name) on \(device)"
            #expect(
                isClose(Double(loss[row]), expectedLoss[row], rtol: 1e-5, atol: 1e-6),
                "\(context): loss \(loss[row]) vs reference \(expectedLoss[row])")
            #expect(
                isClose(Double(lse[row]), reference.logSumExp(row: row), rtol: 1e-6, atol: 1e-6),
                "\(context): logSumExp \(lse[row]) vs reference \(reference.logSumExp(row: row))")
        }
    }

    /// `logSumExp` is documented as `torch.logsumexp`, which masks an infinite maximum to 0 before
    /// subtracting it (ATen's `logsumexp_out_impl`): a row holding +inf gives +inf, not NaN. (Cross-entropy
    /// and log-softmax of such a row are NaN in PyTorch, and are checked so above.)
    @Test(arguments: Backends.names)
    func logSumExpOfPositiveInfinityIsInfinity(device: String) throws {
        let engine = Backends.engine(device)
        let inf = Float.infinity
        let rows: [[Float]] = [[1, inf, 2], [inf, inf, inf], [-inf, inf, -inf], [inf, 0, -3]]
        let lse = try engine.logSumExp(Tensor(shape: [rows.count, 3], scalars: rows.flatMap { $0 }))
        for (row, values) in rows.enumerated() {
            #expect(lse.scalars[row] == .infinity, "logsumexp(\(values)) on \(device): \(lse.scalars[row]), torch: inf")
        }
        let unbatched = try engine.logSumExp(Tensor(shape: [3], scalars: [1, inf, 2]))
        #expect(unbatched.scalar == .infinity, "logsumexp([1, inf, 2]) on \(device): \(unbatched.scalars), torch: inf")
    }

    @Test(arguments: Backends.names)
    func emptyBatch(device: String) throws {
        let engine = Backends.engine(device)
        for shape in [[0, 5], [0, 5, 3]] {
            let logits = Tensor<Float>(shape: shape, scalars: [])
            let rowShape = [0] + shape.dropFirst(2)
            let target = CrossEntropyTarget<Float>.classIndices(Tensor(shape: rowShape, scalars: []))
            let context = "logits \(shape) on \(device)"
            let mean = try engine.crossEntropy(logits, target: target, options: .init(reduction: .mean))
            #expect(mean.shape == [] && mean.scalar.isNaN == true, "\(context): mean \(mean)")
            let sum = try engine.crossEntropy(logits, target: target, options: .init(reduction: .sum))
            #expect(sum.shape == [] && sum.scalar == 0, "\(context): sum \(sum)")
            let none = try engine.crossEntropy(logits, target: target, options: .init(reduction: .none))
            #expect(none.shape == rowShape && none.scalars.isEmpty, "\(context): none \(none)")
            let fused = try engine.crossEntropyWithGradient(logits, target: target, options: .init(reduction: .sum))
            #expect(fused.loss.scalar == 0, "\(context): fused sum \(fused.loss)")
            #expect(fused.gradient.shape == shape && fused.gradient.scalars.isEmpty, "\(context): gradient")
            #expect(fused.logSumExp.shape == rowShape, "\(context): logSumExp \(fused.logSumExp.shape)")
            let lse = try engine.logSumExp(logits)
            #expect(lse.shape == rowShape && lse.scalars.isEmpty, "\(context): logSumExp \(lse)")
            let softmax = try engine.softmax(logits)
            #expect(softmax.shape == shape && softmax.scalars.isEmpty, "\(context): softmax \(softmax)")
            let soft = CrossEntropyTarget<Float>.probabilities(Tensor(shape: shape, scalars: []))
            let softMean = try engine.crossEntropy(logits, target: soft, options: .init(reduction: .mean))
            #expect(softMean.scalar.isNaN == true, "\(context): probability targets, mean \(softMean)")
        }
    }

    /// Rows wider than the kernels' cached-row limit (256 KiB) take the one-pass scan, and narrower ones
    /// the two-pass scan; both with weights, label smoothing and probability targets, against the
    /// reference's definitions evaluated row by row (its own `loss()` is O(C²) per row), and the gradient
    /// against the analytic derivative of those definitions.
    @Test(arguments: WideCase.all, Backends.names)
    func wideRowsWithOptionsMatchReference(_ wide: WideCase, device: String) throws {
        let engine = Backends.engine(device)
        switch wide.dtype {
        case .float64: try wideCheck(Double.self, wide, engine, rtol: 1e-11)
        default: try wideCheck(Float.self, wide, engine, rtol: 1e-4)
        }
    }

    /// A zero-sized dimension after the class dimension, as PyTorch's `test_nll_loss_empty_tensor_*`:
    /// `(2, 5, 0)` logits have no rows, so `none` is empty `(2, 0)`, `sum` 0 and `mean` NaN. Run in a
    /// child process, so that a crash fails this test instead of ending the run.
    @Test(arguments: Backends.names)
    func zeroSizedTrailingDimension(device: String) async {
        await #expect(processExitsWith: .success, "logits (2, 5, 0) and (2, 3, 0, 7) on \(device)") { [device] in
            let engine = Backends.engine(device)
            for shape in [[2, 5, 0], [2, 3, 0, 7]] {
                let logits = Tensor<Float>(shape: shape, scalars: [])
                let rowShape = [shape[0]] + shape.dropFirst(2)
                let target = CrossEntropyTarget<Float>.classIndices(Tensor(shape: rowShape, scalars: []))
                let none = try engine.crossEntropy(logits, target: target, options: .init(reduction: .none))
                #expect(none.shape == rowShape && none.scalars.isEmpty, "\(shape) on \(device): none \(none)")
                let sum = try engine.crossEntropy(logits, target: target, options: .init(reduction: .sum))
                #expect(sum.scalar == 0, "\(shape) on \(device): sum \(sum)")
                let mean = try engine.crossEntropy(logits, target: target, options: .init(reduction: .mean))
                #expect(mean.scalar.isNaN == true, "\(shape) on \(device): mean \(mean)")
                let fused = try engine.crossEntropyWithGradient(logits, target: target, options: .init(reduction: .sum))
                #expect(fused.gradient.shape == shape, "\(shape) on \(device): gradient \(fused.gradient.shape)")
                let lse = try engine.logSumExp(logits)
                #expect(lse.shape == rowShape, "\(shape) on \(device): logSumExp \(lse.shape)")
                let softmax = try engine.softmax(logits)
                #expect(softmax.shape == shape, "\(shape) on \(device): softmax \(softmax.shape)")
            }
        }
    }

    /// Float32 logits near 1e4 whose top classes lie close together: PyTorch forms log-softmax as
    /// `(x − max) − log Σ exp(x − max)`, good to float32's relative precision in the result, so loss,
    /// log-softmax, softmax and gradient must keep it too (a logsumexp rounded to float32 at 1e4 first
    /// is off by up to 5e-4, which is 1e-3 of a loss of 0.5).
    @Test(arguments: Backends.names, [5, 37])
    func nearTiesAtLargeMagnitudeKeepFloat32Accuracy(device: String, classes: Int) throws {
        let engine = Backends.engine(device)
        let seed = UInt64(40 + classes)
        var random = SeededRandom(seed: seed)
        let bases: [Float] = [10_000, -10_000, 3_000, 65_000]
        let x = bases.flatMap { base in (0..<classes).map { _ in base + Float.random(in: -2...2, using: &random) } }
        let shape = [bases.count, classes]
        let targets = (0..<bases.count).map { _ in Int64.random(in: 0..<Int64(classes), using: &random) }
        var reference = Reference(shape: shape, logits: x.map(Double.init), targets: targets)
        reference.options.reduction = .none
        let logits = Tensor(shape: shape, scalars: x)
        let target = CrossEntropyTarget<Float>.classIndices(Tensor(shape: [bases.count], scalars: targets))
        let context = "rows near \(bases), C = \(classes), seed \(seed), on \(device)"

        let loss = try engine.crossEntropy(logits, target: target, options: .init(reduction: .none))
        let lossMismatch = firstMismatch(loss.scalars.map(Double.init), reference.loss(), rtol: 1e-5, atol: 1e-6)
        #expect(lossMismatch == nil, "\(context): loss \(lossMismatch ?? "")")
        let expectedLogSoftmax = (0..<x.count).map { reference.logSoftmax(row: $0 / classes, clazz: $0 % classes) }
        let logSoftmax = try engine.logSoftmax(logits)
        let logSoftmaxMismatch = firstMismatch(
            logSoftmax.scalars.map(Double.init), expectedLogSoftmax, rtol: 1e-5, atol: 1e-6)
        #expect(logSoftmaxMismatch == nil, "\(context): logSoftmax \(logSoftmaxMismatch ?? "")")
        let softmax = try engine.softmax(logits)
        let softmaxMismatch = firstMismatch(
            softmax.scalars.map(Double.init), expectedLogSoftmax.map(exp), rtol: 1e-5, atol: 1e-6)
        #expect(softmaxMismatch == nil, "\(context): softmax \(softmaxMismatch ?? "")")
        let gradient = try engine.crossEntropyWithGradient(logits, target: target, options: .init(reduction: .sum))
        let expectedGradient = expectedLogSoftmax.indices.map {
            exp(expectedLogSoftmax[$0]) - ($0 % classes == Int(targets[$0 / classes]) ? 1 : 0)
        }
        let gradientMismatch = firstMismatch(
            gradient.gradient.scalars.map(Double.init), expectedGradient, rtol: 1e-5, atol: 1e-6)
        #expect(gradientMismatch == nil, "\(context): gradient \(gradientMismatch ?? "")")
        let lse = try engine.logSumExp(logits)
        let lseMismatch = firstMismatch(
            lse.scalars.map(Double.init), (0..<bases.count).map { reference.logSumExp(row: $0) }, rtol: 1e-6)
        #expect(lseMismatch == nil, "\(context): logSumExp \(lseMismatch ?? "")")
    }

    /// Every target ignored: `mean` is 0/0 = NaN (as PyTorch), `sum` is 0, `none` is all zeros, and the
    /// gradient is zero for every reduction (no NaN leaks from the 1/0 scale of `mean`).
    @Test(arguments: Backends.names, [-100, 2])
    func allTargetsIgnored(device: String, ignoreIndex: Int) throws {
        let engine = Backends.engine(device)
        var random = SeededRandom(seed: 7)
        let logits = Tensor<Float>(
            shape: [3, 4], scalars: (0..<12).map { _ in Float.random(in: -3...3, using: &random) })
        let target = CrossEntropyTarget<Float>.classIndices(
            Tensor(shape: [3], scalars: [Int64](repeating: Int64(ignoreIndex), count: 3)))
        let context = "ignore index \(ignoreIndex) on \(device)"
        for weight in [nil, [0.5, 1, 2, 3]] as [[Double]?] {
            for smoothing in [0, 0.2] {
                let options = { (reduction: LossReduction) in
                    CrossEntropyOptions(
                        reduction: reduction, weight: weight, ignoreIndex: ignoreIndex, labelSmoothing: smoothing)
                }
                let mean = try engine.crossEntropy(logits, target: target, options: options(.mean))
                #expect(mean.scalar.isNaN == true, "\(context), smoothing \(smoothing): mean \(mean.scalars)")
                let sum = try engine.crossEntropy(logits, target: target, options: options(.sum))
                #expect(sum.scalar == 0, "\(context), smoothing \(smoothing): sum \(sum.scalars)")
                let none = try engine.crossEntropy(logits, target: target, options: options(.none))
                #expect(none.scalars == [0, 0, 0], "\(context), smoothing \(smoothing): none \(none.scalars)")
                for reduction in LossReduction.allCases {
                    let fused = try engine.crossEntropyWithGradient(logits, target: target, options: options(reduction))
                    #expect(
                        fused.gradient.scalars.allSatisfy { $0 == 0 },
                        "\(context), smoothing \(smoothing), \(reduction): gradient \(fused.gradient.scalars)")
                }
            }
        }
    }

    private func wideCheck<T: LogitsScalar>(
        _: T.Type, _ wide: WideCase, _ engine: CrossEntropyEngine, rtol: Double
    ) throws {
        let (rows, classes) = (wide.shape[0], wide.shape[1])
        var random = SeededRandom(seed: wide.seed)
        let x = (0..<rows * classes).map { _ in T(Double.random(in: -4...4, using: &random)) }
        let weight = (0..<classes).map { _ in Double.random(in: 0.5...2, using: &random) }
        let targets = (0..<rows).map { _ in Int64.random(in: 0..<Int64(classes), using: &random) }
        var q = (0..<rows * classes).map { _ in Double.random(in: 0...1, using: &random) }
        for row in 0..<rows {
            let total = q[(row * classes)..<((row + 1) * classes)].reduce(0, +)
            for c in 0..<classes { q[row * classes + c] /= total }
        }
        let probabilities = q.map { T($0) }
        let epsilon = 0.1
        let reference = Reference(shape: wide.shape, logits: x.map(Double.init))
        let lse = (0..<rows).map { reference.logSumExp(row: $0) }
        let totalWeight = weight.reduce(0, +)

        // Per-class factors v_c of Σ v_c (lse − x_c), and the extra −(1 − ε)·w_y at the target.
        var losses: [Double] = []
        var gradient: [Double] = []
        for row in 0..<rows {
            let xs = (0..<classes).map { reference.logits[row * classes + $0] }
            let v: [Double]
            if wide.probabilities {
                v = (0..<classes).map {
                    weight[$0] * ((1 - epsilon) * Double(probabilities[row * classes + $0]) + epsilon / Double(classes))
                }
            } else {
                let y = Int(targets[row])
                v = (0..<classes).map {
                    epsilon / Double(classes) * weight[$0] + ($0 == y ? (1 - epsilon) * weight[y] : 0)
                }
            }
            losses.append(zip(v, xs).map { $0 * (lse[row] - $1) }.reduce(0, +))
            let mass =
                wide.probabilities
                ? v.reduce(0, +) : (1 - epsilon) * weight[Int(targets[row])] + epsilon * totalWeight / Double(classes)
            gradient += (0..<classes).map { mass * exp(xs[$0] - lse[row]) - v[$0] }
        }

        let logits = Tensor(shape: wide.shape, scalars: x)
        let target: CrossEntropyTarget<T> =
            wide.probabilities
            ? .probabilities(Tensor(shape: wide.shape, scalars: probabilities))
            : .classIndices(Tensor(shape: [rows], scalars: targets))
        let options = CrossEntropyOptions(reduction: .none, weight: weight, labelSmoothing: epsilon)
        let result = try engine.crossEntropyWithGradient(logits, target: target, options: options)
        let context = "\(T.self) \(wide.testDescription) on \(engine.device.name)"
        let lossMismatch = firstMismatch(result.loss.scalars.map(Double.init), losses, rtol: rtol)
        #expect(lossMismatch == nil, "\(context): loss \(lossMismatch ?? "")")
        // Where mass·p_c and v_c nearly cancel, only the absolute error (p's, from the rounded logsumexp) counts.
        let gradientMismatch = firstMismatch(
            result.gradient.scalars.map(Double.init), gradient, rtol: rtol, atol: rtol * 1e-4)
        #expect(gradientMismatch == nil, "\(context): gradient \(gradientMismatch ?? "")")
        let lseMismatch = firstMismatch(result.logSumExp.scalars.map(Double.init), lse, rtol: rtol * 0.1)
        #expect(lseMismatch == nil, "\(context): logSumExp \(lseMismatch ?? "")")
    }

    private func compare<T: LogitsScalar>(_: T.Type, _ testCase: ReferenceCase, _ engine: CrossEntropyEngine) throws {
        var random = SeededRandom(seed: testCase.seed)
        let count = testCase.shape.reduce(1, *)
        let stored = (0..<count).map { _ in T(Double.random(in: -testCase.scale...testCase.scale, using: &random)) }
        let targets = (0..<testCase.rows).map { _ in Int64.random(in: 0..<Int64(testCase.classes), using: &random) }
        let logits = Tensor(shape: testCase.shape, scalars: stored)
        let target = CrossEntropyTarget<T>.classIndices(Tensor(shape: testCase.rowShape, scalars: targets))
        var reference = Reference(shape: testCase.shape, logits: stored.map(Double.init), targets: targets)
        let tolerance = Tolerance(T.self, testCase)
        let context = "\(T.self) \(testCase.testDescription) on \(engine.device.name)"

        // The reference's own loss is O(C²) per row: wider rows take its definition row by row.
        let lse = (0..<testCase.rows).map { reference.logSumExp(row: $0) }
        let wide = testCase.classes > 64
        let rowLosses = (0..<testCase.rows).map {
            lse[$0] - reference.logits[reference.index(row: $0, clazz: Int(targets[$0]))]
        }
        for reduction in LossReduction.allCases {
            reference.options.reduction = reduction
            let expected: [Double] =
                switch (wide, reduction) {
                case (false, _): reference.loss()
                case (true, .none): rowLosses
                case (true, .sum): [rowLosses.reduce(0, +)]
                case (true, .mean): [rowLosses.reduce(0, +) / Double(testCase.rows)]
                }
            let loss = try engine.crossEntropy(logits, target: target, options: .init(reduction: reduction))
            let expectedShape = reduction == .none ? testCase.rowShape : []
            #expect(loss.shape == expectedShape, "\(context): \(reduction) loss shape \(loss.shape)")
            // A reduced loss carries the rounding of every row.
            let atol = reduction == .none ? tolerance.atol : tolerance.atol * Double(testCase.rows)
            let mismatch = firstMismatch(loss.scalars.map(Double.init), expected, rtol: tolerance.rtol, atol: atol)
            #expect(mismatch == nil, "\(context): \(reduction) loss \(mismatch ?? "")")
        }

        let logSumExp = try engine.logSumExp(logits)
        #expect(logSumExp.shape == testCase.rowShape, "\(context): logSumExp shape \(logSumExp.shape)")
        let lseMismatch = firstMismatch(
            logSumExp.scalars.map(Double.init), lse, rtol: tolerance.rtol, atol: tolerance.atol)
        #expect(lseMismatch == nil, "\(context): logSumExp \(lseMismatch ?? "")")

        var expectedLogSoftmax = [Double](repeating: 0, count: count)
        for row in 0..<testCase.rows {
            for clazz in 0..<testCase.classes {
                let i = reference.index(row: row, clazz: clazz)
                expectedLogSoftmax[i] = reference.logits[i] - lse[row]
            }
        }
        let logSoftmax = try engine.logSoftmax(logits)
        #expect(logSoftmax.shape == testCase.shape, "\(context): logSoftmax shape \(logSoftmax.shape)")
        let logSoftmaxMismatch = firstMismatch(
            logSoftmax.scalars.map(Double.init), expectedLogSoftmax, rtol: tolerance.rtol, atol: tolerance.atol)
        #expect(logSoftmaxMismatch == nil, "\(context): logSoftmax \(logSoftmaxMismatch ?? "")")

        let softmax = try engine.softmax(logits)
        #expect(softmax.shape == testCase.shape, "\(context): softmax shape \(softmax.shape)")
        let softmaxMismatch = firstMismatch(
            softmax.scalars.map(Double.init), expectedLogSoftmax.map(exp), rtol: tolerance.softmaxRtol,
            atol: tolerance.softmaxAtol)
        #expect(softmaxMismatch == nil, "\(context): softmax \(softmaxMismatch ?? "")")
    }
}

/// A wide-row case: `(rows, C)` logits with weights and label smoothing 0.1.
struct WideCase: Sendable, CustomTestStringConvertible {
    var dtype: LogitsDType
    var shape: [Int]
    var probabilities: Bool
    var seed: UInt64

    var testDescription: String {
        "\(dtype) \(shape) \(probabilities ? "probabilities" : "indices"), weighted, ε 0.1, seed \(seed)"
    }

    /// Float rows over 65 536 classes and Double rows over 32 768 take the one-pass scan.
    static let all: [WideCase] = [
        WideCase(dtype: .float32, shape: [1, 70_001], probabilities: false, seed: 601),
        WideCase(dtype: .float32, shape: [1, 70_001], probabilities: true, seed: 602),
        WideCase(dtype: .float32, shape: [3, 1001], probabilities: false, seed: 603),
        WideCase(dtype: .float32, shape: [3, 1001], probabilities: true, seed: 604),
        WideCase(dtype: .float64, shape: [1, 33_003], probabilities: false, seed: 605),
        WideCase(dtype: .float64, shape: [1, 33_003], probabilities: true, seed: 606),
    ]
}

/// How close each type's results must be to the reference: what PyTorch itself achieves in the logits'
/// type, whatever their magnitude (it forms log-softmax as `(x − max) − log Σ exp(x − max)`).
private struct Tolerance {
    var rtol: Double
    /// Absolute slack, for values near zero (log-softmax of a dominant class, small losses).
    var atol: Double
    var softmaxRtol: Double
    var softmaxAtol: Double

    init<T: LogitsScalar>(_: T.Type, _ testCase: ReferenceCase) {
        switch T.dtype {
        case .float64:
            rtol = 1e-12
            atol = 1e-13
            softmaxRtol = 1e-12
            softmaxAtol = 1e-15
        case .float32:
            rtol = testCase.classes >= 10_000 ? 1e-4 : 1e-5
            atol = 1e-6
            softmaxRtol = rtol
            softmaxAtol = 1e-6
        case .float16:
            rtol = 1e-3
            atol = 1e-3
            softmaxRtol = 1e-3
            softmaxAtol = 1e-4
        case .bfloat16:
            // Outputs rounded to 8 significant bits: half an ulp is 2^-9 of the value.
            rtol = 4e-3
            atol = 4e-3
            softmaxRtol = 4e-3
            softmaxAtol = 1e-4
        }
    }
}

/// The rows of `nonFiniteLogitsFollowPyTorch`: finite random logits with one special value per row.
private struct EdgeRows {
    enum Expected { case nan, positiveInfinity, finite }

    struct Kind {
        var name: String
        /// Where the special value goes (`nil`: every class), and what it is.
        var position: Int?
        var value: Float
        var target: Int64
        var withoutSmoothing: Expected
        var withSmoothing: Expected

        init(
            _ name: String, _ position: Int?, _ value: Float, target: Int64, _ withoutSmoothing: Expected,
            _ withSmoothing: Expected
        ) {
            (self.name, self.position, self.value, self.target) = (name, position, value, target)
            (self.withoutSmoothing, self.withSmoothing) = (withoutSmoothing, withSmoothing)
        }

        func expected(smoothing: Double) -> Expected { smoothing == 0 ? withoutSmoothing : withSmoothing }
    }

    let classes: Int
    let kinds: [Kind]
    /// Row-major `(rows, classes)` logits.
    let logits: [Float]

    init(classes: Int, seed: UInt64) {
        self.classes = classes
        var kinds = [Kind("finite row", nil, 0, target: 1, .finite, .finite)]
        for p in Set([1, classes / 2, classes - 1]).sorted() {
            let t = Int64(p == 1 ? 2 : 0)
            kinds += [
                Kind("NaN at \(p)", p, .nan, target: t, .nan, .nan),
                Kind("NaN at target \(p)", p, .nan, target: Int64(p), .nan, .nan),
                Kind("+inf at \(p)", p, .infinity, target: t, .nan, .nan),
                Kind("-inf at target \(p)", p, -.infinity, target: Int64(p), .positiveInfinity, .positiveInfinity),
                Kind("-inf at \(p), target \(t)", p, -.infinity, target: t, .finite, .positiveInfinity),
            ]
        }
        kinds.append(Kind("all -inf", nil, -.infinity, target: 0, .nan, .nan))
        self.kinds = kinds
        var random = SeededRandom(seed: seed)
        var logits: [Float] = []
        for kind in kinds {
            var row = (0..<classes).map { _ in Float.random(in: -3...3, using: &random) }
            if let position = kind.position {
                row[position] = kind.value
            } else if kind.value != 0 {
                row = [Float](repeating: kind.value, count: classes)
            }
            logits += row
        }
        self.logits = logits
    }

    /// `(rows, C)` logits, or the same transposed to `(1, C, rows)`, with their targets.
    func layout(strided: Bool) -> (shape: [Int], logits: [Float], targets: [Int64]) {
        let rows = kinds.count
        let targets = kinds.map(\.target)
        guard strided else { return ([rows, classes], logits, targets) }
        var transposed = [Float](repeating: 0, count: logits.count)
        for row in 0..<rows {
            for clazz in 0..<classes {
                transposed[clazz * rows + row] = logits[row * classes + clazz]
            }
        }
        return ([1, classes, rows], transposed, targets)
    }
}
