extension NPYHeader {
    /// How NumPy aligns the start of the data: the magic string, version, header length and
    /// header together take a multiple of this many bytes.
    static let dataAlignment = 64

    /// The number of digits NumPy reserves for the first dimension, padding the header with
    /// spaces so that a file can grow along that axis without rewriting the data.
    static let growthAxisDigits = 21

    /// The bytes before the data of a version 1.0 `.npy` file holding an array of `dtype` and
    /// `shape`, exactly as NumPy writes them.
    ///
    /// Precondition: `shape` has at most `NPYHeaderDictionary.maximumRank` dimensions.
    static func encode(dtype: NPYDType, shape: [Int]) -> [UInt8] {
        precondition(
            shape.count <= NPYHeaderDictionary.maximumRank,
            "NPY: shape \(pythonTuple(shape)) has more than \(NPYHeaderDictionary.maximumRank) dimensions"
        )
        var dictionary =
            "{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(pythonTuple(shape)), }"
        if let first = shape.first {
            dictionary += String(
                repeating: " ", count: max(0, growthAxisDigits - String(first).count))
        }
        // Magic string (6), version (2) and header length (2), then the dictionary, the
        // padding and the final newline.
        let prefixLength = magic.count + 4
        let unpadded = prefixLength + dictionary.utf8.count + 1
        let padding = dataAlignment - unpadded % dataAlignment
        let headerLength = dictionary.utf8.count + padding + 1
        var bytes = magic
        bytes += [
            1, 0, UInt8(truncatingIfNeeded: headerLength),
            UInt8(truncatingIfNeeded: headerLength >> 8),
        ]
        bytes += dictionary.utf8
        bytes += repeatElement(UInt8(ascii: " "), count: padding)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }
}
