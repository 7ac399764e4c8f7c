import ArgumentParser
import CrossEntropy

#if canImport(Glibc)
    import Glibc
#endif

/// `xent`: cross-entropy on OpenCL devices or the CPU, from the command line.
@main
struct Xent: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xent",
        abstract: "Cross-entropy loss (log-softmax + negative log-likelihood) on OpenCL devices or the CPU.",
        subcommands: [
            DemoCommand.self, DevicesCommand.self, LossCommand.self, LinearLossCommand.self, BenchCommand.self,
            CompareCommand.self,
        ])

    /// Runs the command, turning every failure into one line on standard error and exit status 2 for
    /// a malformed command line, 1 for anything else (argument-parser's own usage code is 64).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            #if MPI
                if error is SilentFailure { Glibc.exit(0) }
                if error is ReportedFailure { Glibc.exit(1) }
            #endif
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            let usageError = code == .validationFailure
            let message = usageError ? message(for: error) : "\(error)"
            writeToStandardError("xent: error: \(message)\n")
            Glibc.exit(usageError ? 2 : 1)
        }
    }
}

/// The device choice shared by the commands that compute.
struct DeviceOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "auto, cpu, opencl or opencl:P:D (default: $XENT_DEVICE, else auto).", valueName: "device"))
    var device: String?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let device {
            do {
                _ = try DeviceRequest(parsing: device)
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }

    /// An engine on the requested device (or the default one), logging as `logging` says.
    func makeEngine() throws -> CrossEntropyEngine {
        try CrossEntropyEngine(device: device.map(DeviceRequest.init(parsing:)), logger: logging.makeLogger())
    }
}

extension LossReduction: ExpressibleByArgument {}

/// Writes `text` to standard error, unbuffered.
func writeToStandardError(_ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        guard written > 0 else { return }
        bytes = bytes.dropFirst(written)
    }
}
