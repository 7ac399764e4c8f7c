import CPURowKernels
import Foundation
import Testing

/// The C row kernels' vector exp and log (`Sources/CPURowKernels/VectorMath.h`) against glibc's functions one
/// precision up (`exp` and `log` in double for the float functions, `expl` in long double for the double exp), in
/// ulps of the exact result's binade (below the smallest normal, of the subnormal spacing), over dense sweeps of
/// the arguments the kernels pass, and at the special values. It runs the build the kernels use: the best for the
/// CPU, or a lower one named by `XENT_CPU_ISA` (`v3`, `baseline`), as CI runs the suite under each build; the
/// AVX-512 build applies 2^n with `vscalefps` (`xent_exp_avx512_vf`, `xent_exp_sum_avx512_vf`).
@Suite struct VectorMathAccuracyTests {
    /// The build the kernels run, as far as the environment tells, for failure messages.
    static let build: String = {
        if let named = ProcessInfo.processInfo.environment["XENT_CPU_ISA"] {
            return "XENT_CPU_ISA=\(named)"
        }
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return "the CPU's best build (\(flags.contains(" avx512f") ? "AVX-512" : "no AVX-512") CPU)"
    }()

    // MARK: exp for outputs (xent_exp_vf: about 1 ulp, subnormal results rounded, not flushed)

    /// "About 1 ulp": the bound on results from 1 down to the smallest normal float (x in [-87.33, 0]). Measured
    /// over every float there: 1.016 ulp on the AVX-512 and AVX2 builds, 0.992 on the baseline build.
    static let expBound = 1.05
    /// xent_tanh_vf's bound: measured over the sweeps below, 2.41 ulp on every build (the AVX-512 one dividing
    /// by a refined reciprocal, the others by division), just above the switch to (1 - e) / (1 + e) at |y| = 0.2.
    static let tanhBound = 2.5

    @Test func expIsAccurateForNormalResults() {
        let x = Self.sweep(from: -87.33, to: 0)
        let worst = Self.floatError(XENT_VECTOR_EXP, x, exact: exp)
        #expect(worst.ulps <= Self.expBound, "xent_exp_vf, normal results: \(worst) (\(Self.build))")
    }

    /// The same arguments, each vector holding one argument whose result is subnormal (-100 in lane 0), which sends
    /// the whole vector through the two-step scaling of `xent_exp_vf` (the AVX-512 build has one path).
    @Test func expIsAccurateNextToASubnormalLane() {
        var x = Self.sweep(from: -87.33, to: 0)
        for start in stride(from: 0, to: x.count, by: 16) {
            x[start] = -100
        }
        let worst = Self.floatError(XENT_VECTOR_EXP, x, exact: exp)
        #expect(worst.ulps <= Self.expBound, "xent_exp_vf, two-step scaling: \(worst) (\(Self.build))")
    }

