import NPY
import Testing

/// Encoding and reading back every dtype in assorted shapes.
@Suite struct RoundTripTests {
    static let shapes: [[Int]] = [[], [0], [5], [2, 3], [2, 0, 3], [1, 1, 1, 1]]

    @Test(arguments: NPYDType.allCases, shapes)
    func roundTrips(dtype: NPYDType, shape: [Int]) throws {
        let count = shape.reduce(1, *)
        let data = (0..<count * dtype.byteCount).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let encoded = data.withUnsafeBytes { NPYWriter.encode($0, dtype: dtype, shape: shape) }
        let headerLength = encoded.count - data.count
        #expect(headerLength % 64 == 0)
        #expect(encoded[headerLength - 1] == UInt8(ascii: "\n"))
        #expect(Array(encoded[headerLength...]) == data)

        let file = try NPYFile(bytes: encoded)
        #expect(file.dtype == dtype)
        #expect(file.shape == shape)
        #expect(file.count == count)
        #expect(dataBytes(of: file) == data)
    }

    @Test func roundTripsThroughTypedWrites() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/typed.npy"
            try NPYWriter.write([Float16(1.5), -2], shape: [2], to: path)
            #expect(try elements(of: NPYFile(path: path), as: Float16.self) == [1.5, -2])
            try NPYWriter.write([Float(1.5), -2, 3], shape: [3, 1], to: path)
            #expect(try elements(of: NPYFile(path: path), as: Float.self) == [1.5, -2, 3])
            try NPYWriter.write([Double(0.1)], shape: [], to: path)
            #expect(try elements(of: NPYFile(path: path), as: Double.self) == [0.1])
            try NPYWriter.write([Int32(-7), 8], shape: [1, 2], to: path)
            #expect(try elements(of: NPYFile(path: path), as: Int32.self) == [-7, 8])
            try NPYWriter.write([Int64.min, .max], shape: [2], to: path)
            let file = try NPYFile(path: path)
            #expect(file.dtype == .int64)
            #expect(elements(of: file, as: Int64.self) == [.min, .max])
        }
    }

    @Test func reservesNumPysGrowthSpaceInTheHeader() {
        // NumPy leaves room for the first dimension to grow to 21 digits, so a large first
        // dimension does not change the header length.
        let small = NPYWriter.encode(
            UnsafeRawBufferPointer(start: nil, count: 0), dtype: .float32, shape: [0, 7])
        let large = NPYWriter.encode(
            UnsafeRawBufferPointer(start: nil, count: 0), dtype: .float32,
            shape: [1_000_000_000_000, 0])
        #expect(small.count == 128)
        #expect(large.count == 128)
    }
}
