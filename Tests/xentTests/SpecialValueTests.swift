import Foundation
import NPY
import Testing
import XentTestSupport

/// Losses that are NaN or infinite print as `nan`, `inf` and `-inf` (never `-nan`), on every
/// device, and `--out` holds the same values.
@Suite struct SpecialValueTests {
    /// One input with a non-finite loss.
    struct SpecialCase: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var logits: [Float]
        var target: [Int64]
        var weight: [Float]?
        var reduction: String
        /// The lines `xent loss` must print: `nan`, `inf`, `-inf`, or a finite value.
        var expected: [Double]
    }

    /// NaN with its sign bit set, as 0/0 gives on x86.
    static let negativeNaN = Float(bitPattern: 0xFFC0_0000)
    /// The loss of the row [0.5, 0.2, 0.1] with target 0.
    static let finiteRow = log(exp(0.5) + exp(0.2) + exp(0.1)) - 0.5

    static let cases = [
        SpecialCase(
            testDescription: "-inf target logit, mean", logits: [0, -.infinity, 1, 0.5, 0.2, 0.1],
            target: [1, 0], reduction: "mean", expected: [.infinity]),
        SpecialCase(
            testDescription: "-inf target logit, none", logits: [0, -.infinity, 1, 0.5, 0.2, 0.1],
            target: [1, 0], reduction: "none", expected: [.infinity, finiteRow]),
        SpecialCase(
            testDescription: "-inf target logit, negative weight, sum",
            logits: [0, -.infinity, 1, 0.5, 0.2, 0.1], target: [1, 0], weight: [1, -1, 1],
            reduction: "sum", expected: [-.infinity]),
        SpecialCase(
            testDescription: "negative NaN logit, none",
            logits: [0, negativeNaN, 1, 0.5, 0.2, 0.1],
            target: [2, 0], reduction: "none", expected: [.nan, finiteRow]),
        SpecialCase(
            testDescription: "negative NaN logit, mean",
            logits: [0, negativeNaN, 1, 0.5, 0.2, 0.1],
            target: [2, 0], reduction: "mean", expected: [.nan]),
        SpecialCase(
            testDescription: "all targets ignored, mean", logits: [0, 1, 2, 0.5, 0.2, 0.1],
            target: [-100, -100], reduction: "mean", expected: [.nan]),
    ]

    @Test(arguments: cases)
    func printsSpecialValues(_ special: SpecialCase) throws {
        try checkSpecialValues(special, device: "cpu")
    }

    @Test(.needsOpenCL, arguments: cases)
    func printsSpecialValuesOnOpenCL(_ special: SpecialCase) throws {
        try checkSpecialValues(special, device: "opencl")
    }

    private func checkSpecialValues(_ special: SpecialCase, device: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let logits = folder.file("logits.npy")
        let target = folder.file("target.npy")
        let out = folder.file("loss.npy")
        try NPYWriter.write(special.logits, shape: [special.target.count, 3], to: logits)
        try NPYWriter.write(special.target, shape: [special.target.count], to: target)
        var arguments = [
            "loss", "--logits", logits, "--target", target, "--reduction", special.reduction,
            "--device", device, "--out", out,
        ]
        if let weight = special.weight {
            let path = folder.file("weight.npy")
            try NPYWriter.write(weight, shape: [weight.count], to: path)
            arguments += ["--weight", path]
        }

        let result = try XentProcess.run(arguments)
        try #require(result.status == 0, "\(result)")
        let lines = result.stdoutLines
        try #require(lines.count == special.expected.count, "\(result)")
        for (line, expected) in zip(lines, special.expected) {
            switch expected {
            case let value where value.isNaN: #expect(line == "nan", "want nan\n\(result)")
            case .infinity: #expect(line == "inf", "want inf\n\(result)")
            case -.infinity: #expect(line == "-inf", "want -inf\n\(result)")
            default:
                let value = try #require(parseLoss(line), "not a decimal: \(line)")
                #expect(isClose(value, expected, relative: 1e-5), "\(value) vs \(expected)")
            }
        }
        expectAllClose(
            try readDoubles(out), special.expected, relative: 1e-5, absolute: 0, "--out losses")
    }
}
