import CrossEntropy
import Foundation
import Testing
import XentTestSupport

/// The fused linear cross-entropy against a float64 reference (the logits `X·Wᵀ + b` formed in full, then
/// the reference loss and its gradient, which the chain rule turns into the three gradients), against
/// central differences, and against the materialised path of the existing loss; every option, chunk
/// boundaries, and sizes that fit no GEMM tile, on every backend.
@Suite struct LinearCrossEntropyTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var rows: Int
        var hiddenSize: Int
        var classes: Int
        var chunkRows: Int
        var bias = true
        var options = CrossEntropyOptions()
        var ignored: Set<Int> = []
        var elementUpstream = false
        var seed: UInt64

        var testDescription: String {
            "N \(rows) H \(hiddenSize) V \(classes) chunk \(chunkRows)\(bias ? " bias" : "") \(options.reduction)"
                + "\(options.weight == nil ? "" : " weighted") ε \(options.labelSmoothing) z \(options.zLossScale)"
                + " softcap \(options.softcap.map { "\($0)" } ?? "-") ignored \(ignored.sorted())"
                + (elementUpstream ? " upstream per row" : "")
        }

        static let all: [Case] = [
            Case(rows: 7, hiddenSize: 5, classes: 11, chunkRows: 3, seed: 1),
            Case(rows: 1, hiddenSize: 13, classes: 37, chunkRows: 4, bias: false, seed: 2),
            Case(rows: 9, hiddenSize: 3, classes: 40, chunkRows: 9, options: .init(reduction: .sum), seed: 3),
            Case(
                rows: 10, hiddenSize: 6, classes: 17, chunkRows: 4,
                options: .init(weight: (0..<17).map { 0.5 + Double($0) / 10 }, labelSmoothing: 0.1),
                ignored: [0, 4, 5, 9], seed: 4),
            Case(
                rows: 8, hiddenSize: 7, classes: 33, chunkRows: 3,
                options: .init(reduction: .none, labelSmoothing: 0.2, zLossScale: 1e-2), ignored: [2],
                elementUpstream: true, seed: 5),
            Case(
                rows: 6, hiddenSize: 4, classes: 19, chunkRows: 5,
                options: .init(weight: (0..<19).map { 1 + Double($0 % 3) }, zLossScale: 0.05, softcap: 3),
                ignored: [1], seed: 6),
            Case(rows: 5, hiddenSize: 8, classes: 300, chunkRows: 2, options: .init(softcap: 2.5), seed: 7),
            Case(rows: 4, hiddenSize: 3, classes: 9, chunkRows: 2, ignored: [0, 1, 2, 3], seed: 8),
            Case(
                rows: 4, hiddenSize: 3, classes: 9, chunkRows: 2, options: .init(reduction: .sum),
                ignored: [0, 1, 2, 3], seed: 9),
        ]
    }

    /// Random inputs of `testCase` in Double.
    struct Inputs {
        var hidden: [Double]
        var weight: [Double]
        var bias: [Double]?
        var targets: [Int64]
        var upstream: UpstreamGradient

        init(_ testCase: Case) {
            var random = SeededRandom(seed: testCase.seed)
            hidden = (0..<(testCase.rows * testCase.hiddenSize)).map { _ in Double.random(in: -1...1, using: &random) }
            weight = (0..<(testCase.classes * testCase.hiddenSize)).map { _ in
                Double.random(in: -1.5...1.5, using: &random)
            }
            bias = testCase.bias ? (0..<testCase.classes).map { _ in Double.random(in: -1...1, using: &random) } : nil
            targets = (0..<testCase.rows).map { row in
                testCase.ignored.contains(row)
                    ? Int64(testCase.options.ignoreIndex)
                    : Int64.random(in: 0..<Int64(testCase.classes), using: &random)
            }
            upstream =
                testCase.elementUpstream
                ? .elements((0..<testCase.rows).map { _ in Double.random(in: -2...2, using: &random) }) : .scalar(0.75)
        }

        /// The full logits X·Wᵀ + b.
        func logits(_ testCase: Case) -> [Double] {
            var logits = [Double](repeating: 0, count: testCase.rows * testCase.classes)
            for row in 0..<testCase.rows {
                for clazz in 0..<testCase.classes {
                    var sum = bias?[clazz] ?? 0
                    for k in 0..<testCase.hiddenSize {
                        sum += hidden[row * testCase.hiddenSize + k] * weight[clazz * testCase.hiddenSize + k]
                    }
                    logits[row * testCase.classes + clazz] = sum
                }
            }
            return logits
        }

        /// The reference loss and the three gradients by the chain rule from d loss / d logits.
        func reference(_ testCase: Case) -> (loss: [Double], hidden: [Double], weight: [Double], bias: [Double]) {
            let (n, h, v) = (testCase.rows, testCase.hiddenSize, testCase.classes)
            var reference = Reference(shape: [n, v], logits: logits(testCase))
            reference.targets = targets
            reference.options = testCase.options
            let g = reference.gradient(upstream: upstream)
            var gradHidden = [Double](repeating: 0, count: n * h)
            var gradWeight = [Double](repeating: 0, count: v * h)
            var gradBias = [Double](repeating: 0, count: v)
            for row in 0..<n {
                for clazz in 0..<v {
                    let gij = g[row * v + clazz]
                    gradBias[clazz] += gij
                    for k in 0..<h {
                        gradHidden[row * h + k] += gij * weight[clazz * h + k]
                        gradWeight[clazz * h + k] += gij * hidden[row * h + k]
                    }
                }
            }
            return (reference.loss(), gradHidden, gradWeight, gradBias)
        }

        func call<T: LinearScalar>(
            _ engine: CrossEntropyEngine, _ testCase: Case, as _: T.Type, gradients: Bool = true
        ) throws -> LinearCrossEntropyResult<T> {
            try engine.linearCrossEntropy(
                hidden: Tensor(shape: [testCase.rows, testCase.hiddenSize], scalars: hidden.map { T($0) }),
                linearWeight: Tensor(shape: [testCase.classes, testCase.hiddenSize], scalars: weight.map { T($0) }),
                linearBias: bias.map { Tensor(shape: [testCase.classes], scalars: $0.map { T($0) }) },
                target: Tensor(shape: [testCase.rows], scalars: targets), options: testCase.options,
                chunking: .rows(testCase.chunkRows), gradients: gradients, upstream: upstream)
        }
    }

    @Test(arguments: Case.all, Backends.names)
    func matchesFloat64Reference(_ testCase: Case, device: String) throws {
        let engine = Backends.engine(device)
        let inputs = Inputs(testCase)
        let expected = inputs.reference(testCase)
        for (dtype, rtol, atol) in [("float64", 1e-11, 1e-12), ("float32", 2e-5, 2e-6)] {
            let context = "\(testCase.testDescription) \(dtype) on \(device)"
            let loss: [Double]
            let gradients: [[Double]]
            if dtype == "float64" {
                let result = try inputs.call(engine, testCase, as: Double.self)
                loss = result.loss.scalars
                gradients =
                    [result.hiddenGradient!.scalars, result.linearWeightGradient!.scalars]
                    + (testCase.bias ? [result.linearBiasGradient!.scalars] : [])
                #expect(result.rowsKept == testCase.rows - testCase.ignored.count, "\(context)")
            } else {
                let result = try inputs.call(engine, testCase, as: Float.self)
                loss = result.loss.scalars.map(Double.init)
                gradients =
                    [
                        result.hiddenGradient!.scalars.map(Double.init),
                        result.linearWeightGradient!.scalars.map(Double.init),
                    ] + (testCase.bias ? [result.linearBiasGradient!.scalars.map(Double.init)] : [])
            }
            let lossMismatch = firstMismatch(loss, expected.loss, rtol: rtol, atol: atol)
            #expect(lossMismatch == nil, "\(context): loss \(lossMismatch ?? "")")
            for (name, actual, reference) in zip3(
                ["hidden", "weight", "bias"], gradients, [expected.hidden, expected.weight, expected.bias])
            {
                let mismatch = firstMismatch(actual, reference, rtol: rtol, atol: atol)
                #expect(mismatch == nil, "\(context): \(name) gradient \(mismatch ?? "")")
            }
        }
    }

    @Test(arguments: Backends.names)
    func gradientsMatchCentralDifferences(device: String) throws {
        let engine = Backends.engine(device)
        let testCase = Case(
            rows: 5, hiddenSize: 3, classes: 7, chunkRows: 2,
            options: .init(weight: [1, 2, 0.5, 1, 1.5, 1, 3], labelSmoothing: 0.1, zLossScale: 0.02, softcap: 2),
            ignored: [3], seed: 11)
        var inputs = Inputs(testCase)
        inputs.upstream = .scalar(1)
        let result = try inputs.call(engine, testCase, as: Double.self)
        let step = 1e-6
        func loss(_ changed: Inputs) throws -> Double {
            try changed.call(engine, testCase, as: Double.self, gradients: false).loss.scalars[0]
        }
        func differences(_ keyPath: WritableKeyPath<Inputs, [Double]>) throws -> [Double] {
            try inputs[keyPath: keyPath].indices.map { i in
                var up = inputs
                up[keyPath: keyPath][i] += step
                var down = inputs
                down[keyPath: keyPath][i] -= step
                return (try loss(up) - loss(down)) / (2 * step)
            }
        }
        let biasDifferences = try inputs.bias!.indices.map { i in
            var up = inputs
            up.bias![i] += step
            var down = inputs
            down.bias![i] -= step
            return (try loss(up) - loss(down)) / (2 * step)
        }
        for (name, actual, expected) in zip3(
            ["hidden", "weight", "bias"],
            [result.hiddenGradient!.scalars, result.linearWeightGradient!.scalars, result.linearBiasGradient!.scalars],
            [try differences(\.hidden), try differences(\.weight), biasDifferences])
        {
            let mismatch = firstMismatch(actual, expected, rtol: 1e-6, atol: 1e-8)
            #expect(mismatch == nil, "\(name) gradient on \(device): \(mismatch ?? "")")
        }
    }

    /// The logits formed in full in Float, then the existing fused loss and gradient: the same numbers
    /// within Float rounding.
    @Test(arguments: Backends.names)
    func matchesTheMaterialisedPath(device: String) throws {
        let engine = Backends.engine(device)
        let testCase = Case(
            rows: 33, hiddenSize: 16, classes: 1000, chunkRows: 8,
            options: .init(labelSmoothing: 0.05, zLossScale: 1e-3), ignored: [3, 4, 20], seed: 12)
        let inputs = Inputs(testCase)
        let logits = inputs.logits(testCase).map { Float($0) }
        let materialised = try engine.crossEntropyWithGradient(
            Tensor(shape: [testCase.rows, testCase.classes], scalars: logits),
            target: .classIndices(Tensor(shape: [testCase.rows], scalars: inputs.targets)), options: testCase.options,
            upstream: inputs.upstream)
        let fused = try inputs.call(engine, testCase, as: Float.self)
        #expect(isClose(Double(fused.loss.scalars[0]), Double(materialised.loss.scalars[0]), rtol: 1e-5))
        #expect(isClose(Double(fused.zLoss.scalars[0]), Double(materialised.zLoss.scalars[0]), rtol: 1e-5))
        var biasGradient = [Double](repeating: 0, count: testCase.classes)
        for (index, g) in materialised.gradient.scalars.enumerated() {
            biasGradient[index % testCase.classes] += Double(g)
        }
        let mismatch = firstMismatch(
            fused.linearBiasGradient!.scalars.map(Double.init), biasGradient, rtol: 1e-4, atol: 1e-6)
        #expect(mismatch == nil, "bias gradient on \(device): \(mismatch ?? "")")
        for row in 0..<testCase.rows {
            let expected = testCase.ignored.contains(row) ? Double.nan : Double(materialised.logSumExp.scalars[row])
            #expect(isClose(Double(fused.logSumExp.scalars[row]), expected, rtol: 1e-6), "row \(row) logsumexp")
        }
    }

    @Test(arguments: Backends.names)
    func leadingDimensionsAreRows(device: String) throws {
        let engine = Backends.engine(device)
        let testCase = Case(rows: 6, hiddenSize: 4, classes: 10, chunkRows: 4, seed: 13)
        let inputs = Inputs(testCase)
        let flat = try inputs.call(engine, testCase, as: Double.self)
        let shaped = try engine.linearCrossEntropy(
            hidden: Tensor(shape: [2, 3, 4], scalars: inputs.hidden),
            linearWeight: Tensor(shape: [10, 4], scalars: inputs.weight),
            linearBias: Tensor(shape: [10], scalars: inputs.bias!),
            target: Tensor(shape: [2, 3], scalars: inputs.targets),
            chunking: .rows(4), upstream: inputs.upstream)
        #expect(shaped.loss == flat.loss)
        #expect(shaped.hiddenGradient?.shape == [2, 3, 4])
        #expect(shaped.hiddenGradient?.scalars == flat.hiddenGradient?.scalars)
        #expect(shaped.logSumExp.shape == [2, 3])
    }

    @Test(arguments: Backends.names)
    func badInputIsRefusedBeforeAnyWork(device: String) throws {
        let engine = Backends.engine(device)
        let hidden = Tensor(shape: [2, 3], scalars: [Float](repeating: 0.5, count: 6))
        let weight = Tensor(shape: [4, 3], scalars: [Float](repeating: 0.25, count: 12))
        let target = Tensor(shape: [2], scalars: [Int64(1), 2])
        let cases: [(CrossEntropyError.Code, () throws -> Void)] = [
            (
                .invalidShape,
                {
                    _ = try engine.linearCrossEntropy(
                        hidden: hidden, linearWeight: Tensor(shape: [4, 2], scalars: [Float](repeating: 0, count: 8)),
                        target: target)
                }
            ),
            (
                .invalidShape,
                {
                    _ = try engine.linearCrossEntropy(
                        hidden: hidden, linearWeight: weight, linearBias: Tensor(shape: [3], scalars: [0, 0, 0]),
                        target: target)
                }
            ),
            (
                .invalidShape,
                {
                    _ = try engine.linearCrossEntropy(
                        hidden: hidden, linearWeight: weight, target: Tensor(shape: [3], scalars: [0, 1, 2]))
                }
            ),
            (
                .targetOutOfBounds,
                {
                    _ = try engine.linearCrossEntropy(
                        hidden: hidden, linearWeight: weight, target: Tensor(shape: [2], scalars: [0, 4]))
                }
            ),
            (
                .invalidShape,
                {
                    _ = try engine.linearCrossEntropy(
                        hidden: hidden, linearWeight: weight, target: target, options: .init(weight: [1, 1]))
                }
            ),
            (
                .invalidOption,
                {
                    _ = try engine.linearCrossEntropy(
                        hidden: hidden, linearWeight: weight, target: target, options: .init(labelSmoothing: 2))
                }
            ),
            (
                .invalidOption,
                {
                    _ = try engine.linearCrossEntropy(
                        hidden: hidden, linearWeight: weight, target: target, upstream: .elements([1, 1]))
                }
            ),
        ]
        for (code, call) in cases {
            #expect(throws: CrossEntropyError.self) { try call() }
            do { try call() } catch let error as CrossEntropyError { #expect(error.code == code, "\(error)") }
        }
    }
}

private func zip3<A, B, C>(_ a: [A], _ b: [B], _ c: [C]) -> [(A, B, C)] {
    zip(a, zip(b, c)).map { ($0, $1.0, $1.1) }
}
