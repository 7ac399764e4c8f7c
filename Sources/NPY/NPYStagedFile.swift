import Glibc

/// A `.npy` file written and flushed to a temporary file beside its destination, waiting to be
/// renamed into place.
///
/// Staging several files and committing them only once all are written means that a failure
/// part way leaves every destination untouched (call `discard` on the staged ones).
public struct NPYStagedFile: Sendable {
    /// The path the file gets when committed.
    public let path: String

    /// The temporary file holding the data until `commit` or `discard`.
    private let temporaryPath: String

    /// The folder that holds both `path` and `temporaryPath`, for flushing the rename.
    private let folder: String

    /// Where the elements start in the file: the header's length.
    private var dataOffset = 0

    /// Writes a version 1.0 `.npy` file holding `data` as an array of `dtype` and `shape` to a
    /// temporary file in `path`'s folder (named `.<name>.tmp-<pid>-<random>`) and flushes it
    /// with `fsync`; `path` itself is not touched until `commit`.
    ///
    /// Precondition (a programming error): `shape` has non-negative dimensions, at most 32 of
    /// them, and `data` holds exactly the bytes they need. Throws `NPYError` if the temporary
    /// file cannot be created or written; it is then removed.
    public static func stage(
        _ data: UnsafeRawBufferPointer, dtype: NPYDType, shape: [Int], to path: String
    ) throws -> NPYStagedFile {
        NPYWriter.checkSize(of: data, dtype: dtype, shape: shape)
        let nameStart = path.lastIndex(of: "/").map(path.index(after:)) ?? path.startIndex
        let name = path[nameStart...]
        guard !name.isEmpty, name != ".", name != ".." else {
            throw NPYError("\(path): not a file path")
        }
        let folder = String(path[..<nameStart])
        // A rename cannot replace a folder: refuse now, before any file of a staged set is committed.
        var status = stat()
        if stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR {
            throw NPYError("\(path): is a directory")
        }
        let random = String(UInt64.random(in: .min ... .max), radix: 16)
        let temporaryPath = "\(folder).\(name).tmp-\(getpid())-\(random)"
        let descriptor: Int32
        do {
            descriptor = try openFile(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        } catch {
            throw NPYError(
                "\(path): cannot create the temporary file \(temporaryPath): \(error.text)")
        }
        do {
            let header = NPYHeader.encode(dtype: dtype, shape: shape)
            try writeAll(descriptor, header)
            try writeAll(descriptor, data)
            try syncFile(descriptor)
        } catch {
            close(descriptor)
            unlink(temporaryPath)
            throw NPYError(
                "\(path): cannot write the temporary file \(temporaryPath): \(error.text)")
        }
        guard close(descriptor) == 0 else {
            let error = SystemError(code: errno)
            unlink(temporaryPath)
            throw NPYError(
                "\(path): cannot write the temporary file \(temporaryPath): \(error.text)")
        }
        return NPYStagedFile(path: path, temporaryPath: temporaryPath, folder: folder)
    }

    /// Like `stage(_:dtype:shape:to:)` for an array of `Float16`, `Float`, `Double`, `Int32` or
    /// `Int64`, whose type gives the dtype (a precondition failure for any other `T`).
    public static func stage<T>(_ scalars: [T], shape: [Int], to path: String) throws
        -> NPYStagedFile
    {
        let dtype = NPYWriter.dtype(of: T.self)
        return try scalars.withUnsafeBytes { try stage($0, dtype: dtype, shape: shape, to: path) }
    }

    /// Stages a `.npy` file of `dtype` and `shape` whose elements are all zero (a sparse file), for several
    /// processes to fill: its temporary file, `.<name>.tmp-<tag>` beside `path`, is named by `tag`, which
    /// every writer is given; each opens it with `init(sharing:tag:dtype:shape:)` and writes its elements
    /// with `write(_:atByte:)`, and one commits (or discards) once all have.
    public static func stageZeros(dtype: NPYDType, shape: [Int], to path: String, tag: String) throws
        -> NPYStagedFile
    {
        let staged = try NPYStagedFile(sharing: path, tag: tag, dtype: dtype, shape: shape)
        let descriptor: Int32
        do {
            descriptor = try openFile(staged.temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        } catch {
            throw NPYError("\(path): cannot create the temporary file \(staged.temporaryPath): \(error.text)")
        }
        defer { close(descriptor) }
        do throws(SystemError) {
            try writeAll(descriptor, NPYHeader.encode(dtype: dtype, shape: shape))
            let bytes = shape.reduce(dtype.byteCount, *)
            guard ftruncate(descriptor, off_t(staged.dataOffset + bytes)) == 0 else {
                throw SystemError(code: errno)
            }
        } catch {
            unlink(staged.temporaryPath)
            throw NPYError("\(path): cannot write the temporary file \(staged.temporaryPath): \(error.text)")
        }
        return staged
    }

    /// Writes `bytes` into the staged file's elements, `offset` bytes after the first, and flushes them.
    public func write(_ bytes: UnsafeRawBufferPointer, atByte offset: Int) throws {
        let descriptor: Int32
        do {
            descriptor = try openFile(temporaryPath, O_WRONLY | O_CLOEXEC)
        } catch {
            throw NPYError("\(path): cannot open the temporary file \(temporaryPath): \(error.text)")
        }
        defer { close(descriptor) }
        var written = 0
        while written < bytes.count {
            let result = pwrite(
                descriptor, bytes.baseAddress! + written, bytes.count - written, off_t(dataOffset + offset + written))
            guard result > 0 else {
                throw NPYError(
                    "\(path): cannot write the temporary file \(temporaryPath): \(SystemError(code: errno).text)")
            }
            written += result
        }
    }

    /// Renames the temporary file over `path`, atomically replacing any file there, and
    /// flushes the folder so that the rename is durable.
    ///
    /// Throws `NPYError` if the rename fails; the temporary file is then removed and `path`
    /// is untouched.
    public func commit() throws {
        guard rename(temporaryPath, path) == 0 else {
            let error = SystemError(code: errno)
            discard()
            throw NPYError("\(path): cannot rename \(temporaryPath) into place: \(error.text)")
        }
        // The file is in place; flushing the folder only makes that survive a crash sooner,
        // so a failure here is not reported.
        if let descriptor = try? openFile(
            folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        {
            try? syncFile(descriptor)
            close(descriptor)
        }
    }

    /// Removes the temporary file, leaving `path` untouched. Errors are ignored: there is
    /// nothing more to do about a temporary file that cannot be removed.
    public func discard() {
        unlink(temporaryPath)
    }
}

extension NPYStagedFile {
    /// The file `stageZeros(dtype:shape:to:tag:)` staged (in this process or another) for `path`.
    public init(sharing path: String, tag: String, dtype: NPYDType, shape: [Int]) throws {
        let nameStart = path.lastIndex(of: "/").map(path.index(after:)) ?? path.startIndex
        let name = path[nameStart...]
        guard !name.isEmpty, name != ".", name != ".." else {
            throw NPYError("\(path): not a file path")
        }
        var status = stat()
        if stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR {
            throw NPYError("\(path): is a directory")
        }
        folder = String(path[..<nameStart])
        self.path = path
        temporaryPath = "\(folder).\(name).tmp-\(tag)"
        dataOffset = NPYHeader.encode(dtype: dtype, shape: shape).count
    }
}
