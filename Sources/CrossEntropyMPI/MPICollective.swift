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

        private static func check(_ status: Int32, _ call: String) throws {
            guard status == xent_mpi_success() else {
                throw CrossEntropyError(.deviceUnavailable, "\(call) failed with MPI error \(status)")
            }
        }

        private func check(_ status: Int32, _ call: String) throws { try Self.check(status, call) }
    }
#endif
