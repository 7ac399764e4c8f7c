import Foundation
import Testing
import XentTestSupport

@testable import CrossEntropy

/// One combination of the options for the gradient check: weights × ignored row × label smoothing ×
/// reduction × kind of target × layout.
struct GradientCombination: Sendable, CustomTestStringConvertible {
    var weighted: Bool
    /// One row's target is 2, and `ignoreIndex` is 2 (a valid class), so that row is skipped.
    var ignoring: Bool
    var smoothing: Double
    var reduction: LossReduction
    var probabilities: Bool
    var kDim: Bool
    /// The z-loss's scale (0: none).
    var zLoss: Double = 0
    /// The soft-capping's `s` (nil: none).
    var softcap: Double? = nil
    var seed: UInt64
    /// Another shape than the exhaustive list's `(3, 5)` and `(2, 4, 3)`.
    var customShape: [Int]? = nil

    var shape: [Int] { customShape ?? (kDim ? [2, 4, 3] : [3, 5]) }

    var testDescription: String {
        [
            probabilities ? "probabilities" : "indices", "\(shape)", "\(reduction)",
            weighted ? "weighted" : "unweighted", ignoring ? "ignore 2" : "no ignore", "ε=\(smoothing)",
            zLoss == 0 ? "no z-loss" : "z=\(zLoss)", softcap.map { "softcap \($0)" } ?? "no softcap", "seed \(seed)",
        ].joined(separator: " ")
    }

    /// Every combination; probability targets take no ignore index.
    static let all: [GradientCombination] = {
        var all: [GradientCombination] = []
        for probabilities in [false, true] {
            for kDim in [false, true] {
                for reduction in LossReduction.allCases {
                    for weighted in [false, true] {
                        for ignoring in probabilities ? [false] : [false, true] {
                            for smoothing in [0, 0.2] {
                                for (zLoss, softcap) in [(0, nil), (0.3, nil), (0.3, 2.5)] as [(Double, Double?)] {
                                    all.append(
                                        GradientCombination(
                                            weighted: weighted, ignoring: ignoring, smoothing: smoothing,
                                            reduction: reduction, probabilities: probabilities, kDim: kDim,
                                            zLoss: zLoss, softcap: softcap, seed: UInt64(all.count + 1)))
                                }
                            }
                        }
                    }
                }
            }
        }
        return all
    }()
}

/// The gradient against central differences of the float64 reference, and the gradient entry points
/// against each other.
@Suite struct GradientTests {
    @Test(arguments: GradientCombination.all, Backends.names)
    func gradientMatchesFiniteDifferences(_ combination: GradientCombination, device: String) throws {
        let engine = Backends.engine(device)
        let problem = GradientProblem<Double>(combination)
        let context = "\(combination.testDescription) on \(device)"

        let result = try engine.crossEntropyWithGradient(
            problem.logits, target: problem.target, options: problem.options)
        let lossMismatch = firstMismatch(result.loss.scalars, problem.reference.loss(), rtol: 1e-12, atol: 1e-14)
        #expect(lossMismatch == nil, "\(context): loss \(lossMismatch ?? "")")
        #expect(result.gradient.shape == combination.shape, "\(context): gradient shape \(result.gradient.shape)")
        let expected = problem.reference.finiteDifferenceGradient()
        let mismatch = firstMismatch(result.gradient.scalars, expected, rtol: 0, atol: 1e-6)
        #expect(mismatch == nil, "\(context): gradient \(mismatch ?? "")")
        if combination.ignoring {
            #expect(
                problem.ignoredIndices.allSatisfy { result.gradient.scalars[$0] == 0 },
                "\(context): the ignored row's gradient is not zero")
        }

        // A scalar upstream gradient scales everything.
        let scaled = try engine.crossEntropyWithGradient(
            problem.logits, target: problem.target, options: problem.options, upstream: .scalar(-0.75))
        let scaledExpected = expected.map { -0.75 * $0 }
        let scaledMismatch = firstMismatch(scaled.gradient.scalars, scaledExpected, rtol: 0, atol: 1e-6)
        #expect(scaledMismatch == nil, "\(context), upstream -0.75: gradient \(scaledMismatch ?? "")")

