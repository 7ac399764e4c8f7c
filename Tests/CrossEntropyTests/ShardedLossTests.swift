import Foundation
import Testing
import XentTestSupport

@testable import CrossEntropy

/// The vocabulary-parallel and data-parallel losses, their members played by threads sharing an
/// `InProcessCollective`, against the single-process loss and gradient of the same logits, for 1–4
/// members (uneven splits among them), every option, on every backend.
@Suite struct ShardedLossTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var rows: Int
        var classes: Int
        var options = CrossEntropyOptions()
        var probabilities = false
        var ignoredRows: [Int] = []
        var elementUpstream = false
        var seed: UInt64

        var testDescription: String {
            "\(rows)×\(classes) \(options.reduction)\(options.weight == nil ? "" : " weighted") ε \(options.labelSmoothing)"
                + " z \(options.zLossScale) softcap \(options.softcap.map { "\($0)" } ?? "-")"
                + (probabilities ? " probabilities" : " ignored \(ignoredRows)") + (elementUpstream ? " upstream" : "")
        }

        static let all: [Case] = [
            Case(rows: 7, classes: 10, seed: 1),
            Case(rows: 9, classes: 37, options: .init(reduction: .sum, labelSmoothing: 0.1), ignoredRows: [2], seed: 2),
            Case(
                rows: 6, classes: 50,
                options: .init(
                    weight: (0..<50).map { 0.5 + Double($0 % 7) / 4 }, labelSmoothing: 0.2, zLossScale: 0.01),
                ignoredRows: [0, 5], seed: 3),
            Case(
                rows: 5, classes: 1001, options: .init(reduction: .none, zLossScale: 1e-3, softcap: 4),
                ignoredRows: [3],
                elementUpstream: true, seed: 4),
            Case(
                rows: 4, classes: 23, options: .init(weight: (0..<23).map { 1 + Double($0 % 3) }, labelSmoothing: 0.15),
                probabilities: true, seed: 5),
            Case(rows: 3, classes: 300, options: .init(zLossScale: 0.02, softcap: 2.5), probabilities: true, seed: 6),
            // Hundreds of rows of thousands of classes.
            Case(
                rows: 600, classes: 2000,
                options: .init(
                    weight: (0..<2000).map { 0.5 + Double($0 % 5) / 4 }, labelSmoothing: 0.1, zLossScale: 1e-3),
                ignoredRows: [0, 300, 599], seed: 8),
            Case(
                rows: 530, classes: 2100, options: .init(reduction: .none, labelSmoothing: 0.05, softcap: 5),
                probabilities: true, elementUpstream: true, seed: 9),
        ]
    }

    /// Random logits, targets and upstream of `testCase`.
    struct Inputs {
        var logits: [Float]
        var targets: [Int64]
        var probabilities: [Float]
        var upstream: UpstreamGradient

        init(_ testCase: Case) {
            var random = SeededRandom(seed: testCase.seed)
            logits = (0..<(testCase.rows * testCase.classes)).map { _ in Float.random(in: -5...5, using: &random) }
            targets = (0..<testCase.rows).map { row in
                testCase.ignoredRows.contains(row)
                    ? Int64(testCase.options.ignoreIndex)
                    : Int64.random(in: 0..<Int64(testCase.classes), using: &random)
            }
            var q = (0..<(testCase.rows * testCase.classes)).map { _ in Float.random(in: 0.01...1, using: &random) }
            for row in 0..<testCase.rows {
                let total = q[(row * testCase.classes)..<((row + 1) * testCase.classes)].reduce(0, +)
                for c in 0..<testCase.classes { q[row * testCase.classes + c] /= total }
            }
            probabilities = q
            upstream =
                testCase.elementUpstream
                ? .elements((0..<testCase.rows).map { _ in Double.random(in: -2...2, using: &random) }) : .scalar(1.5)
        }

        /// The loss and gradient of the whole batch in one call: what the members must agree with.
        func oneProcess(_ testCase: Case, _ engine: CrossEntropyEngine) throws -> LossAndGradient<Float> {
            let shape = [testCase.rows, testCase.classes]
            return try engine.crossEntropyWithGradient(
                Tensor(shape: shape, scalars: logits),
                target: testCase.probabilities
                    ? .probabilities(Tensor(shape: shape, scalars: probabilities))
                    : .classIndices(Tensor(shape: [testCase.rows], scalars: targets)),
                options: testCase.options, upstream: upstream)
        }

        /// Columns `range` of every row of `values` (rows of `classes`).
        func columns(_ values: [Float], _ range: Range<Int>, classes: Int) -> [Float] {
            (0..<(values.count / classes)).flatMap { row in
                values[(row * classes + range.lowerBound)..<(row * classes + range.upperBound)]
            }
        }
    }

    /// `body(collective)` on one thread per member of a new group of `size`, and the results by rank.
    static func members<R: Sendable>(_ size: Int, _ body: @escaping @Sendable (InProcessCollective) throws -> R) throws
        -> [R]
    {
        let group = InProcessCollective.group(size: size)
        let results = Locked([Result<R, any Error>?](repeating: nil, count: size))
        let done = DispatchGroup()
        for member in group {
            done.enter()
            Thread {
                let result = Result { try body(member) }
                results.update { $0[member.rank] = result }
                done.leave()
            }.start()
        }
        done.wait()
        return try results.value.map { try $0!.get() }
    }

    @Test(arguments: Case.all, Backends.names)
    func vocabularyParallelMatchesOneProcess(_ testCase: Case, device: String) throws {
        let engine = Backends.engine(device)
        let inputs = Inputs(testCase)
        try Self.expectVocabularyParallel(
            testCase, inputs, on: engine, matching: inputs.oneProcess(testCase, engine), device: device)
    }

    /// The CPU fallback's blocked gradient (`CPUBackend.keptExpsBytesPerThread`, one thread) in blocks of
    /// one row and of a few rows (2000 bytes: 4 rows of 101 classes, 5 of 100, so that 3 members' uneven
    /// slices must agree on one block size; a last, shorter block), and
    /// rows whose slice of the classes has no finite maximum: all -inf in the first half of the classes,
    /// all -inf, one NaN. (A row holding +inf is left out: its loss and gradient agree, NaN, but the
    /// merged logsumexp is NaN where one process gives torch.logsumexp's +inf.)
    @Test(arguments: [1, 2000])
    func vocabularyParallelInBlocksMatchesOneProcess(bytesPerThread: Int) throws {
        let engine = CrossEntropyEngine(
            backend: CPUBackend(threads: 1, keptExpsBytesPerThread: bytesPerThread),
            device: SelectedDevice(kind: .cpu, name: "cpu", request: .cpu, reason: "test"))
        let cases = [
            Case(
                rows: 11, classes: 301,
                options: .init(
                    weight: (0..<301).map { 0.5 + Double($0 % 5) / 4 }, labelSmoothing: 0.1, zLossScale: 1e-3),
                ignoredRows: [6], seed: 11),
            Case(rows: 9, classes: 77, options: .init(reduction: .none), elementUpstream: true, seed: 12),
            Case(rows: 7, classes: 130, options: .init(labelSmoothing: 0.2), probabilities: true, seed: 13),
        ]
        for testCase in cases {
            var inputs = Inputs(testCase)
            let classes = testCase.classes
            for c in 0..<classes {
                if c < classes / 2 { inputs.logits[1 * classes + c] = -.infinity }
                inputs.logits[2 * classes + c] = -.infinity
            }
            inputs.logits[4 * classes + 5] = .nan
            try Self.expectVocabularyParallel(
                testCase, inputs, on: engine, matching: inputs.oneProcess(testCase, engine),
                device: "cpu, \(bytesPerThread) bytes of exps a thread")
        }
    }

    /// No rows at all: every member gets the one-process loss (NaN for `mean`) and an empty gradient.
    @Test func vocabularyParallelOfNoRows() throws {
        let engine = try CrossEntropyEngine(device: .cpu)
        let testCase = Case(rows: 0, classes: 10, seed: 1)
        let inputs = Inputs(testCase)
        try Self.expectVocabularyParallel(
            testCase, inputs, on: engine, matching: inputs.oneProcess(testCase, engine), device: "cpu")
    }

    /// Members that would take different paths (one asks for no gradient, so it keeps no exps) agree on
    /// one: the same loss on both, and the gradient of the member that asked for it.
    @Test func membersAgreeOnOnePath() throws {
        let engine = try CrossEntropyEngine(device: .cpu)
        let testCase = Case(rows: 6, classes: 40, seed: 14)
        let inputs = Inputs(testCase)
        let reference = try inputs.oneProcess(testCase, engine)
        let results = try Self.members(2) { collective in
            let slice = ClassSlice(rank: collective.rank, of: 2, classes: 40)
            let logits = inputs.columns(inputs.logits, slice.range, classes: 40)
            var gradient = [Float](repeating: .nan, count: logits.count)
            let loss = try logits.withUnsafeBufferPointer { logits in
                try inputs.targets.withUnsafeBufferPointer { targets in
                    try gradient.withUnsafeMutableBufferPointer { gradient in
                        try engine.vocabularyParallelCrossEntropy(
                            logits: logits, shape: [6, 20], slice: slice, target: .classIndices(targets, shape: [6]),
                            collective: collective, upstream: inputs.upstream,
                            gradientInto: collective.rank == 0 ? gradient : nil)
                    }
                }
            }
            return (Double(loss.loss.scalars[0]), gradient.map(Double.init))
        }
        for (loss, _) in results {
            #expect(isClose(loss, Double(reference.loss.scalars[0]), rtol: 2e-6))
        }
        let expected = (0..<6).flatMap { row in reference.gradient.scalars[(row * 40)..<(row * 40 + 20)] }
        let mismatch = firstMismatch(results[0].1, expected.map(Double.init), rtol: 2e-5, atol: 2e-7)
        #expect(mismatch == nil, "gradient \(mismatch ?? "")")
    }

    /// The blocked gradient of every logits type (`Double`: vectors of 8; 16-bit logits: exps kept as
    /// `Float`, the gradient written in the logits' type) against one process, on 2 and 3 members.
    @Test func vocabularyParallelInBlocksTakesEveryLogitsType() throws {
        try Self.expectBlocked(Double.self, rtol: 1e-12, atol: 1e-15)
        try Self.expectBlocked(Float16.self, rtol: 2e-3, atol: 1e-6)
        try Self.expectBlocked(BFloat16.self, rtol: 1.6e-2, atol: 1e-5)
    }

    static func expectBlocked<T: LogitsScalar>(_: T.Type, rtol: Double, atol: Double) throws {
        let engine = CrossEntropyEngine(
            backend: CPUBackend(keptExpsBytesPerThread: 2000),
            device: SelectedDevice(kind: .cpu, name: "cpu", request: .cpu, reason: "test"))
        let testCase = Case(rows: 9, classes: 203, options: .init(labelSmoothing: 0.1), ignoredRows: [4], seed: 21)
        let inputs = Inputs(testCase)
        let (rows, classes) = (testCase.rows, testCase.classes)
        let logits = inputs.logits.map { T(Double($0)) }
        let reference = try engine.crossEntropyWithGradient(
            Tensor(shape: [rows, classes], scalars: logits),
            target: .classIndices(Tensor(shape: [rows], scalars: inputs.targets)), options: testCase.options)
        for size in [2, 3] {
            let results = try Self.members(size) { collective in
                let slice = ClassSlice(rank: collective.rank, of: size, classes: classes)
                let columns = (0..<rows).flatMap {
                    logits[($0 * classes + slice.range.lowerBound)..<($0 * classes + slice.range.upperBound)]
                }
                var gradient = [T](repeating: .nan, count: columns.count)
                let loss = try columns.withUnsafeBufferPointer { columns in
                    try inputs.targets.withUnsafeBufferPointer { targets in
                        try gradient.withUnsafeMutableBufferPointer { gradient in
                            try engine.vocabularyParallelCrossEntropy(
                                logits: columns, shape: [rows, slice.range.count], slice: slice,
                                target: .classIndices(targets, shape: [rows]), options: testCase.options,
                                collective: collective, gradientInto: gradient)
                        }
                    }
                }
                return (slice, Double(loss.loss.scalars[0]), gradient.map(Double.init))
            }
            var gradient = [Double](repeating: .nan, count: rows * classes)
            for (slice, loss, sliceGradient) in results {
                #expect(
                    isClose(loss, Double(reference.loss.scalars[0]), rtol: 1e-6), "\(T.self), \(size) members: loss")
                for row in 0..<rows {
                    for (offset, c) in slice.range.enumerated() {
                        gradient[row * classes + c] = sliceGradient[row * slice.range.count + offset]
                    }
                }
            }
            let mismatch = firstMismatch(
                gradient, reference.gradient.scalars.map(Double.init), rtol: rtol, atol: atol)
            #expect(mismatch == nil, "\(T.self), \(size) members: gradient \(mismatch ?? "")")
        }
    }

    /// The vocabulary-parallel loss of `inputs` on 1–4 members against `reference`, the loss and gradient
    /// of one process.
    static func expectVocabularyParallel(
        _ testCase: Case, _ inputs: Inputs, on engine: CrossEntropyEngine, matching reference: LossAndGradient<Float>,
        device: String
    ) throws {
        let (rows, classes) = (testCase.rows, testCase.classes)
        for size in 1...4 {
            let context = "\(testCase.testDescription), \(size) members on \(device)"
            let results = try Self.members(size) { collective in
                let slice = ClassSlice(rank: collective.rank, of: size, classes: classes)
                let logits = inputs.columns(inputs.logits, slice.range, classes: classes)
                let probabilities = inputs.columns(inputs.probabilities, slice.range, classes: classes)
                var gradient = [Float](repeating: .nan, count: logits.count)
                let loss = try logits.withUnsafeBufferPointer { logits in
                    try inputs.targets.withUnsafeBufferPointer { targets in
                        try probabilities.withUnsafeBufferPointer { probabilities in
                            try gradient.withUnsafeMutableBufferPointer { gradient in
                                try engine.vocabularyParallelCrossEntropy(
                                    logits: logits, shape: [rows, slice.range.count], slice: slice,
                                    target: testCase.probabilities
                                        ? .probabilities(probabilities, shape: [rows, slice.range.count])
                                        : .classIndices(targets, shape: [rows]),
                                    options: testCase.options, collective: collective, upstream: inputs.upstream,
                                    gradientInto: gradient)
                            }
                        }
                    }
                }
                return (slice, loss, gradient)
            }
            var gradient = [Float](repeating: .nan, count: rows * classes)
            for (slice, loss, sliceGradient) in results {
                let lossMismatch = firstMismatch(
                    loss.loss.scalars.map(Double.init), reference.loss.scalars.map(Double.init), rtol: 2e-6, atol: 1e-7)
                #expect(lossMismatch == nil, "\(context): rank's loss \(lossMismatch ?? "")")
                let zMismatch = firstMismatch(
                    loss.zLoss.scalars.map(Double.init), reference.zLoss.scalars.map(Double.init), rtol: 2e-6,
                    atol: 1e-7)
                #expect(zMismatch == nil, "\(context): z-loss \(zMismatch ?? "")")
                let lseMismatch = firstMismatch(
                    loss.logSumExp.scalars.map(Double.init), reference.logSumExp.scalars.map(Double.init), rtol: 1e-6)
                #expect(lseMismatch == nil, "\(context): logsumexp \(lseMismatch ?? "")")
                #expect(loss.reducedBytes == 5 * rows * 8, "\(context): O(N) bytes")
                for row in 0..<rows {
                    for (offset, c) in slice.range.enumerated() {
                        gradient[row * classes + c] = sliceGradient[row * slice.range.count + offset]
                    }
                }
            }
            let mismatch = firstMismatch(
                gradient.map(Double.init), reference.gradient.scalars.map(Double.init), rtol: 2e-5, atol: 2e-7)
            #expect(mismatch == nil, "\(context): gradient \(mismatch ?? "")")
        }
    }

    @Test(arguments: Case.all, Backends.names)
    func dataParallelMatchesOneProcess(_ testCase: Case, device: String) throws {
        let engine = Backends.engine(device)
        let inputs = Inputs(testCase)
        let (rows, classes) = (testCase.rows, testCase.classes)
        let reference = try inputs.oneProcess(testCase, engine)
        for size in 1...3 {
            let context = "\(testCase.testDescription), \(size) members on \(device)"
            let results = try Self.members(size) { collective in
                // Rows split as classes are: the first members one more.
                let share = ClassSlice(rank: collective.rank, of: size, classes: rows).range
                let logits = Array(inputs.logits[(share.lowerBound * classes)..<(share.upperBound * classes)])
                let probabilities = Array(
                    inputs.probabilities[(share.lowerBound * classes)..<(share.upperBound * classes)])
                let targets = Array(inputs.targets[share])
                var upstream = inputs.upstream
                if case .elements(let values) = upstream { upstream = .elements(Array(values[share])) }
                var gradient = [Float](repeating: .nan, count: logits.count)
                let loss = try logits.withUnsafeBufferPointer { logits in
                    try targets.withUnsafeBufferPointer { targets in
                        try probabilities.withUnsafeBufferPointer { probabilities in
                            try gradient.withUnsafeMutableBufferPointer { gradient in
                                try engine.dataParallelCrossEntropy(
                                    logits: logits, shape: [share.count, classes],
                                    target: testCase.probabilities
                                        ? .probabilities(probabilities, shape: [share.count, classes])
                                        : .classIndices(targets, shape: [share.count]),
                                    options: testCase.options, collective: collective, upstream: upstream,
                                    gradientInto: gradient)
                            }
                        }
                    }
                }
                return (share, loss, gradient)
            }
            var gradient: [Float] = []
            var noneLosses: [Double] = []
            for (_, loss, memberGradient) in results {
                gradient += memberGradient
                if testCase.options.reduction == .none {
                    noneLosses += loss.loss.scalars.map(Double.init)
                } else {
                    let mismatch = firstMismatch(
                        loss.loss.scalars.map(Double.init), reference.loss.scalars.map(Double.init), rtol: 2e-6)
                    #expect(mismatch == nil, "\(context): loss \(mismatch ?? "")")
                }
            }
            if testCase.options.reduction == .none {
                let mismatch = firstMismatch(noneLosses, reference.loss.scalars.map(Double.init), rtol: 2e-6)
                #expect(mismatch == nil, "\(context): losses \(mismatch ?? "")")
            }
            let mismatch = firstMismatch(
                gradient.map(Double.init), reference.gradient.scalars.map(Double.init), rtol: 2e-5, atol: 2e-7)
            #expect(mismatch == nil, "\(context): gradient \(mismatch ?? "")")
        }
    }

    @Test func mergingIsAssociativeAndAllReduceAgrees() throws {
        let engine = try CrossEntropyEngine(device: .cpu)
        let testCase = Case(rows: 5, classes: 29, options: .init(labelSmoothing: 0.1), seed: 7)
        let inputs = Inputs(testCase)
        let slices = (0..<3).map { ClassSlice(rank: $0, of: 3, classes: 29) }
        let partials = try slices.map { slice in
            let logits = inputs.columns(inputs.logits, slice.range, classes: 29)
            return try logits.withUnsafeBufferPointer { logits in
                try inputs.targets.withUnsafeBufferPointer { targets in
                    try engine.rowPartials(
                        logits: logits, shape: [5, slice.range.count], slice: slice,
                        target: .classIndices(targets, shape: [5]), options: testCase.options)
                }
            }
        }
        let left = partials[0].merged(with: partials[1]).merged(with: partials[2])
        let right = partials[0].merged(with: partials[1].merged(with: partials[2]))
        let whole = try inputs.logits.withUnsafeBufferPointer { logits in
            try inputs.targets.withUnsafeBufferPointer { targets in
                try engine.rowPartials(
                    logits: logits, shape: [5, 29], slice: ClassSlice(0..<29, of: 29),
                    target: .classIndices(targets, shape: [5]), options: testCase.options)
            }
        }
        let reduced = try Self.members(3) { collective in
            try partials[collective.rank].allReduced(over: collective).partials
        }
        for merged in [left, right] + reduced {
            // The merged maximum is the whole row's, so every sum relative to it compares directly.
            for (name, a, b) in [
                ("max", merged.max, whole.max), ("logsumexp", merged.logSumExp, whole.logSumExp),
                ("target logit", merged.targetLogit, whole.targetLogit), ("spread", merged.spread, whole.spread),
                ("mass", merged.mass, whole.mass),
            ] {
                let mismatch = firstMismatch(a, b, rtol: 2e-6, atol: 1e-5)
                #expect(mismatch == nil, "\(name): \(mismatch ?? "")")
            }
        }
    }

    @Test func membersThatDisagreeGetAnError() throws {
        let results = try Self.members(2) { collective -> String in
            var values = [Double](repeating: 1, count: collective.rank + 1)
            do {
                try collective.allReduce(&values, .sum)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(results.allSatisfy { $0.contains("disagree") }, "\(results)")
    }
}

/// A value shared by threads, behind a lock. `@unchecked Sendable`: `stored` is only touched under `lock`.
final class Locked<Value>: @unchecked Sendable {
    private var stored: Value
    private let lock = NSLock()
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func update(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
}
