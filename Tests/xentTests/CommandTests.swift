import Foundation
import Testing
import XentTestSupport

/// `xent demo`, `xent devices` and `xent bench`.
@Suite struct CommandTests {
    /// The seed notebook's loss, three ways, then a small random batch: with the default device and
    /// on the CPU.
    @Test(arguments: [[], ["--device", "cpu"]])
    func demo(_ device: [String]) throws {
        try checkDemo(device)
    }

    /// `demo` on OpenCL.
    @Test(.needsOpenCL)
    func demoOnOpenCL() throws {
        try checkDemo(["--device", "opencl"])
    }

    private func checkDemo(_ device: [String]) throws {
        let result = try XentProcess.run(["demo", "--rows", "64", "--classes", "1000"] + device)
        try #require(result.status == 0, "\(result)")
        let out = result.stdout
        let occurrences = out.components(separatedBy: "1.7603").count - 1
        #expect(occurrences >= 3, "1.7603 appears \(occurrences) times\n\(result)")
        for name in [
            "CrossEntropyLoss(x)", "NLLLoss(LogSoftmax(x))", "CrossEntropyLoss(LogSoftmax(x))",
        ] {
            let line = result.stdoutLines.first { $0.hasPrefix(name + " ") }
            #expect(line?.contains("1.7603") == true, "no line `\(name) … 1.7603`\n\(result)")
        }
        #expect(out.contains("64 × 1000"), "no random batch of 64 × 1000\n\(result)")
    }

