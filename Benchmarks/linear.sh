#!/usr/bin/env bash
# The fused linear cross-entropy's table in the README: `xent bench --linear` (float32 forward + backward,
# N = 4096 rows) at H = 1024 and 2048, V = 32768 and 128256, against the floors of its issue — at least
# 0.85 of the chunk GEMMs' rate on the same BLAS in the same run, resident memory above the inputs and
# gradients at most 0.25 of the full N×V logits — and, when `torch` is importable, PyTorch's CPU
# `F.cross_entropy(x @ W.T, t)` and `F.linear_cross_entropy` on the same shapes (at least 1.2× faster than
# both, and less memory than the latter).
#
# usage: Benchmarks/linear.sh [REPEAT] [DEVICE]   (from the package root; builds xent in release mode;
#        each PyTorch shape takes up to a minute per repeat)
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${1:-3}
device=${2:-cpu}
swift build -c release --product xent >/dev/null
xent=.build/release/xent
have_torch=0
python3 -c "import torch" 2>/dev/null && have_torch=1
rows=4096

printf "%-6s %6s %7s %10s %8s %11s %6s %13s %9s  %-24s %-24s %s\n" device H V seconds GFLOP/s "GEMM GFLOP/s" frac "extra MB" "of logits" \
    "torch naive s (x, MB)" "torch linear_ce s (x, MB)" verdict
for hidden in 1024 2048; do
    for classes in 32768 128256; do
        json=$("$xent" bench --linear --rows "$rows" --classes "$classes" --hidden-size "$hidden" --device "$device" \
            --repeat "$repeat" --json)
        read -r seconds gflops sgemm fraction extra < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["median_seconds"], d["gflops"], d["sgemm_gflops"], d["fraction_of_sgemm"], d["peak_extra_bytes"])' "$json")
        logits_bytes=$(( rows * classes * 4 ))
        of_logits=$(python3 -c "print(round($extra / $logits_bytes, 3))")
        verdict=$(python3 -c "print('ok' if $fraction >= 0.85 and $of_logits <= 0.25 else 'BELOW')")
        naive="-"
        chunked="-"
        if [ "$have_torch" = 1 ]; then
            torch_json=$(python3 Benchmarks/pytorch_linear_baseline.py "$rows" "$hidden" "$classes" "$repeat")
            read -r naive chunked torch_verdict < <(python3 -c '
import json, sys
t = json.loads(sys.argv[1]); ours = float(sys.argv[2]); extra = int(sys.argv[3])
n, l = t["naive"], t["linear_cross_entropy"]
cell = lambda d: "%.2f(%.2fx,%d)" % (d["median_seconds"], d["median_seconds"] / ours, d["peak_extra_bytes"] // 1000000)
fast = min(n["median_seconds"], l["median_seconds"]) / ours >= 1.2
lean = extra < l["peak_extra_bytes"]
print(cell(n), cell(l), "ok" if fast and lean else "BELOW")' "$torch_json" "$seconds" "$extra")
            [ "$torch_verdict" = ok ] || verdict=BELOW
        fi
        printf "%-6s %6s %7s %10.3f %8.1f %11.1f %6.3f %13.0f %9.3f  %-24s %-24s %s\n" "$device" "$hidden" "$classes" \
            "$seconds" "$gflops" "$sgemm" "$fraction" "$(python3 -c "print($extra / 1e6)")" "$of_logits" "$naive" "$chunked" "$verdict"
    done
done
