import Foundation
import Testing
import XentTestSupport

/// `xent` where the OpenCL ICD loader finds no platform (`OCL_ICD_VENDORS` is an empty folder,
/// in the child's environment only).
@Suite struct HeadlessTests {
    /// Runs `xent` with no OpenCL platform visible.
    static func runHeadless(_ arguments: [String]) throws -> XentResult {
        let vendors = try TemporaryFolder(prefix: "xent-empty-vendors")
        defer { vendors.remove() }
        return try XentProcess.run(
            arguments,
            environment: [
                "OCL_ICD_VENDORS": vendors.path, "OCL_ICD_FILENAMES": nil, "XENT_DEVICE": nil,
            ])
    }

    static var seedArguments: [String] {
        let seed = Fixtures.folder + "/seed_notebook"
        return ["loss", "--logits", seed + "/logits.npy", "--target", seed + "/target.npy"]
    }

    @Test(arguments: [["--device", "cpu"], ["--device", "auto"], []])
    func lossFallsBackToTheCPU(_ device: [String]) throws {
        let result = try Self.runHeadless(Self.seedArguments + device)
        try #require(result.status == 0, "\(result)")
        #expect(result.stdoutLines.count == 1, "\(result)")
        #expect(result.stdout.hasPrefix("1.76029"), "\(result)")
        let value = try #require(result.stdoutLines.first.flatMap(parseLoss), "\(result)")
        #expect(isClose(value, 1.7602916955947876, relative: 1e-6), "\(value)")
    }

    @Test(arguments: ["opencl", "opencl:0:0"])
    func openCLIsRefused(_ device: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let out = folder.file("loss.npy")
        let result = try Self.runHeadless(Self.seedArguments + ["--device", device, "--out", out])
        expectRefusal(result, "--device \(device) without a platform")
        #expect(result.stderr.contains("no OpenCL platform"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func devicesSaysNoPlatform() throws {
        let result = try Self.runHeadless(["devices"])
        try #require(result.status == 0, "\(result)")
        #expect(
            result.stdoutLines.contains { $0.hasPrefix("OpenCL: no OpenCL platform found") },
            "\(result)")
        #expect(result.stdoutLines.contains { $0.hasPrefix("* cpu") }, "cpu not marked\n\(result)")
        #expect(result.stdout.contains("auto picks"), "\(result)")
        #expect(!result.stdout.contains("OpenCL C"), "\(result)")
    }

    @Test func demoRunsOnTheCPU() throws {
        let result = try Self.runHeadless(["demo", "--rows", "8", "--classes", "10"])
        try #require(result.status == 0, "\(result)")
        #expect(result.stdout.components(separatedBy: "1.7603").count - 1 >= 3, "\(result)")
    }
}

/// `xent` where an OpenCL platform exists but offers no device (PoCL with `POCL_DEVICES` naming no
/// driver it has). Only where PoCL is the platform (as in CI); elsewhere there is nothing to simulate.
@Suite(.enabled(if: try PoCLPresence.isPresent(), "needs PoCL as the OpenCL platform"))
struct PlatformWithoutDevicesTests {
    static func run(_ arguments: [String]) throws -> XentResult {
        try XentProcess.run(
            arguments, environment: ["POCL_DEVICES": "no-such-driver", "XENT_DEVICE": nil])
    }

    @Test func devicesSaysThereIsNoDevice() throws {
        let result = try Self.run(["devices"])
        try #require(result.status == 0, "\(result)")
        #expect(
            result.stdout.contains("OpenCL: OpenCL platforms found, but no devices"), "\(result)")
        #expect(result.stdoutLines.contains { $0.hasPrefix("* cpu") }, "\(result)")
    }

    @Test func autoUsesTheCPUAndOpenCLIsRefused() throws {
        let auto = try Self.run(HeadlessTests.seedArguments)
        #expect(auto.status == 0 && auto.stdout.hasPrefix("1.76029"), "\(auto)")
        let refused = try Self.run(HeadlessTests.seedArguments + ["--device", "opencl"])
        expectRefusal(refused, "--device opencl on a platform without devices")
        #expect(refused.stderr.contains("no devices"), "\(refused)")
    }
}

/// Whether the OpenCL platform is PoCL, whose `POCL_DEVICES` can hide every device.
enum PoCLPresence {
    static func isPresent() throws -> Bool {
        try OpenCLPresence.shouldRun(on: "opencl")
            && XentProcess.run(["devices"]).stdout.contains("Portable Computing Language")
    }
}

/// `xent` on a machine without the OpenCL ICD loader (simulated: `XENT_OPENCL_LIBRARY` names a file that
/// does not exist): the binary does not link it, so everything but OpenCL works.
@Suite struct WithoutOpenCLRuntimeTests {
    static func run(_ arguments: [String]) throws -> XentResult {
        try XentProcess.run(
            arguments,
            environment: ["XENT_OPENCL_LIBRARY": "/nonexistent/libOpenCL.so.1", "XENT_DEVICE": nil])
    }

    /// `ldd` (Debian's libc-bin) lists the libraries the dynamic linker loads with the binary.
    @Test func theBinaryDoesNotNeedTheOpenCLLibrary() throws {
        let ldd = Process()
        ldd.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        ldd.arguments = [try XentProcess.binaryPath()]
        let output = Pipe()
        ldd.standardOutput = output
        try ldd.run()
        let listing = String(
            decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        ldd.waitUntilExit()
        try #require(ldd.terminationStatus == 0 && listing.contains("libc.so"), "ldd: \(listing)")
        #expect(!listing.contains("libOpenCL"), "xent loads libOpenCL with itself:\n\(listing)")
    }

    @Test func devicesSaysWhy() throws {
        let result = try Self.run(["devices"])
        try #require(result.status == 0, "\(result)")
        #expect(
            result.stdout.contains(
                "the OpenCL runtime /nonexistent/libOpenCL.so.1 cannot be opened"), "\(result)")
        #expect(result.stdoutLines.contains { $0.hasPrefix("* cpu") }, "\(result)")
    }

    @Test func lossRunsOnTheCPUAndOpenCLIsRefused() throws {
        for device in [["--device", "cpu"], ["--device", "auto"], []] {
            let result = try Self.run(HeadlessTests.seedArguments + device)
            #expect(
                result.status == 0 && result.stdout.hasPrefix("1.76029"), "\(device): \(result)")
        }
        let refused = try Self.run(HeadlessTests.seedArguments + ["--device", "opencl"])
        expectRefusal(refused, "--device opencl without the OpenCL runtime")
        #expect(refused.stderr.contains("cannot be opened"), "\(refused)")
    }
}
