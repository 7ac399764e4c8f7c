import CPURowKernels
import Logging

/// A place the row kernels run: the CPU fallback or an OpenCL device.
protocol RowBackend: Sendable {
    /// A short name for messages: "cpu", or the OpenCL device's name.
    var name: String { get }
    /// The bytes of kept exps (`RowBatch.keptExps`) a block of rows should take so that they are still in
    /// the cores' caches when the block's gradient is written from them; `nil` where the backend keeps
    /// none.
    var keptExpsBlockBytes: Int? { get }
    /// Why this backend cannot run logits of `dtype`, or `nil` when it can.
    func unsupportedReason(for dtype: LogitsDType) -> String?
    /// Does ahead of time what the first call on logits of `dtype` would do first (building an OpenCL
    /// program); nothing where there is nothing to do.
    func prepare(_ dtype: LogitsDType, logger: Logger) throws
    /// Computes every row's statistics (and, with `output`, writes its outputs), folds them into
    /// `results` with `xent_fold_rows`, and returns the sum of the rows' losses. Kernel builds and
    /// retries are logged to `logger`.
    func run<T: LogitsScalar>(
        _ batch: RowBatch<T>, output: RowOutput?, results: UnsafePointer<xent_row_results>, logger: Logger
    ) throws -> Double
    /// Writes each row's target logit (0 for a target outside `0..<C`) into `gathered`.
    func gather<T: LogitsScalar>(
        _ batch: RowBatch<T>, into gathered: UnsafeMutableBufferPointer<Double>, logger: Logger) throws
}
