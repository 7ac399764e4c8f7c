import CrossEntropy
import Foundation
import Testing
import XentTestSupport

/// Seeded random cases with special values (±inf, NaN, ±1e30, subnormals, -0.0, exact ties) against a float64
/// reference that follows PyTorch's computation step by step, on every backend.
///
/// Every case is named by its seed. To reproduce a failure, run one seed with its full inputs printed:
/// `XENT_RANDOM_SEED=<seed> .build/debug/CrossEntropyPackageTests.xctest --testing-library swift-testing
/// --filter RandomPropertyTests/replaySeed`.
@Suite struct RandomPropertyTests {
    /// Batches per backend; each batch runs `casesPerBatch` seeds, so a failure names its batch and seed.
    static let batches = 0..<64
    static let casesPerBatch = 32
    /// 64 × 32 = 2,048 random cases per backend and run.
    static var casesPerRun: Int { batches.count * casesPerBatch }

    @Test(arguments: batches)
    func randomCasesMatchTheReference(batch: Int) throws {
        var mismatches: [String] = []
        for offset in 0..<Self.casesPerBatch {
            let seed = UInt64(batch * Self.casesPerBatch + offset)
            let testCase = RandomLossCase(seed: seed)
            let expected = testCase.expectation()
            for device in Backends.names {
                for mismatch in try testCase.check(on: Backends.engine(device), expected) {
                    mismatches.append(
                        "seed \(seed) (\(testCase.summary)) on \(device): \(mismatch). Reproduce: "
                            + "XENT_RANDOM_SEED=\(seed) ... --filter RandomPropertyTests/replaySeed")
                }
            }
        }
        #expect(
            mismatches.isEmpty,
            "batch \(batch), \(mismatches.count) mismatches:\n\(mismatches.joined(separator: "\n"))")
    }

    /// Runs the seed named by `XENT_RANDOM_SEED` on every backend and prints its inputs.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["XENT_RANDOM_SEED"] != nil, "needs XENT_RANDOM_SEED"))
    func replaySeed() throws {
        let text = ProcessInfo.processInfo.environment["XENT_RANDOM_SEED"] ?? ""
        let seed = try #require(UInt64(text), "XENT_RANDOM_SEED=\(text) is not a seed")
        let testCase = RandomLossCase(seed: seed)
        print(testCase.details)
        let expected = testCase.expectation()
        for device in Backends.names {
            let mismatches = try testCase.check(on: Backends.engine(device), expected)
            #expect(mismatches.isEmpty, "seed \(seed) on \(device):\n\(mismatches.joined(separator: "\n"))")
        }
    }

    /// The seeds cover every kind of value, target and option, so that a green run means something.
    @Test func casesCoverEverySpecialValueAndOption() {
        var seen: Set<String> = []
        for seed in 0..<UInt64(Self.casesPerRun) {
            seen.formUnion(RandomLossCase(seed: seed).features)
        }
        let expected: Set<String> = [
            "+inf", "-inf", "nan", "+1e30", "-1e30", "subnormal", "-0.0", "tie", "row of -inf", "row of ties",
            "float", "double", "unbatched", "k-dim", "empty", "lane blocks", "lane squares", "probabilities", "int32",
            "ignore",
            "weight", "zero weight", "smoothing", "smoothing 1",
        ]
        #expect(expected.subtracting(seen).isEmpty, "never generated: \(expected.subtracting(seen).sorted())")
    }

    /// A row of equal logits has loss log C at any magnitude, as in PyTorch, which computes
    /// `(x_y − max) − log Σ`. Regression test for a fixed bug: the library rounded `max + log Σ` in double
    /// before subtracting the target logit, so the log-sum vanished at ±1e30 (loss 0), and Double rows at
    /// 1e12 to 1e17 lost the digits the loss needs.
    @Test(arguments: Backends.names)
    func largeLogitsKeepTheirLogSum(device: String) throws {
        let engine = Backends.engine(device)
        let classes = 8
        let floatLevels: [Float] = [0, 2.5, 1e12, -1e30, 1e30]
        let floatLoss = try engine.crossEntropy(
            Tensor(
                shape: [floatLevels.count, classes],
                scalars: floatLevels.flatMap { Array(repeating: $0, count: classes) }),
            target: .classIndices(
                Tensor(shape: [floatLevels.count], scalars: Array(repeating: 3, count: floatLevels.count))),
            options: .init(reduction: .none))
        for (level, loss) in zip(floatLevels, floatLoss.scalars) {
            #expect(
                isClose(Double(loss), log(8), rtol: 1e-5),
                "Float row of \(classes) × \(level) on \(device): loss \(loss), expected log 8")
        }
        let doubleLevels: [Double] = [0, 1e6, 1e12, 1e17, -1e30]
        let doubleLoss = try engine.crossEntropy(
            Tensor(
                shape: [doubleLevels.count, classes],
                scalars: doubleLevels.flatMap { Array(repeating: $0, count: classes) }),
            target: .classIndices(
                Tensor(shape: [doubleLevels.count], scalars: Array(repeating: 3, count: doubleLevels.count))),
            options: .init(reduction: .none))
        for (level, loss) in zip(doubleLevels, doubleLoss.scalars) {
            #expect(
                isClose(loss, log(8), rtol: 1e-10),
                "Double row of \(classes) × \(level) on \(device): loss \(loss), expected log 8")
        }
    }

    /// `crossEntropyWithGradient` returns each row's logsumexp; for a row holding +inf (and no NaN) it
    /// is +inf, as `logSumExp(_:)` and `torch.logsumexp` give. Regression test for a fixed bug: it was NaN.
    @Test(arguments: Backends.names)
    func gradientCallsLogSumExpOfAnInfiniteRow(device: String) throws {
        let engine = Backends.engine(device)
        let logits = Tensor<Float>(shape: [2, 3], scalars: [1, .infinity, 2, 1, 2, 3])
        let target = CrossEntropyTarget<Float>.classIndices(Tensor(shape: [2], scalars: [0, 1]))
        let plain = try engine.logSumExp(logits).scalars
        #expect(plain[0] == .infinity, "logSumExp of [1, +inf, 2] on \(device): \(plain[0])")
        let result = try engine.crossEntropyWithGradient(logits, target: target, options: .init(reduction: .none))
        #expect(result.loss.scalars[0].isNaN, "loss of [1, +inf, 2] on \(device): \(result.loss.scalars[0])")
        #expect(
            result.logSumExp.scalars[0] == .infinity,
            "crossEntropyWithGradient(...).logSumExp of [1, +inf, 2] on \(device): \(result.logSumExp.scalars[0])")
        #expect(isClose(Double(result.logSumExp.scalars[1]), Double(plain[1]), rtol: 1e-6))
    }

    /// On finite, moderate values the reference's analytic gradient (PyTorch's backward) agrees with its
    /// finite differences, and its logsumexp with the naive `log Σ exp(x)`.
    @Test(arguments: 0..<UInt64(24))
    func referenceGradientAgreesWithFiniteDifferences(seed: UInt64) {
        var random = SeededRandom(seed: 10_000 + seed)
        let shape =
            [Int.random(in: 1...3, using: &random), Int.random(in: 2...9, using: &random)]
            + (Bool.random(using: &random) ? [Int.random(in: 1...2, using: &random)] : [])
        let classes = shape[1]
        let rows = shape[0] * shape.dropFirst(2).reduce(1, *)
        let logits = (0..<shape.reduce(1, *)).map { _ in Double.random(in: -6...6, using: &random) }
        let targets = (0..<rows).map { _ in Int64.random(in: 0..<Int64(classes), using: &random) }
        let weight = (0..<classes).map { _ in Double.random(in: 0.25...3, using: &random) }
        for reduction in LossReduction.allCases {
            let options = CrossEntropyOptions(
                reduction: reduction, weight: weight, ignoreIndex: 0, labelSmoothing: seed % 2 == 0 ? 0 : 0.3)
            let reference = Reference(shape: shape, logits: logits, targets: targets, options: options)
            // (All rows ignored makes the finite differences of a NaN mean NaN; the gradient is 0 there.)
            guard targets.contains(where: { $0 != 0 }) || reduction != .mean else { continue }
            let gradientMismatch = firstMismatch(
                reference.gradient(
                    upstream: reduction == .none ? .elements(Array(repeating: 1, count: rows)) : .scalar(1)),
                reference.finiteDifferenceGradient(), rtol: 0, atol: 1e-6)
            #expect(gradientMismatch == nil, "seed \(seed) \(reduction): gradient \(gradientMismatch ?? "")")
        }
        let reference = Reference(shape: shape, logits: logits)
        let lseMismatch = firstMismatch(
            (0..<rows).map { reference.logSumExp(row: $0) },
            (0..<rows).map { row in
                log((0..<classes).map { exp(logits[reference.index(row: row, clazz: $0)]) }.reduce(0, +))
            }, rtol: 1e-13)
        #expect(lseMismatch == nil, "seed \(seed): logsumexp \(lseMismatch ?? "")")
    }

    /// The reference itself follows PyTorch's rules for special values, row by row.
    @Test func referenceFollowsPyTorchsRulesForSpecialValues() {
        func rowLoss(_ row: [Double], target: Int64, smoothing: Double = 0) -> Double {
            Reference(
                shape: [1, row.count], logits: row, targets: [target],
                options: .init(reduction: .none, labelSmoothing: smoothing)
            ).loss()[0]
        }
        #expect(rowLoss([1, .nan, 2], target: 0).isNaN)
        #expect(rowLoss([1, .infinity, 2], target: 0).isNaN)
        #expect(rowLoss([1, .infinity, 2], target: 1).isNaN)
        #expect(rowLoss([-.infinity, 1, 2], target: 0) == .infinity)
        #expect(rowLoss([-.infinity, 1, 2], target: 1).isFinite)
        #expect(rowLoss([-.infinity, 1, 2], target: 1, smoothing: 0.1) == .infinity)
        #expect(rowLoss([-.infinity, -.infinity], target: 1).isNaN)
        #expect(rowLoss([1e30, 1e30, -1e30], target: 0) == log(2))
        let ignored = Reference(
            shape: [2, 2], logits: [.nan, 1, 2, 3], targets: [5, 5],
            options: .init(reduction: .mean, ignoreIndex: 5))
        #expect(ignored.rowLosses().losses == [0, 0])
        #expect(ignored.loss()[0].isNaN, "mean over nothing")
        let lse = Reference(shape: [4, 2], logits: [1, .infinity, -.infinity, -.infinity, .nan, 1, 3, 3])
        #expect(lse.logSumExp(row: 0) == .infinity)
        #expect(lse.logSumExp(row: 1) == -.infinity)
        #expect(lse.logSumExp(row: 2).isNaN)
        #expect(lse.logSumExp(row: 3) == 3 + log(2))
    }
}

