/// The three entries of a `.npy` header's dict literal, as written and not yet checked
/// against what this package supports.
struct NPYHeaderDictionary {
    /// The `descr` entry: the dtype string, e.g. `<f4`.
    var descr: String
    /// The `fortran_order` entry.
    var fortranOrder: Bool
    /// The `shape` entry: non-negative dimensions, at most `maximumRank` of them.
    var shape: [Int]

    /// The largest number of dimensions accepted in `shape`.
    static let maximumRank = 32

    /// The keys a header must hold, each exactly once, in the order NumPy writes them.
    static let keys = ["descr", "fortran_order", "shape"]

    /// Parses `text`, the header of a `.npy` file that starts at byte `fileOffset` of it.
    ///
    /// Accepts a dict literal with exactly the keys `descr`, `fortran_order` and `shape` in
    /// any order, an optional trailing comma, and whitespace around tokens.
    static func parse(_ text: [UInt8], fileOffset: Int) throws(NPYHeaderSyntaxError)
        -> NPYHeaderDictionary
    {
        var parser = Parser(tokenizer: NPYHeaderTokenizer(text: text, fileOffset: fileOffset))
        return try parser.parseDictionary()
    }
}

/// A recursive-descent parser over the tokens of a header.
private struct Parser {
    /// Where the tokens come from.
    var tokenizer: NPYHeaderTokenizer

    /// Parses the whole header: one dict literal and nothing after it.
    mutating func parseDictionary() throws(NPYHeaderSyntaxError) -> NPYHeaderDictionary {
        try expect(UInt8(ascii: "{"), "to open the header")
        var descr: String?
        var fortranOrder: Bool?
        var shape: [Int]?
        var (token, offset) = try tokenizer.next()
        while token != .punctuation(UInt8(ascii: "}")) {
            guard case .string(let key) = token else {
                throw NPYHeaderSyntaxError(
                    token == .end
                        ? "unterminated header: no closing '}'"
                        : "expected a quoted key or '}' at offset \(offset), found \(token.summary)"
                )
            }
            let keyOffset = offset
            try expect(UInt8(ascii: ":"), "after the key \(quotedForMessage(key))")
            switch key {
            case "descr" where descr == nil:
                descr = try parseDescr()
            case "fortran_order" where fortranOrder == nil:
                fortranOrder = try parseBool(key: key)
            case "shape" where shape == nil:
                shape = try parseShape()
            case _ where NPYHeaderDictionary.keys.contains(key):
                throw NPYHeaderSyntaxError(
                    "duplicate key \(quotedForMessage(key)) at offset \(keyOffset)")
            default:
                throw NPYHeaderSyntaxError(
                    "unknown key \(quotedForMessage(key)) at offset \(keyOffset); "
                        + "expected exactly 'descr', 'fortran_order' and 'shape'")
            }
            (token, offset) = try tokenizer.next()
            if token == .punctuation(UInt8(ascii: ",")) {
                (token, offset) = try tokenizer.next()
            } else if token != .punctuation(UInt8(ascii: "}")) {
                throw NPYHeaderSyntaxError(
                    token == .end
                        ? "unterminated header: no closing '}'"
                        : "expected ',' or '}' at offset \(offset), found \(token.summary)")
            }
        }
        (token, offset) = try tokenizer.next()
        guard token == .end else {
            throw NPYHeaderSyntaxError(
                "expected the end of the header after the closing '}', found \(token.summary) at offset \(offset)"
            )
        }
        guard let descr, let fortranOrder, let shape else {
            let present = [descr != nil, fortranOrder != nil, shape != nil]
            let missing = zip(NPYHeaderDictionary.keys, present).filter { !$0.1 }.map {
                "'\($0.0)'"
            }
            throw NPYHeaderSyntaxError(
                "missing \(missing.count == 1 ? "key" : "keys") \(missing.joined(separator: ", "))")
        }
        return NPYHeaderDictionary(descr: descr, fortranOrder: fortranOrder, shape: shape)
    }

