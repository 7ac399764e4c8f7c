import CrossEntropy
import Foundation
import Testing

/// The seed notebook, to its printed precision (its case is also the fixture `seed_notebook`).
@Suite struct SeedNotebookTests {
    let fixture = Fixture.all.first { $0.name == "seed_notebook" }!

    @Test(arguments: Backends.names)
    func lossIs1_7603FourWays(device: String) throws {
        let engine = Backends.engine(device)
        let x = try fixture.logits(as: Float.self)
        let y = try fixture.target(as: Float.self)
        let logSoftmax = try engine.logSoftmax(x)
        let losses = [
            "CrossEntropyLoss(x)": try engine.crossEntropy(x, target: y),
            "NLLLoss(LogSoftmax(x))": try engine.nllLoss(logSoftmax, target: y),
            "CrossEntropyLoss(LogSoftmax(x))": try engine.crossEntropy(logSoftmax, target: y),
            "NLLLoss(LogSoftmax(LogSoftmax(x)))": try engine.nllLoss(try engine.logSoftmax(logSoftmax), target: y),
        ]
        for (name, loss) in losses {
            let value = Double(loss.scalar)
            #expect(abs(value - 1.7603) < 5e-5, "\(name) = \(value)")
        }
    }

    @Test(arguments: Backends.names)
    func logSoftmaxEqualsLogOfSoftmax(device: String) throws {
        let engine = Backends.engine(device)
        let x = try fixture.logits(as: Float.self)
        let logSoftmax = try engine.logSoftmax(x).scalars.map(Double.init)
        let logOfSoftmax = try engine.softmax(x).scalars.map { log(Double($0)) }
        #expect(firstMismatch(logSoftmax, logOfSoftmax, rtol: 1e-6, atol: 1e-6) == nil)
        // The notebook printed log_softmax(x) to 4 decimals; its second fixture holds it at float32.
        let printed = try Fixture.all.first { $0.name == "seed_notebook_log_softmax_input" }!.file("logits.npy")
        #expect(firstMismatch(logSoftmax, printed.doubles(), rtol: 0, atol: 1e-6) == nil)
    }

    @Test(arguments: Backends.names)
    func gatherPicksTheNotebooksTargetLogits(device: String) throws {
        let engine = Backends.engine(device)
        let x = try fixture.logits(as: Float.self)
        let picked = try engine.gather(x, classIndices: Tensor(shape: [5], scalars: [1, 2, 2, 2, 0]))
        let printed = [0.9024, 0.6434, 1.3669, 0.6591, 0.3560]
        #expect(firstMismatch(picked.scalars.map(Double.init), printed, rtol: 0, atol: 5e-5) == nil)
    }
}
