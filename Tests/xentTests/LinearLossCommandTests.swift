import Foundation
import NPY
import Testing
import XentTestSupport

/// `xent linear-loss` against the fused linear cross-entropy fixtures (PyTorch 2.15, float64) on `cpu` and
/// `opencl`, and its refusals: bad shapes and types, outputs that would clash, a missing BLAS library.
@Suite struct LinearLossCommandTests {
    @Test(arguments: LinearFixtureCase.all)
    func matchesPyTorch(_ fixture: LinearFixtureCase) throws {
        try check(fixture, device: "cpu")
    }

    @Test(.needsOpenCL, arguments: LinearFixtureCase.all)
    func matchesPyTorchOnOpenCL(_ fixture: LinearFixtureCase) throws {
        try check(fixture, device: "opencl")
    }

    private func check(_ fixture: LinearFixtureCase, device: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let context = "\(fixture.name) on \(device)"
        var arguments = [
            "linear-loss", "--hidden", fixture.path("hidden.npy"), "--linear-weight",
            fixture.path("linear_weight.npy"), "--target", fixture.path("target.npy"), "--device",
            device,
            "--reduction", fixture.reduction, "--ignore-index", String(fixture.ignoreIndex),
            "--label-smoothing",
            String(fixture.labelSmoothing), "--z-loss-scale", String(fixture.zLossScale),
            "--chunk-rows", "3",
            "--out", folder.file("loss.npy"), "--grad-hidden-out", folder.file("grad_hidden.npy"),
            "--grad-linear-weight-out", folder.file("grad_linear_weight.npy"),
        ]
        if fixture.bias {
            arguments += [
                "--linear-bias", fixture.path("linear_bias.npy"), "--grad-linear-bias-out",
                folder.file("grad_linear_bias.npy"),
            ]
        }
        if fixture.weighted { arguments += ["--weight", fixture.path("weight.npy")] }
        if let softcap = fixture.softcap { arguments += ["--softcap", String(softcap)] }
        let result = try XentProcess.run(arguments)
        try #require(result.status == 0, "\(context)\n\(result)")
        let expectedLoss = try readDoubles(fixture.path("expected_loss.npy"))
        #expect(result.stdoutLines.count == expectedLoss.count, "\(context)\n\(result)")
        let printed = result.stdoutLines.compactMap(Double.init)
        let tolerance = fixture.tolerance
        expectAllClose(
            printed, expectedLoss, relative: tolerance, absolute: tolerance * 1e-3,
            "\(context): printed loss")
        let outputs =
            [("loss", "expected_loss"), ("grad_hidden", "expected_grad_hidden")]
            + [("grad_linear_weight", "expected_grad_linear_weight")]
            + (fixture.bias ? [("grad_linear_bias", "expected_grad_linear_bias")] : [])
        for (output, expected) in outputs {
            let file = try NPYFile(path: folder.file(output + ".npy"))
            let reference = try NPYFile(path: fixture.path(expected + ".npy"))
            #expect(
                file.dtype == (fixture.dtype == "<f8" ? .float64 : .float32),
                "\(context): \(output) type")
            #expect(file.shape == reference.shape, "\(context): \(output) shape \(file.shape)")
            let values = reference.doubles()
            let largest = values.map(abs).filter(\.isFinite).max() ?? 0
            expectAllClose(
                file.doubles(), values, relative: tolerance, absolute: tolerance * largest,
                "\(context): \(output)")
        }
    }

    @Test func refusesBadInput() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let fixture = try #require(LinearFixtureCase.all.first { $0.name == "basic_mean" })
        let hidden = fixture.path("hidden.npy")
        let weight = fixture.path("linear_weight.npy")
        let target = fixture.path("target.npy")
        let out = folder.file("loss.npy")
        try sentinelBytes.write(to: URL(fileURLWithPath: out))
        let refusals: [(String, [String], [String: String?])] = [
            (
                "weight of the wrong width",
                ["--hidden", hidden, "--linear-weight", hidden, "--target", target], [:]
            ),
            (
                "target as hidden states",
                ["--hidden", target, "--linear-weight", weight, "--target", target], [:]
            ),
            (
                "target of the wrong length",
                [
                    "--hidden", hidden, "--linear-weight", weight, "--target",
                    fixture.path("linear_bias.npy"),
                ], [:]
            ),
            (
                "bias gradient without a bias",
                [
                    "--hidden", hidden, "--linear-weight", weight, "--target", target,
                    "--grad-linear-bias-out", folder.file("b.npy"),
                ], [:]
            ),
            (
                "no chunk rows",
                [
                    "--hidden", hidden, "--linear-weight", weight, "--target", target,
                    "--chunk-rows", "0",
                ], [:]
            ),
            (
                "float64 bias for float32 inputs",
                [
                    "--hidden", hidden, "--linear-weight", weight, "--target", target,
                    "--linear-bias", fixture.path("expected_loss.npy"),
                ], [:]
            ),
            (
                "OpenBLAS missing",
                [
                    "--hidden", hidden, "--linear-weight", weight, "--target", target, "--device",
                    "cpu",
                ], ["XENT_OPENBLAS_LIBRARY": "/nonexistent/libopenblas.so.0"]
            ),
        ]
        for (what, arguments, environment) in refusals {
            let result = try XentProcess.run(
                ["linear-loss"] + arguments + ["--out", out], environment: environment)
            expectRefusal(result, what)
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: out)) == sentinelBytes,
                "\(what): --out touched")
        }
        let missing = try XentProcess.run(
            [
                "linear-loss", "--hidden", hidden, "--linear-weight", weight, "--target", target,
                "--device", "cpu",
            ],
            environment: ["XENT_OPENBLAS_LIBRARY": "/nonexistent/libopenblas.so.0"])
        #expect(missing.stderr.contains("needs OpenBLAS"), "\(missing)")
    }

    @Test(.needsOpenCL) func refusesWithoutCLBlast() throws {
        let fixture = try #require(LinearFixtureCase.all.first { $0.name == "basic_mean" })
        let result = try XentProcess.run(
            [
                "linear-loss", "--hidden", fixture.path("hidden.npy"), "--linear-weight",
                fixture.path("linear_weight.npy"), "--target", fixture.path("target.npy"),
                "--device", "opencl",
            ], environment: ["XENT_CLBLAST_LIBRARY": "/nonexistent/libclblast.so.1"])
        expectRefusal(result, "CLBlast missing")
        #expect(result.stderr.contains("needs CLBlast"), "\(result)")
    }
}
