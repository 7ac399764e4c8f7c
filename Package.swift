// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "CrossEntropy",
    products: [
        .library(name: "CrossEntropy", targets: ["CrossEntropy"]),
        .executable(name: "xent", targets: ["xent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // The C API of OpenCL 1.2, from the system's ICD loader (ocl-icd-opencl-dev, opencl-headers).
        .systemLibrary(
            name: "COpenCL",
            pkgConfig: "OpenCL",
            providers: [.apt(["ocl-icd-opencl-dev", "opencl-headers"])]
        ),
        // Safe Swift over the OpenCL C API; knows nothing about losses.
        .target(name: "OpenCLHost", dependencies: ["COpenCL"]),
        // The OpenCL C sources, embedded in the binary as bytes at build time.
        .target(
            name: "CrossEntropyKernels",
            path: "Kernels",
            exclude: ["README.md"],
            resources: [
                .embedInCode("cross_entropy_rows.cl"),
                .embedInCode("cross_entropy_groups.cl"),
            ]
        ),
        // The CPU fallback's innermost row loops, compiled for several ISAs and dispatched at run time.
        .target(name: "CPURowKernels"),
        // NumPy .npy files: a strict reader and an atomic writer.
        .target(name: "NPY"),
        .target(
            name: "CrossEntropy",
            dependencies: ["OpenCLHost", "CrossEntropyKernels", "CPURowKernels"]
        ),
        .executableTarget(
            name: "xent",
            dependencies: [
                "CrossEntropy", "NPY",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // libFuzzer target for the .npy reader and the option validation (see README, Fuzzing); built
        // without -DFUZZING it replays corpus files given as arguments.
        .executableTarget(name: "xent-fuzz", dependencies: ["CrossEntropy", "NPY"], path: "Fuzz/xent-fuzz"),
        // The PyTorch fixtures and their manifest, shared by the library's and the command line's tests.
        .target(name: "FixtureManifest", path: "Tests/FixtureManifest", exclude: ["Fixtures"]),
        .testTarget(name: "OpenCLHostTests", dependencies: ["OpenCLHost"]),
        .testTarget(name: "NPYTests", dependencies: ["NPY"], exclude: ["FuzzCorpus"]),
        .testTarget(name: "CrossEntropyTests", dependencies: ["CrossEntropy", "NPY", "FixtureManifest"]),
        .testTarget(name: "xentTests", dependencies: ["NPY", "FixtureManifest"]),
    ],
    swiftLanguageModes: [.v6]
)
