"""Makes the training-extras fixtures beside this file: truth from PyTorch in float64 (run with PyTorch 2.15).

PyTorch has no z-loss, so it is written here as Liger Kernel defines it (`lse_square_scale`): each row
not ignored adds z * logsumexp(x)^2; `mean` divides that part by the number of rows kept, the
cross-entropy part by their total weight (F.cross_entropy's own divisor). The gradient is PyTorch's
autograd of that expression, soft-capping (Gemma 2: every logit read as s * tanh(x / s)) differentiated
through. The per-row extras are torch.argmax (-1 for ignored rows), the token
accuracy over the rows kept, torch.special.entr(softmax).sum (entropy) and torch.logsumexp. Every value is
computed in float64 from the logits as stored (float16 and bfloat16 logits rounded first). bfloat16 arrays
are saved as ml_dtypes writes them (descr '<V2').

The folder bfloat16_rounding holds conversions into bfloat16: float32 values with PyTorch's rounding of
each (its bits, '<u2'), and float64 values with their exact rounding to nearest even, computed here with
fractions (PyTorch converts a double through a float, which can round twice).

usage: python3 make_fixtures.py   (needs ml_dtypes; writes one folder per case, manifest.json and
bfloat16_rounding)
"""
import json
import os
from fractions import Fraction

import ml_dtypes
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def make(name, shape, reduction="mean", z=0.0, ignore_index=-100, label_smoothing=0.0, weighted=False,
         target_kind="indices", dtype=np.float32, ignored_rows=(), scale=3.0, grid=False, seed=0, softcap=None):
    rng = np.random.default_rng(seed)
    classes = shape[1] if len(shape) > 1 else shape[0]
    if grid:  # values on a coarse grid, so that rows hold ties for their maximum
        logits = (rng.integers(-8, 9, size=shape) / 4).astype(dtype)
    else:
        logits = rng.uniform(-scale, scale, size=shape).astype(dtype)
    raw = torch.tensor(logits.astype(np.float64), requires_grad=True)
    # Gemma 2's soft-capping: every logit read as s * tanh(x / s), differentiated through.
    x = softcap * torch.tanh(raw / softcap) if softcap else raw
    row_shape = [shape[0]] + list(shape[2:]) if len(shape) > 1 else []
    weight = rng.uniform(0.5, 2.0, size=classes) if weighted else None
    w = torch.tensor(weight) if weighted else None
    if target_kind == "indices":
        target = rng.integers(0, classes, size=row_shape).astype(np.int64)
        flat = target.reshape(-1)
        for row in ignored_rows:
            flat[row] = ignore_index
        t = torch.tensor(target)
        kept = t != ignore_index
    else:
        q = rng.uniform(0.05, 1.0, size=shape)
        q = q / q.sum(axis=1, keepdims=True)
        target = q.astype(dtype)
        t = torch.tensor(target.astype(np.float64))
        kept = torch.ones(row_shape, dtype=torch.bool)
    ce = F.cross_entropy(x, t, weight=w, ignore_index=ignore_index, reduction="none",
                         label_smoothing=label_smoothing)
    lse = torch.logsumexp(x, dim=1 if len(shape) > 1 else 0)
    z_rows = torch.where(kept, z * lse * lse, torch.zeros_like(lse))
    kept_count = kept.sum().to(torch.float64)
    if reduction == "none":
        loss, z_loss = ce + z_rows, z_rows
    elif reduction == "sum":
        loss, z_loss = ce.sum() + z_rows.sum(), z_rows.sum()
    else:
        ce_mean = F.cross_entropy(x, t, weight=w, ignore_index=ignore_index, reduction="mean",
                                  label_smoothing=label_smoothing)
        z_loss = z_rows.sum() / kept_count
        loss = ce_mean + z_loss
    loss.sum().backward()
    class_dim = 1 if len(shape) > 1 else 0
    with torch.no_grad():
        predicted = torch.where(kept, x.argmax(dim=class_dim), torch.full_like(lse, -1, dtype=torch.int64))
        entropy = torch.special.entr(torch.softmax(x, dim=class_dim)).sum(dim=class_dim)
        accuracy = ((predicted == t) & kept).sum() / kept_count if target_kind == "indices" else None

    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    np.save(os.path.join(folder, "logits.npy"), logits)
    np.save(os.path.join(folder, "target.npy"), target)
    if weighted:
        np.save(os.path.join(folder, "weight.npy"), weight)
    np.save(os.path.join(folder, "expected_loss.npy"), loss.detach().numpy())
    np.save(os.path.join(folder, "expected_z_loss.npy"), z_loss.detach().numpy())
    np.save(os.path.join(folder, "expected_grad.npy"), raw.grad.numpy())
    np.save(os.path.join(folder, "expected_lse.npy"), lse.detach().numpy())
    np.save(os.path.join(folder, "expected_predicted.npy"), predicted.numpy())
    np.save(os.path.join(folder, "expected_entropy.npy"), entropy.numpy())
    case = {
        "name": name, "reduction": reduction, "ignore_index": ignore_index, "label_smoothing": label_smoothing,
        "weight": weighted, "target_kind": target_kind, "logits_dtype": np.dtype(dtype).name, "shape": list(shape),
        "z_loss_scale": z, "softcap": softcap, "rows_kept": int(kept.sum()),
        "divisor": (float(w[t[kept]].sum()) if weighted else float(kept.sum())) if target_kind == "indices"
        else float(kept.sum()),
        # null for probability targets, and where no row is kept (NaN, which JSON cannot hold)
        "token_accuracy": None if accuracy is None or torch.isnan(accuracy) else float(accuracy),
    }
    with open(os.path.join(folder, "case.json"), "w") as f:
        json.dump(case, f, indent=1)
    return case


