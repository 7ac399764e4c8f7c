import NPY
import Testing

/// Reading files that NumPy wrote, and writing the same bytes as NumPy.
@Suite struct NumPyFixtureTests {
    @Test func readsFloat16() throws {
        let file = try NPYFile(bytes: NumPyFixtures.float16V1)
        #expect(file.dtype == .float16)
        #expect(file.shape == [2, 3])
        #expect(file.count == 6)
        #expect(elements(of: file, as: Float16.self) == [0, 0.5, -1.5, 2, 65504, -0.25])
    }

    /// `<V2` is ml_dtypes' bfloat16: its values (as ml_dtypes converts them to Python floats) from
    /// the raw bits.
    @Test func readsBFloat16() throws {
        let file = try NPYFile(bytes: NumPyFixtures.bfloat16V1)
        #expect(file.dtype == .bfloat16)
        #expect(file.shape == [2, 3])
        #expect(file.doubles() == [1.5, -2.25, 3, 0.10009765625, .infinity, -1.0002555517425873e+30])
    }

    @Test(arguments: [NumPyFixtures.float32V1, NumPyFixtures.float32V2])
    func readsFloat32(bytes: [UInt8]) throws {
        let file = try NPYFile(bytes: bytes)
        #expect(file.dtype == .float32)
        #expect(file.shape == [2, 3])
        #expect(elements(of: file, as: Float.self) == [1.5, -2.25, 3, 0.001, .infinity, -1e30])
    }

    @Test(arguments: [NumPyFixtures.float64V1, NumPyFixtures.float64V3])
    func readsFloat64(bytes: [UInt8]) throws {
        let file = try NPYFile(bytes: bytes)
        #expect(file.dtype == .float64)
        #expect(file.shape == [2, 3])
        #expect(elements(of: file, as: Double.self) == [1.5, -2.25, 3, 0.1, -.infinity, 1e300])
    }

    @Test func readsInt32() throws {
        let file = try NPYFile(bytes: NumPyFixtures.int32V1)
        #expect(file.dtype == .int32)
        #expect(file.shape == [2, 3])
        #expect(elements(of: file, as: Int32.self) == [0, 1, -1, .max, .min, 42])
    }

    @Test(arguments: [NumPyFixtures.int64V1, NumPyFixtures.int64V2])
    func readsInt64(bytes: [UInt8]) throws {
        let file = try NPYFile(bytes: bytes)
        #expect(file.dtype == .int64)
        #expect(file.shape == [2, 3])
        #expect(elements(of: file, as: Int64.self) == [0, 1, -1, .max, .min, 42])
    }

    @Test func readsScalar() throws {
        let file = try NPYFile(bytes: NumPyFixtures.float32Scalar)
        #expect(file.shape == [])
        #expect(file.count == 1)
        #expect(elements(of: file, as: Float.self) == [7.5])
    }

    @Test func readsEmptyArray() throws {
        let file = try NPYFile(bytes: NumPyFixtures.int32Empty)
        #expect(file.dtype == .int32)
        #expect(file.shape == [0, 5])
        #expect(file.count == 0)
        #expect(elements(of: file, as: Int32.self) == [])
    }

    @Test func rejectsNumPyFortranOrder() {
        expectRejected(NumPyFixtures.float32Fortran, containing: "Fortran order is not supported")
    }

    @Test func rejectsNumPyBigEndian() {
        guard
            let message = npyErrorMessage({ _ = try NPYFile(bytes: NumPyFixtures.float32BigEndian) }
            )
        else { return }
        #expect(
            message
                == "<bytes>: unsupported dtype '>f4' (big-endian); supported: <f2, <f4, <f8, <V2, <u2, <i4, <i8"
        )
    }

    @Test func rejectsNumPyBool() {
        expectRejected(NumPyFixtures.bool, containing: "unsupported dtype '|b1' (boolean)")
    }

    @Test func rejectsNumPyStructured() {
        expectRejected(NumPyFixtures.structured, containing: "structured dtypes")
    }

    @Test func encodesLikeNumPy() {
        func encoded<T>(_ values: [T], shape: [Int], dtype: NPYDType) -> [UInt8] {
            values.withUnsafeBytes { NPYWriter.encode($0, dtype: dtype, shape: shape) }
        }
        let float16: [Float16] = [0, 0.5, -1.5, 2, 65504, -0.25]
        #expect(encoded(float16, shape: [2, 3], dtype: .float16) == NumPyFixtures.float16V1)
        let float32: [Float] = [1.5, -2.25, 3, 0.001, .infinity, -1e30]
        #expect(encoded(float32, shape: [2, 3], dtype: .float32) == NumPyFixtures.float32V1)
        let float64: [Double] = [1.5, -2.25, 3, 0.1, -.infinity, 1e300]
        #expect(encoded(float64, shape: [2, 3], dtype: .float64) == NumPyFixtures.float64V1)
        let int32: [Int32] = [0, 1, -1, .max, .min, 42]
        #expect(encoded(int32, shape: [2, 3], dtype: .int32) == NumPyFixtures.int32V1)
        let int64: [Int64] = [0, 1, -1, .max, .min, 42]
        #expect(encoded(int64, shape: [2, 3], dtype: .int64) == NumPyFixtures.int64V1)
        #expect(encoded([Float(7.5)], shape: [], dtype: .float32) == NumPyFixtures.float32Scalar)
        #expect(encoded([Int32](), shape: [0, 5], dtype: .int32) == NumPyFixtures.int32Empty)
    }
}
