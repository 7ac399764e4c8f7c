import CrossEntropy
import NPY

/// One fuzz input, split into the parts that drive the `.npy` reader and the loss.
///
/// Layout: `logits.npy`, then optionally `marker`, a fixed block of `optionsLength` option bytes
/// (zero-padded when the input ends early) and `target.npy`. Without the marker the whole input is
/// read only as a `.npy` file. Option bytes, from the start of the block:
///
/// | bytes | meaning |
/// |-------|---------|
/// | 0 | flags: bits 0–1 reduction (0 `mean`, 1 `sum`, 2 `none`, 3 `mean`); bit 2 weights; bit 3 ignore index from bytes 1–8 (else -100); bit 4 per-element upstream gradient (`none`); bit 5 a wrong upstream count |
/// | 1–8 | ignore index, `Int64` little-endian |
/// | 9–17 | label smoothing (a `FuzzInput.number(at:)` value) |
/// | 18 | weight count |
/// | 19–27, 28–36 | the weights of even and odd classes |
/// | 37–45 | the upstream gradient |
/// | 46 | device string length (at most 16) |
/// | 47–62 | device string bytes |
struct FuzzInput {
    /// Separates the logits file from the options and the target file: `\n#XENT#\n`.
    static let marker: [UInt8] = Array("\n#XENT#\n".utf8)

    /// The length of the option block that follows the marker.
    static let optionsLength = 63

    /// The input bytes up to the marker (all of them without one).
    let logits: ArraySlice<UInt8>

    /// The option block, zero-padded to `optionsLength`; `nil` without a marker.
    let options: [UInt8]?

    /// The bytes after the option block: the target file.
    let target: ArraySlice<UInt8>

    /// Splits `bytes` at the first `marker`.
    init(_ bytes: [UInt8]) {
        guard let split = Self.firstIndex(of: Self.marker, in: bytes) else {
            logits = bytes[...]
            options = nil
            target = []
            return
        }
        logits = bytes[..<split]
        let optionsStart = split + Self.marker.count
        let optionsEnd = min(bytes.count, optionsStart + Self.optionsLength)
        var block = Array(bytes[optionsStart..<optionsEnd])
        block += [UInt8](repeating: 0, count: Self.optionsLength - block.count)
        options = block
        target = bytes[optionsEnd...]
    }

    /// The first index at which `needle` occurs in `haystack`.
    private static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count)
        where haystack[start] == needle[0] && haystack[start..<start + needle.count].elementsEqual(needle) {
            return start
        }
        return nil
    }
}

/// Reads fuzzer-chosen values out of an option block.
struct OptionBytes {
    /// The option block, `FuzzInput.optionsLength` bytes.
    let bytes: [UInt8]

    /// Values that are hard to reach from random bits but matter to the loss.
    private static let specials: [Double] = [
        .nan, .infinity, -.infinity, -0.0, 1, 1.0.nextUp, -Double.leastNonzeroMagnitude,
        .leastNonzeroMagnitude, .greatestFiniteMagnitude, -1, 0.5, 1e-300,
    ]

    /// The little-endian `Int64` at `offset`.
    func int64(at offset: Int) -> Int64 {
        var value: UInt64 = 0
        for index in (offset..<offset + 8).reversed() {
            value = value << 8 | UInt64(bytes[index])
        }
        return Int64(bitPattern: value)
    }

    /// A number from the 9 bytes at `offset`: byte 0 picks how bytes 1–8 are read (mod 4): a small
    /// signed value `Int8 / 16`, a fraction `UInt8 / 255`, raw IEEE 754 bits (NaN payloads and
    /// infinities included), or an entry of a table of special values.
    func number(at offset: Int) -> Double {
        let payload = bytes[offset + 1]
        switch bytes[offset] % 4 {
        case 0: return Double(Int8(bitPattern: payload)) / 16
        case 1: return Double(payload) / 255
        case 2: return Double(bitPattern: UInt64(bitPattern: int64(at: offset + 1)))
        default: return Self.specials[Int(payload) % Self.specials.count]
        }
    }
}
