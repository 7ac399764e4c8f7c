import NPY
import Testing
import XentTestSupport

/// Damaged and random input must be rejected with an error, never a crash.
@Suite struct FuzzTests {
    static let seeds: [[UInt8]] = [
        NumPyFixtures.float16V1, NumPyFixtures.int64V2, NumPyFixtures.float64V3,
        NumPyFixtures.float32Scalar, NumPyFixtures.int32Empty, NumPyFixtures.structured,
    ]

    /// Reads `bytes` if they are valid, checking that the file is self-consistent.
    static func readIfValid(_ bytes: [UInt8]) {
        guard let file = try? NPYFile(bytes: bytes) else { return }
        #expect(file.count == file.shape.reduce(1, *))
        #expect(dataBytes(of: file).count == file.count * file.dtype.byteCount)
    }

    @Test(arguments: seeds)
    func everyTruncationIsRejected(seed: [UInt8]) {
        for length in 0..<seed.count {
            #expect(throws: NPYError.self) { try NPYFile(bytes: Array(seed.prefix(length))) }
        }
    }

    @Test(arguments: seeds.indices)
    func randomMutationsNeverCrash(index: Int) {
        var generator = SeededRandom(seed: UInt64(index))
        let seed = Self.seeds[index]
        let interesting =
            Array("{}()[]:,'\"-0123456789 \nTrueFalsedescrshape<>fi".utf8) + [0, 0x93, 0xFF]
        for _ in 0..<3000 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                // Mostly damage the header, where the parsing happens.
                let limit = Bool.random(using: &generator) ? min(bytes.count, 140) : bytes.count
                let position = Int.random(in: 0..<max(limit, 1), using: &generator)
                let byte =
                    Bool.random(using: &generator)
                    ? interesting.randomElement(using: &generator) ?? 0
                    : UInt8.random(in: 0...255, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0 where position < bytes.count: bytes[position] = byte
                case 1 where position < bytes.count: bytes.remove(at: position)
                default: bytes.insert(byte, at: min(position, bytes.count))
                }
            }
            Self.readIfValid(bytes)
        }
    }

    @Test func randomBytesAfterTheMagicNeverCrash() {
        var generator = SeededRandom(seed: 42)
        for _ in 0..<3000 {
            let length = Int.random(in: 0..<80, using: &generator)
            let version = [UInt8.random(in: 1...3, using: &generator), 0]
            let body = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            Self.readIfValid([0x93] + Array("NUMPY".utf8) + version + body)
        }
    }
}
