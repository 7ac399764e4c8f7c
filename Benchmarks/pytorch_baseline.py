"""PyTorch's F.cross_entropy on the same shapes as `xent bench`, for comparison (CPU, all cores).

usage: python3 pytorch_baseline.py ROWS CLASSES {forward,forward+backward} [REPEAT]
Prints one JSON object: median_seconds, logits_gbps, loss.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

rows, classes, pass_name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
repeat = int(sys.argv[4]) if len(sys.argv) > 4 else 5
generator = torch.Generator().manual_seed(7)
logits = torch.rand(rows, classes, generator=generator) * 8 - 4
target = torch.randint(0, classes, (rows,), generator=generator)
times = []
loss = float("nan")
for run in range(repeat + 1):
    x = logits.detach().requires_grad_(pass_name == "forward+backward")
    start = time.perf_counter()
    value = F.cross_entropy(x, target)
    if pass_name == "forward+backward":
        value.backward()
    elapsed = time.perf_counter() - start
    loss = value.item()
    if run > 0:
        times.append(elapsed)
median = statistics.median(times)
print(json.dumps({"device": "torch-cpu", "rows": rows, "classes": classes, "pass": pass_name,
                  "median_seconds": median, "logits_gbps": rows * classes * 4 / median / 1e9, "loss": loss}))
