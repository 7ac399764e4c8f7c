import Foundation
import NPY
import Testing
import XentTestSupport

/// Both kernel families — one work-group per row (`cross_entropy_groups.cl`, the GPU family) and one
/// work-item per row (`cross_entropy_rows.cl`) — under Oclgrind, Debian's OpenCL device simulator, which
/// reports itself as a GPU: every PyTorch fixture up to 20,000 logits (the training fixtures: z-loss,
/// soft-capping, bfloat16, K-dim, probabilities; the loss fixtures: C = 1, N = 1, C not a multiple of the
/// work-group, K-dim rows, weights, ignore_index, label smoothing, probability targets, Float16, Float64,
/// empty and all-ignored batches) gives PyTorch's loss and gradient, and the simulator reports no read of
/// uninitialized memory, no data race and no misuse of the API. (The per-row family prefetches only off
/// Oclgrind, which cannot run `llvm.prefetch`.)
///
/// The inputs are staged to the simulated device (`XENT_OPENCL_COPY=1`) in pieces of 4 KiB
/// (`XENT_OPENCL_STAGING_BYTES`), so that most cases run several pieces through the staging slots:
/// Oclgrind also reports itself as a CPU, so the backend would otherwise hand it host memory
/// (`CL_MEM_USE_HOST_PTR`), whose contents its uninitialized-value checker does not track (every read of
/// it is reported, with the right values read).
/// Runs where Oclgrind is installed, unless `XENT_SKIP_OCLGRIND=1` (CI's runs under the sanitizers and as
/// a headless box, which repeat the main run's Oclgrind cases to no purpose); with
/// `XENT_REQUIRE_OCLGRIND=1` (CI's main run) its absence fails instead.
@Suite(.enabled(if: try OclgrindPresence.isPresent(), "needs oclgrind (Debian's oclgrind package)"))
struct OclgrindTests {
    static let families = ["per-group", "per-row"]

    /// The environment of a run on Oclgrind with its checks on, with `family`'s kernels.
    static func environment(_ family: String) throws -> [String: String?] {
        [
            "OCL_ICD_VENDORS": try OclgrindPresence.vendorsFolder(), "OCL_ICD_FILENAMES": nil,
            "XENT_OPENCL_COPY": "1", "XENT_OPENCL_STAGING_BYTES": "4096",
            "XENT_OPENCL_KERNELS": family,
            "XENT_DEVICE": nil,
            "OCLGRIND_UNINITIALIZED": "1", "OCLGRIND_DATA_RACES": "1", "OCLGRIND_CHECK_API": "1",
        ]
    }

    @Test(arguments: TrainingFixtureCase.all.filter { $0.shape.reduce(1, *) <= 20_000 }, families)
    func trainingFixturesMatchPyTorchCleanly(_ fixture: TrainingFixtureCase, _ family: String)
        throws
    {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var arguments = [
            "loss", "--logits", fixture.path("logits.npy"), "--target", fixture.path("target.npy"),
            "--device", "opencl", "--reduction", fixture.reduction, "--ignore-index",
            String(fixture.ignoreIndex),
            "--label-smoothing", String(fixture.labelSmoothing), "--z-loss-scale",
            String(fixture.zLossScale),
            "--out", folder.file("loss.npy"), "--grad-out", folder.file("grad.npy"),
        ]
        if fixture.weight { arguments += ["--weight", fixture.path("weight.npy")] }
        if let softcap = fixture.softcap { arguments += ["--softcap", String(softcap)] }
        let result = try XentProcess.run(arguments, environment: try Self.environment(family))
        let context = "\(fixture.name), \(family) kernels under Oclgrind"
        try #require(result.status == 0, "\(context)\n\(result)")
        #expect(result.stderr.isEmpty, "\(context): Oclgrind reported\n\(result.stderr)")
        let tolerance = fixture.tolerance
        expectAllClose(
            try readDoubles(folder.file("loss.npy")),
            try NPYFile(path: fixture.path("expected_loss.npy")).doubles(),
            relative: tolerance, absolute: tolerance * 1e-3, "\(context): loss")
        let expectedGradient = try NPYFile(path: fixture.path("expected_grad.npy")).doubles()
        let largest = expectedGradient.map(abs).max() ?? 0
        expectAllClose(
            try readDoubles(folder.file("grad.npy")), expectedGradient, relative: tolerance,
            absolute: tolerance * largest, "\(context): gradient")
    }

    /// Device arrays (the resident path, logits and gradient in device buffers) and the read and copy probe kernels,
    /// through `xent bench --resident` on a small batch.
    @Test(arguments: families)
    func residentCallsAndTheReadProbeRunCleanly(_ family: String) throws {
        for pass in [[], ["--backward"]] {
            let result = try XentProcess.run(
                [
                    "bench", "--rows", "6", "--classes", "300", "--repeat", "1", "--device",
                    "opencl", "--resident", "--json",
                ]
                    + pass,
                environment: try Self.environment(family))
            let context = "\(family) kernels under Oclgrind, bench --resident \(pass)"
            try #require(result.status == 0, "\(context)\n\(result)")
            #expect(result.stderr.isEmpty, "\(context): Oclgrind reported\n\(result.stderr)")
            #expect(result.stdout.contains("\"resident\": true"), "\(context)\n\(result)")
        }
    }

