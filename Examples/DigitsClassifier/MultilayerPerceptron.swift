/// A two-layer perceptron, `inputs → hidden (ReLU) → classes`, trained by plain minibatch SGD: the model
/// around the loss. Its layers are small loops over `[Float]`; the loss and its gradient come from the
/// `CrossEntropyEngine`.
struct MultilayerPerceptron {
    let inputs: Int
    let hidden: Int
    let classes: Int
    /// `hidden × inputs`, row-major.
    var w1: [Float]
    var b1: [Float]
    /// `classes × hidden`, row-major.
    var w2: [Float]
    var b2: [Float]

    /// Weights drawn uniformly in ±√(6 / fan-in) (He's initialisation for ReLU), biases 0.
    init(inputs: Int, hidden: Int, classes: Int, random: inout some RandomNumberGenerator) {
        (self.inputs, self.hidden, self.classes) = (inputs, hidden, classes)
        let bound1 = (6 / Float(inputs)).squareRoot()
        let bound2 = (6 / Float(hidden)).squareRoot()
        w1 = (0..<(hidden * inputs)).map { _ in Float.random(in: -bound1...bound1, using: &random) }
        w2 = (0..<(classes * hidden)).map { _ in Float.random(in: -bound2...bound2, using: &random) }
        b1 = [Float](repeating: 0, count: hidden)
        b2 = [Float](repeating: 0, count: classes)
    }

    /// The hidden activations and the logits of `rows` inputs `x` (`rows × inputs`).
    func forward(_ x: [Float], rows: Int) -> (activations: [Float], logits: [Float]) {
        let activations = Self.affine(x, rows: rows, w1, b1, outputs: hidden, inputs: inputs).map { max($0, 0) }
        return (activations, Self.affine(activations, rows: rows, w2, b2, outputs: classes, inputs: hidden))
    }

    /// One SGD step from the loss's gradient with respect to the logits (`rows × classes`).
    mutating func backward(
        _ x: [Float], activations: [Float], logitsGradient g: [Float], rows: Int, learningRate: Float
    ) {
        // Through the ReLU: the activations' gradient where they were positive.
        var hiddenGradient = [Float](repeating: 0, count: rows * hidden)
        for r in 0..<rows {
            for j in 0..<hidden where activations[r * hidden + j] > 0 {
                var sum: Float = 0
                for c in 0..<classes { sum += g[r * classes + c] * w2[c * hidden + j] }
                hiddenGradient[r * hidden + j] = sum
            }
        }
        Self.descend(
            &w2, &b2, outputGradient: g, input: activations, rows: rows, outputs: classes, inputs: hidden, learningRate)
        Self.descend(
            &w1, &b1, outputGradient: hiddenGradient, input: x, rows: rows, outputs: hidden, inputs: inputs,
            learningRate)
    }

    /// `x · wᵀ + b` for `rows` rows.
    private static func affine(
        _ x: [Float], rows: Int, _ w: [Float], _ b: [Float], outputs: Int, inputs: Int
    ) -> [Float] {
        var y = [Float](repeating: 0, count: rows * outputs)
        for r in 0..<rows {
            for o in 0..<outputs {
                var sum = b[o]
                for i in 0..<inputs { sum += x[r * inputs + i] * w[o * inputs + i] }
                y[r * outputs + o] = sum
            }
        }
        return y
    }

    /// `w −= rate · gᵀ·x`, `b −= rate · Σ g`: a layer's step from its outputs' gradient.
    private static func descend(
        _ w: inout [Float], _ b: inout [Float], outputGradient g: [Float], input x: [Float], rows: Int, outputs: Int,
        inputs: Int, _ rate: Float
    ) {
        for o in 0..<outputs {
            var biasSum: Float = 0
            for r in 0..<rows { biasSum += g[r * outputs + o] }
            b[o] -= rate * biasSum
            for i in 0..<inputs {
                var sum: Float = 0
                for r in 0..<rows { sum += g[r * outputs + o] * x[r * inputs + i] }
                w[o * inputs + i] -= rate * sum
            }
        }
    }
}
