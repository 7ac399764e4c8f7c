// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "CrossEntropy",
    products: [
        .library(name: "CrossEntropy", targets: ["CrossEntropy"]),
        .executable(name: "xent", targets: ["xent"]),
        // The collective of an MPI communicator, for sharded losses across processes: empty unless the
        // package is built with the trait MPI (which needs Open MPI's libopenmpi-dev).
        .library(name: "CrossEntropyMPI", targets: ["CrossEntropyMPI"]),
    ],
    traits: [
        .trait(
            name: "MPI",
            description:
                "Sharded losses across processes over Open MPI (libopenmpi-dev): CrossEntropyMPI and xent's --vocab-parallel and --data-parallel."
        )
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        // `swift package generate-documentation`: the DocC catalog of CrossEntropy (CI builds it).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // The C API of OpenCL 1.2 (the system's opencl-headers), its functions forwarded to the ICD loader
        // opened at run time: nothing links libOpenCL.so.1, so the CPU fallback runs where it is missing.
        .target(name: "COpenCL", linkerSettings: [.linkedLibrary("dl")]),
        // The CBLAS routines of the fused linear cross-entropy, forwarded to OpenBLAS opened at run time, and
        // CLBlast's (the OpenCL BLAS) likewise: neither library is needed to build or to run anything else.
        .target(name: "COpenBLAS", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "CCLBlast", dependencies: ["COpenCL"], linkerSettings: [.linkedLibrary("dl")]),
        // What the host, the C row kernels and the OpenCL kernels must agree on: one header, whose text
        // the OpenCL host layer also puts before the kernel sources.
        .target(name: "KernelContract"),
        // Safe Swift over the OpenCL C API; knows nothing about losses.
        .target(name: "OpenCLHost", dependencies: ["COpenCL", "CCLBlast"]),
        // The OpenCL C sources, embedded in the binary as bytes at build time.
        .target(
            name: "CrossEntropyKernels",
            path: "Kernels",
            exclude: ["README.md"],
            resources: [
                .embedInCode("cross_entropy_rows.cl"),
                .embedInCode("cross_entropy_groups.cl"),
                .embedInCode("memory_probe.cl"),
            ]
        ),
        // The CPU fallback's innermost row loops, compiled for several ISAs and dispatched at run time.
        .target(name: "CPURowKernels", dependencies: ["KernelContract"]),
        // NumPy .npy files: a strict reader and an atomic writer.
        .target(name: "NPY"),
        .target(
            name: "CrossEntropy",
            dependencies: [
                "OpenCLHost", "CrossEntropyKernels", "KernelContract", "CPURowKernels", "COpenBLAS",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Open MPI's C API (pkg-config ompi-c), behind the trait MPI.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(
            name: "CrossEntropyMPI",
            dependencies: ["CrossEntropy", .target(name: "CMPI", condition: .when(traits: ["MPI"]))]),
        .executableTarget(
            name: "xent",
            dependencies: [
                "CrossEntropy", "NPY", "CPURowKernels",
                .target(name: "CrossEntropyMPI", condition: .when(traits: ["MPI"])),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The example of the README: a small classifier of the UCI handwritten digits (`swift run digits-classifier`).
        .executableTarget(
            name: "digits-classifier",
            dependencies: ["CrossEntropy", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/DigitsClassifier", exclude: ["Data"]),
        // libFuzzer target for the .npy reader and the option validation (see README, Fuzzing); built
        // without -DFUZZING it replays corpus files given as arguments.
        .executableTarget(name: "xent-fuzz", dependencies: ["CrossEntropy", "NPY"], path: "Fuzz/xent-fuzz"),
        // What the test targets share: the PyTorch fixtures (cross-entropy, and the training extras) and
        // their manifests, the `xent` child-process runner, temporary folders and a seeded generator.
        .target(
            name: "XentTestSupport", path: "Tests/XentTestSupport",
            exclude: ["Fixtures", "TrainingFixtures", "LinearFixtures"]),
        .testTarget(name: "OpenCLHostTests", dependencies: ["OpenCLHost"]),
        .testTarget(name: "NPYTests", dependencies: ["NPY", "XentTestSupport"], exclude: ["FuzzCorpus"]),
        .testTarget(
            name: "CrossEntropyTests",
            dependencies: ["CrossEntropy", "NPY", "XentTestSupport", "KernelContract", "CPURowKernels", "COpenCL"]),
        .testTarget(name: "xentTests", dependencies: ["NPY", "XentTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
