/// One token of a `.npy` header's Python dict literal.
enum NPYHeaderToken: Equatable {
    /// One of the characters `{ } ( ) [ ] : ,`.
    case punctuation(UInt8)
    /// A quoted string, without its quotes.
    case string(String)
    /// A bare word such as `True` or `False`.
    case name(String)
    /// A decimal integer literal, with its leading `-` if any.
    case integer(String)
    /// The end of the header text.
    case end

    /// How the token reads in an error message.
    var summary: String {
        switch self {
        case .punctuation(let byte): "'\(Character(Unicode.Scalar(byte)))'"
        case .string(let text): "the string \(quotedForMessage(text))"
        case .name(let text): "the name \(quotedForMessage(text))"
        case .integer(let text): "the integer \(shortenedForMessage(text))"
        case .end: "the end of the header"
        }
    }
}

/// Splits the header text of a `.npy` file into tokens.
///
/// Understands exactly the subset of Python literal syntax that NumPy writes: single- or
/// double-quoted strings without escape sequences, bare words, decimal integers with an
/// optional minus sign, punctuation and whitespace. Anything else is an error.
struct NPYHeaderTokenizer {
    /// The header text, including its final newline.
    private let text: [UInt8]
    /// Where `text` starts in the file, so that messages can give file offsets.
    private let fileOffset: Int
    /// The index in `text` of the next byte to read.
    private var position = 0

    /// Creates a tokenizer over `text`, which starts at byte `fileOffset` of the file.
    init(text: [UInt8], fileOffset: Int) {
        self.text = text
        self.fileOffset = fileOffset
    }

    /// The file offset of the next byte to read, for error messages.
    private var offset: Int { fileOffset + position }

    /// Reads the next token, skipping whitespace.
    ///
    /// Throws `NPYHeaderSyntaxError` when the text at the current position is not a token.
    mutating func next() throws(NPYHeaderSyntaxError) -> (token: NPYHeaderToken, offset: Int) {
        while position < text.count, Self.isWhitespace(text[position]) {
            position += 1
        }
        let start = offset
        guard position < text.count else { return (.end, start) }
        let byte = text[position]
        switch byte {
        case UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "("), UInt8(ascii: ")"),
            UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: ":"), UInt8(ascii: ","):
            position += 1
            return (.punctuation(byte), start)
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            return (.string(try readString(quote: byte)), start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return (.integer(try readInteger()), start)
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "_"):
            return (.name(readName()), start)
        default:
            throw NPYHeaderSyntaxError("unexpected \(Self.describe(byte)) at offset \(start)")
        }
    }

    /// Reads a string literal whose opening quote is `quote`, at `position`.
    private mutating func readString(quote: UInt8) throws(NPYHeaderSyntaxError) -> String {
        let start = offset
        position += 1
        let contentStart = position
        while position < text.count {
            let byte = text[position]
            if byte == quote {
                let content = text[contentStart..<position]
                position += 1
                return String(decoding: content, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") {
                throw NPYHeaderSyntaxError(
                    "escape sequences in strings are not supported (offset \(offset))")
            }
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                break
            }
            position += 1
        }
        throw NPYHeaderSyntaxError("unterminated string starting at offset \(start)")
    }

    /// Reads an integer literal: an optional `-` and decimal digits, at `position`.
    private mutating func readInteger() throws(NPYHeaderSyntaxError) -> String {
        let start = position
        if text[position] == UInt8(ascii: "-") {
            position += 1
        }
        let digitsStart = position
        while position < text.count, Self.isDigit(text[position]) {
            position += 1
        }
        let literal = String(decoding: text[start..<position], as: UTF8.self)
        let digitCount = position - digitsStart
        guard digitCount > 0 else {
            throw NPYHeaderSyntaxError("'-' without digits at offset \(fileOffset + start)")
        }
        guard digitCount == 1 || text[digitsStart] != UInt8(ascii: "0") else {
            throw NPYHeaderSyntaxError(
                "invalid integer \(shortenedForMessage(literal)) (leading zero) at offset \(fileOffset + start)"
            )
        }
        if position < text.count, Self.isNameByte(text[position]) {
            throw NPYHeaderSyntaxError(
                "invalid integer literal at offset \(fileOffset + start): \(Self.describe(text[position])) after digits"
            )
        }
        return literal
    }

    /// Reads a bare word of letters, digits and underscores, at `position`.
    private mutating func readName() -> String {
        let start = position
        while position < text.count, Self.isNameByte(text[position]) {
            position += 1
        }
        return String(decoding: text[start..<position], as: UTF8.self)
    }

    /// Whether `byte` separates tokens.
    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
            || byte == UInt8(ascii: "\r")
    }

    /// Whether `byte` is an ASCII decimal digit.
    private static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// Whether `byte` may continue a bare word.
    private static func isNameByte(_ byte: UInt8) -> Bool {
        isDigit(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || byte == UInt8(ascii: "_")
    }

    /// Names `byte` for an error message: `character '@'` or `byte 0x93`.
    private static func describe(_ byte: UInt8) -> String {
        if (0x21...0x7E).contains(byte) {
            return "character '\(Character(Unicode.Scalar(byte)))'"
        }
        return "byte \(hexForMessage(byte))"
    }
}

/// Why a header's dict literal could not be parsed: the reason, without the path.
struct NPYHeaderSyntaxError: Error {
    /// The reason, e.g. "unterminated string starting at offset 20".
    let reason: String
    /// Whether the header is not valid Python literal syntax of the expected form, as opposed
    /// to valid but unsupported.
    let isMalformed: Bool

    /// Creates an error that gives `reason`.
    init(_ reason: String, isMalformed: Bool = true) {
        self.reason = reason
        self.isMalformed = isMalformed
    }
}
