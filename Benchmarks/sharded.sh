#!/usr/bin/env bash
# The sharded losses against one process (the MPI issue's targets): N = 8192 rows, C = 32768 classes of
# float32, forward and forward + backward, vocabulary-parallel and data-parallel on 2 ranks of 1 thread
# each (`XENT_CPU_THREADS=1`) against one process with every core: the all-reduces' share of each sharded
# call (floor: under 0.05), the sharded call's time over the one-process call's (within 1.2), and the bytes
# each rank contributed to the all-reduces (O(N): 5 doubles a row for vocabulary-parallel).
#
# usage: Benchmarks/sharded.sh [REPEAT]   (from the package root; builds xent with the trait MPI, in release
#        mode; needs Open MPI: libopenmpi-dev, openmpi-bin)
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${1:-5}
swift build -c release --traits MPI --product xent >/dev/null
xent=.build/release/xent
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
rows=8192
classes=32768

printf "%-15s %-17s %12s %12s %12s %8s %8s %14s %s\n" mode pass "1 proc ms" "2 ranks ms" "reduce ms" ratio "reduce" "bytes/rank" verdict
for mode in vocab-parallel data-parallel; do
    for pass in forward forward+backward; do
        flags=()
        [ "$pass" = forward+backward ] && flags+=(--backward)
        one=$("$xent" bench --rows "$rows" --classes "$classes" --device cpu --repeat "$repeat" --json "${flags[@]}")
        many=$(mpirun --oversubscribe -n 2 -x XENT_CPU_THREADS=1 "$xent" bench "--$mode" --rows "$rows" \
            --classes "$classes" --device cpu --repeat "$repeat" "${flags[@]}")
        python3 - "$one" "$many" "$mode" "$pass" <<'PY'
import json, sys
one, many = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ratio = many["median_seconds"] / one["median_seconds"]
fraction = many["reduce_fraction"]
verdict = "ok" if ratio <= 1.2 and fraction < 0.05 else "BELOW"
print("%-15s %-17s %12.2f %12.2f %12.3f %8.3f %8.4f %14d %s" % (
    sys.argv[3], sys.argv[4], one["median_seconds"] * 1e3, many["median_seconds"] * 1e3,
    many["reduce_seconds"] * 1e3, ratio, fraction, many["reduced_bytes_per_rank"], verdict))
PY
    done
done
