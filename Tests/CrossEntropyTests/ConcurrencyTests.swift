import Dispatch
import Foundation
import Synchronization
import Testing
import XentTestSupport

@testable import CrossEntropy

/// One engine shared by many tasks and threads at once, every call checked against the float64 reference (on
/// OpenCL a fresh engine whose `Float16` and `Double` programs are built by the first of those calls); and
/// several `xent` processes filling one cold PoCL kernel cache at once.
@Suite struct ConcurrencyTests {
    static let tasks = 8
    static let callsPerTask = 150
    static let threads = 8
    static let callsPerThread = 100
    /// The OpenCL backends (both kernel families), empty without a platform.
    static let openCLNames = Backends.names.filter { $0 != "cpu" }

    /// `prepare` builds each named type's program once, ahead of its first call (none on the CPU).
    @Test(arguments: Backends.names)
    func prepareBuildsThePrograms(device: String) throws {
        let (engine, openCL) = try Self.freshEngine(device)
        try engine.prepare([.float16, .bfloat16, .float64, .float32])
        try engine.prepare([.bfloat16])
        if let openCL {
            let built = openCL.builtProgramCount
            #expect(built == 4, "want the Float, Float16, BFloat16 and Double programs, the backend holds \(built)")
        }
        let logits = Tensor<BFloat16>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        _ = try engine.crossEntropy(logits, target: .classIndices(Tensor(shape: [2], scalars: [0, 2])))
        #expect(openCL.map { $0.builtProgramCount == 4 } ?? true, "the prepared program was built again")
    }

    /// 8 tasks × 150 calls = 1,200 mixed calls per backend on one fresh engine, after each task's two cold
    /// calls (`Float16` and `Double`), so that on OpenCL the programs built on first use are built under
    /// contention.
    @Test("8 tasks × 150 mixed calls (1,200 per backend) share one engine", arguments: Backends.names)
    func tasksShareOneEngine(device: String) async throws {
        let (engine, openCL) = try Self.freshEngine(device)
        let outcomes = try await withThrowingTaskGroup(of: CallOutcomes.self) { group in
            for task in 0..<Self.tasks {
                group.addTask {
                    var outcomes = CallOutcomes()
                    ColdCalls(caller: task).record(on: engine, into: &outcomes, where: "task \(task)")
                    for call in 0..<Self.callsPerTask {
                        let seed = UInt64(task * 1_000 + call)
                        outcomes.record(
                            MixedCall(seed: seed), on: engine, where: "task \(task) call \(call) seed \(seed)")
                    }
                    return outcomes
                }
            }
            var all = CallOutcomes()
            for try await outcomes in group {
                all.merge(outcomes)
            }
            return all
        }
        #expect(outcomes.calls == Self.tasks * (ColdCalls.count + Self.callsPerTask))
        Self.expectEveryProgramBuilt(openCL)
        let report = outcomes.failures.joined(separator: "\n")
        #expect(
            outcomes.failures.isEmpty,
            "\(outcomes.failures.count) of \(outcomes.calls) calls on \(device) failed:\n\(report)")
    }

    /// 8 plain threads × 100 calls = 800 mixed calls per OpenCL backend on one fresh engine: kernels,
    /// their arguments and the program cache under threads that are not Swift tasks.
    @Test(
        "8 threads × 100 mixed calls (800 per backend) share one OpenCL engine", .needsOpenCL,
        arguments: openCLNames)
    func threadsShareOneEngine(device: String) throws {
        let (engine, openCL) = try Self.freshEngine(device)
        let shared = Mutex(CallOutcomes())
        DispatchQueue.concurrentPerform(iterations: Self.threads) { thread in
            var outcomes = CallOutcomes()
            ColdCalls(caller: thread).record(on: engine, into: &outcomes, where: "thread \(thread)")
            for call in 0..<Self.callsPerThread {
                let seed = UInt64(100_000 + thread * 1_000 + call)
                outcomes.record(MixedCall(seed: seed), on: engine, where: "thread \(thread) call \(call) seed \(seed)")
            }
            shared.withLock { $0.merge(outcomes) }
        }
        let outcomes = shared.withLock { $0 }
        #expect(outcomes.calls == Self.threads * (ColdCalls.count + Self.callsPerThread))
        Self.expectEveryProgramBuilt(openCL)
        let report = outcomes.failures.joined(separator: "\n")
        #expect(
            outcomes.failures.isEmpty,
            "\(outcomes.failures.count) of \(outcomes.calls) calls on \(device) failed:\n\(report)")
    }

    /// Four `xent loss --device opencl` processes start together on one fresh, empty `POCL_CACHE_DIR`, so
    /// that they compile and write the same cache entries at once; each must print the seed notebook's
    /// loss and exit 0. A second round then reads the warm cache.
    @Test(.needsOpenCL)
    func processesShareOneColdKernelCache() throws {
        let cache = try TemporaryFolder(prefix: "xent-pocl-cache")
        defer { cache.remove() }
        let environment: [String: String?] = [
            "POCL_CACHE_DIR": cache.path, "XENT_KERNEL_DIR": nil, "XENT_DEVICE": nil,
        ]
        let arguments = ["loss", "--device", "opencl"] + SeedNotebookFiles.arguments
        for round in ["cold", "warm"] {
            let children = try (0..<4).map { _ in try XentProcess.start(arguments, environment: environment) }
            for (index, child) in children.enumerated() {
                let result = try child.wait()
                #expect(result.status == 0, "\(round) cache, process \(index): \(result)")
                #expect(
                    result.stdout.hasPrefix("1.76029"),
                    "\(round) cache, process \(index): expected 1.76029…, \(result)")
            }
        }
        if Backends.inventory.openCL.first?.platformName.contains("Portable Computing Language") == true {
            let written = FileManager.default.enumerator(atPath: cache.path)?.allObjects ?? []
            #expect(!written.isEmpty, "PoCL wrote nothing to POCL_CACHE_DIR \(cache.path)")
        }
    }

    /// A new engine for `name`. For OpenCL it runs on a new backend that no other engine shares (a context and
    /// queue of its own, the kernel family of `Backends`' engine of that name) with only its `Float` program
    /// built, which is checked here and returned too, so that the test can count its programs afterwards.
    static func freshEngine(_ name: String) throws -> (engine: CrossEntropyEngine, openCL: OpenCLBackend?) {
        if name == "cpu" {
            return (try CrossEntropyEngine(device: .cpu), nil)
        }
        let entry = try #require(Backends.inventory.openCL.first, "no OpenCL device for \(name)")
        let family: KernelFamily = name == "opencl-groups" ? .perGroup : .perRow
        let backend = try OpenCLBackend.makeUnshared(device: entry.device, family: family)
        try #require(
            backend.builtProgramCount == 1,
            "a fresh backend should hold only the Float program, holds \(backend.builtProgramCount)")
        let device = SelectedDevice(
            kind: .openCL(platform: entry.platformIndex, device: entry.deviceIndex), name: entry.name,
            request: entry.request, reason: "an unshared backend, \(family) kernels")
        return (CrossEntropyEngine(backend: backend, device: device), backend)
    }

    /// Expects the fresh OpenCL backend (if any) to hold the programs of all three logits types: `Float`'s from
    /// its start, `Float16`'s and `Double`'s built by the concurrent callers.
    static func expectEveryProgramBuilt(_ openCL: OpenCLBackend?) {
        if let openCL {
            let built = openCL.builtProgramCount
            #expect(built == 3, "want the Float, Float16 and Double programs built, the backend holds \(built)")
        }
    }
}

