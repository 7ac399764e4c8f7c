import Foundation
import Testing
import XentTestSupport

@testable import CrossEntropy

/// The per-group kernel family (`Kernels/cross_entropy_groups.cl`, the GPU family) maps rows to work by a
/// plan per launch (`GroupPlan`): teams of work-items per row, several rows per work-group for short rows,
/// several work-groups per row for few long rows, rows kept in local memory for their outputs. The plans
/// follow the rows' shape, and every path gives the float64 reference's answers with every option.
@Suite struct GroupPlanTests {
    /// The figures OpenCL reports for an NVIDIA H200 (132 compute units, 48 KiB of local memory, a preferred
    /// float vector width of 1, so loads of the minimum 4 lanes), with groups of 256.
    static let gpu = GroupPlan.Geometry(groupSize: 256, vectorWidth: 4, computeUnits: 132, localMemoryBytes: 49_152)

    private static func plan(
        classes: Int, inner: Int = 1, rows: Int, keepsRows: Bool = true, _ geometry: GroupPlan.Geometry = gpu
    ) -> GroupPlan {
        GroupPlan(
            classes: classes, inner: inner, rows: rows, accumulatorBytes: 4, keepsRows: keepsRows, geometry: geometry)
    }

    @Test func plansFollowTheRows() {
        // Ten classes: 3 vectors, a work-item a row, 256 rows a group, kept (256 rows × 12 floats).
        #expect(Self.plan(classes: 10, rows: 100_000) == GroupPlan(team: 1, parts: 1, cacheBytes: 256 * 12 * 4))
        // Statistics only: nothing to keep.
        #expect(Self.plan(classes: 10, rows: 100_000, keepsRows: false).cacheBytes == 0)
        // C = 1000: 250 vectors, about 4 a work-item: teams of 64, 4 rows a group.
        #expect(Self.plan(classes: 1000, rows: 100_000) == GroupPlan(team: 64, parts: 1, cacheBytes: 4 * 1000 * 4))
        // C = 32768: a whole group a row; 128 KiB a row is more than local memory, so the outputs read it again.
        #expect(Self.plan(classes: 32_768, rows: 8192) == GroupPlan(team: 256, parts: 1, cacheBytes: 0))
        // 16 rows of 256 000: 16 groups would leave most of 132 compute units idle; 4 groups a unit wanted,
        // 33 slices a row.
        #expect(Self.plan(classes: 256_000, rows: 16) == GroupPlan(team: 256, parts: 33, cacheBytes: 0))
        // Enough rows to fill the device: no split.
        #expect(Self.plan(classes: 256_000, rows: 528).parts == 1)
        // K-dimensional rows: a work-item a row, neighbouring work-items on neighbouring addresses.
        #expect(Self.plan(classes: 1000, inner: 5, rows: 5000).team == 1)
        // Too few classes to give each work-item of the slices two vectors: no split.
        #expect(Self.plan(classes: 3000, rows: 1).parts == 1)
        // Oclgrind's figures (1 compute unit, 32 KiB of local memory, a float width of 1): the shapes
        // `OclgrindTests.longRowPathsRunCleanly` runs take the split path and the read-again path.
        let oclgrind = GroupPlan.Geometry(groupSize: 256, vectorWidth: 4, computeUnits: 1, localMemoryBytes: 32_768)
        #expect(Self.plan(classes: 9000, rows: 2, oclgrind) == GroupPlan(team: 256, parts: 2, cacheBytes: 0))
        #expect(Self.plan(classes: 8000, rows: 5, oclgrind) == GroupPlan(team: 256, parts: 1, cacheBytes: 0))
    }

    /// A path of the per-group family and a shape that takes it on the device at hand.
    struct Path: Sendable, CustomTestStringConvertible {
        var testDescription: String
        /// The logits' shape on a device of this geometry.
        var shape: @Sendable (GroupPlan.Geometry) -> [Int]
        /// Whether `plan` is this path's.
        var isTaken: @Sendable (GroupPlan, GroupPlan.Geometry) -> Bool
        /// Whether the device's local memory is hidden from the plan, so that rows are read again.
        var withoutLocalMemory = false

        static let all: [Path] = [
            Path(
                testDescription: "a work-item a row", shape: { [$0.groupSize + 3, 10] },
                isTaken: { plan, _ in plan.team == 1 && plan.cacheBytes > 0 }),
            Path(
                testDescription: "teams of 16, several rows a group",
                shape: { [3 * $0.groupSize / 16 + 1, 64 * $0.vectorWidth - 3] },
                isTaken: { plan, _ in plan.team == 16 && plan.parts == 1 && plan.cacheBytes > 0 }),
            Path(
                testDescription: "a group a row, kept in local memory",
                shape: { [4 * $0.computeUnits, 4 * $0.groupSize * $0.vectorWidth + 5] },
                isTaken: { plan, geometry in plan.team == geometry.groupSize && plan.parts == 1 && plan.cacheBytes > 0 }
            ),
            Path(
                testDescription: "a group a row, read again",
                shape: { [4 * $0.computeUnits, 4 * $0.groupSize * $0.vectorWidth + 5] },
                isTaken: { plan, geometry in plan.team == geometry.groupSize && plan.parts == 1 && plan.cacheBytes == 0
                },
                withoutLocalMemory: true),
            Path(
                testDescription: "split rows", shape: { [2, 6 * $0.groupSize * $0.vectorWidth + 7] },
                isTaken: { plan, _ in plan.parts >= 2 }),
            Path(
                testDescription: "strided rows", shape: { [$0.groupSize / 2 + 3, 37, 3] },
                isTaken: { plan, _ in plan.team == 1 }),
        ]
    }

