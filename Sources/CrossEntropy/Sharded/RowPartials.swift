import KernelContract

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The statistics of each row over a slice of the classes, which merge with the other slices' into those
/// of the whole row: the operator the kernels fold a row with, `(m₁, s₁) ⊕ (m₂, s₂) = (max, s₁·e^(m₁−max) +
/// s₂·e^(m₂−max))`, plus sums that only the slices holding a term contribute to. Merging is associative
/// and commutative (up to rounding), so slices merge in any grouping: `merged(with:)` for two,
/// `allReduced(over:)` across the members of a collective with one all-gather of O(rows) doubles.
public struct RowPartials: Sendable, Equatable {
    /// Each row's maximum over the slice.
    public var max: [Double]
    /// Each row's `log Σ exp(x − max)` over the slice, so that its logsumexp is `max + logSum`.
    public var logSum: [Double]
    /// The row's target logit where the slice holds the target (class indices), else 0: its sum over the
    /// slices is the target logit.
    public var targetLogit: [Double]
    /// `Σ v_c · (max − x_c)` over the slice, with `v_c` the class weight (label smoothing) or the weighted,
    /// smoothed probability: with `mass`, the smoothing terms of the loss. 0 where neither applies.
    public var spread: [Double]
    /// `Σ v_c` over the slice.
    public var mass: [Double]

    /// Partials of `rows` rows over an empty slice: the identity of the merge.
    public init(rows: Int) {
        max = Array(repeating: -.infinity, count: rows)
        logSum = Array(repeating: -.infinity, count: rows)
        targetLogit = Array(repeating: 0, count: rows)
        spread = Array(repeating: 0, count: rows)
        mass = Array(repeating: 0, count: rows)
    }

    /// The number of rows.
    public var rows: Int { max.count }

    /// Each row's logsumexp over the classes merged so far.
    public var logSumExp: [Double] { zip(max, logSum).map { $0 + $1 } }

    /// These rows merged with `other`'s (the same rows over another slice of the classes).
    public func merged(with other: RowPartials) -> RowPartials {
        precondition(other.rows == rows, "partials of \(rows) and \(other.rows) rows")
        var result = self
        for row in 0..<rows {
            let top = ReduceOperation.max.combine(max[row], other.max[row])
            let sum =
                Self.scaledSum(logSum[row], max[row], top) + Self.scaledSum(other.logSum[row], other.max[row], top)
            result.max[row] = top
            result.logSum[row] = log(sum)
            result.targetLogit[row] = targetLogit[row] + other.targetLogit[row]
            result.spread[row] =
                Self.shiftedSpread(spread[row], mass[row], max[row], top)
                + Self.shiftedSpread(other.spread[row], other.mass[row], other.max[row], top)
            result.mass[row] = mass[row] + other.mass[row]
        }
        return result
    }

    /// These partials merged with those of every other member of `collective` (each holding the same rows
    /// over its own slice): one `allGather` of the five values a row, every member merging the members'
    /// partials in rank order (so that all get the same bits). Returns the merged partials and the bytes
    /// this member contributed.
    public func allReduced(over collective: some Collective) throws -> (partials: RowPartials, bytes: Int) {
        try startAllReduced(over: collective).finish()
    }

    /// `allReduced(over:)` started (`Collective.startAllGather`), finished by the returned value's
    /// `finish()`.
    func startAllReduced(over collective: some Collective) throws -> StartedAllReduce {
        let contribution = max + logSum + targetLogit + spread + mass
        return StartedAllReduce(rows: rows, gather: try collective.startAllGather(contribution))
    }

    /// A merge of partials started by `startAllReduced(over:)`.
    struct StartedAllReduce {
        let rows: Int
        let gather: StartedAllGather

        /// The merged partials and the bytes this member contributed, once every member's are here.
        func finish() throws -> (partials: RowPartials, bytes: Int) {
            let gathered = try gather.finish()
            return (RowPartials(merging: gathered, rows: rows), 5 * rows * MemoryLayout<Double>.stride)
        }
    }

    /// The merge of the members' partials of `rows` rows gathered in rank order, five fields of `rows`
    /// values per member (max, logSum, targetLogit, spread, mass).
    private init(merging gathered: [Double], rows: Int) {
        let contribution = 5 * rows
        var merged = RowPartials(rows: rows)
        let members = stride(from: 0, to: gathered.count, by: Swift.max(1, contribution))
        for row in 0..<rows {
            // Member m's field f of this row is at m + f · rows + row.
            let top = members.reduce(-.infinity) { ReduceOperation.max.combine($0, gathered[$1 + row]) }
            var (sum, target, spread, mass) = (0.0, 0.0, 0.0, 0.0)
            for m in members {
                let (memberMax, memberMass) = (gathered[m + row], gathered[m + 4 * rows + row])
                sum += Self.scaledSum(gathered[m + rows + row], memberMax, top)
                target += gathered[m + 2 * rows + row]
                spread += Self.shiftedSpread(gathered[m + 3 * rows + row], memberMass, memberMax, top)
                mass += memberMass
            }
            (merged.max[row], merged.logSum[row], merged.targetLogit[row]) = (top, log(sum), target)
            (merged.spread[row], merged.mass[row]) = (spread, mass)
        }
        self = merged
    }

    /// Sets rows `range` to `part`'s rows, in order.
    mutating func replace(rows range: Range<Int>, with part: RowPartials) {
        precondition(part.rows == range.count, "partials of \(part.rows) rows for \(range.count) rows")
        max.replaceSubrange(range, with: part.max)
        logSum.replaceSubrange(range, with: part.logSum)
        targetLogit.replaceSubrange(range, with: part.targetLogit)
        spread.replaceSubrange(range, with: part.spread)
        mass.replaceSubrange(range, with: part.mass)
    }

    /// `exp(logSum)` rescaled from the slice's maximum to `top` (0 for an empty slice).
    static func scaledSum(_ logSum: Double, _ max: Double, _ top: Double) -> Double {
        max == -.infinity ? 0 : exp(logSum + (max - top))
    }

    /// `spread` taken from the slice's maximum to `top`: `Σ v (top − x) = spread + (top − max) · mass`.
    static func shiftedSpread(_ spread: Double, _ mass: Double, _ max: Double, _ top: Double) -> Double {
        mass == 0 ? spread : spread + (top - max) * mass
    }

    /// The partials of one row from its statistics as the kernels computed them.
    mutating func set(row: Int, from stat: xent_row_stat) {
        max[row] = stat.max
        logSum[row] = stat.log_sum
        targetLogit[row] = stat.target_logit
        // smooth = Σ v (lse − x) = spread + log_sum · mass.
        spread[row] = stat.mass == 0 ? 0 : stat.smooth - stat.log_sum * stat.mass
        mass[row] = stat.mass
    }

    /// Row `row`'s statistics over the merged classes, as the loss formula folds them.
    func statistics(row: Int) -> xent_row_stat {
        xent_row_stat(
            lse: max[row] + logSum[row], max: max[row], log_sum: logSum[row], target_logit: targetLogit[row],
            smooth: spread[row] + logSum[row] * mass[row], mass: mass[row])
    }
}
