import Foundation
import NPY
import Testing
import XentTestSupport

extension FixtureCase: CustomTestStringConvertible {
    /// Each case shows by its name.
    public var testDescription: String { name }
}

/// What the command-line tests need of a fixture case.
extension FixtureCase {
    /// The path of `file` in the case's folder.
    func file(_ file: String) -> String { path(file) }

    /// `xent loss` with the case's inputs and options on `device`, then `extra`.
    func lossArguments(device: String, _ extra: [String] = []) -> [String] {
        var arguments = [
            "loss", "--logits", file("logits.npy"), "--target", file("target.npy"),
            "--reduction", reduction, "--label-smoothing", String(labelSmoothing),
            "--device", device,
        ]
        // The default -100 is covered by its own test (`explicitDefaultIgnoreIndex`).
        if ignoreIndex != -100 {
            arguments += ["--ignore-index", String(ignoreIndex)]
        }
        if weight {
            arguments += ["--weight", file("weight.npy")]
        }
        return arguments + extra
    }

    /// The relative tolerance of the loss.
    var lossTolerance: Double {
        switch name {
        case "wide_vocab": 5e-5
        case "float16_logits": 2e-3
        default: 1e-5
        }
    }

    /// The dtype `--out` and `--grad-out` must write.
    var outputDType: NPYDType { logitsDType == "float64" ? .float64 : .float32 }
}

/// The PyTorch fixtures in `Tests/XentTestSupport/Fixtures`.
enum Fixtures {
    /// The folder holding every case.
    static let folder: String = FixtureCase.folder.path

    /// Every case in `manifest.json`.
    static func all() throws -> [FixtureCase] { FixtureCase.all }

    /// Valid cases reduced with mean or sum.
    static func reducedCases() throws -> [FixtureCase] {
        try all().filter { !$0.error && ($0.reduction == "mean" || $0.reduction == "sum") }
    }

    /// Valid cases with reduction none.
    static func unreducedCases() throws -> [FixtureCase] {
        try all().filter { !$0.error && $0.reduction == "none" }
    }

    /// Cases with an expected gradient.
    static func gradientCases() throws -> [FixtureCase] {
        try all().filter { !$0.error && $0.grad == true }
    }

    /// Invalid cases.
    static func errorCases() throws -> [FixtureCase] {
        try all().filter(\.error)
    }

    /// A case by name.
    static func named(_ name: String) throws -> FixtureCase {
        guard let found = try all().first(where: { $0.name == name }) else {
            throw HarnessError("no fixture case \(name) in the manifest")
        }
        return found
    }
}

/// Whether `xent devices` found an OpenCL platform, asked once per test run.
enum OpenCLPresence {
    /// `XENT_REQUIRE_OPENCL=1`: OpenCL must be present, and tests needing it fail without it.
    static var required: Bool {
        ProcessInfo.processInfo.environment["XENT_REQUIRE_OPENCL"] == "1"
    }

    private static let probe: Result<Bool, HarnessError> = {
        do {
            let result = try XentProcess.run(["devices"])
            guard result.status == 0 else {
                return .failure(HarnessError("xent devices failed:\n\(result)"))
            }
            return .success(!result.stdout.contains("no OpenCL platform"))
        } catch {
            return .failure(HarnessError("\(error)"))
        }
    }()

    /// Whether a test should run on `device`: always for devices other than OpenCL ones;
    /// for OpenCL, when a platform exists. Throws when OpenCL is required and absent. (Tests take it
    /// through the `.needsOpenCL` trait, so that where it is false they are reported as skipped.)
    static func shouldRun(on device: String) throws -> Bool {
        guard device.hasPrefix("opencl") else { return true }
        let present = try probe.get()
        if !present && required {
            throw HarnessError(
                "XENT_REQUIRE_OPENCL=1 but `xent devices` reports no OpenCL platform")
        }
        return present
    }
}

extension Trait where Self == ConditionTrait {
    /// For the tests of `--device opencl`: they run where `xent devices` finds an OpenCL platform and
    /// are reported as skipped where it finds none. With `XENT_REQUIRE_OPENCL=1` a missing platform
    /// makes the condition throw, which fails each of them.
    static var needsOpenCL: Self {
        .enabled(
            if: try OpenCLPresence.shouldRun(on: "opencl"),
            "needs an OpenCL platform; XENT_REQUIRE_OPENCL=1 fails instead of skipping")
    }
}

/// The elements of the `.npy` file at `path` as `Double`.
func readDoubles(_ path: String) throws -> [Double] {
    try NPYFile(path: path).doubles()
}

