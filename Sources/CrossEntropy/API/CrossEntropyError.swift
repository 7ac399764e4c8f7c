#if canImport(FoundationEssentials)
    import FoundationEssentials
#elseif canImport(Foundation)
    import Foundation
#endif

/// Why a call was refused or failed: a code to match on and a message that says what and where.
///
/// Codes are a `RawRepresentable` struct rather than an enum, so new codes are not a breaking change.
public struct CrossEntropyError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of failure.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The code's name.
        public let rawValue: String
        /// Makes a code from its name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// A shape that does not fit: logits, targets, weights or the data's length.
        public static let invalidShape = Code(rawValue: "invalidShape")
        /// A class index outside `0..<C` that is not the ignore index.
        public static let targetOutOfBounds = Code(rawValue: "targetOutOfBounds")
        /// An option outside its domain (label smoothing, ignore index, upstream gradient).
        public static let invalidOption = Code(rawValue: "invalidOption")
        /// A device string that is not `auto`, `cpu`, `opencl` or `opencl:P:D`.
        public static let invalidDevice = Code(rawValue: "invalidDevice")
        /// The requested device does not exist or cannot run this input.
        public static let deviceUnavailable = Code(rawValue: "deviceUnavailable")
        /// The OpenCL runtime failed; the message carries the call and status (and a build log).
        public static let openCLFailure = Code(rawValue: "openCLFailure")

        /// The code's name.
        public var description: String { rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// What was wrong and where.
    public let message: String

    /// Makes an error; the message should say what was wrong and where.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

#if canImport(FoundationEssentials) || canImport(Foundation)
    extension CrossEntropyError: LocalizedError {
        /// The message, so that Foundation's `error.localizedDescription` says what was wrong.
        public var errorDescription: String? { message }
    }
#endif
