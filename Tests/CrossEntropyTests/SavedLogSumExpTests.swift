import Foundation
import Testing
import XentTestSupport

@testable import CrossEntropy

/// The gradient from saved logsumexps (`crossEntropyGradient`) equals the fused loss and gradient's, for
/// every kind of target and option, on every backend.
@Suite struct SavedLogSumExpTests {
    @Test(arguments: OptionCase.all, Backends.names)
    func savedLogSumExpGivesTheFusedGradient(_ testCase: OptionCase, _ device: String) throws {
        try check(Float.self, testCase, device, rtol: 1e-5)
        try check(Double.self, testCase, device, rtol: 1e-12)
    }

    private func check<T: LogitsScalar>(_: T.Type, _ testCase: OptionCase, _ device: String, rtol: Double) throws {
        let engine = Backends.engine(device)
        let (logits, target) = testCase.inputs(T.self, seed: 5)
        let fused = try engine.crossEntropyWithGradient(
            logits, target: target, options: testCase.options, upstream: testCase.upstream)
        let fromSaved = try engine.crossEntropyGradient(
            logits, target: target, logSumExp: fused.logSumExp, options: testCase.options,
            upstream: testCase.upstream)
        #expect(fromSaved.shape == testCase.shape)
        // Each element is a difference of two terms (softmax and target), so its error is relative to the
        // row's largest, not to itself.
        let expected = fused.gradient.scalars.map(Double.init)
        let scale = expected.map(abs).max() ?? 0
        let mismatch = firstMismatch(fromSaved.scalars.map(Double.init), expected, rtol: rtol, atol: rtol * scale)
        #expect(mismatch == nil, "\(T.self) \(testCase.testDescription) on \(device): \(mismatch ?? "")")
    }

    @Test func aLogSumExpPerRowIsRequired() throws {
        let engine = try CrossEntropyEngine(device: .cpu)
        let logits = try Tensor<Float>(rows: [[1, 2, 3], [4, 5, 6]])
        let error = #expect(throws: CrossEntropyError.self) {
            try engine.crossEntropyGradient(logits, target: .labels([0, 1]), logSumExp: Tensor([1, 2, 3]))
        }
        #expect(error?.code == .invalidShape && error?.message == "logSumExp has 3 values for 2 rows")
    }
}
