import CPURowKernels
import KernelContract
import Testing

/// The contract header as the host reads it: one layout of a row's statistics, and the rule that
/// decides a row's path.
@Suite struct ContractTests {
    @Test func statisticsSlotsAreTheFieldsOfTheRowStatistics() {
        let slot = MemoryLayout<Double>.stride
        #expect(MemoryLayout<xent_row_stat>.stride == Int(XENT_STAT_COUNT) * slot)
        let fields: [(PartialKeyPath<xent_row_stat>, Int)] = [
            (\xent_row_stat.lse, Int(XENT_STAT_LSE)), (\xent_row_stat.max, Int(XENT_STAT_MAX)),
            (\xent_row_stat.log_sum, Int(XENT_STAT_LOG_SUM)),
            (\xent_row_stat.target_logit, Int(XENT_STAT_TARGET_LOGIT)),
            (\xent_row_stat.smooth, Int(XENT_STAT_SMOOTH)), (\xent_row_stat.mass, Int(XENT_STAT_MASS)),
        ]
        for (field, index) in fields {
            #expect(MemoryLayout<xent_row_stat>.offset(of: field) == index * slot, "slot \(index)")
        }
    }

    @Test func statisticsPathFollowsTheRowsShape() {
        #expect(xent_statistics_path(1000, 4, 4, 0) == XENT_PATH_STRIDED)
        #expect(xent_statistics_path(16, 1, 4, 0) == XENT_PATH_FEW_CLASSES)
        #expect(xent_statistics_path(16, 1, 4, 1) == XENT_PATH_TWO_PASS)
        #expect(xent_statistics_path(65536, 1, 4, 0) == XENT_PATH_TWO_PASS)
        #expect(xent_statistics_path(65537, 1, 4, 0) == XENT_PATH_LONG_ROW)
        #expect(xent_statistics_path(32768, 1, 8, 1) == XENT_PATH_TWO_PASS)
        #expect(xent_statistics_path(32769, 1, 8, 1) == XENT_PATH_LONG_ROW)
    }

    /// The C fallback fuses short rows and smoothing sums but not half precision; the OpenCL per-row
    /// family fuses half precision, long rows only, no smoothing sums.
    @Test func gradientPathFollowsWhatTheBackendFuses() {
        let cFuses = XENT_FUSES_GRADIENT | XENT_FUSES_SMOOTHING | XENT_FUSES_SHORT_ROWS
        let openCLFuses = XENT_FUSES_GRADIENT | XENT_FUSES_HALF
        // class-index targets, contiguous, float, 16 lanes
        #expect(xent_gradient_path(1024, 1, 4, 16, 1, 0, cFuses) == XENT_PATH_FUSED_GRADIENT)
        #expect(xent_gradient_path(1024, 1, 4, 16, 1, 0, openCLFuses) == XENT_PATH_TWO_PASS)
        #expect(xent_gradient_path(4096, 1, 4, 16, 1, 0, cFuses) == XENT_PATH_PIPELINED_GRADIENT)
        #expect(xent_gradient_path(4096, 1, 4, 16, 1, 0, openCLFuses) == XENT_PATH_PIPELINED_GRADIENT)
        #expect(xent_gradient_path(4096, 1, 4, 16, 1, 1, cFuses) == XENT_PATH_PIPELINED_GRADIENT)
        #expect(xent_gradient_path(4096, 1, 4, 16, 1, 1, openCLFuses) == XENT_PATH_TWO_PASS)
        #expect(xent_gradient_path(8192, 1, 2, 16, 1, 0, cFuses) == XENT_PATH_TWO_PASS)
        #expect(xent_gradient_path(8192, 1, 2, 16, 1, 0, openCLFuses) == XENT_PATH_PIPELINED_GRADIENT)
        // what no backend fuses: probabilities, strided rows, rows shorter than a vector or beyond the cache
        #expect(xent_gradient_path(4096, 1, 4, 16, 0, 1, cFuses) == XENT_PATH_TWO_PASS)
        #expect(xent_gradient_path(4096, 3, 4, 16, 1, 0, cFuses) == XENT_PATH_STRIDED)
        #expect(xent_gradient_path(10, 1, 4, 16, 1, 0, cFuses) == XENT_PATH_FEW_CLASSES)
        #expect(xent_gradient_path(131072, 1, 4, 16, 1, 0, cFuses) == XENT_PATH_LONG_ROW)
        // a backend without a fused gradient for these rows (OpenCL without the local memory for two rows)
        #expect(xent_gradient_path(4096, 1, 4, 16, 1, 0, 0) == XENT_PATH_TWO_PASS)
    }

    /// The text the OpenCL programs are built after is the header the C kernels and Swift are compiled
    /// against.
    @Test func contractSourceIsTheHeader() {
        let text = String(cString: xent_contract_source())
        #expect(text.hasPrefix("#ifndef XENT_CONTRACT_H"))
        #expect(text.contains("XENT_CONTRACT_FUNCTION xent_row_path xent_gradient_path("))
        #expect(text.hasSuffix("#endif\n"))
    }
}