    /// The per-group family's paths that the fixtures, small as the simulator needs them, do not reach on
    /// its device (1 compute unit, 32 KiB of local memory, groups of 256, loads of 4): 2 rows of 9,000
    /// classes are split in two slices a row (the slices' states, their merge, the outputs by slice), and 5
    /// rows of 8,000 take a group each but are too long to keep in local memory, so their outputs read them
    /// again. Forward and loss + gradient, from host memory and resident, two calls each.
    @Test(arguments: [(rows: 2, classes: 9000), (rows: 5, classes: 8000)])
    func longRowPathsRunCleanly(_ shape: (rows: Int, classes: Int)) throws {
        for pass in [[], ["--backward"]] {
            for resident in [[], ["--resident"]] {
                let result = try XentProcess.run(
                    [
                        "bench", "--rows", String(shape.rows), "--classes", String(shape.classes),
                        "--repeat", "1",
                        "--device", "opencl", "--json",
                    ] + pass + resident,
                    environment: try Self.environment("per-group"))
                let context = "\(shape) under Oclgrind, bench \(pass + resident)"
                try #require(result.status == 0, "\(context)\n\(result)")
                #expect(result.stderr.isEmpty, "\(context): Oclgrind reported\n\(result.stderr)")
            }
        }
    }

    /// The gradient written over the logits (`bench --backward --in-place`), from host memory through staged
    /// pieces of one row and resident, on both families.
    @Test(arguments: families)
    func inPlaceGradientsRunCleanly(_ family: String) throws {
        for resident in [[], ["--resident"]] {
            var environment = try Self.environment(family)
            environment["XENT_OPENCL_STAGING_BYTES"] = "1000"
            let result = try XentProcess.run(
                [
                    "bench", "--rows", "7", "--classes", "300", "--repeat", "1", "--device",
                    "opencl", "--json",
                    "--backward", "--in-place",
                ] + resident, environment: environment)
            let context = "\(family) kernels under Oclgrind, bench --in-place \(resident)"
            try #require(result.status == 0, "\(context)\n\(result)")
            #expect(result.stderr.isEmpty, "\(context): Oclgrind reported\n\(result.stderr)")
        }
    }

    @Test(
        arguments: FixtureCase.all.filter {
            !$0.error && $0.grad == true && $0.shape.reduce(1, *) <= 20_000
        },
        families)
    func lossFixturesMatchPyTorchCleanly(_ fixture: FixtureCase, _ family: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let result = try XentProcess.run(
            fixture.lossArguments(
                device: "opencl",
                ["--out", folder.file("loss.npy"), "--grad-out", folder.file("grad.npy")]),
            environment: try Self.environment(family))
        let context = "\(fixture.name), \(family) kernels under Oclgrind"
        try #require(result.status == 0, "\(context)\n\(result)")
        #expect(result.stderr.isEmpty, "\(context): Oclgrind reported\n\(result.stderr)")
        expectAllClose(
            try readDoubles(folder.file("loss.npy")),
            try readDoubles(fixture.file("expected_loss.npy")),
            relative: fixture.lossTolerance, absolute: 1e-6, "\(context): loss")
        expectAllClose(
            try readDoubles(folder.file("grad.npy")),
            try readDoubles(fixture.file("expected_grad.npy")),
            relative: 1e-4, absolute: fixture.logitsDType == "float16" ? 2e-3 : 1e-6,
            "\(context): gradient")
    }
}

/// Where Oclgrind's OpenCL runtime is, registered for the ICD loader in a folder of this process's own.
enum OclgrindPresence {
    static let runtime = "/usr/lib/oclgrind/liboclgrind-rt-icd.so"
    static let required = ProcessInfo.processInfo.environment["XENT_REQUIRE_OCLGRIND"] == "1"
    static let skipped = ProcessInfo.processInfo.environment["XENT_SKIP_OCLGRIND"] == "1"

    /// Whether Oclgrind is installed and not skipped; throws when it is not installed and
    /// `XENT_REQUIRE_OCLGRIND=1`.
    static func isPresent() throws -> Bool {
        if skipped && !required { return false }
        let present = FileManager.default.fileExists(atPath: runtime)
        if !present && required {
            throw OclgrindMissing()
        }
        return present
    }

    struct OclgrindMissing: Error, CustomStringConvertible {
        var description: String {
            "XENT_REQUIRE_OCLGRIND=1 but \(OclgrindPresence.runtime) does not exist"
        }
    }

    /// A folder whose one `.icd` file names Oclgrind's runtime (made once per process).
    static func vendorsFolder() throws -> String {
        try folder.get()
    }

    private static let folder: Result<String, any Error> = Result {
        let vendors = try TemporaryFolder(prefix: "xent-oclgrind-vendors")
        try Data((runtime + "\n").utf8).write(
            to: URL(fileURLWithPath: vendors.file("oclgrind.icd")))
        return vendors.path
    }
}
