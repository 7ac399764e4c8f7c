/// The validated layout of a `.npy` file: its element type, shape and where its data lies.
///
/// `parse` checks everything this package relies on, including that the data that follows
/// the header is exactly as long as the shape and dtype require.
struct NPYHeader {
    /// The element type.
    var dtype: NPYDType
    /// The dimensions, in C order; `[]` for a scalar.
    var shape: [Int]
    /// The number of elements: the product of `shape`, 1 for a scalar.
    var count: Int
    /// Where the data starts in the file.
    var dataOffset: Int
    /// The length of the data in bytes: `count * dtype.byteCount`.
    var dataByteCount: Int

    /// The bytes every `.npy` file starts with: `\x93NUMPY`.
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    /// Parses and validates the whole file `bytes`; `source` (a path, or `<bytes>`) begins
    /// every error message.
    static func parse(_ bytes: UnsafeRawBufferPointer, source: String) throws -> NPYHeader {
        func failure(_ reason: String) -> NPYError {
            NPYError("\(source): \(reason)")
        }
        let fileSize = bytes.count
        guard fileSize > 0 else { throw emptyFileError(source: source) }
        let magicLength = magic.count
        guard bytes.prefix(magicLength).elementsEqual(magic.prefix(fileSize)) else {
            throw failure("not a .npy file: it does not start with the magic string \\x93NUMPY")
        }
        guard fileSize >= magicLength + 2 else {
            throw failure("truncated file (\(fileSize) bytes): it ends before the format version")
        }
        let major = bytes[magicLength]
        let minor = bytes[magicLength + 1]
        guard minor == 0, (1...3).contains(major) else {
            throw failure(
                "unsupported .npy format version \(major).\(minor); supported: 1.0, 2.0, 3.0")
        }
        let lengthOffset = magicLength + 2
        let lengthFieldSize = major == 1 ? 2 : 4
        let headerOffset = lengthOffset + lengthFieldSize
        guard fileSize >= headerOffset else {
            throw failure(
                "truncated file (\(fileSize) bytes): it ends inside the header length field")
        }
        var headerLength = 0
        for index in (lengthOffset..<headerOffset).reversed() {
            headerLength = headerLength << 8 | Int(bytes[index])
        }
        let dataOffset = headerOffset + headerLength
        guard dataOffset <= fileSize else {
            throw failure(
                "truncated header: the header length \(headerLength) runs past the end of the file "
                    + "(header would end at byte \(dataOffset), the file has \(fileSize) bytes)")
        }
        guard headerLength > 0, bytes[dataOffset - 1] == UInt8(ascii: "\n") else {
            throw failure("malformed header: it does not end with '\\n'")
        }
        let dictionary: NPYHeaderDictionary
        do {
            let text = Array(bytes[headerOffset..<dataOffset])
            dictionary = try NPYHeaderDictionary.parse(text, fileOffset: headerOffset)
        } catch {
            throw failure(error.isMalformed ? "malformed header: \(error.reason)" : error.reason)
        }
        guard let dtype = NPYDType(rawValue: dictionary.descr) else {
            throw failure(
                "unsupported dtype \(quotedForMessage(dictionary.descr))"
                    + "\(unsupportedDescrReason(dictionary.descr)); "
                    + "supported: \(NPYDType.supportedList)")
        }
        guard !dictionary.fortranOrder else {
            throw failure(
                "Fortran order is not supported (fortran_order is True); save a C-ordered array")
        }
        let shape = dictionary.shape
        guard let expected = dataSize(dtype: dtype, shape: shape) else {
            throw failure(
                "shape \(pythonTuple(shape)) with dtype \(dtype.rawValue) is too large: "
                    + "its size in bytes overflows Int")
        }
        let present = fileSize - dataOffset
        guard present == expected else {
            let difference =
                present < expected
                ? "\(expected - present) bytes missing"
                : "\(present - expected) trailing bytes"
            throw failure(
                "data size mismatch: shape \(pythonTuple(shape)) with dtype \(dtype.rawValue) needs "
                    + "\(expected) data bytes after the header, the file has \(present) (\(difference))"
            )
        }
        return NPYHeader(
            dtype: dtype, shape: shape, count: expected / dtype.byteCount,
            dataOffset: dataOffset, dataByteCount: expected)
    }

    /// The error for an empty file at `source`.
    static func emptyFileError(source: String) -> NPYError {
        NPYError("\(source): empty file (0 bytes), not a .npy file")
    }

    /// The size in bytes of an array of `shape` and `dtype`, or `nil` if it overflows `Int`.
    ///
    /// The dimensions must be non-negative. As in NumPy, the non-zero dimensions must not
    /// overflow even when another dimension is zero and the array is empty.
    static func dataSize(dtype: NPYDType, shape: [Int]) -> Int? {
        var product = dtype.byteCount
        for dimension in shape where dimension != 0 {
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            product = next
        }
        return shape.contains(0) ? 0 : product
    }

    /// `shape` as Python writes a tuple: `()`, `(5,)` or `(2, 3)`.
    static func pythonTuple(_ shape: [Int]) -> String {
        let items = shape.map(String.init).joined(separator: ", ")
        return shape.count == 1 ? "(\(items),)" : "(\(items))"
    }

    /// Why the `descr` string `descr` is not supported, as ` (reason)` for an error message,
    /// or an empty string when there is nothing more specific to say.
    private static func unsupportedDescrReason(_ descr: String) -> String {
        guard let first = descr.first else { return "" }
        if first == ">" {
            return " (big-endian)"
        }
        let body = "<=|".contains(first) ? descr.dropFirst() : Substring(descr)
        switch body.first {
        case "b", "?": return " (boolean)"
        case "c": return " (complex)"
        case "O": return " (Python objects)"
        case "U": return " (unicode string)"
        case "S", "a": return " (byte string)"
        case "M": return " (datetime)"
        case "m": return " (timedelta)"
        case "f", "i", "u", "V":
            let supportedBodies = NPYDType.allCases.map { $0.rawValue.dropFirst() }
            if supportedBodies.contains(body) { return " (the byte order must be '<')" }
            switch body.first {
            case "u": return " (unsigned integers: <u2 only)"
            case "V": return " (void or structured; only <V2 is read, as bfloat16)"
            default: return " (unsupported element size)"
            }
        default: return ""
        }
    }
}
