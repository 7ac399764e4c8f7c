import CrossEntropyKernels

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The kernel sources the OpenCL backend builds: the embedded copies, or the files of the same names in
/// the folder named by `XENT_KERNEL_DIR` (for kernel development without rebuilding).
enum KernelLibrary {
    /// The environment variable naming a folder of `.cl` files that replace the embedded ones.
    static let overrideVariable = "XENT_KERNEL_DIR"

    /// The source text of every kernel file, in order.
    static func sources() throws -> [String] {
        guard let folder = getenv(overrideVariable).map({ String(cString: $0) }), !folder.isEmpty else {
            return KernelSources.embedded.map(\.text)
        }
        return try KernelSources.embedded.map { try readTextFile("\(folder)/\($0.name)") }
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
