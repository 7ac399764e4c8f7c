"""PyTorch's CPU linear + cross-entropy, forward and backward, for Benchmarks/linear.sh.

usage: python3 Benchmarks/pytorch_linear_baseline.py N H V REPEAT

Times `F.cross_entropy(x @ W.T, t)` (the logits formed in full) and `F.linear_cross_entropy(x, W, t)`
(PyTorch's chunked path, its automatic chunking) on float32 inputs like `xent bench --linear`'s, each
forward + backward, after one warm-up; prints one JSON object with the median seconds, the effective
GFLOP/s (6·N·H·V / seconds) and the peak resident memory above the inputs and gradients of each (the
process's high-water mark, reset before each call through /proc/self/clear_refs).
"""

import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def resident(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak():
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def measure(loss_of, x, w, t, repeat):
    times, extra = [], 0
    gradient_bytes = (x.numel() + w.numel()) * 4
    for run in range(repeat + 1):
        x.grad = None
        w.grad = None
        reset_peak()
        before = resident("VmRSS:")
        start = time.perf_counter()
        loss = loss_of(x, w, t)
        loss.backward()
        seconds = time.perf_counter() - start
        if run > 0:
            times.append(seconds)
            extra = max(extra, resident("VmHWM:") - before - gradient_bytes)
    return statistics.median(times), extra


def main():
    n, h, v, repeat = (int(a) for a in sys.argv[1:5])
    generator = torch.Generator().manual_seed(11)
    scale = 2 / h**0.5
    x = ((torch.rand(n, h, generator=generator) * 8 - 4) * scale / 2).requires_grad_()
    w = ((torch.rand(v, h, generator=generator) * 8 - 4) * scale / 2).requires_grad_()
    t = torch.randint(0, v, (n,), generator=generator)
    flops = 6 * n * h * v
    result = {"rows": n, "hidden_size": h, "classes": v, "threads": torch.get_num_threads(), "torch": torch.__version__}
    for name, loss_of in [
        ("naive", lambda x, w, t: F.cross_entropy(x @ w.T, t)),
        ("linear_cross_entropy", lambda x, w, t: F.linear_cross_entropy(x, w, t)),
    ]:
        seconds, extra = measure(loss_of, x, w, t, repeat)
        result[name] = {"median_seconds": seconds, "gflops": flops / seconds / 1e9, "peak_extra_bytes": extra}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
