/// How the OpenCL kernels map rows to work.
enum KernelFamily: String, Sendable, CustomStringConvertible {
    /// One work-item per row, vector loads along the row: for CPU-like devices (`cross_entropy_rows.cl`).
    case perRow = "per-row"
    /// Teams of work-items per row in work-groups, merged in local memory, planned per launch
    /// (`GroupPlan`): for GPUs (`cross_entropy_groups.cl`).
    case perGroup = "per-group"

    /// The environment variable that overrides the family chosen by device type.
    static let environmentVariable = "XENT_OPENCL_KERNELS"

    var description: String { rawValue }
}
