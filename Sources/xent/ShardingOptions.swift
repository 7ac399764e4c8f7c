import ArgumentParser

/// How `xent loss` shares its batch with the other processes of `mpirun -n W` (DESIGN §7.1): by classes
/// (each rank reads its columns of every row) or by rows. Only in an xent built with the trait MPI.
struct ShardingOptions: ParsableArguments {
    @Flag(
        help: "Under mpirun: each rank reads only its columns of the logits (vocabulary-parallel; needs --traits MPI).")
    var vocabParallel = false

    @Flag(help: "Under mpirun: each rank reads only its rows; mean divides by the whole batch's divisor.")
    var dataParallel = false

    /// Whether either mode is asked for.
    var isSharded: Bool { vocabParallel || dataParallel }

    func validate() throws {
        if vocabParallel && dataParallel {
            throw ValidationError("--vocab-parallel and --data-parallel exclude each other")
        }
        #if !MPI
            if isSharded {
                throw ValidationError(
                    "this xent was built without MPI: --vocab-parallel and --data-parallel need `swift build --traits MPI`"
                )
            }
        #endif
    }
}
