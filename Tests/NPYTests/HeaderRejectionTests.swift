import NPY
import Testing

/// Files the reader must reject, each with a message that says why.
@Suite struct HeaderRejectionTests {
    static let validDictionary = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
    static let sixFloats = [UInt8](repeating: 0, count: 24)

    /// A version 1.0 file whose dict is `validDictionary` with `original` replaced by
    /// `replacement`, followed by `data`.
    static func variant(
        replacing original: String, with replacement: String, data: [UInt8] = sixFloats
    ) -> [UInt8] {
        #expect(validDictionary.contains(original), "nothing to replace")
        let dictionary = validDictionary.replacing(original, with: replacement, maxReplacements: 1)
        return handMadeFile(dictionary: dictionary, data: data)
    }

    @Test func theValidDictionaryIsAccepted() throws {
        let file = try NPYFile(
            bytes: handMadeFile(dictionary: Self.validDictionary, data: Self.sixFloats))
        #expect(file.shape == [2, 3])
    }

    // MARK: The prefix

    @Test func emptyInput() {
        guard let message = npyErrorMessage({ _ = try NPYFile(bytes: []) }) else { return }
        #expect(message == "<bytes>: empty file (0 bytes), not a .npy file")
    }

    @Test func shorterThanTheMagicString() {
        expectRejected([0x93, 0x4E, 0x55], containing: "truncated file (3 bytes)")
        expectRejected(Array("NU".utf8), containing: "not a .npy file")
    }

    @Test func wrongMagicString() {
        var bytes = handMadeFile(dictionary: Self.validDictionary, data: Self.sixFloats)
        bytes[5] = UInt8(ascii: "Z")
        expectRejected(bytes, containing: "not a .npy file", "magic string")
        expectRejected(Array("PK\u{3}\u{4} this is a zip file".utf8), containing: "not a .npy file")
    }

    @Test(arguments: [(UInt8(0), UInt8(0)), (1, 1), (2, 1), (4, 0), (255, 255)])
    func unsupportedVersion(major: UInt8, minor: UInt8) {
        let bytes = handMadeFile(
            header: Self.validDictionary + "\n", version: (major, minor), data: Self.sixFloats)
        expectRejected(
            bytes,
            containing:
                "unsupported .npy format version \(major).\(minor); supported: 1.0, 2.0, 3.0")
    }

    @Test func endsBeforeTheVersion() {
        expectRejected(
            [0x93] + Array("NUMPY".utf8) + [1], containing: "ends before the format version")
    }

    @Test func endsInsideTheHeaderLength() {
        expectRejected(
            [0x93] + Array("NUMPY".utf8) + [1, 0, 0x40], containing: "header length field")
        expectRejected(
            [0x93] + Array("NUMPY".utf8) + [2, 0, 0x40, 0, 0], containing: "header length field")
    }

    @Test func headerLengthPastTheEnd() {
        var bytes = handMadeFile(dictionary: Self.validDictionary)
        bytes[8] &+= 1
        expectRejected(bytes, containing: "truncated header", "runs past the end of the file")
        // A version 2.0 length of almost 4 GiB must be rejected without allocating it.
        let huge =
            [0x93] + Array("NUMPY".utf8) + [2, 0, 0xFF, 0xFF, 0xFF, 0xFF] + Array("{}\n".utf8)
        expectRejected(huge, containing: "header length 4294967295 runs past the end of the file")
    }

    @Test func headerWithoutFinalNewline() {
        expectRejected(
            handMadeFile(header: Self.validDictionary + " ", data: Self.sixFloats),
            containing: "does not end with '\\n'")
        expectRejected(handMadeFile(header: ""), containing: "does not end with '\\n'")
    }

    // MARK: The dict literal

