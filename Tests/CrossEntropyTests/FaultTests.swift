import Foundation
import NPY
import Testing
import XentTestSupport

@testable import CrossEntropy

/// What happens when things go wrong: kernels that do not build or are missing, devices that do not exist,
/// batches past one launch, and a failing `xent loss` that must leave no output behind.
@Suite struct FaultTests {
    /// The OpenCL backends (both kernel families), empty without a platform.
    static let openCLNames = Backends.names.filter { $0 != "cpu" }
    /// The backends the batches past one launch run on: the per-row family, and the per-group family where
    /// a GPU runs it. (It launches a 256-wide work-group per row: 2 × 1.1 million groups take about 50 s
    /// on PoCL's CPU device, where the per-row family takes under a second; its chunking is the same host
    /// code.)
    static let largeBatchNames = openCLNames.filter { $0 == "opencl" || Backends.inventory.firstGPU != nil }

    /// A kernel that does not compile fails `xent loss --device opencl` with exit status 1 and the build
    /// options and build log on standard error; the CPU is not affected by the same environment.
    @Test(.needsOpenCL)
    func brokenKernelFailsWithItsBuildLogAndOptions() throws {
        let kernels = try TemporaryFolder(prefix: "xent-broken-kernel")
        let cache = try TemporaryFolder(prefix: "xent-pocl-cache")
        defer {
            kernels.remove()
            cache.remove()
        }
        try KernelFiles.copy(into: kernels)
        let marker = "xent_deliberately_broken_kernel"
        try "\(marker) is not OpenCL C (;\n".write(
            toFile: kernels.file("cross_entropy_rows.cl"), atomically: true, encoding: .utf8)
        let environment: [String: String?] = [
            "XENT_KERNEL_DIR": kernels.path, "POCL_CACHE_DIR": cache.path, "XENT_DEVICE": nil,
        ]

        let result = try XentProcess.run(
            ["loss", "--device", "opencl"] + SeedNotebookFiles.arguments, environment: environment)
        #expect(result.status == 1, "\(result)")
        #expect(result.stdout.isEmpty, "\(result)")
        #expect(result.stderr.contains("clBuildProgram"), "\(result)")
        #expect(result.stderr.contains("-DXENT_DTYPE="), "the build options: \(result)")
        let log = result.stderr.components(separatedBy: "build log:").dropFirst().joined()
        #expect(log.contains("error"), "the compiler's errors after 'build log:': \(result)")
        #expect(log.contains(marker), "the build log quotes the broken source: \(result)")

        let cpu = try XentProcess.run(
            ["loss", "--device", "cpu"] + SeedNotebookFiles.arguments, environment: environment)
        #expect(cpu.status == 0, "\(cpu)")
        #expect(cpu.stdout.hasPrefix("1.76029"), "\(cpu)")
    }

    /// `XENT_KERNEL_DIR` without one of the kernel files is a clear error naming the missing file.
    @Test(.needsOpenCL, arguments: (try? KernelFiles.names()) ?? ["cross_entropy_rows.cl"])
    func missingKernelFileIsAClearError(missing: String) throws {
        let kernels = try TemporaryFolder(prefix: "xent-missing-kernel")
        defer { kernels.remove() }
        try KernelFiles.copy(into: kernels)
        try FileManager.default.removeItem(atPath: kernels.file(missing))
        let result = try XentProcess.run(
            ["loss", "--device", "opencl"] + SeedNotebookFiles.arguments,
            environment: ["XENT_KERNEL_DIR": kernels.path, "XENT_DEVICE": nil])
        #expect(result.status == 1, "\(result)")
        #expect(result.stdout.isEmpty, "\(result)")
        #expect(result.stderr.contains("XENT_KERNEL_DIR"), "\(result)")
        #expect(result.stderr.contains(kernels.file(missing)), "names the missing file: \(result)")
        #expect(result.stderr.contains("No such file"), "\(result)")
    }

    /// An explicit OpenCL device that does not exist is `deviceUnavailable`, and the message says what
    /// was asked for and what exists (or why there is nothing).
    @Test(arguments: [(0, 7), (5, 0)])
    func missingExplicitDeviceNamesWhatExists(platform: Int, device: Int) throws {
        let error = #expect(throws: CrossEntropyError.self) {
            try CrossEntropyEngine(device: .openCLDevice(platform: platform, device: device))
        }
        let inventory = Backends.inventory
        #expect(error?.code == .deviceUnavailable, "\(String(describing: error))")
        let message = error?.message ?? ""
        if inventory.openCL.isEmpty {
            #expect(message.contains(inventory.problem ?? "no OpenCL"), "\(message)")
        } else {
            #expect(message.contains("\(platform):\(device)"), "names the request: \(message)")
            for entry in inventory.openCL {
                let name = "opencl:\(entry.platformIndex):\(entry.deviceIndex)"
                #expect(message.contains(name), "names \(name), which exists: \(message)")
            }
        }

