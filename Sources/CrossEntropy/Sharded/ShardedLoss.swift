/// What one member of a sharded loss gets: the loss of the whole batch, and its own part of the rest.
public struct ShardedLoss<Scalar: LogitsScalar>: Sendable {
    /// The loss of the whole batch (every member's rows and classes), z-loss included, the same on every
    /// member: a scalar for `mean` and `sum`; for `none`, one value per row of this member's rows.
    public var loss: Tensor<Scalar.Accumulator>
    /// The z-loss part of `loss`, shaped as `loss`.
    public var zLoss: Tensor<Scalar.Accumulator>
    /// Each of this member's rows' logsumexp over all the classes.
    public var logSumExp: Tensor<Scalar.Accumulator>
    /// The rows of the whole batch whose target is not ignored.
    public var rowsKept: Int
    /// What `mean` divided by: the whole batch's total weight of rows kept; `nil` for `sum` and `none`.
    public var divisor: Double?
    /// The bytes this member contributed to the merges of the call's statistics: O(rows), never the
    /// logits (the few values the members agree on first are not counted).
    public var reducedBytes: Int
    /// The seconds this member spent in those merges (waiting for the others included).
    public var reduceSeconds: Double
}