cases = [
    make("z_mean", [16, 37], z=1e-2, seed=1),
    make("z_sum_ignored", [16, 37], reduction="sum", z=0.1, ignored_rows=(2, 9), seed=2),
    make("z_none_ignored", [6, 11], reduction="none", z=0.05, ignored_rows=(1,), seed=3),
    make("z_mean_weighted_ignored", [12, 50], z=0.02, weighted=True, ignore_index=3, ignored_rows=(0, 5),
         seed=4),
    make("z_mean_smoothing_weighted", [10, 1000], z=1e-3, label_smoothing=0.1, weighted=True, seed=5),
    make("z_probabilities", [8, 20], z=0.03, target_kind="probabilities", label_smoothing=0.05, seed=6),
    make("z_kdim", [3, 9, 4, 2], z=0.04, ignored_rows=(5,), seed=7),
    make("z_wide_rows", [3, 70001], z=1e-3, seed=8),
    make("z_float64", [9, 300], z=0.07, reduction="sum", dtype=np.float64, scale=20, seed=9),
    make("z_float16", [9, 300], z=0.01, dtype=np.float16, seed=10),
    make("z_few_classes", [300, 10], z=0.02, ignored_rows=(7, 100), seed=11),
    make("ties_predicted", [40, 12], z=0.0, grid=True, ignored_rows=(3,), seed=12),
    make("all_ignored_mean", [4, 6], z=0.5, ignored_rows=(0, 1, 2, 3), seed=13),
    make("softcap_mean", [16, 37], softcap=2.0, scale=8, seed=14),
    make("softcap_z_weighted_ignored", [12, 300], reduction="sum", z=0.02, softcap=5.0, weighted=True,
         ignored_rows=(3,), label_smoothing=0.1, scale=10, seed=15),
    make("softcap_kdim_none", [3, 9, 4], reduction="none", softcap=3.0, scale=6, ignored_rows=(2,), seed=16),
    make("softcap_probabilities", [8, 20], softcap=4.0, target_kind="probabilities", scale=8, seed=17),
    make("softcap_wide_rows", [2, 70001], z=1e-3, softcap=30.0, scale=40, seed=18),
    make("softcap_float16", [9, 300], softcap=10.0, dtype=np.float16, scale=12, seed=19),
    make("softcap_float64", [9, 300], reduction="none", softcap=7.0, dtype=np.float64, scale=20, seed=20),
    make("bf16_mean", [16, 37], dtype=ml_dtypes.bfloat16, seed=21),
    make("bf16_z_weighted_ignored", [12, 300], reduction="sum", z=0.02, weighted=True, ignored_rows=(3,),
         label_smoothing=0.1, dtype=ml_dtypes.bfloat16, seed=22),
    make("bf16_softcap_none", [9, 1001], reduction="none", softcap=10.0, scale=12, dtype=ml_dtypes.bfloat16,
         seed=23),
    make("bf16_probabilities", [8, 20], z=0.03, target_kind="probabilities", dtype=ml_dtypes.bfloat16, seed=24),
    make("bf16_kdim", [3, 9, 4, 2], z=0.04, ignored_rows=(5,), dtype=ml_dtypes.bfloat16, seed=25),
    make("bf16_wide_rows", [3, 70001], z=1e-3, dtype=ml_dtypes.bfloat16, seed=26),
    make("bf16_few_classes", [300, 10], ignored_rows=(7, 100), dtype=ml_dtypes.bfloat16, seed=27),
]
with open(os.path.join(HERE, "manifest.json"), "w") as f:
    json.dump(cases, f, indent=1)


