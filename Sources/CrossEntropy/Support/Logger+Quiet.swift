import Logging

extension Logger {
    /// The logger of an engine made without one: it drops every message.
    static let quiet = Logger(label: "CrossEntropy", factory: { _ in SwiftLogNoOpLogHandler() })
}
