import CCLBlast
import COpenCL

/// CLBlast (`libclblast.so.1`), the OpenCL BLAS, which nothing links: it is opened at run time, on the
/// first use, so that everything else works without it.
public enum CLBlast {
    /// The environment variable naming the library to open instead of `libclblast.so.1`.
    public static let libraryVariable = "XENT_CLBLAST_LIBRARY"

    /// Why CLBlast cannot be used (the library cannot be opened, or lacks a routine), or `nil` when it
    /// is loaded. Opens it on the first call.
    public static var problem: String? {
        xent_clblast_problem().map { String(cString: $0) }
    }
}

/// A row-major matrix in a buffer: the buffer, the element offset of its first element and the distance
/// in elements between the starts of its rows.
public struct DeviceMatrix {
    /// The buffer that holds the matrix.
    public let buffer: Buffer
    /// The element offset of the matrix's first element.
    public let offset: Int
    /// Elements from one row's start to the next's.
    public let rowStride: Int

    /// The matrix at element `offset` of `buffer`, rows `rowStride` elements apart.
    public init(_ buffer: Buffer, offset: Int = 0, rowStride: Int) {
        self.buffer = buffer
        self.offset = offset
        self.rowStride = rowStride
    }
}

/// `Float` or `Double`: the element types of CLBlast's routines used here.
public protocol CLBlastScalar: BinaryFloatingPoint {
    /// C = alpha op(A) op(B) + beta C.
    static func clblastGEMM(
        _ a: xent_clblast_transpose, _ b: xent_clblast_transpose, _ m: Int, _ n: Int, _ k: Int, _ alpha: Self,
        _ aBuffer: cl_mem, _ aOffset: Int, _ lda: Int, _ bBuffer: cl_mem, _ bOffset: Int, _ ldb: Int, _ beta: Self,
        _ cBuffer: cl_mem, _ cOffset: Int, _ ldc: Int, _ queue: cl_command_queue
    ) -> Int32
    /// y = alpha op(A) x + beta y.
    static func clblastGEMV(
        _ a: xent_clblast_transpose, _ m: Int, _ n: Int, _ alpha: Self, _ aBuffer: cl_mem, _ aOffset: Int,
        _ lda: Int, _ x: cl_mem, _ xOffset: Int, _ beta: Self, _ y: cl_mem, _ yOffset: Int,
        _ queue: cl_command_queue
    ) -> Int32
    /// A += alpha x yᵀ.
    static func clblastGER(
        _ m: Int, _ n: Int, _ alpha: Self, _ x: cl_mem, _ xOffset: Int, _ y: cl_mem, _ yOffset: Int,
        _ aBuffer: cl_mem, _ aOffset: Int, _ lda: Int, _ queue: cl_command_queue
    ) -> Int32
}

extension Float: CLBlastScalar {
    /// CLBlastSgemm.
    public static func clblastGEMM(
        _ a: xent_clblast_transpose, _ b: xent_clblast_transpose, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ aBuffer: cl_mem, _ aOffset: Int, _ lda: Int, _ bBuffer: cl_mem, _ bOffset: Int, _ ldb: Int, _ beta: Float,
        _ cBuffer: cl_mem, _ cOffset: Int, _ ldc: Int, _ queue: cl_command_queue
    ) -> Int32 {
        xent_clblast_sgemm(
            a, b, m, n, k, alpha, aBuffer, aOffset, lda, bBuffer, bOffset, ldb, beta, cBuffer, cOffset, ldc, queue)
    }

    /// CLBlastSgemv.
    public static func clblastGEMV(
        _ a: xent_clblast_transpose, _ m: Int, _ n: Int, _ alpha: Float, _ aBuffer: cl_mem, _ aOffset: Int,
        _ lda: Int, _ x: cl_mem, _ xOffset: Int, _ beta: Float, _ y: cl_mem, _ yOffset: Int,
        _ queue: cl_command_queue
    ) -> Int32 {
        xent_clblast_sgemv(a, m, n, alpha, aBuffer, aOffset, lda, x, xOffset, beta, y, yOffset, queue)
    }

    /// CLBlastSger.
    public static func clblastGER(
        _ m: Int, _ n: Int, _ alpha: Float, _ x: cl_mem, _ xOffset: Int, _ y: cl_mem, _ yOffset: Int,
        _ aBuffer: cl_mem, _ aOffset: Int, _ lda: Int, _ queue: cl_command_queue
    ) -> Int32 {
        xent_clblast_sger(m, n, alpha, x, xOffset, y, yOffset, aBuffer, aOffset, lda, queue)
    }
}

