#if MPI
    import Foundation
    import NPY
    import Testing
    import XentTestSupport

    /// `xent loss --vocab-parallel` and `--data-parallel` under `mpirun --oversubscribe -n 4` and `-n 3` (an
    /// uneven split) against the same command in one process, on training fixtures that cover weights,
    /// ignored rows, label smoothing, probabilities, z-loss and soft-capping; and a failure on one rank
    /// ending the run on all with one message and no file. Only with the trait MPI.
    @Suite(.serialized) struct ShardedCommandTests {
        /// mpirun as root on loopback (CI runs as root; ptrace may be unavailable), one thread per rank,
        /// and the vocabulary-parallel gradient in blocks of one row (each rank's slice is wider than 64
        /// bytes), so that the ranks' uneven slices must agree on their blocks.
        static let environment: [String: String?] = [
            "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
            "OMPI_MCA_btl_vader_single_copy_mechanism": "none", "XENT_CPU_THREADS": "1",
            "XENT_KEPT_EXPS_BYTES": "64",
        ]

        static let fixtures = [
            "z_mean_smoothing_weighted", "softcap_z_weighted_ignored", "softcap_probabilities",
        ]

        struct Run: Sendable, CustomTestStringConvertible {
            var fixture: String
            var mode: String
            var ranks: Int
            var testDescription: String { "\(fixture) \(mode) on \(ranks) ranks" }
        }

        static let runs: [Run] = fixtures.flatMap { fixture in
            ["--vocab-parallel", "--data-parallel"].flatMap { mode in
                [4, 3].map { Run(fixture: fixture, mode: mode, ranks: $0) }
            }
        }

        @Test(arguments: runs)
        func matchesOneProcess(_ run: Run) throws {
            let fixture = try #require(TrainingFixtureCase.all.first { $0.name == run.fixture })
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            func arguments(_ tag: String) -> [String] {
                var arguments = [
                    "loss", "--logits", fixture.path("logits.npy"), "--target",
                    fixture.path("target.npy"), "--device",
                    "cpu", "--reduction", fixture.reduction, "--ignore-index",
                    String(fixture.ignoreIndex),
                    "--label-smoothing", String(fixture.labelSmoothing), "--z-loss-scale",
                    String(fixture.zLossScale),
                    "--json", "--grad-out", folder.file("grad-\(tag).npy"), "--lse-out",
                    folder.file("lse-\(tag).npy"),
                    "--out", folder.file("loss-\(tag).npy"),
                ]
                if fixture.weight { arguments += ["--weight", fixture.path("weight.npy")] }
                if let softcap = fixture.softcap { arguments += ["--softcap", String(softcap)] }
                return arguments
            }
            let single = try XentProcess.run(arguments("one"))
            try #require(single.status == 0, "\(single)")
            let sharded = try XentProcess.run(
                arguments("many") + [run.mode], environment: Self.environment,
                launcher: ["/usr/bin/env", "mpirun", "--oversubscribe", "-n", String(run.ranks)])
            try #require(sharded.status == 0, "\(run.testDescription)\n\(sharded)")
            let one =
                try JSONSerialization.jsonObject(with: Data(single.stdout.utf8)) as? [String: Any]
            let many =
                try JSONSerialization.jsonObject(with: Data(sharded.stdout.utf8)) as? [String: Any]
            #expect(
                sharded.stdoutLines.count == 1,
                "\(run.testDescription): rank 0 alone prints\n\(sharded)")
            #expect(
                many?["rows_kept"] as? Int == one?["rows_kept"] as? Int, "\(run.testDescription)")
            for (name, tolerance) in [("loss", 1e-5), ("grad", 1e-5), ("lse", 1e-6)] {
                let expected = try readDoubles(folder.file("\(name)-one.npy"))
                let largest = expected.map(abs).max() ?? 0
                expectAllClose(
                    try readDoubles(folder.file("\(name)-many.npy")), expected, relative: tolerance,
                    absolute: tolerance * largest, "\(run.testDescription): \(name)")
            }
        }

        @Test(arguments: ["--vocab-parallel", "--data-parallel"])
        func aFailureOnOneRankEndsAllWithOneMessage(_ mode: String) throws {
            let fixture = try #require(
                TrainingFixtureCase.all.first { $0.name == "z_mean_smoothing_weighted" })
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            // A target out of range in the last row only: in data-parallel mode, only the last rank's rows.
            var targets = try NPYFile(path: fixture.path("target.npy")).withUnsafeBufferPointer(
                of: Int64.self
            ) { Array($0) }
            targets[targets.count - 1] = 1_000_000
            try NPYStagedFile.stage(targets, shape: [targets.count], to: folder.file("target.npy"))
                .commit()
            let result = try XentProcess.run(
                [
                    "loss", "--logits", fixture.path("logits.npy"), "--target",
                    folder.file("target.npy"), "--grad-out",
                    folder.file("grad.npy"), mode,
                ], environment: Self.environment,
                launcher: ["/usr/bin/env", "mpirun", "--oversubscribe", "-n", "3"])
            #expect(result.status != 0, "\(result)")
            #expect(result.stdout.isEmpty, "\(result)")
            let messages = result.stderr.split(separator: "\n").filter {
                $0.hasPrefix("xent: error:")
            }
            #expect(messages.count == 1, "\(result)")
            #expect(
                messages.first?.contains("target index \(targets.count - 1)") == true, "\(result)")
            #expect(
                try folder.entries().allSatisfy { !$0.contains("grad") },
                "no gradient file, staged or not")
        }
    }
#else
    import Testing
    import XentTestSupport

    /// Without the trait MPI, the sharding flags say how to get them.
    @Suite struct ShardedCommandTests {
        @Test(arguments: ["--vocab-parallel", "--data-parallel"])
        func shardingNeedsTheTrait(_ mode: String) throws {
            let result = try XentProcess.run([
                "loss", "--logits", "L.npy", "--target", "T.npy", mode,
            ])
            expectRefusal(result, mode)
            #expect(result.stderr.contains("--traits MPI"), "\(result)")
        }
    }
#endif