def bfloat16_bits_of_double(value):
    """The bits of `value` (a float64) rounded to bfloat16, to nearest even, exactly."""
    if np.isnan(value):
        return 0x7FC0
    sign = 0x8000 if np.signbit(value) else 0
    if np.isinf(value):
        return sign | 0x7F80
    magnitude = Fraction(abs(float(value)))
    if magnitude == 0:
        return sign
    # Walk the positive bfloat16 values by their bits: they are ordered as the numbers they hold.
    def value_of(bits):
        return Fraction(np.array([bits], dtype=np.uint16).view(ml_dtypes.bfloat16).astype(np.float64)[0])
    low, high = 0, 0x7F7F
    while low < high:  # the largest finite bfloat16 at or below the magnitude
        middle = (low + high + 1) // 2
        if value_of(middle) <= magnitude:
            low = middle
        else:
            high = middle - 1
    below = low
    if value_of(below) == magnitude:
        return sign | below
    above = below + 1  # 0x7F80 (infinity) above the largest finite value
    upper = value_of(0x7F7F) + (value_of(0x7F7F) - value_of(0x7F7E)) if above == 0x7F80 else value_of(above)
    lower = value_of(below)
    if magnitude - lower < upper - magnitude or (magnitude - lower == upper - magnitude and below % 2 == 0):
        return sign | below
    return sign | above


rng = np.random.default_rng(99)
folder = os.path.join(HERE, "bfloat16_rounding")
os.makedirs(folder, exist_ok=True)
specials = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 3.3895314e38, 3.3961775e38, 3.4e38,
                     1e-40, -1e-40, 9.2e-41, 1.1754944e-38, 1.0e-45], dtype=np.float32)
ties = np.array([np.uint32(0x3F808000), np.uint32(0x3F818000), np.uint32(0xBF808000), np.uint32(0x00018000),
                 np.uint32(0x3F808001), np.uint32(0x3F817FFF)], dtype=np.uint32).view(np.float32)
randoms = (rng.standard_normal(400) * 10.0 ** rng.integers(-40, 39, size=400)).astype(np.float32)
floats = np.concatenate([specials, ties, randoms])
np.save(os.path.join(folder, "float32.npy"), floats)
np.save(os.path.join(folder, "float32_bits.npy"),
        torch.tensor(floats).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16))
doubles = np.concatenate([
    np.array([1.0039062500000002, 1.00390625, 1.0039062499999998, -1.01171875, 3.3961775292304e38, 1e-300,
              -0.0, np.nan, np.inf], dtype=np.float64),
    (rng.standard_normal(200) * 10.0 ** rng.integers(-40, 39, size=200)),
])
np.save(os.path.join(folder, "float64.npy"), doubles)
np.save(os.path.join(folder, "float64_bits.npy"),
        np.array([bfloat16_bits_of_double(v) for v in doubles], dtype=np.uint16))
