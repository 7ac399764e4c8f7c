import Glibc
import NPY
import Testing

/// Writing files atomically.
@Suite struct NPYWriterTests {
    static let values: [Float] = [1.5, -2.25, 3, 0.001, .infinity, -1e30]

    @Test func writesWhatNumPyWrites() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/out.npy"
            try NPYWriter.write(Self.values, shape: [2, 3], to: path)
            #expect(try readFile(path) == NumPyFixtures.float32V1)
            #expect(folderEntries(folder) == ["out.npy"])
        }
    }

    @Test func writesRawBytes() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/raw.npy"
            try Self.values.withUnsafeBytes {
                try NPYWriter.write($0, dtype: .float32, shape: [3, 2], to: path)
            }
            let file = try NPYFile(path: path)
            #expect(file.shape == [3, 2])
            #expect(elements(of: file, as: Float.self) == Self.values)
        }
    }

    @Test func missingFolderLeavesNoFile() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/no/such/folder/out.npy"
            let message = npyErrorMessage({ try NPYWriter.write(Self.values, shape: [6], to: path) }
            )
            #expect(message?.hasPrefix("\(path): cannot create the temporary file") == true)
            #expect(message?.contains("No such file or directory") == true)
            #expect(folderEntries(folder) == [])
        }
    }

    @Test func replacesAnExistingFileAtomically() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/out.npy"
            try NPYWriter.write([Int32(1), 2, 3], shape: [3], to: path)
            let old = try NPYFile(path: path)
            try NPYWriter.write([Int64(7)], shape: [1, 1], to: path)
            let new = try NPYFile(path: path)
            #expect(new.dtype == .int64)
            #expect(elements(of: new, as: Int64.self) == [7])
            // The old file was replaced, not overwritten: its mapping still reads the old data.
            #expect(elements(of: old, as: Int32.self) == [1, 2, 3])
            #expect(folderEntries(folder) == ["out.npy"])
        }
    }

    @Test func aFolderInTheWayIsRefusedBeforeWriting() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/taken"
            try #require(mkdir(path, 0o700) == 0)
            try writeFile(path + "/inside", [1, 2, 3])
            let message = npyErrorMessage({ try NPYWriter.write(Self.values, shape: [6], to: path) }
            )
            #expect(message == "\(path): is a directory")
            #expect(folderEntries(folder) == ["taken"])
            #expect(folderEntries(path) == ["inside"])
        }
    }

    @Test func rejectsPathsWithoutAFileName() throws {
        try withTemporaryFolder { folder in
            for path in ["", folder + "/", folder + "/.", folder + "/.."] {
                #expect(
                    npyErrorMessage({ try NPYWriter.write(Self.values, shape: [6], to: path) })
                        == "\(path): not a file path")
            }
            #expect(folderEntries(folder) == [])
        }
    }

    @Test func stagesTemporariesBesideTheTargetsUntilCommitted() throws {
        try withTemporaryFolder { folder in
            let first = try NPYStagedFile.stage(Self.values, shape: [6], to: folder + "/first.npy")
            let second = try NPYStagedFile.stage([Int32(5)], shape: [], to: folder + "/second.npy")
            #expect(first.path == folder + "/first.npy")
            let staged = folderEntries(folder)
            #expect(staged.count == 2)
            #expect(staged.contains { $0.hasPrefix(".first.npy.tmp-\(getpid())-") })
            #expect(staged.contains { $0.hasPrefix(".second.npy.tmp-\(getpid())-") })
            try first.commit()
            try second.commit()
            #expect(folderEntries(folder) == ["first.npy", "second.npy"])
            #expect(elements(of: try NPYFile(path: folder + "/second.npy"), as: Int32.self) == [5])
        }
    }

    @Test func discardLeavesTheTargetUntouched() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/kept.npy"
            try NPYWriter.write([Double(1)], shape: [1], to: path)
            let staged = try NPYStagedFile.stage([Double(2)], shape: [1], to: path)
            #expect(folderEntries(folder).count == 2)
            staged.discard()
            #expect(folderEntries(folder) == ["kept.npy"])
            #expect(elements(of: try NPYFile(path: path), as: Double.self) == [1])
        }
    }
}
