import CPURowKernels
import Foundation
import Logging
import Testing
import XentTestSupport

@testable import CrossEntropy

/// What an engine logs: its device and why, kernel builds and cache hits, chunks halved after an
/// allocation failure, and falling back to the CPU — captured by a handler of the test's own.
@Suite struct LoggingTests {
    /// Every message a logger made from it received.
    final class CapturedLog: @unchecked Sendable {  // `entries` is only touched under `lock`
        struct Entry {
            var level: Logger.Level
            var message: String
            var metadata: Logger.Metadata
        }

        private let lock = NSLock()
        private var entries: [Entry] = []

        var all: [Entry] { lock.withLock { entries } }

        func append(_ entry: Entry) { lock.withLock { entries.append(entry) } }

        func entries(_ message: String) -> [Entry] { all.filter { $0.message == message } }

        var logger: Logger {
            var logger = Logger(label: "test") { _ in Handler(log: self) }
            logger.logLevel = .trace
            return logger
        }

        struct Handler: LogHandler {
            let log: CapturedLog
            var logLevel: Logger.Level = .trace
            var metadata: Logger.Metadata = [:]
            var metadataProvider: Logger.MetadataProvider?

            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }

            func log(event: LogEvent) {
                log.append(.init(level: event.level, message: "\(event.message)", metadata: event.metadata ?? [:]))
            }
        }
    }

    @Test func theDeviceAndItsReason() throws {
        let log = CapturedLog()
        let engine = try CrossEntropyEngine(device: .cpu, logger: log.logger)
        let chosen = try #require(log.entries("device chosen").first, "\(log.all)")
        #expect(chosen.level == .info)
        #expect(chosen.metadata["device"] == "\(engine.device.name)" && chosen.metadata["reason"] == "requested")
        #expect(chosen.metadata["request"] == "cpu")
    }

    @Test func anEngineWithoutALoggerLogsNothingAndWorks() throws {
        let engine = try CrossEntropyEngine(device: .cpu)
        #expect(engine.logger.handler is SwiftLogNoOpLogHandler)
        #expect(try engine.crossEntropy(logits: [1, 2, 3] as [Float], labels: [2]).scalar > 0)
    }

    @Test(.needsOpenCL) func kernelBuildsCacheHitsAndRetries() throws {
        let log = CapturedLog()
        let entry = try #require(Backends.inventory.openCL.first)
        let backend = try OpenCLBackend.makeUnshared(device: entry.device, family: .perRow, logger: log.logger)
        let built = log.entries("OpenCL program built")
        try #require(built.count == 1, "\(log.all)")
        #expect(built[0].level == .info && built[0].metadata["seconds"] != nil)
        #expect(built[0].metadata["options"]?.description.contains("-DXENT_DTYPE=1") == true)
        let engine = CrossEntropyEngine(
            backend: backend,
            device: SelectedDevice(
                kind: .openCL(platform: 0, device: 0), name: entry.name, request: .openCL, reason: "test"),
            logger: log.logger)
        _ = try engine.crossEntropy(logits: [1, 2, 3, 4] as [Float], labels: [0, 1])
        #expect(log.entries("OpenCL program served from the cache").allSatisfy { $0.level == .trace })
        #expect(!log.entries("OpenCL program served from the cache").isEmpty, "\(log.all)")
        _ = try engine.crossEntropy(logits: [1, 2, 3, 4] as [Double], labels: [0, 1])
        #expect(log.entries("OpenCL program built").count == 2, "\(log.all)")

        backend.simulateAllocationFailures(1)
        _ = try engine.crossEntropy(logits: [Float](repeating: 1, count: 64), labels: [Int](repeating: 0, count: 8))
        let halved = log.entries("OpenCL device out of memory: chunk halved and retried")
        try #require(halved.count == 1, "\(log.all)")
        #expect(halved[0].level == .warning && halved[0].metadata["rows"] == "4")
    }

    /// A backend that runs nothing and refuses `Double`: the engine must send `Double` to its fallback.
    struct FloatOnlyBackend: RowBackend {
        var name: String { "float only" }
        var keptExpsBlockBytes: Int? { nil }
        func unsupportedReason(for dtype: LogitsDType) -> String? { dtype == .float64 ? "no doubles here" : nil }
        func prepare(_ dtype: LogitsDType, logger: Logger) {}
        func run<T: LogitsScalar>(
            _ batch: RowBatch<T>, output: RowOutput?, results: UnsafePointer<xent_row_results>, logger: Logger
        ) throws -> Double {
            throw CrossEntropyError(.deviceUnavailable, "the float-only test backend runs nothing")
        }
        func gather<T: LogitsScalar>(
            _ batch: RowBatch<T>, into gathered: UnsafeMutableBufferPointer<Double>, logger: Logger
        ) throws {
            throw CrossEntropyError(.deviceUnavailable, "the float-only test backend runs nothing")
        }
    }

    @Test func fallingBackIsLoggedOncePerType() throws {
        let log = CapturedLog()
        let engine = CrossEntropyEngine(
            backend: FloatOnlyBackend(),
            device: SelectedDevice(kind: .cpu, name: "float only", request: .auto, reason: "test"),
            fallback: CPUBackend(), logger: log.logger)
        let cpu = try CrossEntropyEngine(device: .cpu)
        for _ in 0..<3 {
            let loss = try engine.crossEntropy(logits: [1, 2, 3] as [Double], labels: [1])
            #expect(loss == (try cpu.crossEntropy(logits: [1, 2, 3] as [Double], labels: [1])))
        }
        let fellBack = log.entries("logits type not supported by the device; using the CPU fallback")
        try #require(fellBack.count == 1, "\(log.all)")
        #expect(fellBack[0].level == .warning && fellBack[0].metadata["reason"] == "no doubles here")
        #expect(fellBack[0].metadata["dtype"] == "float64")
    }
}
