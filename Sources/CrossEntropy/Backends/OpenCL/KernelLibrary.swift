import CrossEntropyKernels
import KernelContract

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The kernel sources the OpenCL backend builds: the contract header `xent_contract.h` (from the C module
/// KernelContract, as the C row kernels and Swift read it), then the kernel files, the embedded copies or
/// the files of the same names in the folder named by `XENT_KERNEL_DIR` (for kernel development without
/// rebuilding). Each text starts with a `#line` directive, so that a build log names the file and line.
enum KernelLibrary {
    /// The environment variable naming a folder of `.cl` files that replace the embedded ones.
    static let overrideVariable = "XENT_KERNEL_DIR"

    /// The source text of the contract and of every kernel file, in order.
    static func sources() throws -> [String] {
        let contract = "#line 1 \"xent_contract.h\"\n" + String(cString: xent_contract_source())
        let folder = getenv(overrideVariable).map { String(cString: $0) } ?? ""
        let kernels = try KernelSources.embedded.map { file in
            let text = folder.isEmpty ? file.text : try readTextFile("\(folder)/\(file.name)")
            return "#line 1 \"\(file.name)\"\n" + text
        }
        return [contract] + kernels
    }

    private static func readTextFile(_ path: String) throws -> String {
        guard let file = fopen(path, "rb") else {
            throw CrossEntropyError(
                .openCLFailure, "\(overrideVariable): cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            bytes += chunk[..<count]
            if count < chunk.count { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