    /// Subnormal results (x in [-104, -87.34]) are rounded to the subnormal spacing, not flushed to zero (measured
    /// over every float: 0.750 of that spacing on each build).
    @Test func expRoundsSubnormalResults() {
        let x = Self.sweep(from: -104, to: -87.34)
        let worst = Self.floatError(XENT_VECTOR_EXP, x, exact: exp)
        #expect(worst.ulps <= 1, "xent_exp_vf, subnormal results, in 2^-149: \(worst) (\(Self.build))")
        let y = Self.apply(XENT_VECTOR_EXP, [-88, -95, -100, -103])
        #expect(
            y.allSatisfy { $0.isSubnormal && $0 > 0 }, "subnormal results flushed: \(y) (\(Self.build))")
    }

    @Test func expSpecialValues() {
        let x: [Float] = [0, -0.0, -.infinity, .nan, -104, -105, -1e30, -.greatestFiniteMagnitude]
        let y = Self.apply(XENT_VECTOR_EXP, x)
        let context = "exp of \(x) = \(y) (\(Self.build))"
        #expect(y[0] == 1 && y[1] == 1, "exp(±0) = 1: \(context)")
        #expect(y[2] == 0, "exp(-inf) = 0: \(context)")
        #expect(y[3].isNaN, "exp(NaN) is NaN: \(context)")
        #expect(y[4...].allSatisfy { $0 == 0 }, "exp(x <= -104) = 0: \(context)")
        // A NaN lane takes the vector through the two-step scaling; the other lanes stay accurate.
        let mixed: [Float] = [.nan] + (1..<16).map { -Float($0) * 5.3 }
        let withNaN = Self.floatError(XENT_VECTOR_EXP, Array(mixed.dropFirst()), exact: exp, vector: mixed)
        #expect(withNaN.ulps <= Self.expBound, "xent_exp_vf next to a NaN lane: \(withNaN) (\(Self.build))")
    }

    // MARK: exp for summed terms (xent_exp_sum_vf: about 2 ulp once 1 is added; below -87.3 a constant)

    /// Arguments within ln2/2 of 0, where n = 0 and the polynomial alone makes the error: "about 2 ulp once 1 is
    /// added" (measured over every float there: 1.80 ulp on each build).
    @Test func expSumPolynomialIsAccurate() {
        let worst = Self.floatError(XENT_VECTOR_EXP_SUM, Self.sweep(from: -0.3465, to: 0), exact: exp)
        #expect(worst.ulps <= 2, "xent_exp_sum_vf for |x| <= ln2/2: \(worst) (\(Self.build))")
    }

    /// Over [-87.3, 0] every term errs by less than one ulp of 1 (2^-23), which is what a sum of at least 1
    /// needs (measured over every float: 0.90–0.91 · 2^-23 on each build). Relative to the term itself the error
    /// grows with |x|, since n ln2 is subtracted with ln2 rounded to float (and without FMA the product n · ln2
    /// is rounded as well): measured over every float, 4.7 ulp at x ≈ -86.9 on the FMA builds and 68 ulp at
    /// x ≈ -72.1 on the baseline build, so no bound in ulps of the term is checked here.
    @Test func expSumTermsErrLessThanAnUlpOfOne() {
        let x = Self.sweep(from: -87.3, to: 0)
        let worst = Self.floatError(XENT_VECTOR_EXP_SUM, x, exact: exp, unit: (0x1p-23, "× 2^-23"))
        #expect(worst.ulps <= 1, "xent_exp_sum_vf, absolute error in 2^-23: \(worst) (\(Self.build))")
    }

    /// Below -87.3 (and at -inf) every argument gives the same normal number, exp(-87.3) ≈ 1.04 · 2^-126, which
    /// changes a sum of at least 1 by less than 2^-100 of itself; NaN stays NaN.
    @Test func expSumSpecialValues() {
        let floor = Self.apply(XENT_VECTOR_EXP_SUM, [-87.3])[0]
        let x: [Float] = [-87.31, -88, -100, -104, -1e30, -.greatestFiniteMagnitude, -.infinity]
        let y = Self.apply(XENT_VECTOR_EXP_SUM, x)
        let context = "exp_sum of \(x) = \(y), of -87.3 = \(floor) (\(Self.build))"
        #expect(floor.isNormal && floor < 0x1p-125, "\(context)")
        #expect(y.allSatisfy { $0 == floor }, "\(context)")
        let special = Self.apply(XENT_VECTOR_EXP_SUM, [0, -0.0, .nan])
        #expect(special[0] == 1 && special[1] == 1 && special[2].isNaN, "exp_sum of [0, -0, NaN] = \(special)")
    }

    // MARK: log (xent_log_vf: about 1 ulp; log(0) = -inf, log(+inf) = +inf, NaN stays)

    /// Every 4099th positive normal float, and a dense sweep of [0.5, 2] where the result is near 0 (measured over
    /// every positive normal float: 0.83 ulp on each build).
    @Test func logIsAccurate() {
        let normals = stride(
            from: Float.leastNormalMagnitude.bitPattern, through: Float.greatestFiniteMagnitude.bitPattern, by: 4099
        )
        .map(Float.init(bitPattern:))
        let nearOne = Self.sweep(from: 0.5, to: 2)
        let worst = Self.floatError(XENT_VECTOR_LOG, normals + nearOne, exact: log)
        #expect(worst.ulps <= 1, "xent_log_vf: \(worst) (\(Self.build))")
    }

    @Test func logSpecialValues() {
        let y = Self.apply(XENT_VECTOR_LOG, [0, .infinity, .nan, 1])
        #expect(y[0] == -.infinity, "log(0) = \(y[0]) (\(Self.build))")
        #expect(y[1] == .infinity, "log(+inf) = \(y[1]) (\(Self.build))")
        #expect(y[2].isNaN, "log(NaN) = \(y[2]) (\(Self.build))")
        #expect(y[3] == 0, "log(1) = \(y[3]) (\(Self.build))")
    }

    // MARK: tanh (xent_tanh_vf, soft-capping: Taylor below 0.2, (1 - e) / (1 + e) with e = exp(-2|y|) above)

    /// Dense sweeps of [-10, 10] (both branches and the switch at 0.2), and of [-2^-20, 2^-20] where tanh(y) ≈ y.
    @Test func tanhIsAccurate() {
        let x = [(-10, 0), (0, 10), (-0x1p-20, 0), (0, 0x1p-20)].flatMap { Self.sweep(from: $0.0, to: $0.1) }
        let worst = Self.floatError(XENT_VECTOR_TANH, x, exact: tanh)
        #expect(worst.ulps <= Self.tanhBound, "xent_tanh_vf: \(worst) (\(Self.build))")
    }

    @Test func tanhSpecialValues() {
        let y = Self.apply(XENT_VECTOR_TANH, [.infinity, -.infinity, .nan, 0, -0.0, 100])
        #expect(y[0] == 1 && y[1] == -1, "tanh(±inf) = \(y[0]), \(y[1]) (\(Self.build))")
        #expect(y[2].isNaN, "tanh(NaN) = \(y[2]) (\(Self.build))")
        #expect(y[3] == 0 && y[4] == 0 && y[4].sign == .minus, "tanh(±0) = \(y[3]), \(y[4]) (\(Self.build))")
        #expect(y[5] == 1, "tanh(100) = \(y[5]) (\(Self.build))")
    }

    // MARK: double exp (xent_exp_vd: degree-13 Taylor, below 1e-17 relative on the reduced range)

    /// Arguments from -745 to 0, normal and subnormal results, against `expl`. `VectorMath.h`'s 1e-17 bounds
    /// the polynomial's truncation; the result, rounded to double, errs by about 1 ulp: over 5 · 10^7 random
    /// arguments 0.91 ulp on the FMA builds and 1.16 ulp on the baseline build (whose Horner steps round twice).
    @Test func doubleExpIsAccurate() {
        let uniform = (0...(1 << 20)).map { -745 * Double($0) / Double(1 << 20) }
        let patterns = stride(from: (-0.0).bitPattern, through: (-745.0).bitPattern, by: (1 << 42) | 1)
            .map(Double.init(bitPattern:))
        let x = uniform + patterns
        var y = [Double](repeating: .nan, count: x.count)
        xent_vector_math_probe_f64(x, &y, Int64(x.count))
        var worst = Worst()
        for (argument, result) in zip(x, y) {
            let exact = exp(Wide(argument))
            let binade = exact == 0 ? -1022 : max(Int(exact.exponent), -1022)
            let ulps = Double(
                abs(Wide(result) - exact) / Wide(sign: .plus, exponent: binade - 52, significand: 1))
            worst.note(ulps, at: argument, result: result, exact: Double(exact))
        }
        #expect(worst.ulps <= 1.25, "xent_exp_vd: \(worst) (\(Self.build))")
    }

    @Test func doubleExpSpecialValues() {
        let x: [Double] = [0, -0.0, -.infinity, .nan, -746, -1e300, -.greatestFiniteMagnitude, -745]
        var y = [Double](repeating: -1, count: x.count)
        xent_vector_math_probe_f64(x, &y, Int64(x.count))
        let context = "exp of \(x) = \(y) (\(Self.build))"
        #expect(y[0] == 1 && y[1] == 1, "\(context)")
        #expect(y[2] == 0 && y[4] == 0 && y[5] == 0 && y[6] == 0, "\(context)")
        #expect(y[3].isNaN, "\(context)")
        #expect(y[7] == Double.leastNonzeroMagnitude, "exp(-745) = 2^-1074, rounded not flushed: \(context)")
    }

    // MARK: Helpers

    #if arch(x86_64) || arch(i386)
        /// The reference's type for the double exp: long double where there is one.
        typealias Wide = Float80
    #else
        typealias Wide = Double
    #endif

    /// The largest error of a sweep and where it occurred.
    struct Worst: CustomStringConvertible {
        /// What the error is measured in.
        var unit = "ulp"
        var ulps = 0.0
        var argument = 0.0
        var result = 0.0
        var exact = 0.0
        var count = 0

        mutating func note(_ error: Double, at argument: Double, result: Double, exact: Double) {
            count += 1
            if !(error <= ulps) {
                (ulps, self.argument, self.result, self.exact) = (error, argument, result, exact)
            }
        }

        var description: String {
            let error = String(format: "%.3f", ulps)
            return "max \(error) \(unit) over \(count) arguments, at x = \(argument): \(result), exact \(exact)"
        }
    }

    /// 2^20 + 1 arguments evenly spaced over [low, high], then about 2^20 float bit patterns evenly spaced between
    /// theirs (every k-th float for an odd k: dense where the floats are, near 0, and every low bit varied).
    static func sweep(from low: Float, to high: Float) -> [Float] {
        let steps = 1 << 20
        let uniform = (0...steps).map { low + (high - low) * Float($0) / Float(steps) }
        // Bit patterns grow with magnitude: for negative ranges from the high end (-0 for 0) to the low one.
        let (first, last) = high <= 0 ? ((-abs(high)).bitPattern, low.bitPattern) : (low.bitPattern, high.bitPattern)
        let step = max(1, Int(last - first) / steps) | 1
        return uniform + stride(from: first, through: last, by: step).map(Float.init(bitPattern:))
    }

    /// `function` of the kernels' build applied to `x`.
    static func apply(_ function: xent_vector_function, _ x: [Float]) -> [Float] {
        var y = [Float](repeating: .nan, count: x.count)
        xent_vector_math_probe(function, x, &y, Int64(x.count))
        return y
    }

    /// The largest error of `function` over `x` in ulps of the exact result's binade (at least 2^-126: subnormal
    /// results are measured in the subnormal spacing, 2^-149), or in the absolute `unit` (its size and name). With `vector`, the
    /// function is applied to it and its last `x.count` lanes are measured.
    static func floatError(
        _ function: xent_vector_function, _ x: [Float], exact: (Double) -> Double, unit: (Double, String)? = nil,
        vector: [Float]? = nil
    ) -> Worst {
        let input = vector ?? x
        let y = Array(apply(function, input).suffix(x.count))
        var worst = Worst()
        if let unit {
            worst.unit = unit.1
        }
        for (argument, result) in zip(x, y) {
            let exactValue = exact(Double(argument))
            let binade = exactValue == 0 ? -126 : max(Int(exactValue.exponent), -126)
            let ulp = unit?.0 ?? Double(sign: .plus, exponent: binade - 23, significand: 1)
            let ulps = abs(Double(result) - exactValue) / ulp
            worst.note(ulps, at: Double(argument), result: Double(result), exact: exactValue)
        }
        return worst
    }
}
