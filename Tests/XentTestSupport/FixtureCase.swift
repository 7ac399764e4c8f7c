import Foundation

/// One case of the PyTorch 2.15 fixtures in `Fixtures/` (format in `Fixtures/README.md`), as
/// `manifest.json` lists it: shared by the library's and the command line's tests.
public struct FixtureCase: Decodable, Sendable {
    /// The case's folder name.
    public let name: String
    /// `none`, `mean` or `sum`.
    public let reduction: String
    /// The ignore index.
    public let ignoreIndex: Int
    /// The label smoothing.
    public let labelSmoothing: Double
    /// Whether `weight.npy` is present.
    public let weight: Bool
    /// `indices` or `probabilities`.
    public let targetKind: String
    /// `float16`, `float32` or `float64`.
    public let logitsDType: String
    /// The logits' shape.
    public let shape: [Int]
    /// Whether the input is invalid and must be rejected.
    public let error: Bool
    /// Whether `expected_grad.npy` is present.
    public let grad: Bool?

    enum CodingKeys: String, CodingKey {
        case name, reduction, weight, shape, error, grad
        case ignoreIndex = "ignore_index"
        case labelSmoothing = "label_smoothing"
        case targetKind = "target_kind"
        case logitsDType = "logits_dtype"
    }

    /// The folder holding every case.
    public static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// Every case of the manifest.
    public static let all: [FixtureCase] = readManifest(of: folder)

    /// The path of `file` in this case's folder.
    public func path(_ file: String) -> String {
        FixtureCase.folder.appendingPathComponent(name).appendingPathComponent(file).path
    }
}

/// The cases that `manifest.json` in `folder` lists (a fixture folder that cannot be read is a broken
/// checkout: a precondition failure).
func readManifest<Case: Decodable>(of folder: URL) -> [Case] {
    let manifest = folder.appendingPathComponent("manifest.json")
    guard let data = try? Data(contentsOf: manifest), let cases = try? JSONDecoder().decode([Case].self, from: data)
    else {
        preconditionFailure("cannot read the fixture manifest \(manifest.path)")
    }
    return cases
}
