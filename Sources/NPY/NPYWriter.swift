/// Writes `.npy` files: version 1.0, little-endian, C order, with the header padded with
/// spaces and ended with `\n` so that the data starts at a multiple of 64 bytes, exactly as
/// NumPy writes them.
public enum NPYWriter {
    /// Writes `data`, an array of `dtype` and `shape` in C order, to `path` atomically: to a
    /// temporary file in the same folder (named `.<name>.tmp-<pid>-<random>`), flushed with
    /// `fsync`, then renamed over `path`.
    ///
    /// Precondition (a programming error): `shape` has non-negative dimensions, at most 32 of
    /// them, and `data` holds exactly the bytes they need. Throws `NPYError` on any failure;
    /// the temporary file is then removed and `path` is untouched.
    public static func write(
        _ data: UnsafeRawBufferPointer, dtype: NPYDType, shape: [Int], to path: String
    ) throws {
        try NPYStagedFile.stage(data, dtype: dtype, shape: shape, to: path).commit()
    }

    /// Like `write(_:dtype:shape:to:)` for an array of `Float16`, `Float`, `Double`, `Int32`,
    /// `Int64` or `UInt16`, whose type gives the dtype (a precondition failure for any other `T`).
    public static func write<T>(_ scalars: [T], shape: [Int], to path: String) throws {
        try NPYStagedFile.stage(scalars, shape: shape, to: path).commit()
    }

    /// The bytes of a `.npy` file (header and data) holding `data` as an array of `dtype` and
    /// `shape`, exactly as `write(_:dtype:shape:to:)` writes them.
    ///
    /// Precondition (a programming error): `shape` has non-negative dimensions, at most 32 of
    /// them, and `data` holds exactly the bytes they need.
    public static func encode(_ data: UnsafeRawBufferPointer, dtype: NPYDType, shape: [Int])
        -> [UInt8]
    {
        checkSize(of: data, dtype: dtype, shape: shape)
        return NPYHeader.encode(dtype: dtype, shape: shape) + data
    }

    /// Stops with a precondition failure unless `shape` is valid for the writer and `data`
    /// holds exactly the bytes an array of `dtype` and `shape` needs.
    static func checkSize(of data: UnsafeRawBufferPointer, dtype: NPYDType, shape: [Int]) {
        let maximumRank = NPYHeaderDictionary.maximumRank
        precondition(
            shape.count <= maximumRank,
            "NPYWriter: shape \(NPYHeader.pythonTuple(shape)) has more than \(maximumRank) dimensions"
        )
        precondition(
            shape.allSatisfy { $0 >= 0 },
            "NPYWriter: shape \(NPYHeader.pythonTuple(shape)) has a negative dimension")
        let size = NPYHeader.dataSize(dtype: dtype, shape: shape)
        precondition(
            size == data.count,
            "NPYWriter: shape \(NPYHeader.pythonTuple(shape)) of \(dtype.rawValue) needs "
                + "\(size.map(String.init) ?? "more than Int.max") bytes, got \(data.count)")
    }

    /// The dtype of elements of Swift type `T`; a precondition failure unless `T` is one of
    /// `Float16`, `Float`, `Double`, `Int32`, `Int64` and `UInt16`.
    static func dtype<T>(of type: T.Type) -> NPYDType {
        guard let dtype = NPYDType(scalarType: type) else {
            preconditionFailure(
                "NPYWriter: \(T.self) is not Float16, Float, Double, Int32, Int64 or UInt16")
        }
        return dtype
    }
}