/// What a series of calls did: how many ran, and a line for each that failed.
struct CallOutcomes: Sendable {
    var calls = 0
    var failures: [String] = []

    mutating func record(_ call: MixedCall, on engine: CrossEntropyEngine, where place: String) {
        record(call.summary, where: place) { try call.run(on: engine) }
    }

    /// Runs `call`, which returns a description of its first mismatch or `nil`, and records the outcome.
    mutating func record(_ summary: String, where place: String, _ call: () throws -> String?) {
        calls += 1
        do {
            if let failure = try call() {
                failures.append("\(place) (\(summary)): \(failure)")
            }
        } catch {
            failures.append("\(place) (\(summary)): threw \(error)")
        }
    }

    mutating func merge(_ other: CallOutcomes) {
        calls += other.calls
        failures += other.failures
    }
}

/// The first calls of a task or thread on a fresh engine: the loss and gradient of one small batch as `Float16`
/// and as `Double` (the types whose OpenCL programs are built on first use), in an order that alternates between
/// callers, so that each program is built while other callers wait for it.
struct ColdCalls {
    static let count = 2
    static let shape = [4, 37]

    var caller: Int

    func record(on engine: CrossEntropyEngine, into outcomes: inout CallOutcomes, where place: String) {
        var random = SeededRandom(seed: 0xC01D_0000 &+ UInt64(caller))
        let values = (0..<Self.shape.reduce(1, *)).map { _ in Double.random(in: -4...4, using: &random) }
        let targets = (0..<Self.shape[0]).map { _ in Int64.random(in: 0..<Int64(Self.shape[1]), using: &random) }
        let half = { try Self.run(Float16.self, values, targets, on: engine, rtol: 2e-3, atol: 1e-3) }
        let double = { try Self.run(Double.self, values, targets, on: engine, rtol: 1e-10, atol: 1e-12) }
        for (summary, call) in caller % 2 == 0
            ? [("Float16", half), ("Double", double)] : [("Double", double), ("Float16", half)]
        {
            outcomes.record("first \(summary) call \(Self.shape)", where: place, call)
        }
    }

