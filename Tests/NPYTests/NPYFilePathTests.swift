import Glibc
import NPY
import Testing

/// Opening files by path: the mapped reader and its file-system errors.
@Suite struct NPYFilePathTests {
    @Test func readsAMappedFile() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/a.npy"
            try writeFile(path, NumPyFixtures.float64V1)
            let file = try NPYFile(path: path)
            #expect(file.dtype == .float64)
            #expect(file.shape == [2, 3])
            #expect(elements(of: file, as: Double.self) == [1.5, -2.25, 3, 0.1, -.infinity, 1e300])
        }
    }

    @Test func missingFile() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/missing.npy"
            #expect(npyErrorMessage({ _ = try NPYFile(path: path) }) == "\(path): no such file")
        }
    }

    @Test func folder() throws {
        try withTemporaryFolder { folder in
            #expect(
                npyErrorMessage({ _ = try NPYFile(path: folder) }) == "\(folder): is a directory")
        }
    }

    @Test func unopenable() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/file/inside.npy"
            try writeFile(folder + "/file", [])
            #expect(
                npyErrorMessage({ _ = try NPYFile(path: path) })
                    == "\(path): cannot open: Not a directory")
        }
    }

    @Test func fifo() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/pipe"
            try #require(mkfifo(path, 0o600) == 0)
            #expect(
                npyErrorMessage({ _ = try NPYFile(path: path) }) == "\(path): not a regular file")
        }
    }

    @Test func emptyFile() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/empty.npy"
            try writeFile(path, [])
            #expect(
                npyErrorMessage({ _ = try NPYFile(path: path) })
                    == "\(path): empty file (0 bytes), not a .npy file")
        }
    }

    @Test func malformedFileMessagesBeginWithThePath() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/L.npy"
            try writeFile(path, NumPyFixtures.float32BigEndian)
            #expect(
                npyErrorMessage({ _ = try NPYFile(path: path) })
                    == "\(path): unsupported dtype '>f4' (big-endian); supported: <f2, <f4, <f8, <V2, <u2, <i4, <i8"
            )
            var truncated = NumPyFixtures.float32V1
            truncated.removeLast()
            try writeFile(path, truncated)
            let message = npyErrorMessage({ _ = try NPYFile(path: path) })
            #expect(message?.hasPrefix("\(path): data size mismatch") == true)
        }
    }

    @Test func zeroLengthData() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/empty-array.npy"
            try writeFile(path, NumPyFixtures.int32Empty)
            let file = try NPYFile(path: path)
            #expect(file.shape == [0, 5])
            #expect(file.count == 0)
            file.withUnsafeBufferPointer(of: Int32.self) { buffer in
                #expect(buffer.isEmpty)
            }
        }
    }

    /// A file whose data starts at an offset that is not a multiple of its element size is
    /// read through an aligned copy.
    @Test func misalignedData() throws {
        let values: [Double] = [1.25, -3.5, 1e-300]
        // The header is 10 + 67 bytes long, so the data starts at the odd offset 77.
        let dictionary = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"
        let header = dictionary + String(repeating: " ", count: 66 - dictionary.utf8.count) + "\n"
        let bytes = handMadeFile(header: header, data: values.withUnsafeBytes { Array($0) })
        #expect(bytes.count - 3 * 8 == 77)
        #expect(elements(of: try NPYFile(bytes: bytes), as: Double.self) == values)
        try withTemporaryFolder { folder in
            let path = folder + "/odd.npy"
            try writeFile(path, bytes)
            let file = try NPYFile(path: path)
            file.withUnsafeBufferPointer(of: Double.self) { buffer in
                #expect(Int(bitPattern: buffer.baseAddress) % MemoryLayout<Double>.alignment == 0)
                #expect(Array(buffer) == values)
            }
        }
    }

    @Test func isSendable() async throws {
        let file = try NPYFile(bytes: NumPyFixtures.int64V1)
        let sums = await withTaskGroup(of: Int64.self) { group in
            for _ in 0..<4 {
                group.addTask { file.withUnsafeBufferPointer(of: Int64.self) { $0.reduce(0, &+) } }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(sums == Array(repeating: 41, count: 4))
    }
}
