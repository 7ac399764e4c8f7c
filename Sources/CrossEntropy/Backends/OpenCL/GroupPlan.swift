/// How the per-group kernel family (`Kernels/cross_entropy_groups.cl`) maps one launch's rows to work:
/// teams of work-items per row, several rows per work-group for short rows, several work-groups per row
/// for few long rows, and rows kept in local memory while their outputs are computed.
struct GroupPlan: Equatable, CustomStringConvertible {
    /// Work-items reading one row, or one slice of a row: a power of two dividing the group size.
    var team: Int
    /// Slices per row, one work-group each, whose states are merged by a second launch (1: whole rows).
    var parts: Int
    /// Local memory per work-group holding its rows, so that their outputs are computed without reading
    /// them again, in bytes; 0 when the outputs read the rows again.
    var cacheBytes: Int

    var description: String { "team \(team), parts \(parts), cache \(cacheBytes) bytes" }

    /// What the plan is made from: the device's facts and the program's tunables.
    struct Geometry: Equatable {
        /// Work-items per group (`XENT_GROUP`).
        var groupSize: Int
        /// Lanes per vector load (`XENT_VEC`).
        var vectorWidth: Int
        /// `CL_DEVICE_MAX_COMPUTE_UNITS`.
        var computeUnits: Int
        /// `CL_DEVICE_LOCAL_MEM_SIZE`, in bytes.
        var localMemoryBytes: Int
    }

    /// Vectors each work-item of a team takes from a contiguous row, about: enough loads in flight per
    /// work-item, and short rows leave no work-item idle.
    static let vectorsPerWorkItem = 4
    /// Work-groups per compute unit below which a launch of long rows splits them: fewer leave the
    /// device idle.
    static let groupsPerComputeUnit = 4

    /// A plan of these figures.
    init(team: Int, parts: Int, cacheBytes: Int) {
        (self.team, self.parts, self.cacheBytes) = (team, parts, cacheBytes)
    }

    /// The plan for `rows` rows of `classes` classes, `inner` apart, accumulated in `accumulatorBytes`;
    /// `keepsRows`: whether the launch writes outputs that could be computed from rows kept on chip.
    init(classes: Int, inner: Int, rows: Int, accumulatorBytes: Int, keepsRows: Bool, geometry: Geometry) {
        let group = geometry.groupSize
        let width = geometry.vectorWidth
        let vectors = (classes + width - 1) / width
        // Strided rows take one work-item each: neighbouring rows are neighbouring addresses.
        team =
            inner == 1
            ? min(group, Self.powerOfTwo(atLeast: (vectors + Self.vectorsPerWorkItem - 1) / Self.vectorsPerWorkItem))
            : 1
        parts = 1
        cacheBytes = 0
        let groupsWanted = Self.groupsPerComputeUnit * geometry.computeUnits
        if inner == 1, team == group, rows < groupsWanted {
            // Each slice keeps at least two vectors per work-item.
            let slices = min((groupsWanted + rows - 1) / rows, classes / (2 * group * width))
            if slices >= 2 {
                parts = slices
                return
            }
        }
        let rowBytes = (group / team) * vectors * width * accumulatorBytes
        // The merge's scratch (`team_merge`) takes 4 values per work-item of the same local memory.
        if keepsRows, rowBytes <= geometry.localMemoryBytes - 4 * group * accumulatorBytes {
            cacheBytes = rowBytes
        }
    }

    /// The least power of two at least `value` (1 for 0).
    private static func powerOfTwo(atLeast value: Int) -> Int {
        value <= 1 ? 1 : 1 << (Int.bitWidth - (value - 1).leadingZeroBitCount)
    }

    /// Rows (or slices) per work-group.
    func rowsPerGroup(groupSize: Int) -> Int { groupSize / team }
}
