/// Why a file could not be read or written.
///
/// The message says what went wrong and where, and begins with the path (or `<bytes>` for
/// in-memory input), e.g.
/// `L.npy: unsupported dtype '>f4' (big-endian); supported: <f2, <f4, <f8, <V2, <u2, <i4, <i8`.
public struct NPYError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The complete message, beginning with the path it concerns.
    public let description: String

    /// Creates an error with the complete message `message`.
    init(_ message: String) {
        description = message
    }
}

/// `text` in single quotes for an error message, escaped and shortened by `shortenedForMessage`.
func quotedForMessage(_ text: String) -> String {
    "'\(shortenedForMessage(text))'"
}

/// `text` for an error message: control characters written as `\xNN`, and cut after 40
/// characters so that a hostile file cannot make a message arbitrarily long.
func shortenedForMessage(_ text: String) -> String {
    let limit = 40
    var result = ""
    for (index, scalar) in text.unicodeScalars.enumerated() {
        if index == limit {
            result += "..."
            break
        }
        if scalar.value < 0x20 || scalar.value == 0x7F {
            result += "\\x" + hexDigits(UInt8(scalar.value))
        } else {
            result.unicodeScalars.append(scalar)
        }
    }
    return result
}

/// `byte` as `0x` and two hexadecimal digits, e.g. `0x93`.
func hexForMessage(_ byte: UInt8) -> String {
    "0x" + hexDigits(byte)
}

/// `byte` as two lowercase hexadecimal digits.
private func hexDigits(_ byte: UInt8) -> String {
    let digits = String(byte, radix: 16)
    return digits.count == 1 ? "0" + digits : digits
}
