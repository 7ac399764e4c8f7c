import ArgumentParser
import Logging

/// How much of the library's log reaches standard error.
struct LoggingOptions: ParsableArguments {
    @Flag(
        name: .shortAndLong,
        help:
            "Log the engine's decisions to standard error: the device and why, kernel builds, fallbacks (--log-level info)."
    )
    var verbose = false

    @Option(
        help: ArgumentHelp(
            "trace, debug, info, notice, warning, error or critical (default: warning).", valueName: "level"))
    var logLevel: LogLevel?

    /// A logger writing to standard error at the chosen level: `--log-level`, else `info` with `--verbose`,
    /// else `warning` (so a fallback to the CPU is never silent).
    func makeLogger() -> Logger {
        var logger = Logger(label: "xent", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = logLevel?.level ?? (verbose ? .info : .warning)
        return logger
    }
}

/// `Logger.Level` as the command line names it.
enum LogLevel: String, CaseIterable, ExpressibleByArgument {
    case trace, debug, info, notice, warning, error, critical

    /// The swift-log level of the same name.
    var level: Logger.Level { Logger.Level(rawValue: rawValue)! }
}
