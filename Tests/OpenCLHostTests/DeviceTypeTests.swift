import OpenCLHost
import Testing

@Suite struct DeviceTypeTests {
    @Test func describesKinds() {
        #expect(DeviceType.cpu.description == "CPU")
        #expect(DeviceType.gpu.description == "GPU")
        #expect(DeviceType([.gpu, .default]).description == "GPU, default")
        #expect(DeviceType.accelerator.description == "accelerator")
        #expect(DeviceType.custom.description == "custom")
        #expect(DeviceType().description == "none")
        #expect(DeviceType(rawValue: 1 << 40).description == "0x10000000000")
    }
}
