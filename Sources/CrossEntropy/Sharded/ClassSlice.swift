/// The columns of the logits one member of a vocabulary-parallel loss holds: the classes `range` of
/// `classes`, every class index being global.
public struct ClassSlice: Sendable, Equatable, CustomStringConvertible {
    /// The member's classes.
    public let range: Range<Int>
    /// The number of classes in all.
    public let classes: Int

    /// The classes `range` of `classes`; traps unless `range` lies within `0..<classes`.
    public init(_ range: Range<Int>, of classes: Int) {
        precondition(range.lowerBound >= 0 && range.upperBound <= classes, "\(range) is not within 0..<\(classes)")
        self.range = range
        self.classes = classes
    }

    /// Rank `rank`'s share of `classes` split among `size` members as Cut Cross-Entropy splits them:
    /// `start = rank · (classes / size) + min(rank, classes mod size)`, the first `classes mod size`
    /// members one class more.
    public init(rank: Int, of size: Int, classes: Int) {
        precondition(size > 0 && (0..<size).contains(rank) && classes >= 0, "rank \(rank) of \(size)")
        func start(_ r: Int) -> Int { r * (classes / size) + Swift.min(r, classes % size) }
        self.init(start(rank)..<start(rank + 1), of: classes)
    }

    /// `classes[lower..<upper] of C`.
    public var description: String { "classes \(range.lowerBound)..<\(range.upperBound) of \(classes)" }
}