extension Double: CLBlastScalar {
    /// CLBlastDgemm.
    public static func clblastGEMM(
        _ a: xent_clblast_transpose, _ b: xent_clblast_transpose, _ m: Int, _ n: Int, _ k: Int, _ alpha: Double,
        _ aBuffer: cl_mem, _ aOffset: Int, _ lda: Int, _ bBuffer: cl_mem, _ bOffset: Int, _ ldb: Int, _ beta: Double,
        _ cBuffer: cl_mem, _ cOffset: Int, _ ldc: Int, _ queue: cl_command_queue
    ) -> Int32 {
        xent_clblast_dgemm(
            a, b, m, n, k, alpha, aBuffer, aOffset, lda, bBuffer, bOffset, ldb, beta, cBuffer, cOffset, ldc, queue)
    }

    /// CLBlastDgemv.
    public static func clblastGEMV(
        _ a: xent_clblast_transpose, _ m: Int, _ n: Int, _ alpha: Double, _ aBuffer: cl_mem, _ aOffset: Int,
        _ lda: Int, _ x: cl_mem, _ xOffset: Int, _ beta: Double, _ y: cl_mem, _ yOffset: Int,
        _ queue: cl_command_queue
    ) -> Int32 {
        xent_clblast_dgemv(a, m, n, alpha, aBuffer, aOffset, lda, x, xOffset, beta, y, yOffset, queue)
    }

    /// CLBlastDger.
    public static func clblastGER(
        _ m: Int, _ n: Int, _ alpha: Double, _ x: cl_mem, _ xOffset: Int, _ y: cl_mem, _ yOffset: Int,
        _ aBuffer: cl_mem, _ aOffset: Int, _ lda: Int, _ queue: cl_command_queue
    ) -> Int32 {
        xent_clblast_dger(m, n, alpha, x, xOffset, y, yOffset, aBuffer, aOffset, lda, queue)
    }
}

extension CommandQueue {
    /// Enqueues C = alpha op(A) op(B) + beta C (CLBlast's GEMM), with op(A) m × k and op(B) k × n; `CLBlast.problem` must be
    /// `nil`.
    public func gemm<E: CLBlastScalar>(
        m: Int, n: Int, k: Int, alpha: E, a: DeviceMatrix, transposeA: Bool = false, b: DeviceMatrix,
        transposeB: Bool = false, beta: E, into c: DeviceMatrix
    ) throws(OpenCLError) {
        try clblastCall(E.self == Float.self ? "CLBlastSgemm" : "CLBlastDgemm") {
            E.clblastGEMM(
                transposeA ? XENT_CLBLAST_TRANSPOSE : XENT_CLBLAST_NO_TRANSPOSE,
                transposeB ? XENT_CLBLAST_TRANSPOSE : XENT_CLBLAST_NO_TRANSPOSE, m, n, k, alpha, a.buffer.handle,
                a.offset, a.rowStride, b.buffer.handle, b.offset, b.rowStride, beta, c.buffer.handle, c.offset,
                c.rowStride, handle)
        }
    }

    /// Enqueues y = alpha op(A) x + beta y (CLBlast's GEMV), A m × n, x and y contiguous at element offsets.
    public func gemv<E: CLBlastScalar>(
        m: Int, n: Int, alpha: E, a: DeviceMatrix, transposed: Bool, x: Buffer, xOffset: Int = 0, beta: E,
        into y: Buffer, yOffset: Int = 0
    ) throws(OpenCLError) {
        try clblastCall(E.self == Float.self ? "CLBlastSgemv" : "CLBlastDgemv") {
            E.clblastGEMV(
                transposed ? XENT_CLBLAST_TRANSPOSE : XENT_CLBLAST_NO_TRANSPOSE, m, n, alpha, a.buffer.handle,
                a.offset, a.rowStride, x.handle, xOffset, beta, y.handle, yOffset, handle)
        }
    }

    /// Enqueues A += alpha x yᵀ (CLBlast's GER), A m × n, x and y contiguous at element offsets.
    public func ger<E: CLBlastScalar>(
        m: Int, n: Int, alpha: E, x: Buffer, xOffset: Int = 0, y: Buffer, yOffset: Int = 0, into a: DeviceMatrix
    ) throws(OpenCLError) {
        try clblastCall(E.self == Float.self ? "CLBlastSger" : "CLBlastDger") {
            E.clblastGER(
                m, n, alpha, x.handle, xOffset, y.handle, yOffset, a.buffer.handle, a.offset, a.rowStride, handle)
        }
    }
}
