import OpenCLHost
import Testing

/// Runs only with `OCL_ICD_VENDORS` pointing at an empty directory, where the ICD loader finds
/// no platform, for example `OCL_ICD_VENDORS=/tmp/empty swift test --filter OpenCLHostTests`.
@Suite(
    .enabled(
        if: TestEnvironment.icdVendorsIsEmptyDirectory,
        "needs OCL_ICD_VENDORS set to an empty directory"))
struct HeadlessTests {
    @Test func noPlatformIsAnEmptyListNotAnError() throws {
        #expect(try Platform.all().isEmpty)
        #expect(try TestEnvironment.firstDevice() == nil)
    }
}