    /// `crossEntropyWithGradient` of `values` rounded to `T` against the reference; the first mismatch, or `nil`.
    private static func run<T: LogitsScalar>(
        _: T.Type, _ values: [Double], _ targets: [Int64], on engine: CrossEntropyEngine, rtol: Double, atol: Double
    ) throws -> String? {
        let x = Tensor(shape: shape, scalars: values.map { T($0) })
        let reference = Reference(shape: shape, logits: x.scalars.map(Double.init), targets: targets)
        let result = try engine.crossEntropyWithGradient(
            x, target: .classIndices(Tensor(shape: [shape[0]], scalars: targets)))
        return firstMismatch(result.loss.scalars.map(Double.init), reference.loss(), rtol: rtol, atol: atol)
            .map { "loss: \($0)" }
            ?? firstMismatch(
                result.gradient.scalars.map(Double.init), reference.gradient(upstream: .scalar(1)), rtol: rtol,
                atol: atol
            ).map { "gradient: \($0)" }
    }
}

/// One seeded call of one kind on finite values: a shape ((N, C) with C up to 3000, K-dim or unbatched), a
/// type, options and a target, checked against `Reference` computed by the caller's task or thread.
struct MixedCall {
    enum Operation: CaseIterable {
        case loss, lossAndGradient, inPlaceGradient, logSumExp, softmax, logSoftmax
    }

    var seed: UInt64
    var operation: Operation
    var isDouble: Bool
    var shape: [Int]
    var logits: [Double]
    var targets: [Int64]?
    var probabilities: [Double]?
    var options: CrossEntropyOptions
    var upstream: UpstreamGradient

    var summary: String {
        var parts = ["\(operation)", isDouble ? "Double" : "Float", "\(shape)", "\(options.reduction)"]
        if probabilities != nil { parts.append("probabilities") }
        if options.weight != nil { parts.append("weighted") }
        if options.ignoreIndex != -100 { parts.append("ignore \(options.ignoreIndex)") }
        if options.labelSmoothing > 0 { parts.append("ε=\(options.labelSmoothing)") }
        return parts.joined(separator: " ")
    }

    init(seed: UInt64) {
        self.seed = seed
        var random = SeededRandom(seed: 0xC0C0_0000 &+ seed)
        operation = Operation.allCases.randomElement(using: &random)!
        isDouble = Bool.random(using: &random)
        switch Int.random(in: 0..<4, using: &random) {
        case 0, 1:
            let classes =
                Bool.random(using: &random)
                ? [1, 2, 3, 7, 16, 17, 31, 32, 33, 64, 100, 257, 1000, 1023, 2048, 3000].randomElement(using: &random)!
                : Int.random(in: 1...3000, using: &random)
            shape = [Int.random(in: 1...max(1, min(8, 3_000 / classes)), using: &random), classes]
        case 2:
            shape =
                [Int.random(in: 1...3, using: &random), Int.random(in: 1...64, using: &random)]
                + (0..<Int.random(in: 1...2, using: &random)).map { _ in Int.random(in: 1...4, using: &random) }
        default:
            shape = [Int.random(in: 1...3000, using: &random)]
        }
        let layout = Reference(shape: shape, logits: [])
        let scale = [1.0, 3, 10].randomElement(using: &random)!
        let values = (0..<shape.reduce(1, *)).map { _ in Double.random(in: -scale...scale, using: &random) }
        logits = isDouble ? values : values.map { Double(Float($0)) }

        options = CrossEntropyOptions(reduction: LossReduction.allCases.randomElement(using: &random)!)
        if Int.random(in: 0..<5, using: &random) < 2 {
            options.weight = (0..<layout.classes).map { _ in Double.random(in: 0.25...2, using: &random) }
        }
        if Int.random(in: 0..<10, using: &random) < 3 {
            options.labelSmoothing = [0.1, 0.3].randomElement(using: &random)!
        }
        if Int.random(in: 0..<4, using: &random) == 0 {
            var q = (0..<logits.count).map { _ in Double.random(in: 0.01...1, using: &random) }
            for row in 0..<layout.rows {
                let indices = (0..<layout.classes).map { layout.index(row: row, clazz: $0) }
                let total = indices.map { q[$0] }.reduce(0, +)
                for index in indices {
                    q[index] /= total
                }
            }
            probabilities = isDouble ? q : q.map { Double(Float($0)) }
        } else {
            var y = (0..<layout.rows).map { _ in Int64.random(in: 0..<Int64(layout.classes), using: &random) }
            if Int.random(in: 0..<10, using: &random) < 3 {
                options.ignoreIndex =
                    Bool.random(using: &random) ? -100 : Int.random(in: 0..<layout.classes, using: &random)
                for row in y.indices where Int.random(in: 0..<3, using: &random) == 0 {
                    y[row] = Int64(options.ignoreIndex)
                }
            }
            targets = y
        }
        upstream =
            options.reduction == .none
            ? .elements((0..<layout.rows).map { _ in Double.random(in: -2...2, using: &random) })
            : .scalar([1, 0.5, -1.5].randomElement(using: &random)!)
    }