        // `none` takes one upstream value per element: the gradient of Σ upstream·loss.
        if combination.reduction == .none {
            var random = SeededRandom(seed: combination.seed &+ 1000)
            let upstream = (0..<problem.reference.rows).map { _ in Double.random(in: -2...2, using: &random) }
            let weighted = try engine.crossEntropyWithGradient(
                problem.logits, target: problem.target, options: problem.options, upstream: .elements(upstream))
            let upstreamExpected = problem.reference.finiteDifferenceGradient(upstream: upstream)
            let upstreamMismatch = firstMismatch(weighted.gradient.scalars, upstreamExpected, rtol: 0, atol: 1e-6)
            #expect(
                upstreamMismatch == nil,
                "\(context), upstream \(upstream): gradient \(upstreamMismatch ?? "")")
            let lossMismatch = firstMismatch(weighted.loss.scalars, problem.reference.loss(), rtol: 1e-12, atol: 1e-14)
            #expect(lossMismatch == nil, "\(context), upstream elements: loss \(lossMismatch ?? "")")
        }
    }

    /// Overwriting the logits with the gradient gives bit for bit what the out-of-place call gives, for
    /// Float logits and for BFloat16 ones (whose in-place gradient is rounded to bfloat16 as they are).
    @Test(arguments: InPlaceVariant.all, Backends.names)
    func inPlaceIsBitIdenticalToOutOfPlace(_ variant: InPlaceVariant, device: String) throws {
        try inPlaceCheck(Float.self, variant, device: device)
        try inPlaceCheck(BFloat16.self, variant, device: device)
    }

    private func inPlaceCheck<T: LogitsScalar>(_: T.Type, _ variant: InPlaceVariant, device: String) throws {
        let engine = Backends.engine(device)
        let problem = GradientProblem<T>(variant.combination)
        let context = "\(T.self) \(variant.testDescription) on \(device)"
        let upstream: UpstreamGradient =
            if variant.combination.reduction == .none {
                .elements((0..<problem.reference.rows).map { Double($0 % 5) - 1.5 })
            } else {
                .scalar(1.25)
            }
        let outOfPlace = try engine.crossEntropyWithGradient(
            problem.logits, target: problem.target, options: problem.options, upstream: upstream)
        var buffer = problem.logits.scalars
        let inPlace = try buffer.withUnsafeMutableBufferPointer { logits in
            try problem.withTargetBuffer { target in
                try engine.crossEntropyWithGradient(
                    inPlace: logits, shape: problem.logits.shape, target: target, options: problem.options,
                    upstream: upstream)
            }
        }
        // Every value converts to Double exactly: equal bits there are equal bits here.
        let inPlaceBits = buffer.map { Double($0).bitPattern }
        let outOfPlaceBits = outOfPlace.gradient.scalars.map { Double($0).bitPattern }
        let firstDifference = inPlaceBits.indices.first { inPlaceBits[$0] != outOfPlaceBits[$0] }
        #expect(
            firstDifference == nil,
            """
            \(context): gradient element \(firstDifference ?? -1): \
            in place \(firstDifference.map { buffer[$0] } ?? 0), \
            out of place \(firstDifference.map { outOfPlace.gradient.scalars[$0] } ?? 0)
            """)
        #expect(
            inPlace.loss.shape == outOfPlace.loss.shape
                && inPlace.loss.scalars.map({ Double($0).bitPattern })
                    == outOfPlace.loss.scalars.map({ Double($0).bitPattern }),
            "\(context): loss \(inPlace.loss.scalars) vs \(outOfPlace.loss.scalars)")
        #expect(
            inPlace.logSumExp.shape == outOfPlace.logSumExp.shape
                && inPlace.logSumExp.scalars.map({ Double($0).bitPattern })
                    == outOfPlace.logSumExp.scalars.map({ Double($0).bitPattern }),
            "\(context): logSumExp \(inPlace.logSumExp.scalars) vs \(outOfPlace.logSumExp.scalars)")
    }

    /// Rows of 16 KiB and more, whose fused gradient is written while the next row's exps are computed:
    /// every row against the float64 reference, through an ignored row (a row of the general path
    /// between fused rows), weights, smoothing and per-row upstream values, in float and double.
    @Test(arguments: LongRowVariant.all, Backends.names)
    func longRowGradientsMatchReference(_ variant: LongRowVariant, device: String) throws {
        let engine = Backends.engine(device)
        let context = "\(variant.combination.testDescription) on \(device)"
        let upstream: UpstreamGradient =
            variant.combination.reduction == .none
            ? .elements((0..<variant.combination.shape[0]).map { Double($0 % 3) - 0.75 }) : .scalar(1.5)
        if variant.double {
            let problem = GradientProblem<Double>(variant.combination)
            let result = try engine.crossEntropyWithGradient(
                problem.logits, target: problem.target, options: problem.options, upstream: upstream)
            let mismatch = firstMismatch(
                result.gradient.scalars, problem.reference.gradient(upstream: upstream), rtol: 1e-12, atol: 1e-16)
            #expect(mismatch == nil, "\(context), double: gradient \(mismatch ?? "")")
        } else {
            let problem = GradientProblem<Float>(variant.combination)
            let result = try engine.crossEntropyWithGradient(
                problem.logits, target: problem.target, options: problem.options, upstream: upstream)
            // Where a·p and the smoothing term b·v (about 5e-3 here) nearly cancel, a few float roundings of
            // them remain: 1e-9 absolute, and 5e-9 where the OpenCL built-in tanh soft-caps the logits.
            let mismatch = firstMismatch(
                result.gradient.scalars.map(Double.init), problem.reference.gradient(upstream: upstream), rtol: 1e-5,
                atol: variant.combination.softcap == nil ? 1e-9 : 5e-9)
            #expect(mismatch == nil, "\(context), float: gradient \(mismatch ?? "")")
        }
    }

    /// Ignored rows get exactly zero gradient, with weights, label smoothing and any upstream gradient;
    /// the other rows do not.
    @Test(arguments: LossReduction.allCases, Backends.names)
    func ignoredRowsHaveZeroGradient(reduction: LossReduction, device: String) throws {
        let engine = Backends.engine(device)
        for shape in [[6, 11], [2, 11, 3]] {
            for ignoreIndex in [-100, 3] {
                let seed = UInt64(shape.count * 100 + (ignoreIndex + 200))
                var random = SeededRandom(seed: seed)
                let classes = shape[1]
                let rows = shape[0] * shape.dropFirst(2).reduce(1, *)
                let inner = rows / shape[0]
                let count = shape.reduce(1, *)
                let logits = Tensor(
                    shape: shape, scalars: (0..<count).map { _ in Float.random(in: -3...3, using: &random) })
                var targets = (0..<rows).map { _ in Int64.random(in: 0..<Int64(classes), using: &random) }
                let ignored = [1, rows - 2]
                for row in 0..<rows {
                    if ignored.contains(row) {
                        targets[row] = Int64(ignoreIndex)
                    } else if targets[row] == Int64(ignoreIndex) {
                        targets[row] = 0
                    }
                }
                let weight = (0..<classes).map { _ in Double.random(in: 0.5...2, using: &random) }
                let options = CrossEntropyOptions(
                    reduction: reduction, weight: weight, ignoreIndex: ignoreIndex, labelSmoothing: 0.1)
                let upstream: UpstreamGradient =
                    reduction == .none
                    ? .elements((0..<rows).map { _ in Double.random(in: 0.5...2, using: &random) }) : .scalar(2)
                let result = try engine.crossEntropyWithGradient(
                    logits, target: .classIndices(Tensor(shape: [shape[0]] + shape.dropFirst(2), scalars: targets)),
                    options: options, upstream: upstream)
                let context = "shape \(shape) seed \(seed) ignore \(ignoreIndex) \(reduction) on \(device)"
                for row in 0..<rows {
                    let indices = (0..<classes).map { (row / inner) * classes * inner + $0 * inner + row % inner }
                    let values = indices.map { result.gradient.scalars[$0] }
                    if ignored.contains(row) {
                        #expect(values.allSatisfy { $0 == 0 }, "\(context): ignored row \(row) has gradient \(values)")
                    } else {
                        #expect(values.contains { $0 != 0 }, "\(context): kept row \(row) has zero gradient")
                    }
                }
                if reduction == .none {
                    #expect(ignored.allSatisfy { result.loss.scalars[$0] == 0 }, "\(context): ignored rows' loss")
                }
            }
        }
    }

    /// The logsumexp returned with the gradient is each row's, in the target's shape.
    @Test(arguments: [[5, 17], [13], [2, 4, 3], [3, 1001]], Backends.names)
    func returnedLogSumExpMatchesReference(shape: [Int], device: String) throws {
        let engine = Backends.engine(device)
        try logSumExpCheck(Float.self, shape: shape, probabilities: false, engine, rtol: 1e-6, atol: 1e-6)
        try logSumExpCheck(Float.self, shape: shape, probabilities: true, engine, rtol: 1e-6, atol: 1e-6)
        try logSumExpCheck(Double.self, shape: shape, probabilities: false, engine, rtol: 1e-13, atol: 1e-14)
    }

    /// Float16 and BFloat16 logits: the gradient comes back in their type, within its rounding of the
    /// reference, or written as Float, within Float's; the loss is accumulated in Float either way.
    @Test(arguments: Float16Variant.all, Backends.names)
    func halfPrecisionGradientMatchesReference(_ variant: Float16Variant, device: String) throws {
        let engine = Backends.engine(device)
        try halfPrecisionGradientCheck(Float16.self, variant, engine, device: device, atol: 2e-3)
        try halfPrecisionGradientCheck(BFloat16.self, variant, engine, device: device, atol: 1e-2)
    }

    /// A Float gradient of 16-bit logits may not overlap them (it would overwrite rows not yet read); a
    /// gradient of another type than the logits' or Float is refused.
    @Test(arguments: Backends.names)
    func wideGradientMustNotOverlapTheLogits(device: String) {
        let engine = Backends.engine(device)
        var storage = [Float](repeating: 0, count: 64)
        let target = CrossEntropyTargetBuffer<BFloat16>.classIndices(
            UnsafeBufferPointer(start: nil, count: 0), shape: [0])
        storage.withUnsafeMutableBytes { bytes in
            let logits = UnsafeBufferPointer(
                start: bytes.baseAddress!.bindMemory(to: BFloat16.self, capacity: 8), count: 8)
            let gradient = UnsafeMutableBufferPointer(
                start: (bytes.baseAddress! + 4).bindMemory(to: Float.self, capacity: 8), count: 8)
            let error = #expect(throws: CrossEntropyError.self) {
                _ = try engine.crossEntropyWithGradient(
                    logits: logits, shape: [2, 4], target: target, gradientInto: gradient)
            }
            #expect(error?.code == .invalidOption, "\(String(describing: error))")
        }
        var doubles = [Double](repeating: 0, count: 8)
        let floatLogits = [Float](repeating: 0, count: 8)
        floatLogits.withUnsafeBufferPointer { logits in
            doubles.withUnsafeMutableBufferPointer { gradient in
                let error = #expect(throws: CrossEntropyError.self) {
                    _ = try engine.crossEntropyWithGradient(
                        logits: logits, shape: [2, 4],
                        target: .classIndices(UnsafeBufferPointer(start: nil, count: 0), shape: [0]),
                        gradientInto: gradient)
                }
                #expect(error?.code == .invalidOption, "\(String(describing: error))")
            }
        }
    }

    private func halfPrecisionGradientCheck<T: LogitsScalar>(
        _: T.Type, _ variant: Float16Variant, _ engine: CrossEntropyEngine, device: String, atol: Double
    ) throws where T.Accumulator == Float {
        let problem = GradientProblem<T>(variant.combination)
        let result = try engine.crossEntropyWithGradient(
            problem.logits, target: problem.target, options: problem.options)
        let context = "\(T.self) \(variant.combination.testDescription) on \(device)"
        #expect(type(of: result.gradient.scalars) == [T].self, "\(context): gradient type")
        #expect(type(of: result.loss.scalars) == [Float].self, "\(context): loss type")
        let expected = problem.reference.gradient(upstream: .scalar(1))
        let mismatch = firstMismatch(result.gradient.scalars.map(Double.init), expected, rtol: 0, atol: atol)
        #expect(mismatch == nil, "\(context): gradient \(mismatch ?? "")")
        let lossMismatch = firstMismatch(
            result.loss.scalars.map(Double.init), problem.reference.loss(), rtol: 1e-5, atol: 1e-6)
        #expect(lossMismatch == nil, "\(context): loss \(lossMismatch ?? "")")

        var wide = [Float](repeating: .nan, count: problem.logits.scalars.count)
        try problem.logits.scalars.withUnsafeBufferPointer { logits in
            try problem.target.withBuffer { target in
                try wide.withUnsafeMutableBufferPointer { gradient in
                    _ = try engine.crossEntropyWithGradient(
                        logits: logits, shape: problem.logits.shape, target: target, options: problem.options,
                        gradientInto: gradient)
                }
            }
        }
        let wideMismatch = firstMismatch(wide.map(Double.init), expected, rtol: 1e-5, atol: 1e-6)
        #expect(wideMismatch == nil, "\(context): Float gradient \(wideMismatch ?? "")")
    }

    private func logSumExpCheck<T: LogitsScalar>(
        _: T.Type, shape: [Int], probabilities: Bool, _ engine: CrossEntropyEngine, rtol: Double, atol: Double
    ) throws {
        let seed = UInt64(shape.reduce(19) { $0 * 3 + $1 })
        var random = SeededRandom(seed: seed)
        let count = shape.reduce(1, *)
        let classes = shape.count == 1 ? shape[0] : shape[1]
        let rowShape = shape.count == 1 ? [] : [shape[0]] + shape.dropFirst(2)
        let logits = (0..<count).map { _ in T(Double.random(in: -4...4, using: &random)) }
        var reference = Reference(shape: shape, logits: logits.map(Double.init))
        let target: CrossEntropyTarget<T>
        if probabilities {
            var q = (0..<count).map { _ in Double.random(in: 0.05...1, using: &random) }
            for row in 0..<reference.rows {
                let indices = (0..<classes).map { reference.index(row: row, clazz: $0) }
                let total = indices.map { q[$0] }.reduce(0, +)
                for i in indices { q[i] /= total }
            }
            target = .probabilities(Tensor(shape: shape, scalars: q.map { T($0) }))
        } else {
            let targets = (0..<reference.rows).map { _ in Int64.random(in: 0..<Int64(classes), using: &random) }
            reference.targets = targets
            target = .classIndices(Tensor(shape: rowShape, scalars: targets))
        }
        let result = try engine.crossEntropyWithGradient(Tensor(shape: shape, scalars: logits), target: target)
        let context = "\(T.self) shape \(shape) seed \(seed) probabilities \(probabilities) on \(engine.device.name)"
        #expect(result.logSumExp.shape == rowShape, "\(context): logSumExp shape \(result.logSumExp.shape)")
        let expected = (0..<reference.rows).map { reference.logSumExp(row: $0) }
        let mismatch = firstMismatch(result.logSumExp.scalars.map(Double.init), expected, rtol: rtol, atol: atol)
        #expect(mismatch == nil, "\(context): logSumExp \(mismatch ?? "")")
    }
}