        let result = try XentProcess.run(
            ["loss", "--device", "opencl:\(platform):\(device)"] + SeedNotebookFiles.arguments,
            environment: ["XENT_DEVICE": nil])
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains(inventory.openCL.isEmpty ? "OpenCL" : "\(platform):\(device)"), "\(result)")
    }

    /// 1,100,000 rows of 2 classes (8.8 MB of Float) take two launches on OpenCL (at most 2^20 rows each);
    /// every row's loss, the mean, the gradient, the logsumexp and `nllLoss` (whose gather is chunked too)
    /// match the CPU, and the rows around the seam match the reference. Ignored rows sit at fixed positions,
    /// so a chunk reading the wrong slice of targets shows.
    @Test(.needsOpenCL, arguments: largeBatchNames)
    func batchLargerThanOneLaunchMatchesTheCPU(device: String) throws {
        let rows = 1_100_000
        let classes = 2
        let logits = Self.scrambledLogits(count: rows * classes)
        let targets = (0..<rows).map { row in row % 7 == 3 ? -100 : Int64(row % 3 == 0 ? 1 : 0) }
        try compareLargeBatch(
            shape: [rows, classes], logits: logits, targets: targets, device: device,
            seamRows: [0, 1, (1 << 20) - 2, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, rows - 1])
    }

    /// K-dim logits `(3, 2, 400_000)`: one launch takes 2 of the 3 outer blocks (2^20 / 400,000 rows), so
    /// the second launch starts mid-batch in the strided layout.
    @Test(.needsOpenCL, arguments: largeBatchNames)
    func kDimBatchLargerThanOneLaunchMatchesTheCPU(device: String) throws {
        let shape = [3, 2, 400_000]
        let logits = Self.scrambledLogits(count: shape.reduce(1, *))
        let targets = (0..<1_200_000).map { row in row % 5 == 2 ? -100 : Int64(row % 2) }
        try compareLargeBatch(
            shape: shape, logits: logits, targets: targets, device: device,
            seamRows: [0, 399_999, 400_000, 799_999, 800_000, 800_001, 1_199_999])
    }

    /// Values in [-4, 4) from a multiplicative hash of the index: quick to make in a debug build.
    static func scrambledLogits(count: Int) -> [Float] {
        (0..<count).map { Float(Int((UInt64($0) &* 0x9E37_79B9_7F4A_7C15) >> 51) - 4_096) / 1_024 }
    }

    private func compareLargeBatch(
        shape: [Int], logits: [Float], targets: [Int64], device: String, seamRows: [Int]
    ) throws {
        let cpu = Backends.engine("cpu")
        let openCL = Backends.engine(device)
        let x = Tensor(shape: shape, scalars: logits)
        let rowShape = [shape[0]] + shape.dropFirst(2)
        let target = CrossEntropyTarget<Float>.classIndices(Tensor(shape: rowShape, scalars: targets))
        let none = CrossEntropyOptions(reduction: .none)

        let cpuRows = try cpu.crossEntropy(x, target: target, options: none).scalars
        let clRows = try openCL.crossEntropy(x, target: target, options: none).scalars
        #expect(clRows.count == targets.count)
        let rowMismatch = firstMismatch(clRows.map(Double.init), cpuRows.map(Double.init), rtol: 1e-6, atol: 1e-6)
        #expect(rowMismatch == nil, "\(shape) on \(device), per-row loss vs cpu: \(rowMismatch ?? "")")
        #expect(
            targets.indices.filter { targets[$0] == -100 }.allSatisfy { clRows[$0] == 0 },
            "\(shape) on \(device): an ignored row has a loss")

        let cpuMean = try cpu.crossEntropyWithGradient(x, target: target)
        let clMean = try openCL.crossEntropyWithGradient(x, target: target)
        #expect(
            isClose(Double(clMean.loss.scalar), Double(cpuMean.loss.scalar), rtol: 1e-6),
            "\(shape) on \(device): mean \(clMean.loss.scalar) vs cpu \(cpuMean.loss.scalar)")
        let gradientMismatch = firstMismatch(
            clMean.gradient.scalars.map(Double.init), cpuMean.gradient.scalars.map(Double.init), rtol: 1e-5,
            atol: 1e-12)
        #expect(gradientMismatch == nil, "\(shape) on \(device), gradient vs cpu: \(gradientMismatch ?? "")")
        let lseMismatch = firstMismatch(
            try openCL.logSumExp(x).scalars.map(Double.init), cpuMean.logSumExp.scalars.map(Double.init), rtol: 1e-6,
            atol: 1e-6)
        #expect(lseMismatch == nil, "\(shape) on \(device), logSumExp vs cpu: \(lseMismatch ?? "")")
        let nll = try openCL.nllLoss(x, target: target, options: none).scalars
        let cpuNLL = try cpu.nllLoss(x, target: target, options: none).scalars
        #expect(nll == cpuNLL, "\(shape) on \(device): nllLoss (a gather) differs from the cpu")

        let layout = Reference(shape: shape, logits: [])
        for row in seamRows {
            let values = (0..<layout.classes).map { Double(logits[layout.index(row: row, clazz: $0)]) }
            let expected = Reference(
                shape: [layout.classes], logits: values, targets: [targets[row]], options: none
            ).loss()[0]
            #expect(
                isClose(Double(clRows[row]), expected, rtol: 1e-5, atol: 1e-6),
                "\(shape) on \(device), row \(row): loss \(clRows[row]), reference \(expected)")
        }
    }

    /// A failing `xent loss` leaves neither the output nor a temporary file (`.name.tmp-*`): a target out
    /// of range fails before anything is written, and a gradient that cannot be written takes the already
    /// staged loss with it. An existing output file stays as it was.
    @Test func failingRunLeavesNoPartialOutput() throws {
        let folder = try TemporaryFolder(prefix: "xent-failing-run")
        defer { folder.remove() }
        try NPYWriter.write([Float](repeating: 0.5, count: 12), shape: [3, 4], to: folder.file("logits.npy"))
        try NPYWriter.write([Int64]([0, 7, 1]), shape: [3], to: folder.file("bad_target.npy"))
        try NPYWriter.write([Int64]([0, 3, 1]), shape: [3], to: folder.file("target.npy"))
        try FileManager.default.createDirectory(atPath: folder.file("a_folder"), withIntermediateDirectories: false)
        let inputs = ["a_folder", "bad_target.npy", "logits.npy", "target.npy"]
        func run(_ extra: [String], target: String) throws -> XentResult {
            try XentProcess.run(
                ["loss", "--device", "cpu", "--logits", folder.file("logits.npy"), "--target", folder.file(target)]
                    + extra, environment: ["XENT_DEVICE": nil])
        }

        let outOfRange = try run(["--out", folder.file("loss.npy")], target: "bad_target.npy")
        #expect(outOfRange.status == 1, "\(outOfRange)")
        #expect(outOfRange.stderr.contains("out of bounds"), "\(outOfRange)")
        #expect(try folder.entries() == inputs, "a target out of range left files behind")

        let withGradient = try run(
            ["--out", folder.file("loss.npy"), "--grad-out", folder.file("grad.npy")], target: "bad_target.npy")
        #expect(withGradient.status == 1, "\(withGradient)")
        #expect(try folder.entries() == inputs, "a target out of range with --grad-out left files behind")

        let gradientInMissingFolder = try run(
            ["--out", folder.file("loss.npy"), "--grad-out", folder.file("missing/grad.npy")], target: "target.npy")
        #expect(gradientInMissingFolder.status == 1, "\(gradientInMissingFolder)")
        #expect(try folder.entries() == inputs, "a gradient that cannot be written left the loss or a temporary file")

        let gradientOnFolder = try run(
            ["--out", folder.file("loss.npy"), "--grad-out", folder.file("a_folder")], target: "target.npy")
        #expect(gradientOnFolder.status == 1, "\(gradientOnFolder)")
        #expect(try folder.entries() == inputs, "a gradient path naming a folder left files behind")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.file("a_folder")).isEmpty)

        try Data("old".utf8).write(to: URL(fileURLWithPath: folder.file("loss.npy")))
        let overExisting = try run(["--out", folder.file("loss.npy")], target: "bad_target.npy")
        #expect(overExisting.status == 1, "\(overExisting)")
        #expect(try folder.entries() == (["loss.npy"] + inputs).sorted(), "a failing run left a temporary file")
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder.file("loss.npy"))) == Data("old".utf8))

        // The same command with a valid target writes the file, so the failures above are the target's.
        let valid = try run(["--out", folder.file("loss.npy")], target: "target.npy")
        #expect(valid.status == 0, "\(valid)")
        #expect(try NPYFile(path: folder.file("loss.npy")).shape == [])
        #expect(try folder.entries() == (["loss.npy"] + inputs).sorted())
    }

    /// Chunks of a few rows (an allocation limit of 4 KiB), and chunks that fail as if the device were
    /// out of memory (halved and retried), give the CPU's answers, on both kernel families; every simulated
    /// failure fires, and a chunk of one row that still fails is an error.
    @Test(.needsOpenCL, arguments: [KernelFamily.perRow, .perGroup])
    func smallAllocationsAndAllocationFailuresGiveTheSameAnswers(family: KernelFamily) throws {
        let engine = try CrossEntropyEngine(openCL: .openCL, family: family, maxAllocationBytes: 4_096)
        let backend = try #require(engine.backend as? OpenCLBackend)
        let x = Tensor<Float>(shape: [1_000, 37], scalars: (0..<37_000).map { Float($0 % 11) / 3 })
        let target = CrossEntropyTarget<Float>.classIndices(
            Tensor(shape: [1_000], scalars: (0..<1_000).map { Int64($0 % 37) }))
        let options = CrossEntropyOptions(reduction: .none)
        let expected = try Backends.engine("cpu").crossEntropy(x, target: target, options: options)
        let chunked = try engine.crossEntropy(x, target: target, options: options)
        #expect(firstMismatch(chunked.scalars.map(Double.init), expected.scalars.map(Double.init), rtol: 1e-6) == nil)
        backend.simulateAllocationFailures(2)
        let retried = try engine.crossEntropyWithGradient(x, target: target, options: options)
        #expect(
            backend.pendingSimulatedAllocationFailures == 0,
            "\(backend.pendingSimulatedAllocationFailures) of the 2 simulated allocation failures did not fire")
        #expect(
            firstMismatch(retried.loss.scalars.map(Double.init), expected.scalars.map(Double.init), rtol: 1e-6) == nil)
        let cpuGradient = try Backends.engine("cpu").crossEntropyWithGradient(x, target: target, options: options)
        #expect(
            firstMismatch(
                retried.gradient.scalars.map(Double.init), cpuGradient.gradient.scalars.map(Double.init), rtol: 1e-5,
                atol: 1e-7) == nil)

        // A Float gradient of bfloat16 logits, chunked by its own bytes (twice the logits').
        let halves = Tensor(shape: x.shape, scalars: x.scalars.map { BFloat16($0) })
        let halfTarget = CrossEntropyTarget<BFloat16>.classIndices(
            Tensor(shape: [1_000], scalars: (0..<1_000).map { Int64($0 % 37) }))
        let wide = try floatGradient(halves, halfTarget, options, on: engine)
        let wideOnCPU = try floatGradient(halves, halfTarget, options, on: Backends.engine("cpu"))
        #expect(firstMismatch(wide.map(Double.init), wideOnCPU.map(Double.init), rtol: 1e-5, atol: 1e-7) == nil)

        // Five failures in a row halve the first chunk of 27 rows (4,096 / 148 bytes) to 1 row and fail that
        // too: the call throws rather than retrying forever, which also shows that the 4 KiB limit made the
        // chunks (a chunk of all 1,000 rows would take the five halvings and succeed).
        backend.simulateAllocationFailures(5)
        let error = #expect(throws: CrossEntropyError.self) {
            _ = try engine.crossEntropy(x, target: target, options: options)
        }
        #expect(error?.code == .openCLFailure, "\(String(describing: error))")
        #expect(error?.message.contains("(simulated)") == true, "\(String(describing: error))")
        #expect(
            backend.pendingSimulatedAllocationFailures == 0,
            "\(backend.pendingSimulatedAllocationFailures) of the 5 simulated allocation failures did not fire")
    }
}

