#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A collective whose members are threads of this process: a group is made at once, and each member
/// is handed to the thread that plays its rank. The all-reduce combines the contributions in rank
/// order, so every member gets the same bits, whatever the order the threads arrive in.
public final class InProcessCollective: Collective {
    /// This member's index, in `0..<size`.
    public let rank: Int
    /// The number of members in the group.
    public let size: Int
    private let exchange: Exchange

    private init(rank: Int, exchange: Exchange) {
        self.rank = rank
        self.size = exchange.size
        self.exchange = exchange
    }

    /// The `size` members of a new group, by rank.
    public static func group(size: Int) -> [InProcessCollective] {
        precondition(size > 0, "a collective has at least one member")
        let exchange = Exchange(size: size)
        return (0..<size).map { InProcessCollective(rank: $0, exchange: exchange) }
    }

    /// Replaces `values` by their element-wise combination over the group, once every member has called
    /// it; throws if the members disagree on the count or the operation.
    public func allReduce(_ values: inout [Double], _ operation: ReduceOperation) throws {
        values = try exchange.allReduce(values, operation, rank: rank)
    }
}

/// The state a group's members meet in: each round, every member deposits its values; the last to
/// arrive combines them and wakes the others, who copy the result before they can start the next round
/// (which cannot complete without them), so one result buffer serves every round.
///
/// `@unchecked Sendable`: every field but the constants is read and written under `mutex`.
private final class Exchange: @unchecked Sendable {
    let size: Int
    private var contributions: [[Double]?]
    private var operations: [ReduceOperation?]
    private var arrived = 0
    private var round = 0
    private var result: Result<[Double], CrossEntropyError> = .success([])
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init(size: Int) {
        self.size = size
        contributions = Array(repeating: nil, count: size)
        operations = Array(repeating: nil, count: size)
        mutex.initialize(to: pthread_mutex_t())
        condition.initialize(to: pthread_cond_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
        precondition(pthread_cond_init(condition, nil) == 0, "pthread_cond_init failed")
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func allReduce(_ values: [Double], _ operation: ReduceOperation, rank: Int) throws -> [Double] {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let myRound = round
        contributions[rank] = values
        operations[rank] = operation
        arrived += 1
        if arrived == size {
            result = combined()
            contributions = Array(repeating: nil, count: size)
            operations = Array(repeating: nil, count: size)
            arrived = 0
            round += 1
            pthread_cond_broadcast(condition)
        } else {
            while round == myRound {
                pthread_cond_wait(condition, mutex)
            }
        }
        return try result.get()
    }

    /// The contributions combined in rank order, or why they cannot be.
    private func combined() -> Result<[Double], CrossEntropyError> {
        let counts = Set(contributions.map { $0?.count ?? -1 })
        let kinds = Set(operations.map { $0?.rawValue ?? "" })
        guard counts.count == 1, kinds.count == 1, let operation = operations[0], var total = contributions[0]
        else {
            return .failure(
                CrossEntropyError(
                    .invalidShape,
                    "the members of a collective disagree on an all-reduce: counts \(counts.sorted()), operations \(kinds.sorted())"
                ))
        }
        for contribution in contributions.dropFirst() {
            for index in total.indices {
                total[index] = operation.combine(total[index], contribution![index])
            }
        }
        return .success(total)
    }
}