    /// Runs the call and compares it with the reference; a description of the first mismatch, or `nil`.
    func run(on engine: CrossEntropyEngine) throws -> String? {
        isDouble
            ? try run(Double.self, on: engine, rtol: 1e-10, atol: 1e-10)
            : try run(Float.self, on: engine, rtol: 1e-5, atol: 1e-6)
    }

    private func run<T: LogitsScalar>(
        _: T.Type, on engine: CrossEntropyEngine, rtol: Double, atol: Double
    ) throws -> String? {
        let reference = Reference(
            shape: shape, logits: logits, targets: targets, probabilities: probabilities, options: options)
        let x = Tensor(shape: shape, scalars: logits.map { T($0) })
        let libraryTarget: CrossEntropyTarget<T> =
            if let probabilities {
                .probabilities(Tensor(shape: shape, scalars: probabilities.map { T($0) }))
            } else {
                .classIndices(Tensor(shape: reference.rowShape, scalars: targets!))
            }
        func mismatch(_ what: String, _ actual: [Double], _ expected: [Double], atol: Double) -> String? {
            firstMismatch(actual, expected, rtol: rtol, atol: atol).map { "\(what): \($0)" }
        }
        let rows = 0..<reference.rows
        switch operation {
        case .loss:
            let loss = try engine.crossEntropy(x, target: libraryTarget, options: options)
            return mismatch("loss", loss.scalars.map(Double.init), reference.loss(), atol: atol)
        case .lossAndGradient:
            let result = try engine.crossEntropyWithGradient(
                x, target: libraryTarget, options: options, upstream: upstream)
            let gradient = reference.gradient(upstream: upstream)
            let scale = max(1, gradient.map(abs).max() ?? 1)
            return mismatch("loss", result.loss.scalars.map(Double.init), reference.loss(), atol: atol)
                ?? mismatch("gradient", result.gradient.scalars.map(Double.init), gradient, atol: atol * scale)
                ?? mismatch(
                    "logSumExp", result.logSumExp.scalars.map(Double.init), rows.map { reference.logSumExp(row: $0) },
                    atol: atol)
        case .inPlaceGradient:
            var buffer = x.scalars
            let result = try buffer.withUnsafeMutableBufferPointer { logits in
                try libraryTarget.withBuffer { target in
                    try engine.crossEntropyWithGradient(
                        inPlace: logits, shape: shape, target: target, options: options, upstream: upstream)
                }
            }
            let gradient = reference.gradient(upstream: upstream)
            let scale = max(1, gradient.map(abs).max() ?? 1)
            return mismatch("in-place loss", result.loss.scalars.map(Double.init), reference.loss(), atol: atol)
                ?? mismatch("in-place gradient", buffer.map(Double.init), gradient, atol: atol * scale)
        case .logSumExp:
            let lse = try engine.logSumExp(x)
            return mismatch(
                "logSumExp", lse.scalars.map(Double.init), rows.map { reference.logSumExp(row: $0) }, atol: atol)
        case .softmax, .logSoftmax:
            let output = try operation == .softmax ? engine.softmax(x) : engine.logSoftmax(x)
            var expected = [Double](repeating: 0, count: logits.count)
            for row in rows {
                let values = operation == .softmax ? reference.softmax(row: row) : reference.logSoftmax(row: row)
                for (clazz, value) in values.enumerated() {
                    expected[reference.index(row: row, clazz: clazz)] = value
                }
            }
            return output.shape != shape
                ? "\(operation) shape \(output.shape)"
                : mismatch("\(operation)", output.scalars.map(Double.init), expected, atol: atol)
        }
    }
}