/// One seeded random cross-entropy problem: shape, type, values with special values, target and options.
struct RandomLossCase {
    let seed: UInt64
    var isDouble: Bool
    var shape: [Int]
    /// The logits as the library sees them (rounded to `Float` first for `Float` cases).
    var logits: [Double]
    var targets: [Int64]?
    var int32Targets: Bool
    var probabilities: [Double]?
    var weight: [Double]?
    var ignoreIndex: Int
    var labelSmoothing: Double
    var upstreamScalar: Double
    var upstreamElements: [Double]
    /// What the case holds, for the coverage check and the failure messages.
    var features: Set<String> = []

    var classes: Int { shape.count == 1 ? shape[0] : shape[1] }
    var rows: Int { shape.count == 1 ? 1 : shape[0] * shape.dropFirst(2).reduce(1, *) }
    var rowShape: [Int] { shape.count == 1 ? [] : [shape[0]] + shape.dropFirst(2) }

    var summary: String {
        var parts = ["\(isDouble ? "Double" : "Float") \(shape)"]
        parts.append(probabilities != nil ? "probabilities" : int32Targets ? "int32 indices" : "indices")
        if weight != nil { parts.append("weighted") }
        if ignoreIndex != -100 { parts.append("ignore \(ignoreIndex)") }
        if labelSmoothing > 0 { parts.append("ε=\(labelSmoothing)") }
        let specials = features.intersection(["+inf", "-inf", "nan", "+1e30", "-1e30", "subnormal", "-0.0", "tie"])
        if !specials.isEmpty { parts.append("values " + specials.sorted().joined(separator: ",")) }
        return parts.joined(separator: ", ")
    }

