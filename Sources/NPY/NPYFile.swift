import Glibc

/// A `.npy` file mapped read-only into memory (`mmap` with `MAP_PRIVATE` and `PROT_READ`); the
/// data is not copied unless it is misaligned for its element type.
///
/// The whole file is validated when it is opened (see `NPYHeader.parse`), so a successfully
/// created `NPYFile` always holds exactly `count` elements of `dtype`. As with any memory
/// mapping, truncating the file on disk while it is mapped makes reading the data fault.
///
/// `@unchecked Sendable`: every stored property is a `let` set in `init`, and the memory the
/// data pointer refers to is never written after `init` (it is a read-only mapping or a
/// private copy), so sharing an instance between threads is safe.
public final class NPYFile: @unchecked Sendable {
    /// The element type.
    public let dtype: NPYDType

    /// The dimensions in C order; `[]` for a scalar (shape `()`).
    public let shape: [Int]

    /// The number of elements: the product of `shape` (1 for a scalar, 0 if any dimension is 0).
    public let count: Int

    /// The first byte of the data, aligned for `dtype`; `nil` when there are no data bytes.
    private let data: UnsafeRawPointer?

    /// How to release the memory behind `data`.
    private let owner: Owner

    /// The memory behind an `NPYFile`'s data.
    private enum Owner {
        /// There is nothing to release.
        case nothing
        /// A mapping of `length` bytes at `base`, released with `munmap`.
        case mapping(base: UnsafeMutableRawPointer, length: Int)
        /// A heap allocation, released with `deallocate`.
        case allocation(UnsafeMutableRawPointer)
    }

    /// Opens, maps and validates the `.npy` file at `path`.
    ///
    /// Throws `NPYError` if the file does not exist, is a directory or another kind of
    /// non-regular file, cannot be read or mapped, or is not a well-formed `.npy` file of a
    /// supported dtype.
    public convenience init(path: String) throws {
        let descriptor: Int32
        do {
            // O_NONBLOCK so that opening a FIFO does not wait for a writer; it has no effect
            // on regular files, and anything else is rejected below.
            descriptor = try openFile(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        } catch {
            switch error.code {
            case ENOENT: throw NPYError("\(path): no such file")
            case EISDIR: throw NPYError("\(path): is a directory")
            default: throw NPYError("\(path): cannot open: \(error.text)")
            }
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw NPYError("\(path): cannot read file status: \(SystemError(code: errno).text)")
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw NPYError("\(path): is a directory")
        default: throw NPYError("\(path): not a regular file")
        }
        let size = Int(status.st_size)
        guard size > 0 else { throw NPYHeader.emptyFileError(source: path) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), base != MAP_FAILED
        else {
            throw NPYError("\(path): cannot map into memory: \(SystemError(code: errno).text)")
        }
        let header: NPYHeader
        do {
            header = try NPYHeader.parse(
                UnsafeRawBufferPointer(start: base, count: size), source: path)
        } catch {
            munmap(base, size)
            throw error
        }
        let start = UnsafeRawPointer(base + header.dataOffset)
        if header.dataByteCount > 0, Int(bitPattern: start) % header.dtype.byteCount == 0 {
            self.init(header: header, data: start, owner: .mapping(base: base, length: size))
        } else {
            let copy = Self.alignedCopy(
                of: UnsafeRawBufferPointer(start: start, count: header.dataByteCount))
            munmap(base, size)
            self.init(header: header, copy: copy)
        }
    }

    /// Validates `bytes` as the contents of a `.npy` file and copies its data into storage of
    /// its own.
    ///
    /// Throws `NPYError` (with messages beginning `<bytes>`) if `bytes` is not a well-formed
    /// `.npy` file of a supported dtype.
    public convenience init(bytes: [UInt8]) throws {
        let (header, copy) = try bytes.withUnsafeBytes { file in
            let header = try NPYHeader.parse(file, source: "<bytes>")
            let data = UnsafeRawBufferPointer(rebasing: file[header.dataOffset...])
            return (header, Self.alignedCopy(of: data))
        }
        self.init(header: header, copy: copy)
    }

    /// A copy of `bytes` in a new allocation aligned for every `NPYDType`, or `nil` if `bytes`
    /// is empty. The caller owns the allocation.
    private static func alignedCopy(of bytes: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer? {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return nil }
        let copy = UnsafeMutableRawPointer.allocate(
            byteCount: bytes.count, alignment: MemoryLayout<Int64>.alignment)
        copy.copyMemory(from: source, byteCount: bytes.count)
        return copy
    }

    /// Creates a file of `header`'s dtype and shape whose data is `copy`, an allocation it
    /// takes ownership of (`nil` when there are no data bytes).
    private convenience init(header: NPYHeader, copy: UnsafeMutableRawPointer?) {
        if let copy {
            self.init(header: header, data: UnsafeRawPointer(copy), owner: .allocation(copy))
        } else {
            self.init(header: header, data: nil, owner: .nothing)
        }
    }

    /// Creates a file of `header`'s dtype and shape whose data starts at `data` and is owned
    /// by `owner`.
    private init(header: NPYHeader, data: UnsafeRawPointer?, owner: Owner) {
        dtype = header.dtype
        shape = header.shape
        count = header.count
        self.data = data
        self.owner = owner
    }

    deinit {
        switch owner {
        case .nothing: break
        case .mapping(let base, let length): munmap(base, length)
        case .allocation(let base): base.deallocate()
        }
    }

    /// Calls `body` with the data as a buffer of `count` elements of type `T`.
    ///
    /// Precondition: `T`'s size and stride equal `dtype.byteCount` (a programming error
    /// otherwise). Whether `T` is the right type for `dtype`, e.g. `Float` for `.float32`
    /// rather than `Int32`, is the caller's responsibility. The buffer is valid only during
    /// `body`.
    public func withUnsafeBufferPointer<T, R>(
        of type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R
    ) rethrows -> R {
        precondition(
            MemoryLayout<T>.size == dtype.byteCount && MemoryLayout<T>.stride == dtype.byteCount,
            "NPYFile: \(T.self) is \(MemoryLayout<T>.size) bytes, but dtype \(dtype.rawValue) elements are \(dtype.byteCount)"
        )
        guard let data else {
            return try body(UnsafeBufferPointer(start: nil, count: 0))
        }
        return try body(
            UnsafeBufferPointer(start: data.bindMemory(to: T.self, capacity: count), count: count))
    }
}

extension NPYFile {
    /// Every element converted to `Double` (exact for every dtype but `<i8` beyond 2^53).
    public func doubles() -> [Double] {
        switch dtype {
        case .float16: withUnsafeBufferPointer(of: Float16.self) { $0.map(Double.init) }
        case .float32: withUnsafeBufferPointer(of: Float.self) { $0.map(Double.init) }
        case .float64: withUnsafeBufferPointer(of: Double.self) { Array($0) }
        case .int32: withUnsafeBufferPointer(of: Int32.self) { $0.map(Double.init) }
        case .int64: withUnsafeBufferPointer(of: Int64.self) { $0.map(Double.init) }
        case .uint16: withUnsafeBufferPointer(of: UInt16.self) { $0.map(Double.init) }
        case .bfloat16:
            withUnsafeBufferPointer(of: UInt16.self) { $0.map { Double(Float(bitPattern: UInt32($0) << 16)) } }
        }
    }
}
