/// The OpenCL C sources of the cross-entropy kernels, embedded in the binary when it is built.
package enum KernelSources {
    /// Each kernel file's name and its embedded text.
    package static let embedded: [(name: String, text: String)] = [
        ("cross_entropy_rows.cl", String(decoding: PackageResources.cross_entropy_rows_cl, as: UTF8.self))
    ]
}
