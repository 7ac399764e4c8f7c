/// The OpenCL C sources of the cross-entropy kernels, embedded in the binary when it is built.
package enum KernelSources {
    /// Each kernel file's name and its embedded text, in the order they are built (later files use the
    /// definitions of earlier ones).
    package static let embedded: [(name: String, text: String)] = [
        ("cross_entropy_rows.cl", String(decoding: PackageResources.cross_entropy_rows_cl, as: UTF8.self)),
        ("cross_entropy_groups.cl", String(decoding: PackageResources.cross_entropy_groups_cl, as: UTF8.self)),
        ("memory_probe.cl", String(decoding: PackageResources.memory_probe_cl, as: UTF8.self)),
    ]
}