/// Whether `actual` is within `absolute + relative × |expected|` of `expected`; NaN matches only
/// NaN, and an infinity only itself.
func isClose(_ actual: Double, _ expected: Double, relative: Double, absolute: Double = 0)
    -> Bool
{
    if expected.isNaN { return actual.isNaN }
    if expected.isInfinite || actual.isInfinite { return actual == expected }
    return abs(actual - expected) <= absolute + relative * abs(expected)
}

/// Records one issue describing the elements of `actual` not close to `expected` (at most a few
/// of them), or none when all are close.
func expectAllClose(
    _ actual: [Double], _ expected: [Double], relative: Double, absolute: Double,
    _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    guard actual.count == expected.count else {
        Issue.record(
            "\(what): \(actual.count) values, expected \(expected.count)",
            sourceLocation: sourceLocation)
        return
    }
    let bad = actual.indices.filter {
        !isClose(actual[$0], expected[$0], relative: relative, absolute: absolute)
    }
    if !bad.isEmpty {
        let shown = bad.prefix(5).map { "[\($0)] \(actual[$0]) vs \(expected[$0])" }
        let message =
            "\(what): \(bad.count) of \(actual.count) values off (atol \(absolute), rtol "
            + "\(relative)), e.g. \(shown.joined(separator: ", "))"
        Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
    }
}

/// Bytes that stand for a file that must not be touched.
let sentinelBytes = Data("not an npy file: xent must leave this alone\n".utf8)

/// Expects `result` to be a clean refusal: exit status 1 or 2, a message on standard error,
/// nothing on standard output.
func expectRefusal(
    _ result: XentResult, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        result.status == 1 || result.status == 2, "\(what): want status 1 or 2\n\(result)",
        sourceLocation: sourceLocation)
    #expect(
        !result.stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
        "\(what): want a message on stderr\n\(result)", sourceLocation: sourceLocation)
    #expect(
        result.stdout.isEmpty, "\(what): want nothing on stdout\n\(result)",
        sourceLocation: sourceLocation)
    let messageLines = result.stderr.split(separator: "\n").filter {
        !$0.trimmingCharacters(in: .whitespaces).isEmpty
    }
    #expect(
        messageLines.count <= 1, "\(what): want one message on stderr\n\(result)",
        sourceLocation: sourceLocation)
}

/// Runs `xent arguments + [--out A --grad-out B]` twice in a fresh folder, first with both
/// paths fresh, then with both already holding `sentinelBytes`, and expects a refusal each time
/// that creates no file and leaves the existing ones byte for byte.
func expectRefusalWritingNothing(
    _ arguments: [String], _ what: String, environment: [String: String?] = [:],
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    let out = folder.file("loss.npy")
    let gradOut = folder.file("grad.npy")
    let outputs = ["--out", out, "--grad-out", gradOut]

    let fresh = try XentProcess.run(arguments + outputs, environment: environment)
    expectRefusal(fresh, "\(what) (fresh output paths)", sourceLocation: sourceLocation)
    let afterFresh = try folder.entries()
    #expect(
        afterFresh == [], "\(what): files created: \(afterFresh)", sourceLocation: sourceLocation)

    try sentinelBytes.write(to: URL(fileURLWithPath: out))
    try sentinelBytes.write(to: URL(fileURLWithPath: gradOut))
    let existing = try XentProcess.run(arguments + outputs, environment: environment)
    expectRefusal(existing, "\(what) (existing output files)", sourceLocation: sourceLocation)
    #expect(
        FileManager.default.contents(atPath: out) == sentinelBytes,
        "\(what): the existing --out file changed", sourceLocation: sourceLocation)
    #expect(
        FileManager.default.contents(atPath: gradOut) == sentinelBytes,
        "\(what): the existing --grad-out file changed", sourceLocation: sourceLocation)
    let afterExisting = try folder.entries()
    #expect(
        afterExisting == ["grad.npy", "loss.npy"], "\(what): files left behind: \(afterExisting)",
        sourceLocation: sourceLocation)
}

/// Parses one line of `xent loss` output: a decimal, or `nan`, `inf`, `-inf`.
func parseLoss(_ text: String) -> Double? {
    switch text {
    case "nan": return .nan
    case "inf": return .infinity
    case "-inf": return -.infinity
    default:
        let pattern = #"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"#
        guard text.range(of: pattern, options: .regularExpression) != nil else { return nil }
        return Double(text)
    }
}

/// The significant digits in a decimal such as `1.76029170` or `-2.5e-05`.
func significantDigits(_ text: String) -> Int {
    let mantissa = text.split(whereSeparator: { $0 == "e" || $0 == "E" }).first ?? ""
    let digits = mantissa.filter(\.isNumber).drop(while: { $0 == "0" })
    return digits.count
}
