import OpenCLHost
import Testing

@Suite struct OpenCLStatusTests {
    @Test func namesKnownStatuses() {
        #expect(OpenCLStatus(rawValue: -4).description == "CL_MEM_OBJECT_ALLOCATION_FAILURE")
        #expect(OpenCLStatus(rawValue: -4) == .memObjectAllocationFailure)
        #expect(OpenCLStatus.success.description == "CL_SUCCESS")
        #expect(OpenCLStatus.outOfResources.description == "CL_OUT_OF_RESOURCES")
        #expect(OpenCLStatus.buildProgramFailure.rawValue == -11)
        #expect(OpenCLStatus(rawValue: -68).description == "CL_INVALID_DEVICE_PARTITION_COUNT")
        #expect(OpenCLStatus(rawValue: -1001) == .platformNotFoundKHR)
        #expect(OpenCLStatus.platformNotFoundKHR.description == "CL_PLATFORM_NOT_FOUND_KHR")
    }

    @Test func namesEveryOpenCL12Code() {
        let codes: [Int32] = Array(-19...0) + Array(-68 ... -30)
        let names = Set(codes.map { OpenCLStatus(rawValue: $0).description })
        #expect(names.count == codes.count)
        #expect(!names.contains { $0.hasPrefix("unknown") })
        #expect(names.allSatisfy { $0.hasPrefix("CL_") })
    }

    @Test(arguments: [-20, -29, -69, -1000, 1, 42])
    func describesUnknownStatuses(_ code: Int32) {
        #expect(OpenCLStatus(rawValue: code).description == "unknown OpenCL status \(code)")
    }
}
