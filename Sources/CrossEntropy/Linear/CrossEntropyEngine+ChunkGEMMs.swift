import OpenCLHost

extension CrossEntropyEngine {
    /// The three GEMMs one chunk of `linearCrossEntropy` runs (its logits `X·Wᵀ`, the hidden gradient
    /// `G·W` and the weight gradient's `Gᵀ·X`), on the BLAS this engine's linear loss uses, over buffers
    /// made once: a closure that runs them and returns when they are done, so that a benchmark sets the
    /// BLAS's own rate on the chunk's shape beside the fused call's.
    package func chunkGEMMs<T: LinearScalar>(
        rows: Int, hiddenSize: Int, classes: Int, as _: T.Type
    ) throws -> () throws -> Void {
        let backend = try backend(for: T.dtype)
        let x = [T](repeating: T(0.01), count: rows * hiddenSize)
        let w = [T](repeating: T(0.02), count: classes * hiddenSize)
        if let openCL = backend as? OpenCLBackend {
            if let missing = CLBlast.problem { throw CrossEntropyError(.deviceUnavailable, missing) }
            let context = openCL.context
            let queue = openCL.queue
            let stride = MemoryLayout<T>.stride
            let hidden = try x.withUnsafeBytes {
                try Buffer(context: context, flags: [.readOnly, .copyHostPointer], hostMemory: $0)
            }
            let weight = try w.withUnsafeBytes {
                try Buffer(context: context, flags: [.readOnly, .copyHostPointer], hostMemory: $0)
            }
            let logits = try Buffer(context: context, byteCount: rows * classes * stride, flags: .readWrite)
            let hiddenGradient = try Buffer(context: context, byteCount: rows * hiddenSize * stride, flags: .readWrite)
            let weightGradient = try Buffer(
                context: context, byteCount: classes * hiddenSize * stride, flags: .readWrite)
            for buffer in [logits, hiddenGradient, weightGradient] {
                try queue.zero(buffer)
            }
            let (xm, wm, lm) = (
                DeviceMatrix(hidden, rowStride: hiddenSize), DeviceMatrix(weight, rowStride: hiddenSize),
                DeviceMatrix(logits, rowStride: classes)
            )
            return {
                try queue.gemm(
                    m: rows, n: classes, k: hiddenSize, alpha: T(1), a: xm, b: wm, transposeB: true, beta: 0, into: lm)
                try queue.gemm(
                    m: rows, n: hiddenSize, k: classes, alpha: T(1), a: lm, b: wm, beta: 0,
                    into: DeviceMatrix(hiddenGradient, rowStride: hiddenSize))
                try queue.gemm(
                    m: classes, n: hiddenSize, k: rows, alpha: T(1), a: lm, transposeA: true, b: xm, beta: 1,
                    into: DeviceMatrix(weightGradient, rowStride: hiddenSize))
                try queue.finish()
            }
        }
        if let missing = OpenBLAS.problem(threads: (backend as? CPUBackend)?.threads ?? 1) {
            throw CrossEntropyError(.deviceUnavailable, missing)
        }
        // Buffers the closure owns: allocated once, freed with it.
        let buffers = ChunkBuffers(
            logits: [T](repeating: 0, count: rows * classes),
            hiddenGradient: [T](repeating: 0, count: rows * hiddenSize),
            weightGradient: [T](repeating: 0, count: classes * hiddenSize))
        return {
            x.withUnsafeBufferPointer { x in
                w.withUnsafeBufferPointer { w in
                    buffers.run(x.baseAddress!, w.baseAddress!, rows: rows, hiddenSize: hiddenSize, classes: classes)
                }
            }
        }
    }
}

/// The outputs of `chunkGEMMs` on the CPU.
private final class ChunkBuffers<T: LinearScalar> {
    var logits: [T]
    var hiddenGradient: [T]
    var weightGradient: [T]

    init(logits: [T], hiddenGradient: [T], weightGradient: [T]) {
        (self.logits, self.hiddenGradient, self.weightGradient) = (logits, hiddenGradient, weightGradient)
    }

    func run(_ x: UnsafePointer<T>, _ w: UnsafePointer<T>, rows: Int, hiddenSize: Int, classes: Int) {
        logits.withUnsafeMutableBufferPointer { logits in
            let l = logits.baseAddress!
            OpenBLAS.gemm(
                m: rows, n: classes, k: hiddenSize, alpha: 1, x, lda: hiddenSize, w, ldb: hiddenSize, transposeB: true,
                beta: 0, l, ldc: classes)
            hiddenGradient.withUnsafeMutableBufferPointer {
                OpenBLAS.gemm(
                    m: rows, n: hiddenSize, k: classes, alpha: 1, l, lda: classes, w, ldb: hiddenSize, beta: 0,
                    $0.baseAddress!, ldc: hiddenSize)
            }
            weightGradient.withUnsafeMutableBufferPointer {
                OpenBLAS.gemm(
                    m: classes, n: hiddenSize, k: rows, alpha: 1, l, lda: classes, transposeA: true, x, ldb: hiddenSize,
                    beta: 1, $0.baseAddress!, ldc: hiddenSize)
            }
        }
    }
}