/// The Float gradient of bfloat16 `logits`, through the buffer call.
private func floatGradient(
    _ logits: Tensor<BFloat16>, _ target: CrossEntropyTarget<BFloat16>, _ options: CrossEntropyOptions,
    on engine: CrossEntropyEngine
) throws -> [Float] {
    var gradient = [Float](repeating: .nan, count: logits.scalars.count)
    try logits.scalars.withUnsafeBufferPointer { buffer in
        try target.withBuffer { targetBuffer in
            try gradient.withUnsafeMutableBufferPointer {
                _ = try engine.crossEntropyWithGradient(
                    logits: buffer, shape: logits.shape, target: targetBuffer, options: options, gradientInto: $0)
            }
        }
    }
    return gradient
}

/// The seed notebook's inputs, `Fixtures/seed_notebook`, as `xent loss` arguments; its loss is 1.76029….
enum SeedNotebookFiles {
    static let folder = Fixture.folder.appendingPathComponent("seed_notebook")
    static let arguments = [
        "--logits", folder.appendingPathComponent("logits.npy").path,
        "--target", folder.appendingPathComponent("target.npy").path,
    ]
}

/// The package's OpenCL kernel sources, `Kernels/*.cl`.
enum KernelFiles {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Kernels")

    /// The `.cl` files' names, sorted.
    static func names() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".cl") }.sorted()
    }

    /// Copies every kernel file into `directory`, as `XENT_KERNEL_DIR` wants them.
    static func copy(into directory: TemporaryFolder) throws {
        for name in try names() {
            try FileManager.default.copyItem(
                atPath: folder.appendingPathComponent(name).path, toPath: directory.file(name))
        }
    }
}
