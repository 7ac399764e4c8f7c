#if canImport(Glibc)
    import Glibc
#endif

/// `value` through C's `printf` format `format` (for example `%.9g`): 9 significant digits round-trip
/// a `Float`, 17 a `Double`, and NaN and infinities print as `nan`, `inf` and `-inf`.
func formatted(_ value: Double, _ format: String) -> String {
    guard !value.isNaN else { return "nan" }  // printf writes "-nan" for a NaN with its sign bit set
    var buffer = [CChar](repeating: 0, count: 64)
    _ = withVaList([value]) { arguments in
        buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, format, arguments) }
    }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// `text` as a JSON string literal: quoted, with quotes, backslashes and control characters escaped.
func jsonString(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\t": result += "\\t"
        case "\r": result += "\\r"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}