/// A case of the in-place check: Float logits, random 8×37 (and one K-dim layout).
struct InPlaceVariant: Sendable, CustomTestStringConvertible {
    var name: String
    var combination: GradientCombination

    var testDescription: String { "\(name): \(combination.testDescription)" }

    static let all: [InPlaceVariant] =
        ([
            ("class indices", GradientCombination.make(reduction: .mean)),
            ("class indices, sum", GradientCombination.make(reduction: .sum)),
            ("class indices, none", GradientCombination.make(reduction: .none)),
            (
                "class indices, weights, ignored row, smoothing 0.1",
                GradientCombination.make(reduction: .mean, weighted: true, ignoring: true, smoothing: 0.1)
            ),
            ("probabilities", GradientCombination.make(reduction: .mean, probabilities: true)),
            (
                "probabilities, weights, smoothing 0.1",
                GradientCombination.make(reduction: .sum, weighted: true, smoothing: 0.1, probabilities: true)
            ),
            ("K-dim, smoothing 0.1", GradientCombination.make(reduction: .mean, smoothing: 0.1, shape: [2, 37, 4])),
            (
                "long rows, ignored row",
                GradientCombination.make(reduction: .mean, ignoring: true, shape: [5, 4_101])
            ),
            (
                "z-loss, weights, ignored row",
                GradientCombination.make(reduction: .mean, weighted: true, ignoring: true, zLoss: 0.2)
            ),
            ("long rows, z-loss", GradientCombination.make(reduction: .none, zLoss: 0.2, shape: [5, 4_101])),
            ("soft-capping", GradientCombination.make(reduction: .mean, ignoring: true, softcap: 2, shape: [8, 37])),
            (
                "long rows, soft-capping",
                GradientCombination.make(reduction: .sum, zLoss: 0.1, softcap: 5, shape: [5, 4_101])
            ),
        ] as [(String, GradientCombination)]).enumerated().map { offset, variant in
            var combination = variant.1
            combination.seed = UInt64(500 + offset)
            return InPlaceVariant(name: variant.0, combination: combination)
        }
}

