import KernelContract
import OpenCLHost

extension OpenCLBackend {
    /// Reads back the statistics of `rows` rows: XENT_STAT_COUNT values of the accumulation type per
    /// row, in the contract's slots, whose order is the fields' of `xent_row_stat`. `Double` statistics
    /// are read straight into the rows; `Float` ones are widened, by concrete code, since this runs
    /// once per row.
    func readStatistics<Acc: LogitsScalar>(_ buffer: Buffer, rows: Int, as: Acc.Type) throws -> [xent_row_stat] {
        var statistics = [xent_row_stat](repeating: xent_row_stat(), count: rows)
        if Acc.self == Double.self {
            try statistics.withUnsafeMutableBytes { try queue.read(buffer, into: $0) }
            return statistics
        }
        var values = [Float](repeating: 0, count: Int(XENT_STAT_COUNT) * rows)
        try values.withUnsafeMutableBytes { try queue.read(buffer, into: $0) }
        statistics.withUnsafeMutableBufferPointer { rowsBuffer in
            rowsBuffer.withMemoryRebound(to: Double.self) { slots in
                for index in values.indices {
                    slots[index] = Double(values[index])
                }
            }
        }
        return statistics
    }
}
