import Foundation

/// One case of the fused linear cross-entropy fixtures in `LinearFixtures/` (PyTorch 2.15 in float64, made
/// by `LinearFixtures/make_fixtures.py`, which says how each value is defined): the loss of
/// `hidden · linear_weightᵀ + linear_bias` and its gradients with respect to all three, with the
/// cross-entropy's options.
public struct LinearFixtureCase: Decodable, Sendable, CustomStringConvertible {
    /// The case's folder name.
    public let name: String
    /// Whether `linear_bias.npy` (and its expected gradient) is present.
    public let bias: Bool
    /// Whether class weights `weight.npy` are present.
    public let weighted: Bool
    /// `none`, `mean` or `sum`.
    public let reduction: String
    /// The ignore index.
    public let ignoreIndex: Int
    /// The label smoothing.
    public let labelSmoothing: Double
    /// The z-loss scale.
    public let zLossScale: Double
    /// The soft-capping's `s`, or `nil`.
    public let softcap: Double?
    /// The inputs' `.npy` type: `<f4` or `<f8`.
    public let dtype: String

    enum CodingKeys: String, CodingKey {
        case name, bias, weighted, reduction, softcap, dtype
        case ignoreIndex = "ignore_index"
        case labelSmoothing = "label_smoothing"
        case zLossScale = "z_loss_scale"
    }

    /// The case's name.
    public var description: String { name }

    /// The folder holding every case.
    public static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("LinearFixtures")

    /// Every case of the manifest.
    public static let all: [LinearFixtureCase] = readManifest(of: folder)

    /// The path of `file` in this case's folder.
    public func path(_ file: String) -> String {
        LinearFixtureCase.folder.appendingPathComponent(name).appendingPathComponent(file).path
    }

    /// The relative tolerance fitting the inputs' precision.
    public var tolerance: Double { dtype == "<f8" ? 1e-11 : 2e-5 }
}
