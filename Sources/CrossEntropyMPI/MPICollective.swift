#if MPI
    import CMPI
    import CrossEntropy

    /// The collective of an MPI communicator (Open MPI): each process of `mpirun -n W` is one member.
    ///
    /// `@unchecked Sendable`: an MPI communicator handle is an opaque pointer that MPI lets any thread use
    /// (`MPI_THREAD_SERIALIZED`: one call at a time, which a member's calls are).
    public final class MPICollective: Collective, @unchecked Sendable {
        /// This process's rank in the communicator.
        public let rank: Int
        /// The number of processes in the communicator.
        public let size: Int
        private let communicator: MPI_Comm

        /// The collective of every process of the run (`MPI_COMM_WORLD`), initialising MPI on first use;
        /// `MPICollective.finalize()` must be called before the process exits.
        public static func world() throws -> MPICollective {
            var initialized: Int32 = 0
            try check(MPI_Initialized(&initialized), "MPI_Initialized")
            if initialized == 0 {
                var provided: Int32 = 0
                try check(MPI_Init_thread(nil, nil, xent_mpi_thread_serialized(), &provided), "MPI_Init_thread")
            }
            return try MPICollective(communicator: xent_mpi_comm_world())
        }

        /// The collective of `communicator`.
        public init(communicator: MPI_Comm) throws {
            var rank: Int32 = 0
            var size: Int32 = 0
            try Self.check(MPI_Comm_rank(communicator, &rank), "MPI_Comm_rank")
            try Self.check(MPI_Comm_size(communicator, &size), "MPI_Comm_size")
            (self.rank, self.size, self.communicator) = (Int(rank), Int(size), communicator)
        }

        /// Ends MPI for this process (`MPI_Finalize`), if it was initialised and not yet finalised.
        public static func finalize() {
            var initialized: Int32 = 0
            var finalized: Int32 = 0
            MPI_Initialized(&initialized)
            MPI_Finalized(&finalized)
            if initialized != 0 && finalized == 0 {
                MPI_Finalize()
            }
        }

        /// `MPI_Allreduce` in place. The members' counts are compared first (one all-reduce of two
        /// doubles), since MPI cannot tell a mismatch from a deadlock.
        public func allReduce(_ values: inout [Double], _ operation: ReduceOperation) throws {
            try checkCounts(values.count, "an all-reduce")
            try reduce(&values, operation == .sum ? xent_mpi_sum() : xent_mpi_max())
        }

        /// `MPI_Allgather`, the members' counts compared first as for `allReduce`.
        public func allGather(_ values: [Double]) throws -> [Double] {
            try checkCounts(values.count, "an all-gather")
            var gathered = [Double](repeating: 0, count: values.count * size)
            try values.withUnsafeBufferPointer { values in
                try gathered.withUnsafeMutableBufferPointer { gathered in
                    try check(
                        MPI_Allgather(
                            values.baseAddress, Int32(values.count), xent_mpi_double(), gathered.baseAddress,
                            Int32(values.count), xent_mpi_double(), communicator),
                        "MPI_Allgather")
                }
            }
            return gathered
        }

        /// Point-to-point messages to and from every other member (`MPI_Isend`, `MPI_Irecv`, tag 0x5845 on
        /// the communicator: keep it free of other messages with that tag), which complete while the
        /// members compute. A member that sent fewer values is an error at `finish()`; one that sent more
        /// is `MPI_ERR_TRUNCATE`, which MPI's default error handler makes fatal (`RowPartials` agrees on
        /// the rows before it gathers).
        public func startAllGather(_ values: [Double]) throws -> StartedAllGather {
            let exchange = try NonblockingGather(values, rank: rank, members: size, communicator: communicator)
            return StartedAllGather { try exchange.finish() }
        }

        /// Throws unless every member passes the same `count`.
        private func checkCounts(_ count: Int, _ collective: String) throws {
            var counts = [Double(count), -Double(count)]
            try reduce(&counts, xent_mpi_max())
            guard counts[0] == -counts[1] else {
                throw CrossEntropyError(
                    .invalidShape,
                    "the members of a collective disagree on \(collective): from \(Int(-counts[1])) to \(Int(counts[0])) values"
                )
            }
        }

        private func reduce(_ values: inout [Double], _ operation: MPI_Op) throws {
            let count = Int32(values.count)
            try values.withUnsafeMutableBufferPointer { buffer in
                try Self.check(
                    MPI_Allreduce(
                        xent_mpi_in_place(), buffer.baseAddress, count, xent_mpi_double(), operation, communicator),
                    "MPI_Allreduce")
            }
        }

        static func check(_ status: Int32, _ call: String) throws {
            guard status == xent_mpi_success() else {
                throw CrossEntropyError(.deviceUnavailable, "\(call) failed with MPI error \(status)")
            }
        }

        private func check(_ status: Int32, _ call: String) throws { try Self.check(status, call) }
    }

    /// An all-gather in flight as point-to-point messages (tag `NonblockingGather.tag`), which complete
    /// while the members compute (a small message is delivered when it is sent, whereas a nonblocking
    /// collective of Open MPI advances only inside MPI calls on every member): this member's values sent
    /// to every other member, theirs received into their slots.
    ///
    /// Not `Sendable`: it stays with the thread that started it.
    private final class NonblockingGather {
        /// The tag of the gathers' messages on the collective's communicator.
        static let tag: Int32 = 0x5845
        /// This member's values, sent to every other member.
        private let sent: UnsafeMutableBufferPointer<Double>
        private let rank: Int
        /// Each member's slot of `sent.count + 1` values: one more than expected, so that a longer
        /// message is seen rather than cut.
        private let received: UnsafeMutableBufferPointer<Double>
        private var requests: [MPI_Request?]
        private var finished = false

        init(_ values: [Double], rank: Int, members: Int, communicator: MPI_Comm) throws {
            self.rank = rank
            sent = .allocate(capacity: values.count)
            _ = sent.initialize(from: values)
            let slot = values.count + 1
            received = .allocate(capacity: slot * members)
            received.initialize(repeating: 0)
            requests = Array(repeating: xent_mpi_request_null(), count: 2 * (members - 1))
            let peers = (0..<members).filter { $0 != rank }
            try requests.withUnsafeMutableBufferPointer { requests in
                for (index, peer) in peers.enumerated() {
                    try MPICollective.check(
                        MPI_Irecv(
                            received.baseAddress! + peer * slot, Int32(slot), xent_mpi_double(), Int32(peer),
                            Self.tag, communicator, &requests[2 * index]),
                        "MPI_Irecv")
                    try MPICollective.check(
                        MPI_Isend(
                            sent.baseAddress, Int32(sent.count), xent_mpi_double(), Int32(peer), Self.tag,
                            communicator, &requests[2 * index + 1]),
                        "MPI_Isend")
                }
            }
        }

        /// Waits for every message; the members' values in rank order, or an error if one sent fewer.
        func finish() throws -> [Double] {
            var statuses = [MPI_Status](repeating: MPI_Status(), count: requests.count)
            let status = MPI_Waitall(Int32(requests.count), &requests, &statuses)
            finished = true
            try MPICollective.check(status, "MPI_Waitall")
            for index in stride(from: 0, to: statuses.count, by: 2) {
                var count: Int32 = 0
                try MPICollective.check(MPI_Get_count(&statuses[index], xent_mpi_double(), &count), "MPI_Get_count")
                guard count == sent.count else {
                    throw CrossEntropyError(
                        .invalidShape,
                        "the members of a collective disagree on an all-gather: \(count) values for \(sent.count)")
                }
            }
            let slot = sent.count + 1
            return (0..<received.count / slot).flatMap { member in
                Array(member == rank ? sent[...] : received[member * slot..<member * slot + sent.count])
            }
        }

        /// A gather never finished (its caller threw) is waited for before its buffers go.
        deinit {
            if !finished {
                MPI_Waitall(Int32(requests.count), &requests, nil)
            }
            sent.deallocate()
            received.deallocate()
        }
    }
#endif
