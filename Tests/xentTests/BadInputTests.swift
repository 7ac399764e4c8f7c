import Foundation
import NPY
import Testing
import XentTestSupport

/// `xent loss` refuses bad input with status 1 or 2, one message on stderr, nothing on stdout,
/// and no output file created or changed.
@Suite struct BadInputTests {
    /// One way to call `xent loss` wrongly.
    struct BadCall: Sendable, CustomTestStringConvertible {
        var testDescription: String
        /// Builds the arguments, writing any input files it needs into the folder.
        var arguments: @Sendable (TemporaryFolder) throws -> [String]
    }

    static var seed: String { Fixtures.folder + "/seed_notebook" }
    static var seedLogits: String { seed + "/logits.npy" }
    static var seedTarget: String { seed + "/target.npy" }

    /// `loss` on the seed notebook (5 × 3, float32, 5 class indices) on the CPU, then `extra`.
    static func seedLoss(logits: String = seedLogits, _ extra: [String] = []) -> [String] {
        ["loss", "--logits", logits, "--target", seedTarget, "--device", "cpu"] + extra
    }

    static let calls: [BadCall] = [
        BadCall(testDescription: "missing logits file") { folder in
            seedLoss(logits: folder.file("does-not-exist.npy"))
        },
        BadCall(testDescription: "missing target file") { folder in
            [
                "loss", "--logits", seedLogits, "--target", folder.file("nope.npy"), "--device",
                "cpu",
            ]
        },
        BadCall(testDescription: "directory as logits") { folder in
            let directory = folder.file("a-directory.npy")
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: false)
            return seedLoss(logits: directory)
        },
        BadCall(testDescription: "truncated logits") { folder in
            let bytes = try Data(contentsOf: URL(fileURLWithPath: seedLogits))
            let path = folder.file("truncated.npy")
            try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
            return seedLoss(logits: path)
        },
        BadCall(testDescription: "logits missing their last byte") { folder in
            let bytes = try Data(contentsOf: URL(fileURLWithPath: seedLogits))
            let path = folder.file("short.npy")
            try bytes.dropLast().write(to: URL(fileURLWithPath: path))
            return seedLoss(logits: path)
        },
        BadCall(testDescription: "garbage bytes as logits") { folder in
            let path = folder.file("garbage.npy")
            let bytes = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return seedLoss(logits: path)
        },
        BadCall(testDescription: "empty file as logits") { folder in
            let path = folder.file("empty.npy")
            try Data().write(to: URL(fileURLWithPath: path))
            return seedLoss(logits: path)
        },
        BadCall(testDescription: "Fortran-ordered logits") { folder in
            try seedLogitsWithHeader(replacing: "False", with: "True ", in: folder)
        },
        BadCall(testDescription: "big-endian logits") { folder in
            try seedLogitsWithHeader(replacing: "<f4", with: ">f4", in: folder)
        },
        BadCall(testDescription: "int64 logits") { folder in
            let path = folder.file("int-logits.npy")
            try NPYWriter.write([Int64](repeating: 1, count: 15), shape: [5, 3], to: path)
            return seedLoss(logits: path)
        },
        BadCall(testDescription: "int32 logits") { folder in
            let path = folder.file("int32-logits.npy")
            try NPYWriter.write([Int32](repeating: 1, count: 15), shape: [5, 3], to: path)
            return seedLoss(logits: path)
        },
        BadCall(testDescription: "device bogus") { _ in seedLoss(["--device", "bogus"]) },
        BadCall(testDescription: "device opencl:9:9") { _ in seedLoss(["--device", "opencl:9:9"]) },
        BadCall(testDescription: "label smoothing nan") { _ in
            seedLoss(["--label-smoothing", "nan"])
        },
        BadCall(testDescription: "label smoothing -0.1") { _ in
            seedLoss(["--label-smoothing", "-0.1"])
        },
        BadCall(testDescription: "label smoothing 1.5") { _ in
            seedLoss(["--label-smoothing", "1.5"])
        },
        BadCall(testDescription: "label smoothing inf") { _ in
            seedLoss(["--label-smoothing", "inf"])
        },
        BadCall(testDescription: "logits dtype f64 for <f4 logits") { _ in
            seedLoss(["--logits-dtype", "f64"])
        },
        BadCall(testDescription: "logits dtype bf16 for <f4 logits") { _ in
            seedLoss(["--logits-dtype", "bf16"])
        },
        BadCall(testDescription: "logits dtype f8") { _ in seedLoss(["--logits-dtype", "f8"]) },
        BadCall(testDescription: "gradient dtype f16") { folder in
            seedLoss(["--grad-dtype", "f16", "--grad-out", folder.file("grad.npy")])
        },
        BadCall(testDescription: "softcap 0") { _ in seedLoss(["--softcap", "0"]) },
        BadCall(testDescription: "softcap -2") { _ in seedLoss(["--softcap", "-2"]) },
        BadCall(testDescription: "softcap nan") { _ in seedLoss(["--softcap", "nan"]) },
        BadCall(testDescription: "z-loss scale -0.5") { _ in seedLoss(["--z-loss-scale", "-0.5"]) },
        BadCall(testDescription: "z-loss scale nan") { _ in seedLoss(["--z-loss-scale", "nan"]) },
        BadCall(testDescription: "z-loss scale inf") { _ in seedLoss(["--z-loss-scale", "inf"]) },
        BadCall(testDescription: "z-loss scale abc") { _ in seedLoss(["--z-loss-scale", "abc"]) },
        BadCall(testDescription: "ignore index abc") { _ in seedLoss(["--ignore-index", "abc"]) },
        BadCall(testDescription: "reduction avg") { _ in seedLoss(["--reduction", "avg"]) },
        BadCall(testDescription: "weight of wrong length") { folder in
            let path = folder.file("weight2.npy")
            try NPYWriter.write([Float](repeating: 1, count: 2), shape: [2], to: path)
            return seedLoss(["--weight", path])
        },
        BadCall(testDescription: "weight of rank 2") { folder in
            let path = folder.file("weight-1x3.npy")
            try NPYWriter.write([Float](repeating: 1, count: 3), shape: [1, 3], to: path)
            return seedLoss(["--weight", path])
        },
        BadCall(testDescription: "int64 weight") { folder in
            let path = folder.file("weight-int.npy")
            try NPYWriter.write([Int64](repeating: 1, count: 3), shape: [3], to: path)
            return seedLoss(["--weight", path])
        },
        BadCall(testDescription: "probability targets with ignore index 3") { _ in
            let soft = Fixtures.folder + "/soft_targets_mean"
            return [
                "loss", "--logits", soft + "/logits.npy", "--target", soft + "/target.npy",
                "--ignore-index", "3", "--device", "cpu",
            ]
        },
        BadCall(testDescription: "float targets of the wrong shape") { folder in
            let path = folder.file("soft-target.npy")
            try NPYWriter.write([Float](repeating: 0.2, count: 10), shape: [5, 2], to: path)
            return ["loss", "--logits", seedLogits, "--target", path, "--device", "cpu"]
        },
        BadCall(testDescription: "target out of range") { folder in
            let path = folder.file("target.npy")
            try NPYWriter.write([Int64]([0, 1, 2, 3, 0]), shape: [5], to: path)
            return ["loss", "--logits", seedLogits, "--target", path, "--device", "cpu"]
        },
        BadCall(testDescription: "target of rank 2 for 2-d logits") { folder in
            let path = folder.file("target.npy")
            try NPYWriter.write([Int64](repeating: 0, count: 5), shape: [5, 1], to: path)
            return ["loss", "--logits", seedLogits, "--target", path, "--device", "cpu"]
        },
        BadCall(testDescription: "scalar logits") { folder in
            let logits = folder.file("scalar.npy")
            let target = folder.file("target.npy")
            try NPYWriter.write([Float(1)], shape: [], to: logits)
            try NPYWriter.write([Int64(0)], shape: [], to: target)
            return ["loss", "--logits", logits, "--target", target, "--device", "cpu"]
        },
        BadCall(testDescription: "logits with zero classes") { folder in
            let logits = folder.file("no-classes.npy")
            let target = folder.file("target.npy")
            try NPYWriter.write([Float](), shape: [5, 0], to: logits)
            try NPYWriter.write([Int64](repeating: 0, count: 5), shape: [5], to: target)
            return ["loss", "--logits", logits, "--target", target, "--device", "cpu"]
        },
        BadCall(testDescription: "target -100 when the ignore index is 3") { folder in
            let path = folder.file("target.npy")
            try NPYWriter.write([Int64]([0, -100, 1, 2, 0]), shape: [5], to: path)
            return [
                "loss", "--logits", seedLogits, "--target", path, "--ignore-index", "3",
                "--device", "cpu",
            ]
        },
        BadCall(testDescription: "unbatched logits with a target of shape (1)") { folder in
            let path = folder.file("target.npy")
            try NPYWriter.write([Int64(1)], shape: [1], to: path)
            let logits = Fixtures.folder + "/one_dim_single_sample/logits.npy"
            return ["loss", "--logits", logits, "--target", path, "--device", "cpu"]
        },
        BadCall(testDescription: "missing --target") { _ in
            ["loss", "--logits", seedLogits, "--device", "cpu"]
        },
        BadCall(testDescription: "unknown option") { _ in seedLoss(["--frobnicate", "1"]) },
    ]

    /// The seed logits with the first `old` in their header replaced by `new` (same length).
    static func seedLogitsWithHeader(
        replacing old: String, with new: String, in folder: TemporaryFolder
    ) throws -> [String] {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: seedLogits))
        let header = Data(bytes.prefix(128))
        guard let range = header.range(of: Data(old.utf8)) else {
            throw HarnessError("no \(old) in the seed logits' header")
        }
        var edited = bytes
        edited.replaceSubrange(range, with: Data(new.utf8))
        let path = folder.file("edited.npy")
        try edited.write(to: URL(fileURLWithPath: path))
        return seedLoss(logits: path)
    }

    @Test(arguments: calls)
    func refused(_ call: BadCall) throws {
        let inputs = try TemporaryFolder(prefix: "xent-inputs")
        defer { inputs.remove() }
        let arguments = try call.arguments(inputs)
        try expectRefusalWritingNothing(arguments, call.testDescription)
    }

    /// `--out` and `--grad-out` naming the same file: refused, and the file is left alone.
    @Test func sameOutputPathTwice() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("both.npy")
        let fresh = try XentProcess.run(Self.seedLoss(["--out", path, "--grad-out", path]))
        expectRefusal(fresh, "same path, fresh")
        #expect(!FileManager.default.fileExists(atPath: path))
        try sentinelBytes.write(to: URL(fileURLWithPath: path))
        let existing = try XentProcess.run(Self.seedLoss(["--out", path, "--grad-out", path]))
        expectRefusal(existing, "same path, existing")
        #expect(FileManager.default.contents(atPath: path) == sentinelBytes)
        #expect(try folder.entries() == ["both.npy"])
    }

    /// An output that cannot be written (into a missing folder, or onto a directory): a refusal,
    /// and the other output is neither created nor overwritten (all or nothing).
    @Test(arguments: ["missing-folder/out.npy", "a-directory"], [false, true])
    func unwritableOutput(_ badName: String, badIsGradient: Bool) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try FileManager.default.createDirectory(
            atPath: folder.file("a-directory"), withIntermediateDirectories: false)
        let bad = folder.file(badName)
        let good = folder.file("good.npy")
        let outputs =
            badIsGradient
            ? ["--out", good, "--grad-out", bad] : ["--out", bad, "--grad-out", good]
        let what = "\(badIsGradient ? "--grad-out" : "--out") \(badName)"

        let fresh = try XentProcess.run(Self.seedLoss(outputs))
        expectRefusal(fresh, what)
        #expect(
            !FileManager.default.fileExists(atPath: good), "\(what): the other output was created")

        try sentinelBytes.write(to: URL(fileURLWithPath: good))
        let existing = try XentProcess.run(Self.seedLoss(outputs))
        expectRefusal(existing, what)
        #expect(
            FileManager.default.contents(atPath: good) == sentinelBytes,
            "\(what): the other, existing output was overwritten")
        let entries = try folder.entries()
        #expect(entries == ["a-directory", "good.npy"], "\(what): left \(entries)")
        let inDirectory = try FileManager.default.contentsOfDirectory(
            atPath: folder.file("a-directory"))
        #expect(inDirectory.isEmpty, "\(what): wrote \(inDirectory) into the directory")
    }

    /// The valid seed call itself succeeds, so the refusals above are about what they change.
    @Test func seedCallSucceeds() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let out = folder.file("loss.npy")
        let result = try XentProcess.run(Self.seedLoss(["--out", out]))
        try #require(result.status == 0, "\(result)")
        let value = try #require(result.stdoutLines.first.flatMap(parseLoss), "\(result)")
        #expect(isClose(value, 1.7602916955947876, relative: 1e-5))
        #expect(result.stdout.hasPrefix("1.76029"), "\(result)")
        let file = try NPYFile(path: out)
        #expect(file.dtype == .float32 && file.shape == [])
    }
}