    /// Everything needed to rebuild the case by hand.
    var details: String {
        """
        seed \(seed): \(summary)
        logits \(logits)
        targets \(targets.map { "\($0)" } ?? "-") probabilities \(probabilities.map { "\($0)" } ?? "-")
        weight \(weight.map { "\($0)" } ?? "nil") ignoreIndex \(ignoreIndex) labelSmoothing \(labelSmoothing)
        upstream scalar \(upstreamScalar) elements \(upstreamElements)
        """
    }

    init(seed: UInt64) {
        self.seed = seed
        var random = SeededRandom(seed: 0x5EED_0000 &+ seed)
        isDouble = Bool.random(using: &random)
        features.insert(isDouble ? "double" : "float")

        // Shapes: mostly (N, C) with N in 0...9; some unbatched, some K-dim (a zero extent now and then),
        // some with 10 to 40 rows, which the CPU runs 16 (Float) or 8 (Double) rows per vector for C <= 32.
        let drawnClasses = Int.random(in: 1...70, using: &random)
        switch Int.random(in: 0..<20, using: &random) {
        case 0..<2:
            shape = [drawnClasses]
            features.insert("unbatched")
        case 2..<6:
            let dims = (0..<Int.random(in: 1...2, using: &random)).map { _ in
                Int.random(in: 0...10, using: &random) == 0 ? 0 : Int.random(in: 1...4, using: &random)
            }
            shape = [Int.random(in: 0...4, using: &random), drawnClasses] + dims
            features.insert("k-dim")
        case 6..<8:
            // Half of them with 8, 16, 24 or 32 classes: whole squares of lanes, transposed in registers.
            let squares = Bool.random(using: &random)
            let classes = squares ? 8 * Int.random(in: 1...4, using: &random) : Int.random(in: 1...32, using: &random)
            shape = [Int.random(in: 10...40, using: &random), classes]
            features.insert(squares ? "lane squares" : "lane blocks")
        default:
            shape = [Int.random(in: 0...9, using: &random), drawnClasses]
        }
        if shape.reduce(1, *) == 0 { features.insert("empty") }
        let count = shape.reduce(1, *)
        let rows = shape.count == 1 ? 1 : shape[0] * shape.dropFirst(2).reduce(1, *)
        let layout = Reference(shape: shape, logits: [])
        let classes = layout.classes

        // Values: normal at one of three scales, a share replaced by specials, some rows all ties.
        let scale = [1.0, 4, 30].randomElement(using: &random)!
        let specialShare = [0, 0, 0.03, 0.1, 0.3, 0.8].randomElement(using: &random)!
        var values = (0..<count).map { _ in Self.normal(&random) * scale }
        for row in 0..<rows {
            let indices = (0..<classes).map { layout.index(row: row, clazz: $0) }
            switch Int.random(in: 0..<20, using: &random) {
            case 0:
                let value: Double = [Self.normal(&random), 1e30, -1e30, 0, -.infinity, 2.5].randomElement(
                    using: &random)!
                features.insert(value == -.infinity ? "row of -inf" : "row of ties")
                for index in indices { values[index] = value }
                continue
            case 1 where indices.count > 1:
                // The maximum twice.
                let top = indices.map { values[$0] }.max()!
                values[indices.randomElement(using: &random)!] = top
                values[indices.randomElement(using: &random)!] = top
            default: break
            }
            for index in indices where Double.random(in: 0..<1, using: &random) < specialShare {
                let (value, feature) = Self.special(&random, isDouble: isDouble, row: indices.map { values[$0] })
                values[index] = value
                features.insert(feature)
            }
        }
        logits = isDouble ? values : values.map { Double(Float($0)) }

        // Targets and options.
        weight = nil
        if Int.random(in: 0..<5, using: &random) < 2 {
            weight = (0..<classes).map { _ in
                Int.random(in: 0..<10, using: &random) == 0 ? 0 : Double.random(in: 0.25...3, using: &random)
            }
            features.insert("weight")
            if weight!.contains(0) { features.insert("zero weight") }
        }
        labelSmoothing =
            Bool.random(using: &random)
            ? 0
            : [0.1, 0.37, 1, Double.random(in: 0...1, using: &random)].randomElement(
                using: &random)!
        if labelSmoothing > 0 { features.insert(labelSmoothing == 1 ? "smoothing 1" : "smoothing") }
        ignoreIndex = -100
        int32Targets = false
        targets = nil
        probabilities = nil
        if Int.random(in: 0..<4, using: &random) == 0 {
            var q = (0..<count).map { _ -> Double in
                switch Int.random(in: 0..<10, using: &random) {
                case 0, 1: 0
                case 2: Double(Float.leastNonzeroMagnitude)
                default: Double.random(in: 0...1, using: &random)
                }
            }
            for row in 0..<rows {
                let indices = (0..<classes).map { layout.index(row: row, clazz: $0) }
                let total = indices.map { q[$0] }.reduce(0, +)
                for index in indices {
                    q[index] = total > 0 ? q[index] / total : (index == indices[0] ? 1 : 0)
                }
            }
            probabilities = isDouble ? q : q.map { Double(Float($0)) }
            features.insert("probabilities")
        } else {
            var y = (0..<rows).map { _ in Int64.random(in: 0..<Int64(classes), using: &random) }
            if Int.random(in: 0..<5, using: &random) < 2 {
                ignoreIndex = [-100, -1, Int.random(in: 0..<classes, using: &random), classes].randomElement(
                    using: &random)!
                for row in 0..<rows where Int.random(in: 0..<4, using: &random) == 0 {
                    y[row] = Int64(ignoreIndex)
                }
                if y.contains(Int64(ignoreIndex)) { features.insert("ignore") }
            }
            targets = y
            int32Targets = Int.random(in: 0..<5, using: &random) == 0
            if int32Targets { features.insert("int32") }
        }
        upstreamScalar = [1, -0.75, 2.5].randomElement(using: &random)!
        upstreamElements = (0..<rows).map { _ in Double.random(in: -2...2, using: &random) }
    }

