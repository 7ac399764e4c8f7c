import Foundation
import NPY
import Testing
import XentTestSupport

/// `xent loss --z-loss-scale Z`: the printed loss and the written gradient against a float64 reference
/// computed here (each row adds Z · lse², `mean` divides the z-loss by the rows kept).
@Suite struct ZLossCommandTests {
    static let logits: [[Double]] = [[0, 0, 0], [1, 3, -2], [0.5, -1, 2], [4, 4, 0]]
    static let targets: [Int64] = [0, 1, -100, 2]
    static let scale = 0.25

    /// The mean loss and its gradient, by the definition.
    static func reference() -> (loss: Double, gradient: [Double]) {
        let kept = targets.filter { $0 != -100 }.count
        var loss = 0.0
        var gradient: [Double] = []
        for (row, x) in logits.enumerated() {
            let lse = log(x.map { exp($0) }.reduce(0, +))
            let softmax = x.map { exp($0 - lse) }
            let y = targets[row]
            guard y != -100 else {
                gradient += [0, 0, 0]
                continue
            }
            loss += (lse - x[Int(y)]) / Double(kept) + scale * lse * lse / Double(kept)
            gradient += softmax.indices.map { c in
                (softmax[c] - (c == Int(y) ? 1 : 0)) / Double(kept) + 2 * scale * lse * softmax[c]
                    / Double(kept)
            }
        }
        return (loss, gradient)
    }

    @Test func meanLossAndGradient() throws {
        try check(device: "cpu")
    }

    @Test(.needsOpenCL) func meanLossAndGradientOnOpenCL() throws {
        try check(device: "opencl")
    }

    private func check(device: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let logitsPath = folder.file("logits.npy")
        let targetPath = folder.file("target.npy")
        let gradientPath = folder.file("grad.npy")
        try NPYWriter.write(Self.logits.flatMap { $0 }, shape: [4, 3], to: logitsPath)
        try NPYWriter.write(Self.targets, shape: [4], to: targetPath)
        let result = try XentProcess.run([
            "loss", "--logits", logitsPath, "--target", targetPath, "--z-loss-scale",
            String(Self.scale),
            "--device", device, "--grad-out", gradientPath,
        ])
        try #require(result.status == 0, "\(result)")
        let expected = Self.reference()
        let printed = try #require(
            Double(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(
            isClose(printed, expected.loss, relative: 1e-14),
            "\(device): \(printed) vs \(expected.loss)")
        expectAllClose(
            try readDoubles(gradientPath), expected.gradient, relative: 1e-14, absolute: 1e-15,
            "gradient")
    }
}
