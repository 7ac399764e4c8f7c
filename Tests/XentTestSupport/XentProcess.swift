import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What one run of `xent` did.
public struct XentResult: Sendable, CustomStringConvertible {
    /// The exit status.
    public var status: Int32
    /// Everything written to standard output.
    public var stdout: String
    /// Everything written to standard error.
    public var stderr: String

    /// The status and both streams, for failure messages.
    public var description: String {
        "exit status \(status)\n--- stdout ---\n\(stdout)--- stderr ---\n\(stderr)"
    }

    /// Standard output split into lines, without the final newline's empty line.
    public var stdoutLines: [String] {
        var lines = stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }
}

/// A failure of the test harness itself (not of `xent`), with a message.
public struct HarnessError: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
    /// A failure saying `description`.
    public init(_ description: String) { self.description = description }
}

/// The `xent` binary built beside the test bundle, run as a child process whose output goes to files,
/// so that several can run at once.
public struct XentProcess {
    /// Seconds a run may take before it is killed and the test fails.
    public static let timeoutSeconds: Double = 120

    private let process: Process
    private let output: TemporaryFolder
    private let arguments: [String]

    /// The path of `xent`: the folder of this test executable (from `/proc/self/exe`) + `/xent`.
    /// Throws (so the test fails) when it does not exist.
    public static func binaryPath() throws -> String {
        let executable: String
        do {
            executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        } catch {
            throw HarnessError("cannot read /proc/self/exe to find the xent binary: \(error)")
        }
        let path = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("xent").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError(
                "the xent binary is not at \(path) (beside the test executable \(executable)); "
                    + "build the package (swift build --build-tests) before running these tests")
        }
        return path
    }

    /// Starts `xent arguments…`, or `launcher… xent arguments…` (`mpirun -n 4`, say). `environment`
    /// changes the child's environment only: a value sets the variable, `nil` removes it; everything else
    /// is inherited.
    public static func start(
        _ arguments: [String], environment: [String: String?] = [:], launcher: [String] = []
    ) throws -> XentProcess {
        let binary = try binaryPath()
        let output = try TemporaryFolder(prefix: "xent-process")
        try Data().write(to: URL(fileURLWithPath: output.file("stdout")))
        try Data().write(to: URL(fileURLWithPath: output.file("stderr")))
        guard let stdout = FileHandle(forWritingAtPath: output.file("stdout")),
            let stderr = FileHandle(forWritingAtPath: output.file("stderr"))
        else {
            throw HarnessError("cannot open files in \(output.path) for the child's output")
        }
        var childEnvironment = ProcessInfo.processInfo.environment
        for (name, value) in environment {
            childEnvironment[name] = value
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launcher.first ?? binary)
        process.arguments = launcher.isEmpty ? arguments : launcher.dropFirst() + [binary] + arguments
        process.environment = childEnvironment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        try? stdout.close()
        try? stderr.close()
        return XentProcess(process: process, output: output, arguments: arguments)
    }

    /// Runs `xent arguments…` and waits for it.
    public static func run(
        _ arguments: [String], environment: [String: String?] = [:], launcher: [String] = []
    ) throws -> XentResult {
        try start(arguments, environment: environment, launcher: launcher).wait()
    }

    /// Waits for the process (killing it after `timeoutSeconds`, which fails the test) and reads its
    /// output.
    public func wait() throws -> XentResult {
        defer { output.remove() }
        let deadline = Date().addingTimeInterval(Self.timeoutSeconds)
        while process.isRunning && Date() < deadline {
            usleep(2_000)
        }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw HarnessError("xent \(arguments.joined(separator: " ")) did not finish in \(Self.timeoutSeconds) s")
        }
        process.waitUntilExit()
        func read(_ name: String) throws -> String {
            String(decoding: try Data(contentsOf: URL(fileURLWithPath: output.file(name))), as: UTF8.self)
        }
        return XentResult(status: process.terminationStatus, stdout: try read("stdout"), stderr: try read("stderr"))
    }
}
