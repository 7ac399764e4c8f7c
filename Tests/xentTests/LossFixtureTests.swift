import Foundation
import NPY
import Testing
import XentTestSupport

/// `xent loss` on the PyTorch fixtures, on the CPU and (where a platform exists) on OpenCL.
@Suite struct LossFixtureTests {
    @Test func manifestListsTheCases() throws {
        let cases = try Fixtures.all()
        #expect(cases.count >= 40, "manifest.json lists only \(cases.count) cases")
        #expect(try Fixtures.reducedCases().count >= 25)
        #expect(try Fixtures.unreducedCases().count >= 5)
        #expect(try Fixtures.gradientCases().count >= 30)
        #expect(try Fixtures.errorCases().count >= 6)
        for fixture in cases {
            #expect(
                FileManager.default.fileExists(atPath: fixture.file("logits.npy")),
                "\(fixture.name) has no logits.npy")
        }
    }

    /// Mean and sum: one line on stdout, the loss within tolerance of PyTorch's (or `nan`).
    @Test(arguments: try Fixtures.reducedCases())
    func reducedLoss(_ fixture: FixtureCase) throws {
        try checkReducedLoss(fixture, device: "cpu")
    }

    @Test(.needsOpenCL, arguments: try Fixtures.reducedCases())
    func reducedLossOnOpenCL(_ fixture: FixtureCase) throws {
        try checkReducedLoss(fixture, device: "opencl")
    }

    private func checkReducedLoss(_ fixture: FixtureCase, device: String) throws {
        let expected = try readDoubles(fixture.file("expected_loss.npy"))
        try #require(expected.count == 1)

        let result = try XentProcess.run(fixture.lossArguments(device: device))
        try #require(result.status == 0, "\(result)")
        let lines = result.stdoutLines
        try #require(
            lines.count == 1 && result.stdout.hasSuffix("\n"),
            "want exactly one line on stdout\n\(result)")
        if expected[0].isNaN {
            #expect(lines[0] == "nan", "want nan\n\(result)")
        } else {
            let value = try #require(parseLoss(lines[0]), "not a decimal: \(lines[0])")
            #expect(
                isClose(value, expected[0], relative: fixture.lossTolerance),
                "loss \(value), PyTorch \(expected[0]) (rtol \(fixture.lossTolerance))")
            if value.isFinite && value != 0 {
                #expect(
                    significantDigits(lines[0]) >= 9,
                    "the contract wants at least 9 significant digits, got `\(lines[0])`")
            }
        }
    }

    /// `<f8` logits print with full double precision (17 significant digits).
    @Test
    func float64LossPrintsFullPrecision() throws {
        try checkFloat64LossPrintsFullPrecision(device: "cpu")
    }

    @Test(.needsOpenCL)
    func float64LossPrintsFullPrecisionOnOpenCL() throws {
        try checkFloat64LossPrintsFullPrecision(device: "opencl")
    }

    private func checkFloat64LossPrintsFullPrecision(device: String) throws {
        let fixture = try Fixtures.named("float64_logits")
        let expected = try readDoubles(fixture.file("expected_loss.npy"))[0]
        let result = try XentProcess.run(fixture.lossArguments(device: device))
        try #require(result.status == 0, "\(result)")
        let line = try #require(result.stdoutLines.first)
        let value = try #require(parseLoss(line), "not a decimal: \(line)")
        #expect(significantDigits(line) >= 15, "too few digits for a double: \(line)")
        #expect(isClose(value, expected, relative: 1e-12), "loss \(value), PyTorch \(expected)")
    }

    /// Reduction none with `--out`: one value per line, and the file holds the per-element losses
    /// in the expected shape and dtype.
    @Test(arguments: try Fixtures.unreducedCases())
    func unreducedLossFile(_ fixture: FixtureCase) throws {
        try checkUnreducedLossFile(fixture, device: "cpu")
    }

    @Test(.needsOpenCL, arguments: try Fixtures.unreducedCases())
    func unreducedLossFileOnOpenCL(_ fixture: FixtureCase) throws {
        try checkUnreducedLossFile(fixture, device: "opencl")
    }

    private func checkUnreducedLossFile(_ fixture: FixtureCase, device: String) throws {
        let expectedFile = try NPYFile(path: fixture.file("expected_loss.npy"))
        let expected = expectedFile.doubles()
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let out = folder.file("loss.npy")

        let result = try XentProcess.run(fixture.lossArguments(device: device, ["--out", out]))
        try #require(result.status == 0, "\(result)")

        let printed = result.stdoutLines.map { parseLoss($0) ?? -.greatestFiniteMagnitude }
        #expect(printed.count == expected.count, "want one line per element\n\(result)")
        expectAllClose(
            printed, expected, relative: fixture.lossTolerance, absolute: 1e-6, "printed losses")

        let file = try NPYFile(path: out)
        #expect(file.dtype == fixture.outputDType, "--out dtype \(file.dtype.rawValue)")
        #expect(file.shape == expectedFile.shape, "--out shape \(file.shape)")
        expectAllClose(
            file.doubles(), expected, relative: fixture.lossTolerance, absolute: 1e-6,
            "--out losses")
    }

    /// `--grad-out` (with `--out`): the gradient in the logits' shape, `<f4` (`<f8` for `<f8`
    /// logits), close to PyTorch's; the loss file has the expected shape.
    @Test(arguments: try Fixtures.gradientCases())
    func gradientFile(_ fixture: FixtureCase) throws {
        try checkGradientFile(fixture, device: "cpu")
    }

    @Test(.needsOpenCL, arguments: try Fixtures.gradientCases())
    func gradientFileOnOpenCL(_ fixture: FixtureCase) throws {
        try checkGradientFile(fixture, device: "opencl")
    }

    private func checkGradientFile(_ fixture: FixtureCase, device: String) throws {
        let expectedLossFile = try NPYFile(path: fixture.file("expected_loss.npy"))
        let expectedGradient = try readDoubles(fixture.file("expected_grad.npy"))
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let out = folder.file("loss.npy")
        let gradOut = folder.file("grad.npy")

        let result = try XentProcess.run(
            fixture.lossArguments(device: device, ["--out", out, "--grad-out", gradOut]))
        try #require(result.status == 0, "\(result)")
        let lines = expectedLossFile.shape.isEmpty ? 1 : expectedLossFile.count
        #expect(result.stdoutLines.count == lines, "want \(lines) lines\n\(result)")

        let lossFile = try NPYFile(path: out)
        #expect(lossFile.dtype == fixture.outputDType, "--out dtype \(lossFile.dtype.rawValue)")
        #expect(lossFile.shape == expectedLossFile.shape, "--out shape \(lossFile.shape)")
        expectAllClose(
            lossFile.doubles(), expectedLossFile.doubles(), relative: fixture.lossTolerance,
            absolute: 1e-6, "--out losses")

        let gradient = try NPYFile(path: gradOut)
        #expect(
            gradient.dtype == fixture.outputDType, "--grad-out dtype \(gradient.dtype.rawValue)")
        #expect(gradient.shape == fixture.shape, "--grad-out shape \(gradient.shape)")
        let absolute = fixture.logitsDType == "float16" ? 2e-3 : 1e-6
        expectAllClose(
            gradient.doubles(), expectedGradient, relative: 1e-4, absolute: absolute,
            "gradient")
    }

    /// Invalid fixtures: a refusal that writes nothing (fresh paths stay absent, existing files
    /// keep their bytes).
    @Test(arguments: try Fixtures.errorCases())
    func invalidFixtureIsRefused(_ fixture: FixtureCase) throws {
        try checkInvalidFixtureIsRefused(fixture, device: "cpu")
    }

    @Test(.needsOpenCL, arguments: try Fixtures.errorCases())
    func invalidFixtureIsRefusedOnOpenCL(_ fixture: FixtureCase) throws {
        try checkInvalidFixtureIsRefused(fixture, device: "opencl")
    }

    private func checkInvalidFixtureIsRefused(_ fixture: FixtureCase, device: String) throws {
        try expectRefusalWritingNothing(fixture.lossArguments(device: device), fixture.name)
    }

    /// An empty batch (logits of shape (0, 5)) with `--out` and `--grad-out`: `nan` for mean, and
    /// files of the contract's dtypes: `<f8` for `<f8` logits, else `<f4`.
    @Test(arguments: ["f2", "f4", "f8"])
    func emptyBatchOutputFiles(_ dtype: String) throws {
        try checkEmptyBatchOutputFiles(dtype, device: "cpu")
    }

    @Test(.needsOpenCL, arguments: ["f2", "f4", "f8"])
    func emptyBatchOutputFilesOnOpenCL(_ dtype: String) throws {
        try checkEmptyBatchOutputFiles(dtype, device: "opencl")
    }

    private func checkEmptyBatchOutputFiles(_ dtype: String, device: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let logits = folder.file("logits.npy")
        let target = folder.file("target.npy")
        let out = folder.file("loss.npy")
        let gradOut = folder.file("grad.npy")
        switch dtype {
        case "f2": try NPYWriter.write([Float16](), shape: [0, 5], to: logits)
        case "f4": try NPYWriter.write([Float](), shape: [0, 5], to: logits)
        default: try NPYWriter.write([Double](), shape: [0, 5], to: logits)
        }
        try NPYWriter.write([Int64](), shape: [0], to: target)
        let expectedDType: NPYDType = dtype == "f8" ? .float64 : .float32

        let result = try XentProcess.run([
            "loss", "--logits", logits, "--target", target, "--device", device, "--out", out,
            "--grad-out", gradOut,
        ])
        try #require(result.status == 0, "\(result)")
        #expect(result.stdout == "nan\n", "\(result)")
        let loss = try NPYFile(path: out)
        #expect(
            loss.dtype == expectedDType, "--out dtype \(loss.dtype.rawValue) for <\(dtype) logits")
        #expect(loss.shape == [])
        let gradient = try NPYFile(path: gradOut)
        #expect(
            gradient.dtype == expectedDType,
            "--grad-out dtype \(gradient.dtype.rawValue) for <\(dtype) logits")
        #expect(gradient.shape == [0, 5])
    }

    /// Probability targets take the default ignore index written out (only other values are
    /// refused).
    @Test func probabilityTargetsAcceptTheDefaultIgnoreIndex() throws {
        let fixture = try Fixtures.named("soft_targets_mean")
        let expected = try readDoubles(fixture.file("expected_loss.npy"))[0]
        let result = try XentProcess.run(
            fixture.lossArguments(device: "cpu", ["--ignore-index", "-100"]))
        try #require(result.status == 0, "\(result)")
        let value = try #require(result.stdoutLines.first.flatMap(parseLoss), "\(result)")
        #expect(isClose(value, expected, relative: 1e-5), "loss \(value), PyTorch \(expected)")
    }

    /// The contract's `--ignore-index I` with the default -100 written out, as a separate
    /// argument and with `=`.
    @Test(arguments: [["--ignore-index", "-100"], ["--ignore-index=-100"]])
    func explicitDefaultIgnoreIndex(_ option: [String]) throws {
        let fixture = try Fixtures.named("ignore_default_mean")
        let expected = try readDoubles(fixture.file("expected_loss.npy"))[0]
        let result = try XentProcess.run(fixture.lossArguments(device: "cpu", option))
        try #require(result.status == 0, "\(result)")
        let value = try #require(result.stdoutLines.first.flatMap(parseLoss), "\(result)")
        #expect(isClose(value, expected, relative: 1e-5), "loss \(value), PyTorch \(expected)")
    }
}
