import Foundation
import NPY
import Testing
import XentTestSupport

/// What a person at a terminal meets: `devices --json`, examples in every `--help`, `--verbose` and
/// `--log-level`, the progress line, and the library's wording for bad options.
@Suite struct UsabilityCommandTests {
    @Test func devicesAsJSON() throws {
        let result = try XentProcess.run(["devices", "--json"])
        try #require(result.status == 0 && result.stdoutLines.count == 1, "\(result)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
            "\(result)")
        let openCL = try #require(object["opencl"] as? [[String: Any]], "\(result)")
        let cpu = try #require(object["cpu"] as? [String: Any], "\(result)")
        let auto = try #require(object["auto"] as? [String: Any], "\(result)")
        #expect(cpu["request"] as? String == "cpu")
        #expect(
            auto["request"] as? String == "auto" && (auto["reason"] as? String)?.isEmpty == false)
        let picks =
            openCL.filter { $0["auto_picks"] as? Bool == true }.count
            + (cpu["auto_picks"] as? Bool == true ? 1 : 0)
        #expect(picks == 1, "auto must pick exactly one device\n\(result)")
        if OpenCLPresence.required {
            #expect(!openCL.isEmpty && object["opencl_problem"] is NSNull, "\(result)")
        }
        for device in openCL {
            #expect((device["request"] as? String)?.hasPrefix("opencl:") == true, "\(device)")
            #expect(
                device["float64"] is Bool && (device["compute_units"] as? Int ?? 0) > 0, "\(device)"
            )
        }
    }

    @Test(arguments: ["loss", "linear-loss", "bench", "demo", "devices", "compare"])
    func helpHasExamples(_ command: String) throws {
        let result = try XentProcess.run([command, "--help"])
        try #require(result.status == 0, "\(result)")
        let examples = result.stdoutLines.drop { $0 != "EXAMPLES:" }.dropFirst().prefix {
            !$0.isEmpty
        }
        #expect(!examples.isEmpty, "no EXAMPLES section\n\(result)")
        #expect(
            examples.first?.trimmingCharacters(in: .whitespaces).hasPrefix("xent \(command)")
                == true)
        #expect(examples.allSatisfy { $0.count <= 80 }, "an example wraps\n\(result)")
    }

    /// The engine's log reaches standard error at the level asked for, and standard output keeps the
    /// contract's one line.
    @Test func verboseAndLogLevel() throws {
        let seed = Fixtures.folder + "/seed_notebook"
        let loss = [
            "loss", "--logits", seed + "/logits.npy", "--target", seed + "/target.npy", "--device",
            "cpu",
        ]
        let quiet = try XentProcess.run(loss)
        #expect(quiet.status == 0 && quiet.stderr.isEmpty, "\(quiet)")
        let verbose = try XentProcess.run(loss + ["--verbose"])
        #expect(verbose.status == 0 && verbose.stdout == quiet.stdout, "\(verbose)")
        #expect(
            verbose.stderr.contains("info") && verbose.stderr.contains("device chosen"),
            "\(verbose)")
        #expect(verbose.stderr.contains("reason=requested"), "\(verbose)")
        let errorsOnly = try XentProcess.run(loss + ["--verbose", "--log-level", "error"])
        #expect(errorsOnly.status == 0 && errorsOnly.stderr.isEmpty, "\(errorsOnly)")
        let unknown = try XentProcess.run(loss + ["--log-level", "loud"])
        #expect(
            unknown.status == 2 && unknown.stdout.isEmpty && unknown.stderr.contains("loud"),
            "\(unknown)")
    }

    @Test(.needsOpenCL) func kernelBuildsAreLoggedAtInfo() throws {
        let result = try XentProcess.run(
            [
                "bench", "--rows", "16", "--classes", "100", "--repeat", "1", "--device", "opencl",
                "--verbose",
            ])
        #expect(result.status == 0 && result.stderr.contains("OpenCL program built"), "\(result)")
        #expect(result.stderr.contains("seconds="), "\(result)")
    }

    /// Standard error a terminal (through `script`): the progress line appears after a second and is
    /// erased at the end; in a pipe (every other test) it never does.
    @Test func progressLineOnATerminal() throws {
        let binary = try XentProcess.binaryPath()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = [
            "-qefc", "\(binary) bench --rows 256 --classes 16384 --repeat 150 --device cpu",
            "/dev/null",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        try #require(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("\r\u{1B}[Kxent bench: run "), "no progress line\n\(text)")
        let last = try #require(text.components(separatedBy: "\r\u{1B}[K").last)
        #expect(
            last.hasPrefix("forward 256 × 16384 f32 on cpu"),
            "the line was not erased before the report\n\(text)")
    }

    /// `compare` as `numpy.allclose`: NaN equals NaN, a difference within the tolerances passes, one
    /// beyond it or another shape fails with one line naming it.
    @Test func compareArrays() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        func write(_ name: String, _ values: [Double], shape: [Int]? = nil) throws -> String {
            let path = folder.file(name)
            try NPYWriter.write(values, shape: shape ?? [values.count], to: path)
            return path
        }
        let expected = try write("expected.npy", [1, .nan, -2, .infinity, 0])
        let close = try write("close.npy", [1 + 1e-7, .nan, -2, .infinity, 1e-9])
        let far = try write("far.npy", [1, .nan, -2.01, .infinity, 0])
        let reshaped = try write("reshaped.npy", [1, .nan, -2, .infinity, 0], shape: [5, 1])
        let agree = try XentProcess.run(["compare", close, expected])
        #expect(agree.status == 0 && agree.stdout.hasPrefix("5 elements agree"), "\(agree)")
        let differ = try XentProcess.run(["compare", far, expected])
        #expect(differ.status == 1 && differ.stdout.isEmpty, "\(differ)")
        #expect(differ.stderr.contains("element 2 differs: -2.01 against -2"), "\(differ)")
        let strict = try XentProcess.run(["compare", close, expected, "--rtol", "0", "--atol", "0"])
        #expect(strict.status == 1 && strict.stderr.contains("element 0 differs"), "\(strict)")
        let shapes = try XentProcess.run(["compare", reshaped, expected])
        #expect(shapes.status == 1 && shapes.stderr.contains("shape [5, 1]"), "\(shapes)")
    }

    /// The command line refuses a bad option in the library's words (PyTorch's, for label smoothing).
    @Test(arguments: [
        (["--label-smoothing", "1.5"], "label_smoothing must be between 0.0 and 1.0. Got: 1.5"),
        (
            ["--z-loss-scale", "-1"],
            "z_loss_scale must be a finite number of at least 0.0. Got: -1.0"
        ),
        (["--softcap", "0"], "softcap must be a finite number greater than 0.0. Got: 0.0"),
    ])
    func badOptionsInTheLibrarysWords(_ option: [String], _ message: String) throws {
        let seed = Fixtures.folder + "/seed_notebook"
        let result = try XentProcess.run(
            [
                "loss", "--logits", seed + "/logits.npy", "--target", seed + "/target.npy",
                "--device", "cpu",
            ] + option)
        #expect(result.status == 2 && result.stdout.isEmpty, "\(result)")
        #expect(result.stderr.contains(message), "\(result)")
    }
}
