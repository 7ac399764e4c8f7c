import Foundation
import NPY
import Testing
import XentTestSupport

/// The training-extras fixtures (PyTorch 2.15, float64) through `xent loss --json --grad-out
/// --lse-out --predicted-out`, on `cpu` and `opencl`.
@Suite struct TrainingFixtureCommandTests {
    @Test(arguments: TrainingFixtureCase.all)
    func matchesPyTorch(_ fixture: TrainingFixtureCase) throws {
        try check(fixture, device: "cpu")
    }

    @Test(.needsOpenCL, arguments: TrainingFixtureCase.all)
    func matchesPyTorchOnOpenCL(_ fixture: TrainingFixtureCase) throws {
        try check(fixture, device: "opencl")
    }

    /// A JSON number, or a non-finite one written as a string.
    private func number(_ value: Any?) -> Double? {
        if let string = value as? String { return Double(string) }
        return value as? Double
    }

    private func check(_ fixture: TrainingFixtureCase, device: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let context = "\(fixture.name) on \(device)"
        var arguments = [
            "loss", "--logits", fixture.path("logits.npy"), "--target", fixture.path("target.npy"),
            "--device",
            device, "--reduction", fixture.reduction, "--ignore-index", String(fixture.ignoreIndex),
            "--label-smoothing", String(fixture.labelSmoothing), "--z-loss-scale",
            String(fixture.zLossScale),
            "--json", "--grad-out", folder.file("grad.npy"), "--lse-out", folder.file("lse.npy"),
            "--predicted-out", folder.file("predicted.npy"),
        ]
        if fixture.weight { arguments += ["--weight", fixture.path("weight.npy")] }
        if let softcap = fixture.softcap { arguments += ["--softcap", String(softcap)] }
        let result = try XentProcess.run(arguments)
        try #require(result.status == 0 && result.stdoutLines.count == 1, "\(context)\n\(result)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
            "\(result)")
        let tolerance = fixture.tolerance
        let expectedLoss = try NPYFile(path: fixture.path("expected_loss.npy")).doubles()
        let expectedZLoss = try NPYFile(path: fixture.path("expected_z_loss.npy")).doubles()
        let loss =
            fixture.reduction == "none"
            ? (object["loss"] as? [Any])?.map(number) : [number(object["loss"])]
        let zLoss =
            fixture.reduction == "none"
            ? (object["z_loss"] as? [Any])?.map(number) : [number(object["z_loss"])]
        expectAllClose(
            try #require(loss?.compactMap { $0 }, "\(context)"), expectedLoss, relative: tolerance,
            absolute: tolerance * 1e-3, "\(context): loss")
        expectAllClose(
            try #require(zLoss?.compactMap { $0 }, "\(context)"), expectedZLoss,
            relative: tolerance,
            absolute: tolerance * 1e-3, "\(context): z_loss")
        #expect(object["rows_kept"] as? Int == fixture.rowsKept, "\(context): \(result)")
        if fixture.reduction == "mean" {
            #expect(
                number(object["divisor"]).map { isClose($0, fixture.divisor, relative: 1e-6) }
                    == true,
                "\(context): \(result)")
        } else {
            #expect(object["divisor"] is NSNull, "\(context): \(result)")
        }
        if let accuracy = fixture.tokenAccuracy {
            #expect(
                number(object["token_accuracy"]).map { isClose($0, accuracy, relative: 1e-6) }
                    == true,
                "\(context): \(result)")
        } else if fixture.targetKind == "indices" {
            #expect(object["token_accuracy"] as? String == "nan", "\(context): \(result)")
        } else {
            #expect(object["token_accuracy"] is NSNull, "\(context): \(result)")
        }
        let expectedGradient = try NPYFile(path: fixture.path("expected_grad.npy")).doubles()
        let largest = expectedGradient.map(abs).max() ?? 0
        // `--grad-dtype f32`: the gradient of 16-bit logits too is computed and written in Float.
        let gradient = try NPYFile(path: folder.file("grad.npy"))
        #expect(
            gradient.dtype == (fixture.logitsDType == "float64" ? .float64 : .float32), "\(context)"
        )
        expectAllClose(
            gradient.doubles(), expectedGradient, relative: tolerance,
            absolute: tolerance * largest,
            "\(context): gradient")
        expectAllClose(
            try readDoubles(folder.file("lse.npy")),
            try NPYFile(path: fixture.path("expected_lse.npy")).doubles(),
            relative: tolerance, absolute: tolerance, "\(context): logsumexp")
        let predicted = try NPYFile(path: folder.file("predicted.npy"))
        #expect(predicted.dtype == .int64, "\(context): predicted \(predicted.dtype)")
        #expect(
            predicted.doubles()
                == (try NPYFile(path: fixture.path("expected_predicted.npy")).doubles()),
            "\(context): predicted")
    }
}
