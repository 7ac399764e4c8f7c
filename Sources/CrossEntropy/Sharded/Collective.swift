/// How an all-reduce combines the values at one position across the members of a collective.
public enum ReduceOperation: String, Sendable, CaseIterable {
    /// The sum.
    case sum
    /// The maximum.
    case max
}

/// The members (processes or threads) that share one sharded loss: this member's place among them and
/// the collectives they exchange per-row statistics with (all-reduce, all-gather). Every member calls
/// the same collectives in the same order.
///
/// `InProcessCollective` runs the members as threads of one process (tests, and sharding over the
/// devices of one machine); the `CrossEntropyMPI` product implements it on an MPI communicator.
public protocol Collective: Sendable {
    /// This member's index, in `0..<size`.
    var rank: Int { get }
    /// The number of members.
    var size: Int { get }
    /// Replaces `values` (the same count on every member) by their element-wise combination over all
    /// members, returning once every member has contributed. Throws if the members disagree on the count
    /// or the transport fails.
    func allReduce(_ values: inout [Double], _ operation: ReduceOperation) throws
    /// Every member's `values` (the same count on every member), concatenated in rank order, once every
    /// member has contributed. Throws as `allReduce`. The default implementation is one sum all-reduce of
    /// `size` slots, each member's values in its own slot and zeros in the others (exact: `x + 0 == x`).
    func allGather(_ values: [Double]) throws -> [Double]
    /// Starts `allGather(values)`, to be finished later (`StartedAllGather.finish()`), so that a member
    /// works on while the others catch up: members start the same collectives in the same order, may have
    /// several started at once, and finish each one. The default implementation gathers at once.
    func startAllGather(_ values: [Double]) throws -> StartedAllGather
}

/// An all-gather started by `Collective.startAllGather`, whose `finish()` waits for it to complete.
public struct StartedAllGather {
    private let completion: () throws -> [Double]

    /// One whose `finish()` returns what `completion` does (for implementations of `Collective`).
    public init(completion: @escaping () throws -> [Double]) {
        self.completion = completion
    }

    /// Waits until every member has contributed and returns what `Collective.allGather` returns. Call
    /// it once.
    public func finish() throws -> [Double] { try completion() }
}

extension Collective {
    /// One sum all-reduce of `size` slots of `values.count`, this member's values in slot `rank`.
    public func allGather(_ values: [Double]) throws -> [Double] {
        var slots = [Double](repeating: 0, count: values.count * size)
        slots.replaceSubrange(rank * values.count..<(rank + 1) * values.count, with: values)
        try allReduce(&slots, .sum)
        return slots
    }

    /// `allGather(values)` at once.
    public func startAllGather(_ values: [Double]) throws -> StartedAllGather {
        let gathered = try allGather(values)
        return StartedAllGather { gathered }
    }
}

extension ReduceOperation {
    /// `a` combined with `b`; NaN wins a maximum, so that a bad row stays bad after the merge.
    func combine(_ a: Double, _ b: Double) -> Double {
        switch self {
        case .sum: a + b
        case .max: a.isNaN || b.isNaN ? .nan : Swift.max(a, b)
        }
    }
}
