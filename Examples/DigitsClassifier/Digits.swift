#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The UCI handwritten digits (`Data/digits.bin`, see `Data/README.md`): 8×8 images and their labels.
struct Digits {
    /// Pixels scaled to [0, 1], 64 per image, image after image.
    var pixels: [Float]
    /// One label (0–9) per image.
    var labels: [Int]

    static let pixelsPerImage = 64
    static let classes = 10

    var count: Int { labels.count }

    /// Reads the 65-byte records of `path`.
    init(contentsOf path: String) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let record = Self.pixelsPerImage + 1
        guard !bytes.isEmpty, bytes.count % record == 0 else {
            throw DigitsError("\(path): \(bytes.count) bytes is not a whole number of \(record)-byte records")
        }
        pixels = []
        labels = []
        for start in stride(from: 0, to: bytes.count, by: record) {
            pixels += bytes[start..<(start + Self.pixelsPerImage)].map { Float($0) / 16 }
            labels.append(Int(bytes[start + Self.pixelsPerImage]))
        }
        guard labels.allSatisfy({ (0..<Self.classes).contains($0) }) else {
            throw DigitsError("\(path): a label outside 0–9")
        }
    }

    private init(pixels: [Float], labels: [Int]) {
        self.pixels = pixels
        self.labels = labels
    }

    /// The images at `indices`, in that order.
    func subset(_ indices: some Collection<Int>) -> Digits {
        Digits(
            pixels: indices.flatMap { pixels[($0 * Self.pixelsPerImage)..<(($0 + 1) * Self.pixelsPerImage)] },
            labels: indices.map { labels[$0] })
    }

    /// A training and a test set: `testFraction` of the images, chosen by a seeded shuffle (the same
    /// on every machine).
    func split(testFraction: Double, seed: UInt64) -> (train: Digits, test: Digits) {
        var random = SplitMix64(seed: seed)
        let order = (0..<count).shuffled(using: &random)
        let testCount = Int(Double(count) * testFraction)
        return (subset(order.dropFirst(testCount)), subset(order.prefix(testCount)))
    }
}

/// A data file that cannot be read as digits.
struct DigitsError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// SplitMix64: a small seeded generator, so that the split, the initial weights and the batches are
/// the same on every machine and device.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
