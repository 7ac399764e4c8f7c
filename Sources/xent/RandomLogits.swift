/// Deterministic pseudo-random logits and targets for the demo and the benchmark (SplitMix64).
struct RandomLogits {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [-4, 4).
    mutating func nextLogit() -> Float {
        Float(next() >> 40) * (8.0 / Float(1 << 24)) - 4
    }

    /// `count` logits.
    mutating func logits<T: BinaryFloatingPoint>(count: Int, as: T.Type) -> [T] {
        (0..<count).map { _ in T(nextLogit()) }
    }

    /// `count` class indices in `0..<classes`.
    mutating func classIndices(count: Int, classes: Int) -> [Int64] {
        (0..<count).map { _ in Int64(next() % UInt64(classes)) }
    }
}

/// Seconds on a monotonic clock.
func secondsElapsed(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let elapsed = try clock.measure(body)
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
}
