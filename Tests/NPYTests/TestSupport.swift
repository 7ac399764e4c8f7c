import Glibc
import NPY
import Testing

/// Calls `body` with the path of a new empty folder, and removes the folder and everything
/// in it afterwards.
func withTemporaryFolder<R>(_ body: (String) throws -> R) throws -> R {
    var template = Array("/tmp/npy-tests-XXXXXX".utf8CString)
    guard let created = mkdtemp(&template) else {
        throw TestFailure("mkdtemp failed: errno \(errno)")
    }
    let folder = String(cString: created)
    defer { removeTree(folder) }
    return try body(folder)
}

/// Removes `path` and, if it is a folder, everything in it.
func removeTree(_ path: String) {
    for name in folderEntries(path) {
        removeTree(path + "/" + name)
    }
    if unlink(path) != 0 {
        rmdir(path)
    }
}

/// The names in the folder `path`, without `.` and `..`, sorted; empty if it is not a folder.
func folderEntries(_ path: String) -> [String] {
    guard let folder = opendir(path) else { return [] }
    defer { closedir(folder) }
    var names: [String] = []
    while let entry = readdir(folder) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." {
            names.append(name)
        }
    }
    return names.sorted()
}

/// Creates or replaces the file at `path` with `bytes`.
func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw TestFailure("cannot create \(path): errno \(errno)") }
    defer { close(descriptor) }
    let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    guard written == bytes.count else { throw TestFailure("short write to \(path)") }
}

/// The contents of the file at `path`.
func readFile(_ path: String) throws -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw TestFailure("cannot open \(path): errno \(errno)") }
    defer { close(descriptor) }
    var contents: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count >= 0 else { throw TestFailure("cannot read \(path): errno \(errno)") }
        if count == 0 { return contents }
        contents += chunk.prefix(count)
    }
}

/// Whether something exists at `path`.
func exists(_ path: String) -> Bool {
    access(path, F_OK) == 0
}

/// A failure in the tests' own setup.
struct TestFailure: Error, CustomStringConvertible {
    /// What went wrong.
    let description: String

    /// Creates a failure that says `description`.
    init(_ description: String) {
        self.description = description
    }
}

/// The elements of `file` as an array of `T`.
func elements<T>(of file: NPYFile, as type: T.Type) -> [T] {
    file.withUnsafeBufferPointer(of: type) { Array($0) }
}

/// The raw data bytes of `file`.
func dataBytes(of file: NPYFile) -> [UInt8] {
    switch file.dtype.byteCount {
    case 2: file.withUnsafeBufferPointer(of: UInt16.self) { Array(UnsafeRawBufferPointer($0)) }
    case 4: file.withUnsafeBufferPointer(of: UInt32.self) { Array(UnsafeRawBufferPointer($0)) }
    default: file.withUnsafeBufferPointer(of: UInt64.self) { Array(UnsafeRawBufferPointer($0)) }
    }
}

/// The message of the `NPYError` that `body` throws, or `nil` (recording an issue) if it
/// throws nothing or another error.
func npyErrorMessage(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) -> String? {
    do {
        try body()
        Issue.record("expected an NPYError, but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as NPYError {
        return error.description
    } catch {
        Issue.record("expected an NPYError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Checks that `NPYFile(bytes:)` rejects `bytes` with a message that begins `<bytes>: ` and
/// contains each of `fragments`.
func expectRejected(
    _ bytes: [UInt8], containing fragments: String...,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard
        let message = npyErrorMessage(
            sourceLocation: sourceLocation, { _ = try NPYFile(bytes: bytes) })
    else { return }
    #expect(message.hasPrefix("<bytes>: "), "\(message)", sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(message.contains(fragment), "\(message)", sourceLocation: sourceLocation)
    }
}

/// A `.npy` file built by hand: the magic string, `version`, the header length in the
/// version's field size, `header` verbatim and then `data`.
func handMadeFile(
    header: String, version: (major: UInt8, minor: UInt8) = (1, 0), data: [UInt8] = []
) -> [UInt8] {
    let text = Array(header.utf8)
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version.major, version.minor]
    let lengthFieldSize = version.major == 1 ? 2 : 4
    for index in 0..<lengthFieldSize {
        bytes.append(UInt8(truncatingIfNeeded: text.count >> (8 * index)))
    }
    return bytes + text + data
}

/// A version 1.0 `.npy` file whose header is the dict literal `dictionary` followed by a
/// newline, with `data` after it.
func handMadeFile(dictionary: String, data: [UInt8] = []) -> [UInt8] {
    handMadeFile(header: dictionary + "\n", data: data)
}