/// A case of the long-row gradient check: rows of 16 KiB and more, of a class count that is no
/// multiple of a vector.
struct LongRowVariant: Sendable, CustomTestStringConvertible {
    var combination: GradientCombination
    var double: Bool

    var testDescription: String { "\(double ? "double" : "float") \(combination.testDescription)" }

    static let all: [LongRowVariant] = [
        (GradientCombination.make(reduction: .mean, shape: [6, 4_100]), false),
        (
            GradientCombination.make(
                reduction: .sum, weighted: true, ignoring: true, smoothing: 0.1, shape: [5, 4_107]), false
        ),
        (GradientCombination.make(reduction: .none, ignoring: true, shape: [4, 2_053]), true),
        // The z-loss on the pipelined rows, and on fused rows below 16 KiB (C fallback), both with
        // weights (the z-loss's mean divides by the rows kept, the cross-entropy's by their weight).
        (
            GradientCombination.make(
                reduction: .mean, weighted: true, ignoring: true, smoothing: 0.1, zLoss: 0.05, shape: [5, 4_107]),
            false
        ),
        (
            GradientCombination.make(reduction: .mean, weighted: true, ignoring: true, zLoss: 0.05, shape: [7, 4_100]),
            true
        ),
        (
            GradientCombination.make(reduction: .sum, weighted: true, ignoring: true, zLoss: 0.05, shape: [9, 40]),
            false
        ),
        (GradientCombination.make(reduction: .none, ignoring: true, zLoss: 0.05, shape: [9, 40]), true),
        // Soft-capping on the pipelined and fused rows (C fallback; general rows on OpenCL) and across
        // the C fallback's blocks of capped rows.
        (GradientCombination.make(reduction: .mean, ignoring: true, softcap: 3, shape: [5, 4_107]), false),
        (GradientCombination.make(reduction: .sum, weighted: true, zLoss: 0.05, softcap: 2, shape: [40, 40]), true),
        (GradientCombination.make(reduction: .none, smoothing: 0.1, softcap: 4, shape: [600, 33]), false),
    ].enumerated().map { offset, variant in
        var combination = variant.0
        combination.seed = UInt64(900 + offset)
        return LongRowVariant(combination: combination, double: variant.1)
    }
}

