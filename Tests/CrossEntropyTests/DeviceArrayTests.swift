import Foundation
import Testing
import XentTestSupport

@testable import CrossEntropy

/// Logits kept on the device (`DeviceArray`) give exactly what the same logits in host memory give —
/// loss, gradient into another array or in place — for every option, type and backend.
@Suite struct DeviceArrayTests {
    @Test(arguments: OptionCase.all, Backends.names)
    func deviceArraysGiveWhatHostMemoryGives(_ testCase: OptionCase, _ device: String) throws {
        try check(Float.self, testCase, device)
        try check(Double.self, testCase, device)
        try check(BFloat16.self, testCase, device)
        try check(Float16.self, testCase, device)
    }

    private func check<T: LogitsScalar>(_: T.Type, _ testCase: OptionCase, _ device: String) throws {
        let engine = Backends.engine(device)
        let (tensor, target) = testCase.inputs(T.self, seed: 9)
        let (shape, values, count) = (tensor.shape, tensor.scalars, tensor.scalars.count)
        let context = "\(T.self) \(testCase.testDescription) on \(device)"
        let (options, upstream) = (testCase.options, testCase.upstream)
        let host = try engine.crossEntropyWithGradient(
            Tensor(shape: shape, scalars: values), target: target, options: options, upstream: upstream)
        let logits = try engine.makeDeviceArray(values)
        #expect(try logits.read() == values, "\(context): the upload")

        let forward = try engine.crossEntropy(logits, shape: shape, target: target, options: options)
        let hostForward = try engine.crossEntropy(
            Tensor(shape: shape, scalars: values), target: target, options: options)
        #expect(forward == hostForward, "\(context): loss \(forward) vs \(hostForward)")
        let gradient = try engine.makeDeviceArray(count: count, of: T.self)
        let result = try engine.crossEntropyWithGradient(
            logits, shape: shape, target: target, options: options, upstream: upstream, gradientInto: gradient)
        #expect(result.loss == host.loss && result.logSumExp == host.logSumExp, "\(context)")
        #expect(try gradient.read() == host.gradient.scalars, "\(context): gradient")
        #expect(try logits.read() == values, "\(context): the logits changed")

        let inPlace = try engine.crossEntropyWithGradient(
            logits, shape: shape, target: target, options: options, upstream: upstream, gradientInto: logits)
        #expect(inPlace.loss == host.loss, "\(context): in place")
        #expect(try logits.read() == host.gradient.scalars, "\(context): gradient in place")
    }

    /// The primitives on device arrays: logsumexp, log-softmax and softmax (into another array and in
    /// place), gather, nll_loss and the summary with every extra, against the same calls on host tensors.
    @Test(arguments: Backends.names)
    func primitivesOnDeviceArrays(_ device: String) throws {
        let engine = Backends.engine(device)
        var random = SeededRandom(seed: 12)
        let shape = [5, 300, 2]
        let values = (0..<shape.reduce(1, *)).map { _ in Float.random(in: -4...4, using: &random) }
        let tensor = Tensor(shape: shape, scalars: values)
        let indices = Tensor(shape: [5, 2], scalars: (0..<10).map { Int64(($0 * 37) % 300) })
        let logits = try engine.makeDeviceArray(values)

        #expect(try engine.logSumExp(logits, shape: shape) == (try engine.logSumExp(tensor)), "on \(device)")
        let output = try engine.makeDeviceArray(count: values.count, of: Float.self)
        try engine.logSoftmax(logits, shape: shape, into: output)
        let logSoftmax = try engine.logSoftmax(tensor)
        #expect(try output.read() == logSoftmax.scalars, "log-softmax on \(device)")
        try engine.softmax(logits, shape: shape, into: output)
        #expect(try output.read() == (try engine.softmax(tensor)).scalars, "softmax on \(device)")
        #expect(
            try engine.gather(logits, shape: shape, classIndices: indices)
                == (try engine.gather(tensor, classIndices: indices)), "gather on \(device)")
        let summary = try engine.crossEntropySummary(
            logits, shape: shape, target: .classIndices(indices), extras: [.predictedClasses, .entropy, .logSumExp])
        let hostSummary = try engine.crossEntropySummary(
            tensor, target: .classIndices(indices), extras: [.predictedClasses, .entropy, .logSumExp])
        #expect(summary.loss == hostSummary.loss && summary.predictedClasses == hostSummary.predictedClasses)
        #expect(summary.entropy == hostSummary.entropy && summary.logSumExp == hostSummary.logSumExp)
        #expect(summary.tokenAccuracy == hostSummary.tokenAccuracy && summary.rowsKept == hostSummary.rowsKept)

        try engine.logSoftmax(logits, shape: shape, into: logits)  // in place
        #expect(try logits.read() == logSoftmax.scalars, "log-softmax in place on \(device)")
        let options = CrossEntropyOptions(reduction: .sum, weight: (0..<300).map { 1 + Double($0) / 300 })
        #expect(
            try engine.nllLoss(logits, shape: shape, target: .classIndices(indices), options: options)
                == (try engine.nllLoss(logSoftmax, target: .classIndices(indices), options: options)),
            "nll_loss on \(device)")
        let outOfBounds = #expect(throws: CrossEntropyError.self) {
            try engine.gather(
                logits, shape: shape, classIndices: Tensor(shape: [5, 2], scalars: Array(repeating: 300, count: 10)))
        }
        #expect(outOfBounds?.code == .targetOutOfBounds)
    }

    @Test func misuseIsRefused() throws {
        let cpu = try CrossEntropyEngine(device: .cpu)
        let logits = try cpu.makeDeviceArray([1, 2, 3, 4] as [Float])
        let short = #expect(throws: CrossEntropyError.self) { try logits.write([1, 2]) }
        #expect(short?.code == .invalidShape && short?.message == "2 values for a device array of 4")
        let gradient = try cpu.makeDeviceArray(count: 3, of: Float.self)
        let mismatch = #expect(throws: CrossEntropyError.self) {
            try cpu.crossEntropyWithGradient(logits, shape: [2, 2], target: .labels([0, 1]), gradientInto: gradient)
        }
        #expect(mismatch?.code == .invalidShape)
        let badShape = #expect(throws: CrossEntropyError.self) {
            try cpu.crossEntropy(logits, shape: [3, 2], target: .labels([0, 1, 0]))
        }
        #expect(badShape?.code == .invalidShape)
    }

    /// An array of one device refused by an engine on another, both ways.
    @Test(.needsOpenCL) func arraysOfAnotherDeviceAreRefused() throws {
        let cpu = try CrossEntropyEngine(device: .cpu)
        let logits = try cpu.makeDeviceArray([1, 2, 3, 4] as [Float])
        let openCL = Backends.engine("opencl")
        let foreign = #expect(throws: CrossEntropyError.self) {
            try openCL.crossEntropy(logits, shape: [2, 2], target: .labels([0, 1]))
        }
        #expect(foreign?.code == .invalidOption, "\(String(describing: foreign))")
        let onDevice = try openCL.makeDeviceArray([1, 2, 3, 4] as [Float])
        #expect(throws: CrossEntropyError.self) {
            try cpu.crossEntropy(onDevice, shape: [2, 2], target: .labels([0, 1]))
        }
    }
}
