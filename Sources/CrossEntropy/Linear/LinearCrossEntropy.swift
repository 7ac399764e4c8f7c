/// How many rows of logits the fused linear cross-entropy forms at once.
public enum LinearChunking: Sendable, Equatable {
    /// As many rows as fit in this many bytes of logits (at least one row).
    case memoryBudget(bytes: Int)
    /// This many rows (at least one).
    case rows(Int)
    /// An eighth of the full `N×V` logits, within 16–128 MiB: 1,024 rows of 32,768 `Float` classes and 261
    /// of 128,256 from 8,192 rows on, 512 and 261 at 4,096 rows, the whole batch in one chunk where it is
    /// that small. Chunks of a few hundred rows keep the GEMMs at their full rate.
    case automatic

    /// The default, `.automatic`.
    public static let `default` = LinearChunking.automatic

    /// The rows of one chunk of `classes` logits of `bytesPerElement` bytes, out of `totalRows`.
    public func rows(classes: Int, bytesPerElement: Int, totalRows: Int) -> Int {
        let rowBytes = max(1, classes * bytesPerElement)
        switch self {
        case .memoryBudget(let bytes): return max(1, bytes / rowBytes)
        case .rows(let rows): return max(1, rows)
        case .automatic: return max(1, min(128 << 20, max(16 << 20, totalRows * rowBytes / 8)) / rowBytes)
        }
    }
}

/// The loss of a fused linear cross-entropy and the gradients it was asked for.
public struct LinearCrossEntropyResult<Scalar: LinearScalar>: Sendable {
    /// The loss, z-loss included: a scalar for `mean` and `sum`, the target's shape for `none`.
    public var loss: Tensor<Scalar>
    /// The z-loss part of `loss`, shaped as `loss`; zero without a z-loss.
    public var zLoss: Tensor<Scalar>
    /// The rows whose target is not ignored.
    public var rowsKept: Int
    /// What `mean` divided the cross-entropy by (the total class weight of the rows kept); `nil` for
    /// `sum` and `none`.
    public var divisor: Double?
    /// Each row's logsumexp (after soft-capping), in the target's shape; NaN for an ignored row, whose
    /// logits are never formed.
    public var logSumExp: Tensor<Scalar>
    /// d loss / d hidden (for `none`, of the upstream-weighted sum), in the hidden states' shape; `nil`
    /// unless gradients were asked for.
    public var hiddenGradient: Tensor<Scalar>?
    /// d loss / d linear weight, `(V, H)`; `nil` unless gradients were asked for.
    public var linearWeightGradient: Tensor<Scalar>?
    /// d loss / d linear bias, `(V)`; `nil` unless gradients were asked for or without a bias.
    public var linearBiasGradient: Tensor<Scalar>?
}

extension CrossEntropyEngine {
    /// `torch.nn.functional.linear_cross_entropy(hidden, linearWeight, target, linearBias, …)`: the loss of
    /// the logits `hidden · linearWeightᵀ + linearBias` without ever forming all of them, and its gradients
    /// with respect to the hidden states, the weight and the bias.
    ///
    /// The rows run in chunks (`chunking`): per chunk, one GEMM forms its logits, the fused loss and
    /// gradient overwrite them with their gradient, and two more GEMMs turn that into the chunk's hidden
    /// gradient and add its part of the weight gradient. Rows whose target is `ignoreIndex` are skipped
    /// before any GEMM. Every option of `CrossEntropyOptions` applies to the logits as in `crossEntropy`.
    ///
    /// - Parameters:
    ///   - hidden: `(N, H)` or `(…, H)` hidden states (`(H)` for one row).
    ///   - linearWeight: `(V, H)`, the classifier.
    ///   - linearBias: `(V)`, or `nil`.
    ///   - target: class indices in `hidden`'s shape without its last dimension.
    ///   - options: the options of `crossEntropy`, applied to the logits `hidden · linearWeightᵀ + linearBias`.
    ///   - chunking: how many rows of logits one chunk forms (by default `.automatic`).
    ///   - gradients: whether to compute the three gradients (else only the loss: one GEMM per chunk).
    ///   - upstream: the gradient flowing in from above, as `crossEntropyWithGradient`'s.
    ///
    /// On the CPU the GEMMs are OpenBLAS's (`libopenblas0`, opened at run time); on an OpenCL device,
    /// CLBlast's (`libclblast1`), on buffers that stay on the device. A call without the library throws
    /// `.deviceUnavailable` saying which. CLBlast on an OpenCL *CPU* device (PoCL) is 15–20 times
    /// slower than OpenBLAS on the same cores; `auto` never picks such a device.
    public func linearCrossEntropy<T: LinearScalar>(
        hidden: Tensor<T>, linearWeight: Tensor<T>, linearBias: Tensor<T>? = nil, target: Tensor<Int64>,
        options: CrossEntropyOptions = .init(), chunking: LinearChunking = .default, gradients: Bool = true,
        upstream: UpstreamGradient = .scalar(1)
    ) throws -> LinearCrossEntropyResult<T> {
        try hidden.scalars.withUnsafeBufferPointer { hiddenBuffer in
            try linearWeight.scalars.withUnsafeBufferPointer { weightBuffer in
                try (linearBias?.scalars ?? []).withUnsafeBufferPointer { biasBuffer in
                    try target.scalars.withUnsafeBufferPointer { targetBuffer in
                        try linearCrossEntropy(
                            hidden: hiddenBuffer, hiddenShape: hidden.shape, linearWeight: weightBuffer,
                            linearWeightShape: linearWeight.shape, linearBias: linearBias == nil ? nil : biasBuffer,
                            target: targetBuffer, targetShape: target.shape, options: options, chunking: chunking,
                            gradients: gradients, upstream: upstream)
                    }
                }
            }
        }
    }

    /// `linearCrossEntropy` over caller memory, read without copying: the hidden states and the weight
    /// (and bias) in C order with their shapes, one class index per row.
    public func linearCrossEntropy<T: LinearScalar>(
        hidden: UnsafeBufferPointer<T>, hiddenShape: [Int], linearWeight: UnsafeBufferPointer<T>,
        linearWeightShape: [Int], linearBias: UnsafeBufferPointer<T>? = nil, target: UnsafeBufferPointer<Int64>,
        targetShape: [Int], options: CrossEntropyOptions = .init(), chunking: LinearChunking = .default,
        gradients: Bool = true, upstream: UpstreamGradient = .scalar(1)
    ) throws -> LinearCrossEntropyResult<T> {
        let problem = try LinearProblem(
            hiddenShape: hiddenShape, hiddenCount: hidden.count, weightShape: linearWeightShape,
            weightCount: linearWeight.count, biasCount: linearBias?.count, target: target, targetShape: targetShape,
            options: options, upstream: upstream, chunking: chunking, elementBytes: T.dtype.byteCount)
        var run = LinearRun<T>(problem: problem, gradients: gradients, hasBias: linearBias != nil, logger: logger)
        let inputs = LinearInputs(hidden: hidden, weight: linearWeight, bias: linearBias)
        let backend = try backend(for: T.dtype)
        if let openCL = backend as? OpenCLBackend {
            try run.onOpenCL(openCL, inputs)
        } else {
            try run.onCPU(backend, threads: (backend as? CPUBackend)?.threads ?? 1, inputs)
        }
        return run.result()
    }
}
