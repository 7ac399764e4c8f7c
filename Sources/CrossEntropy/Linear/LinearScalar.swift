import COpenBLAS
import OpenCLHost

/// The types the fused linear cross-entropy takes: `Float` (its GEMMs are SGEMMs, its gradients
/// accumulated in `Float`) and `Double` (DGEMMs, `Double`).
public protocol LinearScalar: LogitsScalar, CLBlastScalar where Accumulator == Self {}

extension Float: LinearScalar {}
extension Double: LinearScalar {}

/// OpenBLAS, opened at run time (`COpenBLAS`): the CPU's GEMMs, row major. Its routines are called from
/// one thread at a time per call and never from inside the row kernels' parallel loops; OpenBLAS
/// parallelises them itself over `CPUBackend.threads`.
enum OpenBLAS {
    /// Why OpenBLAS cannot be used, or `nil` (the first call opens it and sets its thread count).
    static func problem(threads: Int) -> String? {
        if let problem = xent_blas_problem() { return String(cString: problem) }
        threadsSet.withLock { set in
            if !set {
                xent_blas_set_threads(Int32(threads))
                set = true
            }
        }
        return nil
    }

    private static let threadsSet = LockedValue(false)

    /// OpenBLAS's build, as `openblas_get_config` gives it (after `problem` said it is loaded).
    static var configuration: String { String(cString: xent_blas_config()) }

    /// C = alpha op(A) op(B) + beta C with op(A) m × k, op(B) k × n; leading dimensions are row strides.
    static func gemm<E: LinearScalar>(
        m: Int, n: Int, k: Int, alpha: E, _ a: UnsafePointer<E>, lda: Int, transposeA: Bool = false,
        _ b: UnsafePointer<E>, ldb: Int, transposeB: Bool = false, beta: E, _ c: UnsafeMutablePointer<E>, ldc: Int
    ) {
        let ta = transposeA ? XENT_BLAS_TRANSPOSE : XENT_BLAS_NO_TRANSPOSE
        let tb = transposeB ? XENT_BLAS_TRANSPOSE : XENT_BLAS_NO_TRANSPOSE
        let (m, n, k) = (Int32(m), Int32(n), Int32(k))
        // BLAS wants every leading dimension at least 1, even for empty matrices.
        let (lda, ldb, ldc) = (Int32(max(lda, 1)), Int32(max(ldb, 1)), Int32(max(ldc, 1)))
        if E.self == Float.self {
            xent_blas_sgemm(
                ta, tb, m, n, k, Float(alpha), UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), lda,
                UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), ldb, Float(beta),
                UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc)
        } else {
            xent_blas_dgemm(
                ta, tb, m, n, k, Double(alpha), UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), lda,
                UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), ldb, Double(beta),
                UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), ldc)
        }
    }

    /// y = alpha Aᵀ x + beta y, A m × n (the sum of A's rows weighted by x).
    static func gemvTransposed<E: LinearScalar>(
        m: Int, n: Int, alpha: E, _ a: UnsafePointer<E>, lda: Int, _ x: UnsafePointer<E>, beta: E,
        _ y: UnsafeMutablePointer<E>
    ) {
        let (m32, n32, lda32) = (Int32(m), Int32(n), Int32(max(lda, 1)))
        if E.self == Float.self {
            xent_blas_sgemv(
                XENT_BLAS_TRANSPOSE, m32, n32, Float(alpha), UnsafeRawPointer(a).assumingMemoryBound(to: Float.self),
                lda32, UnsafeRawPointer(x).assumingMemoryBound(to: Float.self), 1, Float(beta),
                UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self), 1)
        } else {
            xent_blas_dgemv(
                XENT_BLAS_TRANSPOSE, m32, n32, Double(alpha),
                UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), lda32,
                UnsafeRawPointer(x).assumingMemoryBound(to: Double.self), 1, Double(beta),
                UnsafeMutableRawPointer(y).assumingMemoryBound(to: Double.self), 1)
        }
    }
}