/// A case of the Float16 and BFloat16 gradient check.
struct Float16Variant: Sendable, CustomTestStringConvertible {
    var combination: GradientCombination

    var testDescription: String { combination.testDescription }

    static let all: [Float16Variant] = [
        GradientCombination.make(reduction: .mean, shape: [4, 9]),
        GradientCombination.make(reduction: .sum, weighted: true, smoothing: 0.2, shape: [4, 9]),
        GradientCombination.make(reduction: .none, probabilities: true, shape: [4, 9]),
        GradientCombination.make(reduction: .mean, weighted: true, ignoring: true, smoothing: 0.1, shape: [2, 5, 3]),
        GradientCombination.make(reduction: .sum, probabilities: true, shape: [2, 5, 3]),
        GradientCombination.make(reduction: .mean, shape: [2, 40]),
        // The fused gradient (rows under 16 KiB) and the pipelined one (rows from 16 KiB), with rows that
        // end and start off a cache line.
        GradientCombination.make(reduction: .mean, weighted: true, smoothing: 0.1, shape: [5, 1001]),
        GradientCombination.make(reduction: .sum, ignoring: true, zLoss: 1e-2, shape: [4, 9001]),
        GradientCombination.make(reduction: .mean, softcap: 2, shape: [4, 77]),
    ].enumerated().map { offset, combination in
        var combination = combination
        combination.seed = UInt64(700 + offset)
        return Float16Variant(combination: combination)
    }
}

