import CrossEntropy
import Foundation
import NPY
import Testing
import XentTestSupport

/// BFloat16's conversions against PyTorch's rounding of float32 values and the exact rounding of float64
/// values (`TrainingFixtures/bfloat16_rounding`, made by its `make_fixtures.py`).
@Suite struct BFloat16Tests {
    private static func file(_ name: String) throws -> NPYFile {
        try NPYFile(
            path: TrainingFixtureCase.folder.appendingPathComponent("bfloat16_rounding").appendingPathComponent(name)
                .path)
    }

    /// Each expected pattern, a NaN checked as NaN only (PyTorch's vector conversion writes 0xFFFF, its
    /// scalar one and this type 0x7FC0).
    private func expectRounding(_ values: [Double], _ bits: [UInt16], _ convert: (Double) -> BFloat16) {
        #expect(values.count == bits.count)
        for (value, expected) in zip(values, bits) {
            let rounded = convert(value)
            if BFloat16(bitPattern: expected).isNaN {
                #expect(rounded.isNaN, "\(value): \(rounded.bitPattern), expected NaN")
            } else {
                #expect(
                    rounded.bitPattern == expected,
                    "\(value): 0x\(String(rounded.bitPattern, radix: 16)), expected 0x\(String(expected, radix: 16))")
            }
        }
    }

    @Test func floatRoundsAsPyTorch() throws {
        let values = try Self.file("float32.npy").withUnsafeBufferPointer(of: Float.self) { Array($0) }
        let bits = try Self.file("float32_bits.npy").withUnsafeBufferPointer(of: UInt16.self) { Array($0) }
        expectRounding(values.map(Double.init), bits) { BFloat16(Float($0)) }
        #expect(BFloat16(Float.nan).bitPattern == 0x7FC0)
    }

    @Test func doubleRoundsOnce() throws {
        let values = try Self.file("float64.npy").withUnsafeBufferPointer(of: Double.self) { Array($0) }
        let bits = try Self.file("float64_bits.npy").withUnsafeBufferPointer(of: UInt16.self) { Array($0) }
        expectRounding(values, bits) { BFloat16($0) }
        expectRounding(values, bits) { BFloat16(floatLiteral: $0) }
    }

    /// Every pattern survives a trip through Float, and widening is exact (a NaN stays NaN).
    @Test func everyPatternRoundTrips() {
        for pattern in UInt16.min...UInt16.max {
            let value = BFloat16(bitPattern: pattern)
            let back = BFloat16(Float(value))
            if value.isNaN {
                #expect(back.isNaN && Float(value).isNaN, "0x\(String(pattern, radix: 16))")
            } else {
                #expect(back.bitPattern == pattern, "0x\(String(pattern, radix: 16))")
                #expect(Double(value) == Double(Float(value)))
            }
        }
    }

    /// Integers round once: as their Double where that is exact, and from above 2^53 as well.
    @Test func integersRoundOnce() {
        var random = SeededRandom(seed: 5)
        for _ in 0..<2000 {
            let magnitude = Int.random(in: 0...(1 << 52), using: &random)
            let value = Bool.random(using: &random) ? magnitude : -magnitude
            #expect(BFloat16(value) == BFloat16(Double(value)), "\(value)")
        }
        // 2^60 + 2^52 + 1 lies just above the tie between 2^60 and its successor: it rounds up, which
        // a rounding to Double first (to the tie itself) and then to even would not.
        let justAboveTie = (1 << 60) + (1 << 52) + 1
        #expect(BFloat16(justAboveTie) == BFloat16(1 << 60).nextUp)
        #expect(BFloat16(UInt64(justAboveTie)) == BFloat16(1 << 60).nextUp)
    }

    /// The ulp of every finite value is its Float's times 2^16 (bfloat16 stores 16 fewer significand bits),
    /// the largest finite value's included (2^120, not infinity); nextUp quiets a signalling NaN.
    @Test func ulpAndNextUp() {
        for pattern in UInt16.min...UInt16.max {
            let value = BFloat16(bitPattern: pattern)
            guard value.isFinite else { continue }
            #expect(Float(value.ulp) == Float(value).ulp * 65536, "ulp of 0x\(String(pattern, radix: 16))")
        }
        #expect(BFloat16.greatestFiniteMagnitude.ulp == BFloat16(sign: .plus, exponent: 120, significand: 1))
        #expect(BFloat16.signalingNaN.nextUp.isNaN && !BFloat16.signalingNaN.nextUp.isSignalingNaN)
        #expect(BFloat16.greatestFiniteMagnitude.nextUp == .infinity)
        #expect((-BFloat16.leastNonzeroMagnitude).nextUp.isZero)
    }
}