    /// Parses the value of `descr`, which must be a string.
    private mutating func parseDescr() throws(NPYHeaderSyntaxError) -> String {
        let (token, offset) = try tokenizer.next()
        switch token {
        case .string(let descr):
            return descr
        case .punctuation(UInt8(ascii: "[")):
            throw NPYHeaderSyntaxError(
                "unsupported dtype: structured dtypes (a list of fields) are not supported; "
                    + "supported: \(NPYDType.supportedList)",
                isMalformed: false)
        default:
            throw NPYHeaderSyntaxError(
                "'descr' must be a quoted dtype string; found \(token.summary) at offset \(offset)")
        }
    }

    /// Parses the value of the boolean entry `key`: `True` or `False`.
    private mutating func parseBool(key: String) throws(NPYHeaderSyntaxError) -> Bool {
        let (token, offset) = try tokenizer.next()
        switch token {
        case .name("True"): return true
        case .name("False"): return false
        default:
            throw NPYHeaderSyntaxError(
                "'\(key)' must be True or False; found \(token.summary) at offset \(offset)")
        }
    }

    /// Parses the value of `shape`: a tuple of non-negative integers such as `()`, `(5,)` or
    /// `(2, 3)`.
    private mutating func parseShape() throws(NPYHeaderSyntaxError) -> [Int] {
        let (open, openOffset) = try tokenizer.next()
        guard open == .punctuation(UInt8(ascii: "(")) else {
            throw NPYHeaderSyntaxError(
                "'shape' must be a tuple of integers; found \(open.summary) at offset \(openOffset)"
            )
        }
        var shape: [Int] = []
        var sawComma = false
        while true {
            var (token, offset) = try tokenizer.next()
            if token == .punctuation(UInt8(ascii: ")")) {
                break
            }
            guard case .integer(let literal) = token else {
                throw NPYHeaderSyntaxError(
                    "'shape' must be a tuple of integers; found \(token.summary) at offset \(offset)"
                )
            }
            guard shape.count < NPYHeaderDictionary.maximumRank else {
                throw NPYHeaderSyntaxError(
                    "'shape' has more than \(NPYHeaderDictionary.maximumRank) dimensions, the most supported"
                )
            }
            shape.append(try dimension(literal, at: offset))
            (token, offset) = try tokenizer.next()
            if token == .punctuation(UInt8(ascii: ")")) {
                break
            }
            guard token == .punctuation(UInt8(ascii: ",")) else {
                throw NPYHeaderSyntaxError(
                    "expected ',' or ')' in 'shape' at offset \(offset), found \(token.summary)")
            }
            sawComma = true
        }
        guard shape.count != 1 || sawComma else {
            throw NPYHeaderSyntaxError(
                "'shape' must be a tuple; (\(shape[0])) is an integer in parentheses, "
                    + "a one-dimensional shape is written (\(shape[0]),)")
        }
        return shape
    }

    /// The dimension written as `literal` at `offset`, which must be non-negative and fit in `Int`.
    private func dimension(_ literal: String, at offset: Int) throws(NPYHeaderSyntaxError) -> Int {
        guard let value = Int(literal) else {
            throw NPYHeaderSyntaxError(
                "dimension \(shortenedForMessage(literal)) in 'shape' at offset \(offset) does not fit in Int"
            )
        }
        guard value >= 0 else {
            throw NPYHeaderSyntaxError("negative dimension \(value) in 'shape' at offset \(offset)")
        }
        return value
    }

    /// Reads the next token and throws unless it is the punctuation `byte`; `context` says
    /// where, e.g. "after the key 'shape'".
    private mutating func expect(_ byte: UInt8, _ context: String) throws(NPYHeaderSyntaxError) {
        let (token, offset) = try tokenizer.next()
        guard token == .punctuation(byte) else {
            let expected = NPYHeaderToken.punctuation(byte).summary
            throw NPYHeaderSyntaxError(
                token == .end && byte != UInt8(ascii: "{")
                    ? "unterminated header: ends before \(expected) \(context)"
                    : "expected \(expected) \(context) at offset \(offset), found \(token.summary)")
        }
    }
}
