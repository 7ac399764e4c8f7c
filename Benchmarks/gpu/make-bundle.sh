#!/usr/bin/env bash
# Builds the GPU run (#14): a self-contained folder of at most 64 MiB for a Linux x86-64 machine with an
# NVIDIA GPU and its driver but no Swift and no package registry — the release `xent` with the Swift
# runtime linked in (--static-swift-stdlib), the OpenCL ICD loader it opens at run time, the PyTorch
# fixtures, and run.sh (Benchmarks/gpu/run-on-gpu.sh), which does the rest there.
#
# usage: Benchmarks/gpu/make-bundle.sh [FOLDER]   (from anywhere; default FOLDER .build/gpu-bundle; needs
#        ocl-icd-libopencl1 for the loader it copies). Then: copy FOLDER to the GPU machine, run FOLDER/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-.build/gpu-bundle}

swift build -c release --product xent --static-swift-stdlib >/dev/null
loader=$(ldconfig -p | awk '/libOpenCL\.so\.1 /{print $NF; exit}')
[ -n "$loader" ] || { echo "make-bundle: no libOpenCL.so.1 (apt-get install ocl-icd-libopencl1)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/fixtures"
cp .build/release/xent "$out/bin/xent"
strip "$out/bin/xent"
cp -L "$loader" "$out/lib/libOpenCL.so.1"
# What the binary still needs from the system: only glibc's libraries, which every Linux has (the
# machine's glibc must be at least the one it was built against).
needed=$(ldd "$out/bin/xent" | awk '{print $1}' | grep -v -E '^(linux-vdso\.so\.1|/lib64/ld-linux-x86-64\.so\.2|lib(c|m|dl|pthread|rt|util)\.so\.[0-9]+)$' || true)
if [ -n "$needed" ]; then
    for library in $needed; do
        cp -L "$(ldd "$out/bin/xent" | awk -v l="$library" '$1 == l {print $3}')" "$out/lib/"
    done
fi
cp -r Tests/XentTestSupport/Fixtures "$out/fixtures/loss"
cp Benchmarks/gpu/run-on-gpu.sh "$out/run.sh"
chmod +x "$out/run.sh"
cp Benchmarks/gpu/README.md "$out/README.md"

bytes=$(du -sb "$out" | cut -f1)
echo "$out: $((bytes >> 20)) MiB ($(ls "$out/lib" | tr '\n' ' '))"
if [ "$bytes" -gt $((64 << 20)) ]; then
    echo "make-bundle: the folder is over 64 MiB" >&2
    exit 1
fi
