import Testing
import XentTestSupport

@testable import CrossEntropy

/// Host inputs on a device that does not share host memory take the staged path: pieces of rows through
/// pinned staging memory, uploads and downloads on a second queue overlapping the kernels, three slots in
/// turn. Forced on the OpenCL device at hand, with pieces of 4 KiB so that one call runs many pieces
/// through every slot, it gives the zero-copy path's answers bit for bit — every option case, log-softmax
/// and softmax, in place, a `Float` gradient of `Float16` logits — on both kernel families.
@Suite(.needsOpenCL) struct StagedTransferTests {
    static let families: [KernelFamily] = [.perRow, .perGroup]

    /// An engine on a backend of its own that stages every call in pieces of `pieceBytes`, and the shared
    /// zero-copy engine of the same family.
    static func engines(_ family: KernelFamily, pieceBytes: Int = 4096) throws -> (
        staged: CrossEntropyEngine, direct: CrossEntropyEngine
    ) {
        let entry = try #require(Backends.inventory.openCL.first)
        let backend = try OpenCLBackend.makeUnshared(device: entry.device, family: family, forceCopies: true)
        backend.stagedPieceBytes.withLock { $0 = pieceBytes }
        let name = family == .perRow ? "opencl" : "opencl-groups"
        let direct = Backends.engine(name)
        return (CrossEntropyEngine(backend: backend, device: direct.device), direct)
    }

    @Test(arguments: OptionCase.all, families)
    func stagedPiecesGiveTheZeroCopyAnswers(_ testCase: OptionCase, _ family: KernelFamily) throws {
        let (staged, direct) = try Self.engines(family)
        let context = "\(testCase.testDescription), \(family)"
        let (logits, target) = testCase.inputs(Float.self, seed: 9)
        let expected = try direct.crossEntropyWithGradient(
            logits, target: target, options: testCase.options, upstream: testCase.upstream)
        let result = try staged.crossEntropyWithGradient(
            logits, target: target, options: testCase.options, upstream: testCase.upstream)
        #expect(result.gradient.scalars == expected.gradient.scalars, "\(context): gradient")
        #expect(result.logSumExp.scalars == expected.logSumExp.scalars, "\(context): logsumexp")
        let loss = firstMismatch(
            result.loss.scalars.map(Double.init), expected.loss.scalars.map(Double.init), rtol: 1e-12)
        #expect(loss == nil, "\(context): loss \(loss ?? "")")
        let forward = try staged.crossEntropy(logits, target: target, options: testCase.options)
        let forwardLoss = firstMismatch(
            forward.scalars.map(Double.init), expected.loss.scalars.map(Double.init), rtol: 1e-12)
        #expect(forwardLoss == nil, "\(context): forward loss \(forwardLoss ?? "")")
        #expect(try staged.logSoftmax(logits).scalars == direct.logSoftmax(logits).scalars, "\(context): logSoftmax")
        #expect(try staged.softmax(logits).scalars == direct.softmax(logits).scalars, "\(context): softmax")
    }

    @Test(arguments: families)
    func inPlaceAndFloatGradientsOfHalfLogitsStage(_ family: KernelFamily) throws {
        let (staged, direct) = try Self.engines(family, pieceBytes: 2048)
        let shape = [37, 300]
        let count = shape.reduce(1, *)
        var random = SeededRandom(seed: 37)
        let values = (0..<count).map { _ in Float(Double.random(in: -6...6, using: &random)) }
        let labels = (0..<shape[0]).map { _ in Int64.random(in: 0..<300, using: &random) }
        try labels.withUnsafeBufferPointer { labels in
            let target = CrossEntropyTargetBuffer<Float>.classIndices(labels, shape: [shape[0]])
            var inPlace = values
            var expected = values
            let stagedLoss = try inPlace.withUnsafeMutableBufferPointer {
                try staged.crossEntropyWithGradient(inPlace: $0, shape: shape, target: target)
            }
            let directLoss = try expected.withUnsafeMutableBufferPointer {
                try direct.crossEntropyWithGradient(inPlace: $0, shape: shape, target: target)
            }
            #expect(inPlace == expected, "\(family): in place")
            #expect(
                isClose(Double(stagedLoss.loss.scalar), Double(directLoss.loss.scalar), rtol: 1e-12),
                "\(family): in-place loss")
        }
        let half = values.map { Float16($0) }
        let halfTarget = CrossEntropyTarget<Float16>.classIndices(Tensor(shape: [shape[0]], scalars: labels))
        let halfLogits = Tensor(shape: shape, scalars: half)
        #expect(
            try staged.crossEntropyWithGradient(halfLogits, target: halfTarget).gradient.scalars
                == direct.crossEntropyWithGradient(halfLogits, target: halfTarget).gradient.scalars,
            "\(family): Float16 gradient")
        try half.withUnsafeBufferPointer { logits in
            try labels.withUnsafeBufferPointer { labels in
                let target = CrossEntropyTargetBuffer<Float16>.classIndices(labels, shape: [shape[0]])
                var stagedGradient = [Float](repeating: 0, count: count)
                var directGradient = [Float](repeating: 1, count: count)
                _ = try stagedGradient.withUnsafeMutableBufferPointer {
                    try staged.crossEntropyWithGradient(logits: logits, shape: shape, target: target, gradientInto: $0)
                }
                _ = try directGradient.withUnsafeMutableBufferPointer {
                    try direct.crossEntropyWithGradient(logits: logits, shape: shape, target: target, gradientInto: $0)
                }
                #expect(stagedGradient == directGradient, "\(family): Float gradient of Float16 logits")
            }
        }
    }

    /// An allocation failure in a staged call (simulated, as NVIDIA reports it at enqueue) halves the chunk
    /// and retries it, as on the other paths, with the same answers.
    @Test(arguments: families)
    func aFailedPieceIsRetried(_ family: KernelFamily) throws {
        let (staged, direct) = try Self.engines(family)
        let backend = try #require(staged.backend as? OpenCLBackend)
        let (logits, target) = OptionCase.all[0].inputs(Float.self, seed: 21)
        let expected = try direct.crossEntropyWithGradient(logits, target: target)
        backend.simulateAllocationFailures(2)
        let result = try staged.crossEntropyWithGradient(logits, target: target)
        #expect(backend.pendingSimulatedAllocationFailures == 0, "\(family): every simulated failure fired")
        #expect(result.gradient.scalars == expected.gradient.scalars, "\(family): gradient")
        #expect(isClose(Double(result.loss.scalar), Double(expected.loss.scalar), rtol: 1e-12), "\(family): loss")
    }
}
