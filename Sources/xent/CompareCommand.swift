import ArgumentParser
import NPY

/// `xent compare`: whether two `.npy` arrays agree element by element, as `numpy.allclose` — so that a
/// machine with no Python (the GPU bundle's) can check results against the fixtures.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Check that two .npy arrays agree within |a − b| ≤ atol + rtol·|b| (NaN equals NaN).",
        discussion: """
            Prints one line: the elements compared and the largest differences, or the first element that \
            differs. Exit status 0 when they agree, 1 when they do not (or cannot be compared).

            EXAMPLES:
              xent compare grad.npy expected_grad.npy
              xent compare loss.npy expected_loss.npy --rtol 1e-6 --atol 0
            """)

    @Argument(help: ArgumentHelp("The array to check.", valueName: "A.npy"))
    var actual: String

    @Argument(help: ArgumentHelp("The expected array.", valueName: "B.npy"))
    var expected: String

    @Option(help: "Relative tolerance.")
    var rtol = 1e-5

    @Option(help: "Absolute tolerance.")
    var atol = 1e-8

    func validate() throws {
        guard rtol >= 0, atol >= 0 else { throw ValidationError("tolerances must not be negative") }
    }

    func run() throws {
        let a = try NPYFile(path: actual)
        let b = try NPYFile(path: expected)
        guard a.shape == b.shape else {
            throw CommandError("\(actual) has shape \(a.shape), \(expected) has shape \(b.shape)")
        }
        let (x, y) = (a.doubles(), b.doubles())
        var (largestAbsolute, largestRelative) = (0.0, 0.0)
        for index in x.indices {
            let (value, reference) = (x[index], y[index])
            if value.isNaN && reference.isNaN || value == reference { continue }
            let difference = abs(value - reference)
            guard difference <= atol + rtol * abs(reference) else {
                throw CommandError(
                    "element \(index) differs: \(formatted(value, "%.9g")) against \(formatted(reference, "%.9g"))"
                        + " (rtol \(rtol), atol \(atol))")
            }
            largestAbsolute = max(largestAbsolute, difference)
            largestRelative = max(largestRelative, reference == 0 ? 0 : difference / abs(reference))
        }
        print(
            "\(x.count) elements agree: largest difference \(formatted(largestAbsolute, "%.3g")) "
                + "(\(formatted(largestRelative, "%.3g")) relative)")
    }
}
