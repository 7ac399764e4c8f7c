import CrossEntropy
import Foundation
import Testing

@Suite struct DeviceSelectionTests {
    @Test(arguments: [
        ("auto", DeviceRequest.auto), ("cpu", .cpu), ("opencl", .openCL),
        ("opencl:0:0", .openCLDevice(platform: 0, device: 0)), ("opencl:2:13", .openCLDevice(platform: 2, device: 13)),
    ])
    func parsesDeviceStrings(text: String, request: DeviceRequest) throws {
        #expect(try DeviceRequest(parsing: text) == request)
        #expect(request.description == text)
    }

    @Test(arguments: ["", "gpu", "opencl:", "opencl:1", "opencl:a:b", "opencl:-1:0", "opencl:0:0:0", "CPU"])
    func rejectsUnknownDevices(text: String) {
        #expect {
            try DeviceRequest(parsing: text)
        } throws: { error in
            (error as? CrossEntropyError)?.code == .invalidDevice
        }
    }

    @Test func cpuIsAlwaysAvailable() throws {
        let engine = try CrossEntropyEngine(device: .cpu)
        #expect(engine.device.kind == .cpu)
        #expect(engine.device.reason == "requested")
    }

    @Test func scopedDefaultIsUsedWhenNoDeviceIsGiven() throws {
        let engine = try DeviceRequest.withDefault(.cpu) { try CrossEntropyEngine() }
        #expect(engine.device.request == .cpu)
    }

    @Test func missingOpenCLDeviceIsAClearError() {
        #expect {
            try CrossEntropyEngine(device: .openCLDevice(platform: 9, device: 9))
        } throws: { error in
            let error = error as? CrossEntropyError
            return error?.code == .deviceUnavailable && error?.message.contains("9:9") == true
                || error?.message.contains("no OpenCL platform") == true
        }
    }

    @Test func autoRecordsItsReason() throws {
        let engine = try CrossEntropyEngine(device: .auto)
        #expect(!engine.device.reason.isEmpty)
        if Backends.inventory.firstGPU == nil {
            #expect(engine.device.kind == .cpu)
        }
    }
}

/// Whether `OCL_ICD_VENDORS` names an empty folder: the headless box CI simulates with the OpenCL
/// packages installed.
enum Headless {
    static var isSimulated: Bool {
        guard let folder = ProcessInfo.processInfo.environment["OCL_ICD_VENDORS"],
            let contents = try? FileManager.default.contentsOfDirectory(atPath: folder)
        else { return false }
        return contents.isEmpty
    }
}

@Suite(.enabled(if: Headless.isSimulated, "needs OCL_ICD_VENDORS set to an empty folder"))
struct HeadlessTests {
    @Test func inventoryReportsNoPlatform() {
        let inventory = DeviceInventory.current()
        #expect(inventory.openCL.isEmpty)
        #expect(inventory.problem?.contains("no OpenCL platform") == true)
    }

    @Test func autoFallsBackToTheCPU() throws {
        let engine = try CrossEntropyEngine(device: .auto)
        #expect(engine.device.kind == .cpu)
        #expect(engine.device.reason.contains("no OpenCL platform"))
        let fixture = Fixture.all.first { $0.name == "seed_notebook" }!
        let loss = try engine.crossEntropy(fixture.logits(as: Float.self), target: fixture.target(as: Float.self))
        #expect(abs(Double(loss.scalar) - 1.7602916955947876) < 1e-6)
    }

    @Test func explicitOpenCLIsRefused() {
        #expect {
            try CrossEntropyEngine(device: .openCL)
        } throws: { error in
            let error = error as? CrossEntropyError
            return error?.code == .deviceUnavailable && error?.message.contains("no OpenCL platform") == true
        }
    }
}
