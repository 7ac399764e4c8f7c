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
    var logLevel: Logger.Level?

    /// A logger writing to standard error at the chosen level: `--log-level`, else `info` with `--verbose`,
    /// else `warning` (so a fallback to the CPU is never silent).
    func makeLogger() -> Logger {
        var logger = Logger(label: "xent", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = logLevel ?? (verbose ? .info : .warning)
        return logger
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