    /// The option cases each path runs: class indices (the last row ignored) with weights and label
    /// smoothing, z-loss and soft-capping, `none` with an upstream per row, and probability targets.
    static func optionCases(_ shape: [Int]) -> [OptionCase] {
        let classes = shape[1]
        let rows = shape[0] * shape.dropFirst(2).reduce(1, *)
        let weights = (0..<classes).map { 0.5 + Double($0 % 7) / 4 }
        return [
            OptionCase(
                testDescription: "weights, ignored rows, smoothing", shape: shape,
                options: .init(weight: weights, labelSmoothing: 0.2)),
            OptionCase(
                testDescription: "sum, z-loss, softcap", shape: shape,
                options: .init(reduction: .sum, zLossScale: 1e-3, softcap: 3)),
            OptionCase(
                testDescription: "none with upstream", shape: shape, options: .init(reduction: .none),
                upstream: .elements((0..<rows).map { Double($0 % 11) / 5 - 1 })),
            OptionCase(
                testDescription: "probabilities, weights, smoothing", shape: shape, probabilities: true,
                options: .init(weight: weights, labelSmoothing: 0.1)),
        ]
    }

    @Test(.needsOpenCL, arguments: Path.all)
    func everyPathMatchesTheReference(_ path: Path) throws {
        let shared = try #require(Backends.engine("opencl-groups").backend as? OpenCLBackend)
        let entry = try #require(Backends.inventory.openCL.first)
        let backend =
            path.withoutLocalMemory ? try OpenCLBackend.makeUnshared(device: entry.device, family: .perGroup) : shared
        if path.withoutLocalMemory { backend.localMemoryLimit.withLock { $0 = 0 } }
        let engine = CrossEntropyEngine(backend: backend, device: Backends.engine("opencl-groups").device)
        let geometry = backend.groupGeometry
        let shape = path.shape(geometry)
        let rows = shape[0] * shape.dropFirst(2).reduce(1, *)
        let plan = GroupPlan(
            classes: shape[1], inner: shape.dropFirst(2).reduce(1, *), rows: rows, accumulatorBytes: 4,
            keepsRows: true, geometry: geometry)
        #expect(path.isTaken(plan, geometry), "shape \(shape) takes \(plan) on \(geometry)")
        for testCase in Self.optionCases(shape) {
            let context = "\(path.testDescription), \(testCase.testDescription), shape \(shape)"
            let (logits, target) = testCase.inputs(Float.self, seed: UInt64(shape.reduce(0, +)))
            var reference = Reference(shape: shape, logits: logits.scalars.map(Double.init), options: testCase.options)
            switch target {
            case .classIndices(let indices): reference.targets = indices.scalars
            case .probabilities(let values): reference.probabilities = values.scalars.map(Double.init)
            case .classIndices32(let indices): reference.targets = indices.scalars.map(Int64.init)
            }
            let fused = try engine.crossEntropyWithGradient(
                logits, target: target, options: testCase.options, upstream: testCase.upstream)
            let loss = firstMismatch(fused.loss.scalars.map(Double.init), reference.loss(), rtol: 1e-4, atol: 1e-5)
            #expect(loss == nil, "\(context): loss \(loss ?? "")")
            let expected = reference.gradient(upstream: testCase.upstream)
            let scale = expected.map(abs).max() ?? 0
            let gradient = firstMismatch(
                fused.gradient.scalars.map(Double.init), expected, rtol: 1e-4, atol: 1e-4 * scale)
            #expect(gradient == nil, "\(context): gradient \(gradient ?? "")")
            // The given-gradient launch, from the saved logsumexps.
            let fromSaved = try engine.crossEntropyGradient(
                logits, target: target, logSumExp: fused.logSumExp, options: testCase.options,
                upstream: testCase.upstream)
            let saved = firstMismatch(
                fromSaved.scalars.map(Double.init), expected, rtol: 1e-4, atol: 1e-4 * scale)
            #expect(saved == nil, "\(context): gradient from the saved logsumexps \(saved ?? "")")
        }
        let (logits, _) = Self.optionCases(shape)[0].inputs(Float.self, seed: 11)
        let reference = Reference(shape: shape, logits: logits.scalars.map(Double.init))
        let logSoftmax = try engine.logSoftmax(logits).scalars.map(Double.init)
        let softmax = try engine.softmax(logits).scalars.map(Double.init)
        let lse = try engine.logSumExp(logits).scalars.map(Double.init)
        for row in 0..<rows {
            let indices = (0..<shape[1]).map { reference.index(row: row, clazz: $0) }
            let expected = reference.logSoftmax(row: row)
            let context = "\(path.testDescription), shape \(shape), row \(row)"
            let logMismatch = firstMismatch(indices.map { logSoftmax[$0] }, expected, rtol: 1e-5, atol: 1e-5)
            #expect(logMismatch == nil, "\(context): logSoftmax \(logMismatch ?? "")")
            let mismatch = firstMismatch(indices.map { softmax[$0] }, expected.map(exp), rtol: 1e-5, atol: 1e-7)
            #expect(mismatch == nil, "\(context): softmax \(mismatch ?? "")")
            #expect(
                isClose(lse[row], reference.logSumExp(row: row), rtol: 1e-6, atol: 1e-6),
                "\(context): logSumExp \(lse[row]) vs \(reference.logSumExp(row: row))")
        }
    }
}
