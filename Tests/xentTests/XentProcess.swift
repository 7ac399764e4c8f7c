import Foundation

/// What one run of `xent` did.
struct XentResult: Sendable, CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String

    var description: String {
        "exit status \(status)\n--- stdout ---\n\(stdout)--- stderr ---\n\(stderr)"
    }

    /// Standard output split into lines, without the final newline's empty line.
    var stdoutLines: [String] {
        var lines = stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }
}

/// A failure of the test harness itself (not of `xent`), with a message.
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs the `xent` binary built beside the test bundle.
enum XentProcess {
    /// Seconds a run may take before it is killed and the test fails.
    static let timeoutSeconds: Double = 120

    /// The path of `xent`: the folder of this test executable (from `/proc/self/exe`) + `/xent`.
    /// Throws (so the test fails) when it does not exist.
    static func binaryPath() throws -> String {
        let executable: String
        do {
            executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        } catch {
            throw HarnessError("cannot read /proc/self/exe to find the xent binary: \(error)")
        }
        let folder = URL(fileURLWithPath: executable).deletingLastPathComponent().path
        let path = folder + "/xent"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError(
                "the xent binary is not at \(path) (beside the test executable \(executable)); "
                    + "build the package (swift build --build-tests) before running these tests")
        }
        return path
    }

    /// Runs `xent arguments...` and waits for it. `environment` changes the child's environment
    /// only: a value sets the variable, `nil` removes it; everything else is inherited.
    static func run(
        _ arguments: [String], environment: [String: String?] = [:]
    ) throws -> XentResult {
        let binary = try binaryPath()
        let folder = try TemporaryFolder(prefix: "xent-process")
        defer { folder.remove() }
        let stdoutPath = folder.path + "/stdout"
        let stderrPath = folder.path + "/stderr"
        try Data().write(to: URL(fileURLWithPath: stdoutPath))
        try Data().write(to: URL(fileURLWithPath: stderrPath))
        guard let stdoutHandle = FileHandle(forWritingAtPath: stdoutPath),
            let stderrHandle = FileHandle(forWritingAtPath: stderrPath)
        else {
            throw HarnessError("cannot open files in \(folder.path) for the child's output")
        }

        var childEnvironment = ProcessInfo.processInfo.environment
        for (name, value) in environment {
            childEnvironment[name] = value
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = childEnvironment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdoutHandle
        process.standardError = stderrHandle
        try process.run()
        try? stdoutHandle.close()
        try? stderrHandle.close()

        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline {
            usleep(2_000)
        }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw HarnessError(
                "xent \(arguments.joined(separator: " ")) did not finish in \(timeoutSeconds) s")
        }
        process.waitUntilExit()

        let stdout = try String(
            decoding: Data(contentsOf: URL(fileURLWithPath: stdoutPath)), as: UTF8.self)
        let stderr = try String(
            decoding: Data(contentsOf: URL(fileURLWithPath: stderrPath)), as: UTF8.self)
        return XentResult(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }
}

/// A new empty folder under the system's temporary folder; `remove()` deletes it with everything
/// in it (call it in a `defer`).
struct TemporaryFolder {
    let path: String

    init(prefix: String = "xent-tests") throws {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    /// Deletes the folder and everything in it.
    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// `path/name`.
    func file(_ name: String) -> String { path + "/" + name }

    /// The names in the folder, sorted.
    func entries() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }
}
