import Foundation
import Testing

@testable import CrossEntropy

/// The backends every shared test case runs on: the CPU fallback always, OpenCL wherever a platform
/// exists. With `XENT_REQUIRE_OPENCL=1` (as in CI) a missing platform fails `openCLIsPresentWhenRequired`
/// instead of quietly shrinking the list.
enum Backends {
    static let openCLRequired = ProcessInfo.processInfo.environment["XENT_REQUIRE_OPENCL"] == "1"
    static let inventory = DeviceInventory.current()

    /// Device requests by name, as test arguments: the CPU fallback, and both OpenCL kernel families
    /// (one work-item per row, one work-group per row) on the first OpenCL device.
    static let names: [String] = ["cpu"] + (inventory.openCL.isEmpty ? [] : ["opencl", "opencl-groups"])

    private static let engines: [String: CrossEntropyEngine] = {
        var engines = ["cpu": try! CrossEntropyEngine(device: .cpu)]
        if !inventory.openCL.isEmpty {
            engines["opencl"] = try! CrossEntropyEngine(openCL: .openCL, family: .perRow)
            engines["opencl-groups"] = try! CrossEntropyEngine(openCL: .openCL, family: .perGroup)
        }
        return engines
    }()

    /// The shared engine for `name`.
    static func engine(_ name: String) -> CrossEntropyEngine {
        engines[name]!
    }
}

extension Trait where Self == ConditionTrait {
    /// For tests that need an OpenCL device: reported as skipped without one; with `XENT_REQUIRE_OPENCL=1`
    /// a missing device makes the condition throw, which fails each of them (as `openCLIsPresentWhenRequired`).
    static var needsOpenCL: Self {
        .enabled(
            if: try Backends.openCLIsPresent(),
            "needs an OpenCL device; XENT_REQUIRE_OPENCL=1 fails instead of skipping")
    }
}

extension Backends {
    /// Whether an OpenCL device exists; throws when there is none and `XENT_REQUIRE_OPENCL=1`.
    static func openCLIsPresent() throws -> Bool {
        if inventory.openCL.isEmpty && openCLRequired {
            throw CrossEntropyError(
                .deviceUnavailable, "XENT_REQUIRE_OPENCL=1 but \(inventory.problem ?? "no OpenCL device")")
        }
        return !inventory.openCL.isEmpty
    }
}

@Test func openCLIsPresentWhenRequired() {
    if Backends.openCLRequired {
        #expect(
            Backends.names.contains("opencl"), "XENT_REQUIRE_OPENCL=1 but \(Backends.inventory.problem ?? "no device")")
    }
}
