import CrossEntropy
import Testing

/// Every PyTorch fixture on every backend present, through the library API.
@Suite struct FixtureTests {
    /// The loss of every valid case.
    @Test(arguments: Fixture.all.filter { !$0.error }, Backends.names)
    func lossMatchesPyTorch(_ fixture: Fixture, device: String) throws {
        try check(fixture, Backends.engine(device), gradient: false)
    }

    /// The fused loss and gradient of the valid cases that have an expected gradient (`expected_grad.npy`).
    @Test(arguments: Fixture.all.filter { !$0.error && $0.grad == true }, Backends.names)
    func gradientMatchesPyTorch(_ fixture: Fixture, device: String) throws {
        try check(fixture, Backends.engine(device), gradient: true)
    }

    private func check(_ fixture: Fixture, _ engine: CrossEntropyEngine, gradient: Bool) throws {
        switch fixture.logitsDType {
        case "float16": try check(Float16.self, fixture, engine, gradient: gradient)
        case "float64": try check(Double.self, fixture, engine, gradient: gradient)
        default: try check(Float.self, fixture, engine, gradient: gradient)
        }
    }

    @Test(arguments: Fixture.all.filter { $0.error }, Backends.names)
    func invalidInputIsRejected(_ fixture: Fixture, device: String) throws {
        let engine = Backends.engine(device)
        let logits = try fixture.logits(as: Float.self)
        let target = try fixture.target(as: Float.self)
        let options = try fixture.options
        #expect(throws: CrossEntropyError.self) {
            _ = try engine.crossEntropy(logits, target: target, options: options)
        }
        #expect(throws: CrossEntropyError.self) {
            _ = try engine.crossEntropyWithGradient(logits, target: target, options: options)
        }
    }

    /// `crossEntropy` against PyTorch's loss, or with `gradient` `crossEntropyWithGradient` against its loss
    /// and gradient.
    private func check<T: LogitsScalar>(
        _: T.Type, _ fixture: Fixture, _ engine: CrossEntropyEngine, gradient: Bool
    ) throws {
        let logits = try fixture.logits(as: T.self)
        let target = try fixture.target(as: T.self)
        let options = try fixture.options
        let expected = try fixture.file("expected_loss.npy")
        if gradient {
            let result = try engine.crossEntropyWithGradient(logits, target: target, options: options)
            let lossMismatch = firstMismatch(
                result.loss.scalars.map(Double.init), expected.doubles(), rtol: fixture.lossTolerance, atol: 1e-7)
            #expect(lossMismatch == nil, "fused loss: \(lossMismatch ?? "")")
            let expectedGradient = try fixture.file("expected_grad.npy")
            #expect(result.gradient.shape == expectedGradient.shape)
            let atol = T.self == Float16.self ? 1e-3 : T.self == Double.self ? 1e-12 : 1e-7
            let gradientMismatch = firstMismatch(
                result.gradient.scalars.map(Double.init), expectedGradient.doubles(), rtol: 1e-4, atol: atol)
            #expect(gradientMismatch == nil, "gradient: \(gradientMismatch ?? "")")
        } else {
            let loss = try engine.crossEntropy(logits, target: target, options: options)
            #expect(loss.shape == expected.shape)
            let mismatch = firstMismatch(
                loss.scalars.map(Double.init), expected.doubles(), rtol: fixture.lossTolerance, atol: 1e-7)
            #expect(mismatch == nil, "loss: \(mismatch ?? "")")
        }
    }
}
