#!/usr/bin/env bash
# The GPU run, on a machine with an NVIDIA GPU and its driver (no Swift needed): registers the driver's
# OpenCL ICD, lists the devices, runs the PyTorch fixtures through `xent loss` on the GPU with both kernel
# families and checks them with `xent compare`, then benches the forward loss and the loss + gradient at
# C = 1024, 32768, 131072, 256000 (about 1 GiB of float32 logits each), with the logits in host memory and
# resident on the device, beside the device's read bandwidth (a probe kernel in the same run). Results go
# to results/ beside this script: fixtures.txt, bench.jsonl, and summary.txt.
#
# usage: ./run.sh [REPEAT]
#   XENT_GPU_ICD   the driver's OpenCL library (default libnvidia-opencl.so.1)
#   XENT_GPU_DEVICE the device to use (default opencl:0:0, the first device of the registered driver)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repeat=${1:-5}
xent="$here/bin/xent"
results="$here/results"
mkdir -p "$results" "$here/vendors"
echo "${XENT_GPU_ICD:-libnvidia-opencl.so.1}" >"$here/vendors/gpu.icd"
export OCL_ICD_VENDORS="$here/vendors" XENT_OPENCL_LIBRARY="$here/lib/libOpenCL.so.1"
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
device=${XENT_GPU_DEVICE:-opencl:0:0}

"$xent" devices | tee "$results/devices.txt"
"$xent" devices --json >"$results/devices.json"

# One fixture: `xent loss` with the case's options, its loss and gradient compared with PyTorch's.
field() { grep -o "\"$1\": *[^,}]*" "$2" | head -1 | sed 's/^[^:]*: *//; s/"//g'; }
failures=0
: >"$results/fixtures.txt"
for family in per-row per-group; do
    for case in "$here"/fixtures/loss/*/; do
        json="$case/case.json"
        [ -f "$json" ] && [ "$(field error "$json")" = false ] || continue
        name=$(basename "$case")
        arguments=(loss --logits "$case/logits.npy" --target "$case/target.npy" --device "$device"
            --reduction "$(field reduction "$json")" --ignore-index "$(field ignore_index "$json")"
            --label-smoothing "$(field label_smoothing "$json")" --out "$results/loss.npy")
        [ "$(field weight "$json")" = true ] && arguments+=(--weight "$case/weight.npy")
        [ -f "$case/expected_grad.npy" ] && arguments+=(--grad-out "$results/grad.npy")
        rtol=1e-5 gradient_rtol=1e-4
        # PyTorch's float16 results are rounded to float16; xent computes them in float.
        [ "$(field logits_dtype "$json")" = float16 ] && rtol=2e-3 gradient_rtol=2e-3
        [ "$name" = wide_vocab ] && rtol=5e-5
        verdict=ok
        if ! XENT_OPENCL_KERNELS=$family "$xent" "${arguments[@]}" >/dev/null 2>"$results/error.txt"; then
            verdict="FAILED: $(cat "$results/error.txt")"
        elif ! "$xent" compare "$results/loss.npy" "$case/expected_loss.npy" --rtol $rtol --atol 1e-7 \
            >/dev/null 2>"$results/error.txt"; then
            verdict="loss: $(cat "$results/error.txt")"
        elif [ -f "$case/expected_grad.npy" ] && ! "$xent" compare "$results/grad.npy" "$case/expected_grad.npy" \
            --rtol $gradient_rtol --atol 1e-6 >/dev/null 2>"$results/error.txt"; then
            verdict="gradient: $(cat "$results/error.txt")"
        fi
        [ "$verdict" = ok ] || failures=$((failures + 1))
        printf "%-9s %-34s %s\n" "$family" "$name" "$verdict" | tee -a "$results/fixtures.txt"
    done
done
echo "fixtures: $failures failed" | tee -a "$results/fixtures.txt"

# The benches: each line one `xent bench --json` object (host input or resident, forward or with the
# gradient), with read_gbps (host memory), device_read_gbps, kernel_seconds, with the gradient
# device_copy_gbps (a device-memory copy) with fraction_of_device_copy and, for host input,
# host_to_device_gbps (an upload from pinned memory) with fraction_of_host_to_device.
: >"$results/bench.jsonl"
for classes in 1024 32768 131072 256000; do
    rows=$(((1 << 28) / classes))
    for pass in "" --backward; do
        for placement in "" --resident; do
            "$xent" bench --rows "$rows" --classes "$classes" --device "$device" --repeat "$repeat" --json \
                $pass $placement >>"$results/bench.jsonl" || echo "bench $rows x $classes $pass $placement failed" >&2
        done
    done
done
{
    printf "%-8s %-8s %-17s %-8s %10s %12s %14s %10s %14s %10s %12s %10s %10s\n" rows classes pass input "ms" \
        "logits GB/s" "device read GB/s" fraction "device copy GB/s" fraction "H->D B/call" "H->D GB/s" fraction
    while read -r line; do
        value() { echo "$line" | grep -o "\"$1\": *[^,}]*" | sed 's/^[^:]*: *//; s/"//g'; }
        input=host
        [ "$(value resident)" = true ] && input=resident
        printf "%-8s %-8s %-17s %-8s %10.3f %12s %14s %10s %14s %10s %12s %10s %10s\n" "$(value rows)" \
            "$(value classes)" "$(value pass)" "$input" \
            "$(echo "$(value median_seconds) * 1000" | bc -l 2>/dev/null || echo 0)" "$(value logits_gbps)" \
            "$(value device_read_gbps)" "$(value fraction_of_device_read)" "$(value device_copy_gbps)" \
            "$(value fraction_of_device_copy)" "$(value host_to_device_bytes)" "$(value host_to_device_gbps)" \
            "$(value fraction_of_host_to_device)"
    done <"$results/bench.jsonl"
} | tee "$results/summary.txt"
exit $((failures > 0))
