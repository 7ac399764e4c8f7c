#if MPI
    import CrossEntropy
    import CrossEntropyMPI

    extension BenchCommand {
        /// `xent bench --vocab-parallel` or `--data-parallel` under `mpirun`: each rank times its share of
        /// random float32 logits (its columns of every row, or its rows), the all-reduces measured apart;
        /// rank 0 prints the medians: of each call's slowest rank (what a step waits for), and of the
        /// all-reduces' time on the rank that waited least in them (their own cost, without the imbalance).
        func runSharded(_ engine: CrossEntropyEngine) throws {
            let world = try MPICollective.world()
            defer { MPICollective.finalize() }
            let share = ClassSlice(rank: world.rank, of: world.size, classes: sharding.vocabParallel ? classes : rows)
            let (localRows, localClasses) =
                sharding.vocabParallel ? (rows, share.range.count) : (share.range.count, classes)
            var random = RandomLogits(seed: 7 + UInt64(world.rank))
            let logits = random.logits(count: localRows * localClasses, as: Float.self)
            var targetRandom = RandomLogits(seed: 5)
            let allTargets = targetRandom.classIndices(count: rows, classes: classes)
            let targets = sharding.vocabParallel ? allTargets : Array(allTargets[share.range])
            var gradient = [Float](repeating: 0, count: backward ? logits.count : 0)
            var times: [Double] = []
            var reduceTimes: [Double] = []
            var bytes = 0
            var loss = Double.nan
            try logits.withUnsafeBufferPointer { logits in
                try targets.withUnsafeBufferPointer { targets in
                    try gradient.withUnsafeMutableBufferPointer { gradient in
                        for run in 0...`repeat` {
                            var result: ShardedLoss<Float>!
                            let seconds = try secondsElapsed {
                                let into = backward ? gradient : nil
                                let shape = [localRows, localClasses]
                                result =
                                    sharding.vocabParallel
                                    ? try engine.vocabularyParallelCrossEntropy(
                                        logits: logits, shape: shape, slice: ClassSlice(share.range, of: classes),
                                        target: .classIndices(targets, shape: [rows]), options: options,
                                        collective: world, gradientInto: into)
                                    : try engine.dataParallelCrossEntropy(
                                        logits: logits, shape: shape,
                                        target: .classIndices(targets, shape: [localRows]),
                                        options: options, collective: world, gradientInto: into,
                                        firstRow: share.range.lowerBound)
                            }
                            // The call's time is the slowest rank's; the all-reduces' is the rank that waited least
                            // in them (the last to arrive): the others' extra wait is the ranks' imbalance.
                            var slowest = [seconds, -result.reduceSeconds]
                            try world.allReduce(&slowest, .max)
                            if run > 0 {
                                times.append(slowest[0])
                                reduceTimes.append(-slowest[1])
                            }
                            bytes = result.reducedBytes
                            loss = Double(result.loss.scalars[0])
                        }
                    }
                }
            }
            guard world.rank == 0 else { return }
            let logitsBytes = Double(rows * classes * 4)
            let mode = sharding.vocabParallel ? "vocab-parallel" : "data-parallel"
            let text = """
                {"device": \(jsonString(engine.device.name)), "ranks": \(world.size), \
                "mode": "\(mode)", "rows": \(rows), "classes": \(classes), "dtype": "f32", \
                "pass": "\(backward ? "forward+backward" : "forward")", \
                "median_seconds": \(formatted(median(times), "%.6g")), \
                "reduce_seconds": \(formatted(median(reduceTimes), "%.6g")), \
                "reduce_fraction": \(formatted(median(reduceTimes) / median(times), "%.4g")), \
                "reduced_bytes_per_rank": \(bytes), "logits_gbps": \(formatted(logitsBytes / median(times) / 1e9, "%.4g")), \
                "loss": \(formatted(loss, "%.9g"))}
                """
            print(text)
        }
    }
#endif
