import ArgumentParser
import CrossEntropy

/// `xent devices`: every OpenCL device found, the CPU fallback, and what `auto` picks.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices", abstract: "List the OpenCL platforms and devices, the CPU fallback, and auto's pick.")

    func run() throws {
        let inventory = DeviceInventory.current()
        let auto = try CrossEntropyEngine(device: .auto).device
        if let problem = inventory.problem {
            print("OpenCL: \(problem)")
        }
        for entry in inventory.openCL {
            let picked = auto.kind == .openCL(platform: entry.platformIndex, device: entry.deviceIndex)
            print("\(picked ? "*" : " ") \(entry.request)  \(entry.name)")
            print("    platform:      \(entry.platformName)")
            print("    type:          \(entry.type)")
            print("    compute units: \(entry.computeUnits)")
            print(
                "    memory:        \(mebibytes(entry.globalMemoryBytes)) (largest allocation \(mebibytes(entry.maxAllocationBytes)))"
            )
            print("    OpenCL C:      \(entry.openCLCVersion)")
            print("    float64:       \(entry.supportsFloat64 ? "yes" : "no")")
        }
        print("\(auto.kind == .cpu ? "*" : " ") cpu  the CPU fallback (C row kernels, all cores)")
        print("auto picks: \(auto.name) (\(auto.reason))")
    }

    private func mebibytes(_ bytes: Int) -> String { "\(bytes >> 20) MiB" }
}
