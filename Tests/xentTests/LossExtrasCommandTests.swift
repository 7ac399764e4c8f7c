import Foundation
import NPY
import Testing
import XentTestSupport

/// `xent loss --json`, `--lse-out` and `--predicted-out` (DESIGN §7.1), against values computed here
/// from the definitions.
@Suite struct LossExtrasCommandTests {
    static let logits: [[Double]] = [[0, 0, 0], [1, 3, -2], [0.5, -1, 2], [4, 4, 0]]
    static let targets: [Int64] = [0, 1, -100, 2]

    static func lse(_ x: [Double]) -> Double { log(x.map { exp($0) }.reduce(0, +)) }

    /// Writes the inputs (`<f8` logits, so every float output is `<f8`) and runs `xent loss` with `arguments` on `device`.
    private func run(
        _ arguments: [String], device: String, targets: [Int64] = targets,
        in folder: TemporaryFolder
    ) throws -> XentResult {
        let logitsPath = folder.file("logits.npy")
        let targetPath = folder.file("target.npy")
        try NPYWriter.write(Self.logits.flatMap { $0 }, shape: [4, 3], to: logitsPath)
        try NPYWriter.write(targets, shape: [4], to: targetPath)
        return try XentProcess.run(
            ["loss", "--logits", logitsPath, "--target", targetPath, "--device", device] + arguments
        )
    }

    private func parse(_ result: XentResult) throws -> [String: Any] {
        try #require(result.status == 0 && result.stdoutLines.count == 1, "\(result)")
        return try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
            "\(result)")
    }

    @Test func jsonAndRowFiles() throws { try checkJSONAndRowFiles(device: "cpu") }

    @Test(.needsOpenCL) func jsonAndRowFilesOnOpenCL() throws {
        try checkJSONAndRowFiles(device: "opencl")
    }

    private func checkJSONAndRowFiles(device: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let z = 0.25
        let kept = [0, 1, 3]
        let lse = Self.logits.map(Self.lse)
        let crossEntropy =
            kept.map { lse[$0] - Self.logits[$0][Int(Self.targets[$0])] }.reduce(0, +) / 3
        let zLoss = kept.map { z * lse[$0] * lse[$0] }.reduce(0, +) / 3
        for withGradient in [false, true] {
            var arguments = [
                "--z-loss-scale", String(z), "--json", "--lse-out", folder.file("lse.npy"),
                "--predicted-out",
                folder.file("predicted.npy"),
            ]
            if withGradient { arguments += ["--grad-out", folder.file("grad.npy")] }
            let result = try run(arguments, device: device, in: folder)
            let object = try parse(result)
            let context = "\(device)\(withGradient ? " with --grad-out" : "")"
            let loss = try #require(object["loss"] as? Double, "\(context): \(result)")
            #expect(isClose(loss, crossEntropy + zLoss, relative: 1e-6), "\(context): loss \(loss)")
            let reportedZ = try #require(object["z_loss"] as? Double, "\(context): \(result)")
            #expect(isClose(reportedZ, zLoss, relative: 1e-6), "\(context): z_loss \(reportedZ)")
            // Row 3 ties at 4 for classes 0 and 1: the first is predicted, and its target is 2.
            #expect(object["token_accuracy"] as? Double == 2.0 / 3, "\(context): \(result)")
            #expect(object["rows_kept"] as? Int == 3, "\(context): \(result)")
            #expect(object["divisor"] as? Double == 3, "\(context): \(result)")
            let lseFile = try NPYFile(path: folder.file("lse.npy"))
            #expect(
                lseFile.dtype == .float64 && lseFile.shape == [4],
                "\(context): lse \(lseFile.dtype) \(lseFile.shape)")
            expectAllClose(lseFile.doubles(), lse, relative: 1e-6, absolute: 0, "\(context): lse")
            let predictedFile = try NPYFile(path: folder.file("predicted.npy"))
            #expect(
                predictedFile.dtype == .int64 && predictedFile.shape == [4],
                "\(context): \(predictedFile.dtype)")
            #expect(
                predictedFile.doubles() == [0, 1, -1, 0],
                "\(context): predicted \(predictedFile.doubles())")
        }
    }

    @Test func reductionsAndEmptyMeans() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let none = try parse(try run(["--json", "--reduction", "none"], device: "cpu", in: folder))
        let losses = try #require(none["loss"] as? [Double], "\(none)")
        #expect(losses.count == 4 && losses[2] == 0, "\(losses)")
        #expect((none["z_loss"] as? [Double]) == [0, 0, 0, 0], "\(none)")
        #expect(none["divisor"] is NSNull, "\(none)")
        let sum = try parse(try run(["--json", "--reduction", "sum"], device: "cpu", in: folder))
        #expect(sum["divisor"] is NSNull && sum["rows_kept"] as? Int == 3, "\(sum)")
        let empty = try parse(
            try run(["--json"], device: "cpu", targets: [-100, -100, -100, -100], in: folder))
        for key in ["loss", "z_loss", "token_accuracy"] {
            #expect(empty[key] as? String == "nan", "\(key): \(empty)")
        }
        #expect(empty["rows_kept"] as? Int == 0, "\(empty)")
    }

    @Test func probabilityTargetsHaveNoAccuracy() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let logitsPath = folder.file("logits.npy")
        let targetPath = folder.file("probabilities.npy")
        try NPYWriter.write(Self.logits.flatMap { $0 }, shape: [4, 3], to: logitsPath)
        try NPYWriter.write([Double](repeating: 1.0 / 3, count: 12), shape: [4, 3], to: targetPath)
        let result = try XentProcess.run([
            "loss", "--logits", logitsPath, "--target", targetPath, "--device", "cpu", "--json",
        ])
        let object = try parse(result)
        #expect(object["token_accuracy"] is NSNull && object["rows_kept"] as? Int == 4, "\(result)")
    }

    /// `--grad-dtype logits` writes a half gradient for half logits (the float one rounded), and the usual
    /// type otherwise; `--logits-dtype` naming the file's type changes nothing.
    @Test func gradientInTheLogitsType() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let logitsPath = folder.file("logits.npy")
        let targetPath = folder.file("target.npy")
        try NPYWriter.write(
            Self.logits.flatMap { $0 }.map { Float16($0) }, shape: [4, 3], to: logitsPath)
        try NPYWriter.write(Self.targets, shape: [4], to: targetPath)
        var gradients: [String: NPYFile] = [:]
        for dtype in ["f32", "logits"] {
            let path = folder.file("grad-\(dtype).npy")
            let result = try XentProcess.run([
                "loss", "--logits", logitsPath, "--target", targetPath, "--device", "cpu",
                "--logits-dtype", "f16",
                "--grad-dtype", dtype, "--grad-out", path,
            ])
            try #require(result.status == 0, "\(result)")
            gradients[dtype] = try NPYFile(path: path)
        }
        let float = try #require(gradients["f32"])
        let half = try #require(gradients["logits"])
        #expect(float.dtype == .float32 && half.dtype == .float16, "\(float.dtype) \(half.dtype)")
        #expect(half.shape == [4, 3], "\(half.shape)")
        #expect(
            half.doubles() == float.doubles().map { Double(Float16($0)) },
            "\(half.doubles()) vs \(float.doubles())")
    }

    @Test func outputFilesMustDiffer() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let result = try run(
            ["--lse-out", folder.file("same.npy"), "--predicted-out", folder.file("same.npy")],
            device: "cpu",
            in: folder)
        expectRefusal(result, "--lse-out and --predicted-out naming one file")
        #expect(!FileManager.default.fileExists(atPath: folder.file("same.npy")))
    }
}
