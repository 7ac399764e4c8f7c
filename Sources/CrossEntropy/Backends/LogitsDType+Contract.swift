import KernelContract

extension LogitsDType {
    /// The contract's code for this storage type (XENT_F16, XENT_BF16, XENT_F32, XENT_F64): the C row
    /// kernels' `dtype` and the OpenCL programs' XENT_DTYPE.
    var contractCode: Int32 {
        switch self {
        case .float16: XENT_F16
        case .bfloat16: XENT_BF16
        case .float32: XENT_F32
        case .float64: XENT_F64
        }
    }
}
