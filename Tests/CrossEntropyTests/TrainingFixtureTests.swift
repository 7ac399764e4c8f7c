import CrossEntropy
import Foundation
import NPY
import Testing
import XentTestSupport

extension TrainingFixtureCase: CustomTestStringConvertible {
    /// Each case shows by its name.
    public var testDescription: String { name }
}

/// The training-extras fixtures (PyTorch 2.15, float64: the z-loss as Liger Kernel defines it, argmax,
/// entropy, logsumexp) through the library on every backend: the loss and its z-loss part, the rows kept
/// and divisor, the predicted classes and token accuracy, entropies, logsumexps and the gradient.
@Suite struct TrainingFixtureTests {
    @Test(arguments: TrainingFixtureCase.all, Backends.names)
    func matchesPyTorch(_ fixture: TrainingFixtureCase, device: String) throws {
        switch fixture.logitsDType {
        case "float16": try check(Float16.self, fixture, device: device)
        case "bfloat16": try check(BFloat16.self, fixture, device: device)
        case "float64": try check(Double.self, fixture, device: device)
        default: try check(Float.self, fixture, device: device)
        }
    }

    private func doubles(_ fixture: TrainingFixtureCase, _ file: String) throws -> [Double] {
        try NPYFile(path: fixture.path(file)).doubles()
    }

    private func check<T: LogitsScalar>(_: T.Type, _ fixture: TrainingFixtureCase, device: String) throws {
        let engine = Backends.engine(device)
        let context = "\(fixture.name) on \(device)"
        let tolerance = fixture.tolerance
        let logitsFile = try NPYFile(path: fixture.path("logits.npy"))
        let logits = Tensor(shape: logitsFile.shape, scalars: logitsFile.doubles().map { T($0) })
        let targetFile = try NPYFile(path: fixture.path("target.npy"))
        let target: CrossEntropyTarget<T> =
            fixture.targetKind == "indices"
            ? .classIndices(
                Tensor(
                    shape: targetFile.shape, scalars: targetFile.withUnsafeBufferPointer(of: Int64.self) { Array($0) }))
            : .probabilities(Tensor(shape: targetFile.shape, scalars: targetFile.doubles().map { T($0) }))
        let options = CrossEntropyOptions(
            reduction: LossReduction(rawValue: fixture.reduction)!,
            weight: fixture.weight ? try doubles(fixture, "weight.npy") : nil, ignoreIndex: fixture.ignoreIndex,
            labelSmoothing: fixture.labelSmoothing, zLossScale: fixture.zLossScale, softcap: fixture.softcap)
        let expectedLoss = try doubles(fixture, "expected_loss.npy")
        let expectedZLoss = try doubles(fixture, "expected_z_loss.npy")

        /// Expects the loss and its z-loss part of one call to be PyTorch's.
        func expectLosses(_ loss: Tensor<T.Accumulator>, _ zLoss: Tensor<T.Accumulator>, _ call: String) {
            for (values, expected, what) in [(loss, expectedLoss, "loss"), (zLoss, expectedZLoss, "z-loss")] {
                let mismatch = firstMismatch(
                    values.scalars.map(Double.init), expected, rtol: tolerance, atol: tolerance * 1e-3)
                #expect(mismatch == nil, "\(context), \(call): \(what) \(mismatch ?? "")")
            }
        }

        let summary = try engine.crossEntropySummary(
            logits, target: target, options: options, extras: [.predictedClasses, .entropy, .logSumExp])
        expectLosses(summary.loss, summary.zLoss, "summary")
        #expect(summary.rowsKept == fixture.rowsKept, "\(context): rows kept \(summary.rowsKept)")
        if fixture.reduction == "mean" {
            let divisor = try #require(summary.divisor, "\(context): no divisor")
            #expect(isClose(divisor, fixture.divisor, rtol: 1e-6), "\(context): divisor \(divisor)")
        }
        let predicted = try #require(summary.predictedClasses, "\(context)").scalars
        let expectedPredicted = try doubles(fixture, "expected_predicted.npy").map { Int64($0) }
        #expect(predicted == expectedPredicted, "\(context): predicted \(predicted) vs \(expectedPredicted)")
        if let accuracy = fixture.tokenAccuracy {
            #expect(
                summary.tokenAccuracy.map { isClose($0, accuracy, rtol: 1e-12) } == true,
                "\(context): token accuracy \(summary.tokenAccuracy ?? -1) vs \(accuracy)")
        } else if fixture.targetKind == "indices" {
            #expect(summary.tokenAccuracy?.isNaN == true, "\(context): token accuracy of no row kept")
        } else {
            #expect(summary.tokenAccuracy == nil, "\(context): token accuracy of probabilities")
        }
        let entropyMismatch = firstMismatch(
            try #require(summary.entropy, "\(context)").scalars.map(Double.init),
            try doubles(fixture, "expected_entropy.npy"), rtol: tolerance, atol: tolerance)
        #expect(entropyMismatch == nil, "\(context): entropy \(entropyMismatch ?? "")")
        let lseMismatch = firstMismatch(
            try #require(summary.logSumExp, "\(context)").scalars.map(Double.init),
            try doubles(fixture, "expected_lse.npy"), rtol: tolerance, atol: tolerance)
        #expect(lseMismatch == nil, "\(context): logsumexp \(lseMismatch ?? "")")

        let fused = try engine.crossEntropyWithGradient(logits, target: target, options: options)
        expectLosses(fused.loss, fused.zLoss, "with gradient")
        let expectedGradient = try doubles(fixture, "expected_grad.npy")
        let largest = expectedGradient.map(abs).max() ?? 0
        // A 16-bit gradient is rounded to its type; elsewhere the gradient carries the logits' rounding.
        let gradientTolerance = T.self == Float16.self ? 2e-3 : T.self == BFloat16.self ? 1e-2 : tolerance
        let gradientMismatch = firstMismatch(
            fused.gradient.scalars.map(Double.init), expectedGradient, rtol: gradientTolerance,
            atol: gradientTolerance * largest)
        #expect(gradientMismatch == nil, "\(context): gradient \(gradientMismatch ?? "")")
    }
}