    /// A standard normal value (Box–Muller).
    private static func normal(_ random: inout SeededRandom) -> Double {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &random)
        let v = Double.random(in: 0..<1, using: &random)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }

    /// One special value and its feature name; "tie" copies another value of the row.
    private static func special(
        _ random: inout SeededRandom, isDouble: Bool, row: [Double]
    ) -> (Double, String) {
        let subnormals: [Double] =
            [
                Double(Float.leastNonzeroMagnitude), -Double(Float.leastNonzeroMagnitude),
                Double(Float.leastNormalMagnitude) / 2, Double(Float.leastNormalMagnitude),
            ]
            + (isDouble
                ? [Double.leastNonzeroMagnitude, -Double.leastNonzeroMagnitude, Double.leastNormalMagnitude / 3] : [])
        switch Int.random(in: 0..<9, using: &random) {
        case 0: return (.infinity, "+inf")
        case 1: return (-.infinity, "-inf")
        case 2: return (.nan, "nan")
        case 3: return (1e30, "+1e30")
        case 4: return (-1e30, "-1e30")
        case 5: return (subnormals.randomElement(using: &random)!, "subnormal")
        case 6: return (-0.0, "-0.0")
        default: return (row.randomElement(using: &random)!, "tie")
        }
    }

    func options(_ reduction: LossReduction) -> CrossEntropyOptions {
        CrossEntropyOptions(
            reduction: reduction, weight: weight, ignoreIndex: ignoreIndex, labelSmoothing: labelSmoothing)
    }

    func reference(_ reduction: LossReduction) -> Reference {
        Reference(
            shape: shape, logits: logits, targets: targets, probabilities: probabilities, options: options(reduction))
    }

    func upstream(_ reduction: LossReduction) -> UpstreamGradient {
        reduction == .none ? .elements(upstreamElements) : .scalar(upstreamScalar)
    }

    /// The reference's answers, computed once for all backends.
    struct Expectation {
        var loss: [LossReduction: [Double]] = [:]
        var gradient: [LossReduction: [Double]] = [:]
        var logSumExp: [Double] = []
    }

    func expectation() -> Expectation {
        var expectation = Expectation()
        for reduction in LossReduction.allCases {
            let reference = reference(reduction)
            expectation.loss[reduction] = reference.loss()
            expectation.gradient[reduction] = reference.gradient(upstream: upstream(reduction))
        }
        let plain = reference(.none)
        expectation.logSumExp = (0..<rows).map { plain.logSumExp(row: $0) }
        return expectation
    }

    /// Every mismatch between `engine` and the reference; empty when all agree.
    func check(on engine: CrossEntropyEngine, _ expected: Expectation) throws -> [String] {
        isDouble
            ? try check(Double.self, engine, expected, rtol: 1e-10, atol: 1e-12)
            : try check(Float.self, engine, expected, rtol: 1e-5, atol: 1e-6)
    }

    private func check<T: LogitsScalar>(
        _: T.Type, _ engine: CrossEntropyEngine, _ expected: Expectation, rtol: Double, atol: Double
    ) throws -> [String] {
        var mismatches: [String] = []
        let x = Tensor(shape: shape, scalars: logits.map { T($0) })
        let target: CrossEntropyTarget<T> =
            if let probabilities {
                .probabilities(Tensor(shape: shape, scalars: probabilities.map { T($0) }))
            } else if int32Targets {
                .classIndices32(Tensor(shape: rowShape, scalars: targets!.map { Int32($0) }))
            } else {
                .classIndices(Tensor(shape: rowShape, scalars: targets!))
            }
        func compare(_ what: String, _ actual: [Double], _ wanted: [Double], atol: Double) {
            guard let mismatch = firstMismatch(actual, wanted, rtol: rtol, atol: atol) else { return }
            mismatches.append("\(what): \(mismatch)")
        }
        for reduction in LossReduction.allCases {
            let wantedLoss = expected.loss[reduction]!
            let lossShape = reduction == .none ? rowShape : []
            let loss = try engine.crossEntropy(x, target: target, options: options(reduction))
            if loss.shape != lossShape {
                mismatches.append("\(reduction) loss shape \(loss.shape)")
            }
            compare("\(reduction) loss", loss.scalars.map(Double.init), wantedLoss, atol: atol)

            let result = try engine.crossEntropyWithGradient(
                x, target: target, options: options(reduction), upstream: upstream(reduction))
            if result.loss.shape != lossShape || result.gradient.shape != shape {
                mismatches.append(
                    "\(reduction) shapes: loss \(result.loss.shape), gradient \(result.gradient.shape)")
            }
            compare("\(reduction) loss with gradient", result.loss.scalars.map(Double.init), wantedLoss, atol: atol)
            let wantedGradient = expected.gradient[reduction]!
            // The gradient's scale (upstream / total weight) sets its absolute error.
            let gradientScale = wantedGradient.lazy.filter(\.isFinite).map(abs).max() ?? 1
            compare(
                "\(reduction) gradient (upstream \(upstream(reduction)))", result.gradient.scalars.map(Double.init),
                wantedGradient, atol: atol * max(1, gradientScale))
            compare(
                "\(reduction): logSumExp of crossEntropyWithGradient", result.logSumExp.scalars.map(Double.init),
                expected.logSumExp, atol: atol)
        }
        let lse = try engine.logSumExp(x)
        if lse.shape != rowShape {
            mismatches.append("logSumExp shape \(lse.shape)")
        }
        compare("logSumExp", lse.scalars.map(Double.init), expected.logSumExp, atol: atol)
        return mismatches
    }
}
