import Foundation

/// One case of the training-extras fixtures in `TrainingFixtures/` (PyTorch 2.15 in float64, made by
/// `TrainingFixtures/make_fixtures.py`, which says how each value is defined): the z-loss, the
/// predicted classes and token accuracy, entropies and logsumexps, with the cross-entropy's options.
public struct TrainingFixtureCase: Decodable, Sendable, CustomStringConvertible {
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
    /// `float16`, `bfloat16`, `float32` or `float64`.
    public let logitsDType: String
    /// The logits' shape.
    public let shape: [Int]
    /// The z-loss scale.
    public let zLossScale: Double
    /// The soft-capping's `s`, or `nil`.
    public let softcap: Double?
    /// The rows whose target is not ignored.
    public let rowsKept: Int
    /// What `mean` divides the cross-entropy by.
    public let divisor: Double
    /// The token accuracy, for class-index targets.
    public let tokenAccuracy: Double?

    enum CodingKeys: String, CodingKey {
        case name, reduction, weight, shape, divisor
        case ignoreIndex = "ignore_index"
        case labelSmoothing = "label_smoothing"
        case targetKind = "target_kind"
        case logitsDType = "logits_dtype"
        case softcap
        case zLossScale = "z_loss_scale"
        case rowsKept = "rows_kept"
        case tokenAccuracy = "token_accuracy"
    }

    /// The case's name.
    public var description: String { name }

    /// The folder holding every case.
    public static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("TrainingFixtures")

    /// Every case of the manifest.
    public static let all: [TrainingFixtureCase] = readManifest(of: folder)

    /// The path of `file` in this case's folder.
    public func path(_ file: String) -> String {
        TrainingFixtureCase.folder.appendingPathComponent(name).appendingPathComponent(file).path
    }

    /// The relative tolerance fitting the logits' precision.
    public var tolerance: Double {
        switch logitsDType {
        case "float64": 1e-11
        case "float16", "bfloat16": 2e-4
        default: shape.count > 1 && shape[1] > 10_000 ? 5e-5 : 1e-5
        }
    }
}
