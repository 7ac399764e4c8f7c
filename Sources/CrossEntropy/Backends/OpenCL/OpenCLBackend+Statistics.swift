import KernelContract
import OpenCLHost

extension OpenCLBackend {
    /// Reads back the statistics of `rows` rows: XENT_STAT_COUNT values of the accumulation type per
    /// row, in the contract's slots, whose order is the fields' of `xent_row_stat`.
    func readStatistics<Acc: LogitsScalar>(_ buffer: Buffer, rows: Int, as: Acc.Type) throws -> [xent_row_stat] {
        var statistics = [xent_row_stat](repeating: xent_row_stat(), count: rows)
        try statistics.withUnsafeMutableBufferPointer { rowsBuffer in
            try rowsBuffer.withMemoryRebound(to: Double.self) { slots in
                try readWidened(buffer, count: slots.count, as: Acc.self, into: slots.baseAddress!)
            }
        }
        return statistics
    }

    /// Reads `count` values of the accumulation type from `buffer` into `destination` as doubles:
    /// `Double` ones straight in, `Float` ones widened by concrete code (this runs once per row).
    func readWidened<Acc: LogitsScalar>(
        _ buffer: Buffer, count: Int, as: Acc.Type, into destination: UnsafeMutablePointer<Double>
    ) throws {
        if Acc.self == Double.self {
            try queue.read(
                buffer,
                into: UnsafeMutableRawBufferPointer(start: destination, count: count * MemoryLayout<Double>.stride))
            return
        }
        var values = [Float](repeating: 0, count: count)
        try values.withUnsafeMutableBytes { try queue.read(buffer, into: $0) }
        for index in values.indices {
            destination[index] = Double(values[index])
        }
    }
}