extension GradientCombination {
    /// A combination of another shape than the exhaustive list's (8×37 unless given).
    static func make(
        reduction: LossReduction, weighted: Bool = false, ignoring: Bool = false, smoothing: Double = 0,
        probabilities: Bool = false, zLoss: Double = 0, softcap: Double? = nil, shape: [Int] = [8, 37]
    ) -> GradientCombination {
        var combination = GradientCombination(
            weighted: weighted, ignoring: ignoring, smoothing: smoothing, reduction: reduction,
            probabilities: probabilities, kDim: shape.count > 2, zLoss: zLoss, softcap: softcap, seed: 0)
        combination.customShape = shape
        return combination
    }
}

/// Random logits, targets and options for one combination, in the logits' type, with the reference
/// built from the very same (rounded) values.
private struct GradientProblem<T: LogitsScalar> {
    let logits: Tensor<T>
    let target: CrossEntropyTarget<T>
    let options: CrossEntropyOptions
    let reference: Reference
    /// The logits indices of the ignored row.
    let ignoredIndices: [Int]
    private let targetIndices: [Int64]
    private let probabilities: [T]

    init(_ combination: GradientCombination) {
        let shape = combination.shape
        var random = SeededRandom(seed: combination.seed)
        let count = shape.reduce(1, *)
        let classes = shape[1]
        let rowShape = [shape[0]] + shape.dropFirst(2)
        let stored = (0..<count).map { _ in T(Double.random(in: -3...3, using: &random)) }
        var reference = Reference(shape: shape, logits: stored.map(Double.init))
        let weight =
            combination.weighted ? (0..<classes).map { _ in Double.random(in: 0.25...2.5, using: &random) } : nil
        let ignoreIndex = combination.ignoring ? 2 : -100
        options = CrossEntropyOptions(
            reduction: combination.reduction, weight: weight, ignoreIndex: ignoreIndex,
            labelSmoothing: combination.smoothing, zLossScale: combination.zLoss, softcap: combination.softcap)
        reference.options = options
        logits = Tensor(shape: shape, scalars: stored)
        if combination.probabilities {
            var q = (0..<count).map { _ in Double.random(in: 0.05...1, using: &random) }
            for row in 0..<reference.rows {
                let indices = (0..<classes).map { reference.index(row: row, clazz: $0) }
                let total = indices.map { q[$0] }.reduce(0, +)
                for i in indices { q[i] /= total }
            }
            probabilities = q.map { T($0) }
            reference.probabilities = probabilities.map(Double.init)
            target = .probabilities(Tensor(shape: shape, scalars: probabilities))
            targetIndices = []
            ignoredIndices = []
        } else {
            var targets = (0..<reference.rows).map { _ in Int64.random(in: 0..<Int64(classes), using: &random) }
            var ignored: [Int] = []
            if combination.ignoring {
                // Exactly one row (the second) is ignored; the others avoid class 2.
                for row in targets.indices where targets[row] == 2 {
                    targets[row] = 0
                }
                targets[1] = 2
                ignored = (0..<classes).map { reference.index(row: 1, clazz: $0) }
            }
            reference.targets = targets
            targetIndices = targets
            target = .classIndices(Tensor(shape: rowShape, scalars: targets))
            probabilities = []
            ignoredIndices = ignored
        }
        self.reference = reference
    }

    /// Calls `body` with the target in caller memory.
    func withTargetBuffer<R>(_ body: (CrossEntropyTargetBuffer<T>) throws -> R) rethrows -> R {
        if case .probabilities(let tensor) = target {
            return try tensor.scalars.withUnsafeBufferPointer { try body(.probabilities($0, shape: tensor.shape)) }
        }
        let shape = [logits.shape[0]] + logits.shape.dropFirst(2)
        return try targetIndices.withUnsafeBufferPointer { try body(.classIndices($0, shape: shape)) }
    }
}