    @Test func devices() throws {
        let result = try XentProcess.run(["devices"])
        try #require(result.status == 0, "\(result)")
        let out = result.stdout
        #expect(out.contains("cpu"), "\(result)")
        #expect(out.contains("auto picks"), "\(result)")
        let marked = result.stdoutLines.filter { $0.hasPrefix("*") }
        #expect(marked.count == 1, "want exactly one device marked *\n\(result)")
        let noPlatform = out.contains("no OpenCL platform")
        if OpenCLPresence.required {
            #expect(!noPlatform, "XENT_REQUIRE_OPENCL=1 but no OpenCL platform\n\(result)")
        }
        if !noPlatform {
            #expect(
                out.contains("OpenCL C"), "an OpenCL device without its OpenCL C version\n\(result)"
            )
        } else {
            #expect(
                result.stdoutLines.contains { $0.hasPrefix("OpenCL: no OpenCL platform found") },
                "\(result)")
        }
    }

    /// One configuration of `xent bench --json`.
    struct BenchCase: Sendable, CustomTestStringConvertible {
        var device: String
        var backward: Bool
        var dtype: String
        /// `--resident`: the logits on the device before timing.
        var resident = false
        /// `XENT_OPENCL_COPY=1`: copies even where the device could read host memory in place.
        var forcedCopy = false

        var testDescription: String {
            "\(device) \(dtype) \(backward ? "forward+backward" : "forward")"
                + (resident ? " resident" : "") + (forcedCopy ? " copied" : "")
        }
    }

    static let cpuBenchCases = [
        BenchCase(device: "cpu", backward: false, dtype: "f32"),
        BenchCase(device: "cpu", backward: true, dtype: "f32"),
        BenchCase(device: "cpu", backward: true, dtype: "f16"),
        BenchCase(device: "cpu", backward: false, dtype: "bf16"),
        BenchCase(device: "cpu", backward: true, dtype: "bf16"),
        BenchCase(device: "cpu", backward: true, dtype: "f32", resident: true),
    ]

    static let openCLBenchCases = [
        BenchCase(device: "opencl", backward: false, dtype: "f32"),
        BenchCase(device: "opencl", backward: true, dtype: "f32"),
        BenchCase(device: "opencl", backward: true, dtype: "bf16"),
        BenchCase(device: "opencl", backward: false, dtype: "f32", resident: true),
        BenchCase(device: "opencl", backward: true, dtype: "f16", resident: true),
        BenchCase(device: "opencl", backward: true, dtype: "f32", forcedCopy: true),
        BenchCase(device: "opencl", backward: true, dtype: "f32", resident: true, forcedCopy: true),
    ]

    @Test(arguments: cpuBenchCases)
    func benchJSON(_ bench: BenchCase) throws {
        try checkBenchJSON(bench)
    }

    @Test(.needsOpenCL, arguments: openCLBenchCases)
    func benchJSONOnOpenCL(_ bench: BenchCase) throws {
        try checkBenchJSON(bench)
    }

    private func checkBenchJSON(_ bench: BenchCase) throws {
        let rows = 64
        let classes = 1000
        var arguments = [
            "bench", "--rows", String(rows), "--classes", String(classes), "--device", bench.device,
            "--dtype", bench.dtype, "--repeat", "2", "--json",
        ]
        if bench.backward { arguments.append("--backward") }
        if bench.resident { arguments.append("--resident") }
        let result = try XentProcess.run(
            arguments, environment: ["XENT_OPENCL_COPY": bench.forcedCopy ? "1" : nil])
        try #require(result.status == 0, "\(result)")

        let parsed = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        let object = try #require(parsed as? [String: Any], "not a JSON object\n\(result)")
        // With --backward, the copy bandwidth and the fraction of it (DESIGN §7.1).
        let copyKeys: Set = bench.backward ? ["copy_gbps", "fraction_of_copy"] : []
        let keys = Set([
            "device", "rows", "classes", "dtype", "pass", "median_seconds", "logits_gbps",
            "read_gbps", "fraction_of_read", "loss", "resident", "host_to_device_bytes",
            "device_to_host_bytes",
            "kernel_seconds", "device_read_gbps", "fraction_of_device_read", "device_copy_gbps",
            "fraction_of_device_copy", "host_to_device_gbps", "fraction_of_host_to_device",
        ]).union(copyKeys)
        #expect(Set(object.keys) == keys, "keys \(object.keys.sorted())")
        #expect((object["device"] as? String)?.isEmpty == false, "device \(object["device"] ?? "")")
        #expect((object["rows"] as? NSNumber)?.intValue == rows)
        #expect((object["classes"] as? NSNumber)?.intValue == classes)
        #expect(object["dtype"] as? String == bench.dtype)
        #expect(object["pass"] as? String == (bench.backward ? "forward+backward" : "forward"))
        for key in ["median_seconds", "logits_gbps", "read_gbps", "fraction_of_read"] + copyKeys {
            let value = (object[key] as? NSNumber)?.doubleValue
            #expect(value.map { $0.isFinite && $0 > 0 } == true, "\(key) = \(object[key] ?? "nil")")
        }
        try checkTraffic(
            object, bench, logitsBytes: rows * classes * (bench.dtype == "f32" ? 4 : 2), rows: rows)
        let loss = try #require((object["loss"] as? NSNumber)?.doubleValue, "loss \(result)")
        let logC = log(Double(classes))
        #expect(loss.isFinite && loss > logC && loss < logC + 4, "loss \(loss), log C = \(logC)")
    }

    /// The bytes each call moved, as the OpenCL host layer counted them: none on the CPU; the logits each
    /// call when they are copied; O(N) — class indices in, per-row statistics out, never the logits —
    /// when they are resident (or read in place).
    private func checkTraffic(
        _ object: [String: Any], _ bench: BenchCase, logitsBytes: Int, rows: Int
    ) throws {
        #expect(object["resident"] as? Bool == bench.resident, "\(object)")
        let toDevice = try #require(
            (object["host_to_device_bytes"] as? NSNumber)?.intValue, "\(object)")
        let fromDevice = try #require(
            (object["device_to_host_bytes"] as? NSNumber)?.intValue, "\(object)")
        if bench.device == "cpu" {
            #expect(
                toDevice == 0 && fromDevice == 0 && object["kernel_seconds"] is NSNull, "\(object)")
            for key in [
                "device_read_gbps", "fraction_of_device_read", "device_copy_gbps",
                "fraction_of_device_copy",
                "host_to_device_gbps", "fraction_of_host_to_device",
            ] {
                #expect(object[key] is NSNull, "\(key): \(object)")
            }
            return
        }
        // The upload probe is for host input only, the copy probe for the loss and gradient only.
        let uploadKeys = ["host_to_device_gbps", "fraction_of_host_to_device"]
        let copyKeys = ["device_copy_gbps", "fraction_of_device_copy"]
        for key in ["device_read_gbps", "fraction_of_device_read"]
            + (bench.resident ? [] : uploadKeys)
            + (bench.backward ? copyKeys : [])
        {
            let value = (object[key] as? NSNumber)?.doubleValue
            #expect(value.map { $0 > 0 && $0.isFinite } == true, "\(key): \(object)")
        }
        let absent = (bench.resident ? uploadKeys : []) + (bench.backward ? [] : copyKeys)
        #expect(absent.allSatisfy { object[$0] is NSNull }, "\(absent) should be null: \(object)")
        let kernelSeconds = (object["kernel_seconds"] as? NSNumber)?.doubleValue
        #expect(kernelSeconds.map { $0 > 0 && $0.isFinite } == true, "\(object)")
        if bench.forcedCopy && !bench.resident {
            #expect(
                toDevice >= logitsBytes,
                "the logits were not counted going to the device: \(object)")
            if bench.backward {
                #expect(
                    fromDevice >= logitsBytes, "the gradient was not counted coming back: \(object)"
                )
            }
        } else {
            #expect(toDevice + fromDevice <= 128 * rows, "more than O(N) bytes moved: \(object)")
        }
    }

    /// `bench --backward --in-place` overwrites the logits with the gradient: the loss it reports is the
    /// warm-up's, on the same random logits as without `--in-place`; on the CPU, on OpenCL from host memory
    /// and resident. Without `--backward` it is refused.
    @Test func benchInPlaceReportsTheWarmUpLoss() throws {
        let devices =
            [["--device", "cpu"]]
            + (try OpenCLPresence.shouldRun(on: "opencl") ? [["--device", "opencl"]] : [])
        for device in devices {
            for resident in device.last == "opencl" ? [[], ["--resident"]] : [[]] {
                let common = [
                    "bench", "--rows", "64", "--classes", "1000", "--repeat", "2", "--json",
                    "--backward",
                ]
                let plain = try XentProcess.run(common + device + resident)
                let inPlace = try XentProcess.run(common + device + resident + ["--in-place"])
                try #require(plain.status == 0 && inPlace.status == 0, "\(plain)\n\(inPlace)")
                func loss(_ output: String) throws -> Double {
                    let object =
                        try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
                    return try #require((object?["loss"] as? NSNumber)?.doubleValue, "\(output)")
                }
                let expected = try loss(plain.stdout)
                #expect(
                    abs(try loss(inPlace.stdout) - expected) <= 1e-6 * expected,
                    "\(device + resident): \(inPlace.stdout) vs \(plain.stdout)")
            }
        }
        expectRefusal(
            try XentProcess.run([
                "bench", "--rows", "4", "--classes", "10", "--device", "cpu", "--in-place",
            ]),
            "bench --in-place without --backward")
    }

    /// `bench` rejects sizes that are not positive.
    @Test(arguments: [["--rows", "0", "--classes", "10"], ["--rows", "4", "--classes", "-1"]])
    func benchRejectsBadSizes(_ sizes: [String]) throws {
        let result = try XentProcess.run(["bench", "--device", "cpu", "--json"] + sizes)
        expectRefusal(result, "bench \(sizes)")
    }
}
