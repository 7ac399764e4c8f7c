import ArgumentParser
import CrossEntropy

/// `xent devices`: every OpenCL device found, the CPU fallback, and what `auto` picks.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices", abstract: "List the OpenCL platforms and devices, the CPU fallback, and auto's pick.",
        discussion: """
            EXAMPLES:
              xent devices
              xent devices --json
              OCL_ICD_VENDORS=/nonexistent xent devices   # as a machine without OpenCL sees it
            """)

    @Flag(help: "Print one JSON object: the OpenCL devices, the CPU fallback and auto's pick.")
    var json = false

    @OptionGroup var logging: LoggingOptions

    func run() throws {
        let inventory = DeviceInventory.current()
        let auto = try CrossEntropyEngine(device: .auto, logger: logging.makeLogger()).device
        let cpuThreads = try CrossEntropyEngine(device: .cpu).device.name
        if json {
            printJSON(inventory, auto: auto, cpu: cpuThreads)
            return
        }
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

    /// `{"opencl_problem": …, "opencl": [{…}, …], "cpu": {…}, "auto": {…}}` on one line.
    private func printJSON(_ inventory: DeviceInventory, auto: SelectedDevice, cpu: String) {
        let devices = inventory.openCL.map { entry in
            let picked = auto.kind == .openCL(platform: entry.platformIndex, device: entry.deviceIndex)
            return """
                {"request": \(jsonString(entry.request.description)), "name": \(jsonString(entry.name)), \
                "platform": \(jsonString(entry.platformName)), "type": \(jsonString(entry.type)), \
                "compute_units": \(entry.computeUnits), "global_memory_bytes": \(entry.globalMemoryBytes), \
                "max_allocation_bytes": \(entry.maxAllocationBytes), \
                "opencl_c": \(jsonString(entry.openCLCVersion)), "float64": \(entry.supportsFloat64), \
                "auto_picks": \(picked)}
                """
        }
        print(
            """
            {"opencl_problem": \(inventory.problem.map(jsonString) ?? "null"), \
            "opencl": [\(devices.joined(separator: ", "))], \
            "cpu": {"request": "cpu", "name": \(jsonString(cpu)), "auto_picks": \(auto.kind == .cpu)}, \
            "auto": {"request": \(jsonString(auto.request.description)), "name": \(jsonString(auto.name)), \
            "reason": \(jsonString(auto.reason))}}
            """)
    }

    private func mebibytes(_ bytes: Int) -> String { "\(bytes >> 20) MiB" }
}
