import NPY
import Testing

/// The dtype table.
@Suite struct NPYDTypeTests {
    @Test func rawValuesAreNumPyDescrStrings() {
        #expect(NPYDType.allCases.map(\.rawValue) == ["<f2", "<f4", "<f8", "<V2", "<u2", "<i4", "<i8"])
        #expect(NPYDType(rawValue: ">f4") == nil)
    }

    @Test func byteCounts() {
        #expect(NPYDType.allCases.map(\.byteCount) == [2, 4, 8, 2, 2, 4, 8])
        #expect(NPYDType.float16.byteCount == MemoryLayout<Float16>.size)
        #expect(NPYDType.float32.byteCount == MemoryLayout<Float>.size)
        #expect(NPYDType.float64.byteCount == MemoryLayout<Double>.size)
        #expect(NPYDType.int32.byteCount == MemoryLayout<Int32>.size)
        #expect(NPYDType.int64.byteCount == MemoryLayout<Int64>.size)
        #expect(NPYDType.uint16.byteCount == MemoryLayout<UInt16>.size)
    }

    @Test func floatingPoint() {
        #expect(NPYDType.allCases.filter(\.isFloatingPoint) == [.float16, .float32, .float64, .bfloat16])
    }
}