    @Test func unterminatedHeader() {
        expectRejected(
            handMadeFile(dictionary: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), "),
            containing: "malformed header", "no closing '}'")
        expectRejected(
            handMadeFile(dictionary: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3"),
            containing: "malformed header", "expected ',' or ')'")
        expectRejected(
            handMadeFile(dictionary: "{'descr':"),
            containing: "'descr' must be a quoted dtype string")
    }

    @Test func unterminatedString() {
        expectRejected(
            handMadeFile(dictionary: "{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3), }"),
            containing: "malformed header")
        expectRejected(
            handMadeFile(dictionary: "{'descr': '<f4"),
            containing: "unterminated string starting at offset 20")
    }

    @Test func garbage() {
        expectRejected(
            handMadeFile(dictionary: "hello"),
            containing: "expected '{' to open the header at offset 10, found the name 'hello'")
        expectRejected(
            handMadeFile(dictionary: ""), containing: "expected '{'", "found the end of the header")
        expectRejected(
            Self.variant(replacing: "'<f4'", with: "'\u{93}'"),
            containing: "unsupported dtype '\u{93}'")
        expectRejected(
            handMadeFile(header: "{\u{7F}}\n"), containing: "unexpected byte 0x7f at offset 11")
        expectRejected(
            handMadeFile(dictionary: "{'descr'; '<f4'}"), containing: "unexpected character ';'")
        expectRejected(
            Self.variant(replacing: "(2, 3), }", with: "(2, 3), } x"),
            containing: "after the closing '}'", "found the name 'x'")
        expectRejected(
            Self.variant(replacing: "False,", with: "False,,"),
            containing: "expected a quoted key or '}'"
        )
        expectRejected(
            Self.variant(
                replacing: "'descr': '<f4',", with: "'descr': '<f4' 'fortran_order': False,"),
            containing: "expected ',' or '}'")
        expectRejected(
            handMadeFile(dictionary: "{descr: '<f4'}"), containing: "expected a quoted key")
    }

    @Test func unsupportedStringSyntax() {
        expectRejected(
            Self.variant(replacing: "'<f4'", with: "'<f\\x34'"), containing: "escape sequences")
        expectRejected(Self.variant(replacing: "'<f4'", with: "u'<f4'"), containing: "the name 'u'")
    }

    @Test func unknownKey() {
        expectRejected(
            Self.variant(replacing: "}", with: "'extra': 1, }"),
            containing: "unknown key 'extra'",
            "expected exactly 'descr', 'fortran_order' and 'shape'")
        expectRejected(
            Self.variant(replacing: "'shape'", with: "'Shape'"), containing: "unknown key 'Shape'")
    }

    @Test func missingKeys() {
        expectRejected(
            handMadeFile(
                dictionary: "{'descr': '<f4', 'fortran_order': False}", data: Self.sixFloats),
            containing: "missing key 'shape'")
        expectRejected(
            handMadeFile(dictionary: "{}"),
            containing: "missing keys 'descr', 'fortran_order', 'shape'")
    }

    @Test func duplicateKey() {
        expectRejected(
            Self.variant(replacing: "}", with: "'descr': '<f4', }"),
            containing: "duplicate key 'descr'")
        expectRejected(
            Self.variant(replacing: "}", with: "'shape': (2, 3), }"),
            containing: "duplicate key 'shape'")
    }

    @Test func acceptsTheVariationsPythonAllows() throws {
        let variants = [
            "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3)}",
            "{'shape': (2, 3,), 'fortran_order': False, 'descr': '<f4'}",
            "{'fortran_order':False,'descr':'<f4','shape':(2,3)}",
            "{\t'descr' : '<f4' ,\n 'fortran_order' : False ,\r\n 'shape' : ( 2 , 3 ) , }   ",
        ]
        for dictionary in variants {
            let file = try NPYFile(
                bytes: handMadeFile(dictionary: dictionary, data: Self.sixFloats))
            #expect(file.dtype == .float32)
            #expect(file.shape == [2, 3])
        }
        let version2 = handMadeFile(
            header: Self.validDictionary + "\n", version: (2, 0), data: Self.sixFloats)
        #expect(try NPYFile(bytes: version2).shape == [2, 3])
        let version3 = handMadeFile(
            header: Self.validDictionary + "\n", version: (3, 0), data: Self.sixFloats)
        #expect(try NPYFile(bytes: version3).shape == [2, 3])
    }

    // MARK: The values

    @Test(arguments: [
        ("'>f4'", "unsupported dtype '>f4' (big-endian)"),
        ("'>i8'", "unsupported dtype '>i8' (big-endian)"),
        ("'|b1'", "unsupported dtype '|b1' (boolean)"),
        ("'<c8'", "unsupported dtype '<c8' (complex)"),
        ("'|O'", "unsupported dtype '|O' (Python objects)"),
        ("'<U5'", "unsupported dtype '<U5' (unicode string)"),
        ("'|S3'", "unsupported dtype '|S3' (byte string)"),
        ("'<M8[ns]'", "unsupported dtype '<M8[ns]' (datetime)"),
        ("'<u4'", "unsupported dtype '<u4' (unsigned integers: <u2 only)"),
        ("'>u2'", "unsupported dtype '>u2' (big-endian)"),
        ("'|V2'", "unsupported dtype '|V2' (the byte order must be '<')"),
        ("'<V4'", "unsupported dtype '<V4' (void or structured; only <V2 is read, as bfloat16)"),
        ("'<i2'", "unsupported dtype '<i2' (unsupported element size)"),
        ("'<f16'", "unsupported dtype '<f16' (unsupported element size)"),
        ("'|f4'", "unsupported dtype '|f4' (the byte order must be '<')"),
        ("'=f4'", "unsupported dtype '=f4' (the byte order must be '<')"),
        ("'f4'", "unsupported dtype 'f4' (the byte order must be '<')"),
        ("'float32'", "unsupported dtype 'float32'"),
        ("''", "unsupported dtype ''"),
        (
            "[('a', '<f4')]",
            "<bytes>: unsupported dtype: structured dtypes (a list of fields) are not supported"
        ),
    ])
    func unsupportedDescr(descr: String, reason: String) {
        expectRejected(
            Self.variant(replacing: "'<f4'", with: descr), containing: reason,
            "supported: <f2, <f4, <f8, <V2, <u2, <i4, <i8")
    }

    @Test func descrNotAString() {
        expectRejected(
            Self.variant(replacing: "'<f4'", with: "4"),
            containing: "'descr' must be a quoted dtype string; found the integer 4")
        expectRejected(
            Self.variant(replacing: "'<f4'", with: "\"<f4\\n\""), containing: "escape sequences")
    }

    @Test func unsupportedDescrMessagesArePrintable() {
        let long = String(repeating: "x", count: 100)
        guard
            let message = npyErrorMessage({
                _ = try NPYFile(bytes: Self.variant(replacing: "'<f4'", with: "'\u{1}\(long)'"))
            })
        else { return }
        #expect(message.contains("unsupported dtype '\\x01xxx"))
        #expect(message.contains("xxx...'"))
        #expect(message.count < 150)
    }

    @Test func fortranOrder() {
        expectRejected(
            Self.variant(replacing: "False", with: "True"),
            containing: "Fortran order is not supported")
        expectRejected(
            Self.variant(replacing: "False", with: "0"),
            containing: "'fortran_order' must be True or False")
        expectRejected(
            Self.variant(replacing: "False", with: "false"),
            containing: "'fortran_order' must be True or False; found the name 'false'")
    }

    @Test func shapeNotATuple() {
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "(6)"),
            containing: "(6) is an integer in parentheses"
        )
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "[2, 3]"), containing: "'shape' must be a tuple"
        )
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "6"), containing: "'shape' must be a tuple")
        expectRejected(Self.variant(replacing: "(2, 3)", with: "(,)"), containing: "found ','")
        expectRejected(Self.variant(replacing: "(2, 3)", with: "(2,, 3)"), containing: "found ','")
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "(2 3)"), containing: "expected ',' or ')'")
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "('2', 3)"), containing: "tuple of integers")
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "(2.0, 3)"), containing: "character '.'")
    }

    @Test func badDimensions() {
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "(-1,)"), containing: "negative dimension -1")
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "(-,)"), containing: "'-' without digits")
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "(02, 3)"), containing: "leading zero")
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "(2L, 3L)"),
            containing: "invalid integer literal")
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "(99999999999999999999, 3)"),
            containing: "dimension 99999999999999999999 in 'shape'", "does not fit in Int")
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "(\(String(repeating: "9", count: 5000)),)"),
            containing: "does not fit in Int")
    }

    @Test func sizeOverflow() {
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "(4611686018427387904, 2)"),
            containing: "shape (4611686018427387904, 2) with dtype <f4 is too large")
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "(9223372036854775807,)", data: []),
            containing: "too large")
        // As in NumPy, the non-zero dimensions must not overflow even when the array is empty.
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "(0, 4611686018427387904, 4)", data: []),
            containing: "too large")
    }

    @Test func rankLimit() throws {
        let ones32 = "(" + String(repeating: "1, ", count: 32) + ")"
        let file = try NPYFile(
            bytes: Self.variant(replacing: "(2, 3)", with: ones32, data: [0, 0, 0, 0]))
        #expect(file.shape == Array(repeating: 1, count: 32))
        let ones33 = "(" + String(repeating: "1, ", count: 33) + ")"
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: ones33, data: [0, 0, 0, 0]),
            containing: "more than 32 dimensions")
    }

    @Test func dataLengthMustMatch() {
        expectRejected(
            handMadeFile(dictionary: Self.validDictionary, data: Array(Self.sixFloats.dropLast(2))),
            containing: "data size mismatch", "needs 24 data bytes", "has 22 (2 bytes missing)")
        expectRejected(
            handMadeFile(dictionary: Self.validDictionary, data: Self.sixFloats + [0]),
            containing: "data size mismatch", "has 25 (1 trailing bytes)")
        expectRejected(
            handMadeFile(dictionary: Self.validDictionary), containing: "has 0 (24 bytes missing)")
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "(0, 3)", data: [1]),
            containing: "needs 0 data bytes"
        )
        expectRejected(
            Self.variant(replacing: "(2, 3)", with: "(1000000000000, 1000000)", data: []),
            containing: "needs 4000000000000000000 data bytes")
    }
}
