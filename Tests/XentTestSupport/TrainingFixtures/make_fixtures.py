"""Makes the training-extras fixtures beside this file: truth from PyTorch in float64 (run with PyTorch 2.15).

PyTorch has no z-loss, so it is written here as Liger Kernel defines it (`lse_square_scale`): each row
not ignored adds z * logsumexp(x)^2; `mean` divides that part by the number of rows kept, the
cross-entropy part by their total weight (F.cross_entropy's own divisor). The gradient is PyTorch's
autograd of that expression, soft-capping (Gemma 2: every logit read as s * tanh(x / s)) differentiated
through. The per-row extras are torch.argmax (-1 for ignored rows), the token
accuracy over the rows kept, torch.special.entr(softmax).sum (entropy) and torch.logsumexp. Every value is
computed in float64 from the logits as stored (float16 logits rounded first).

usage: python3 make_fixtures.py   (writes one folder per case and manifest.json)
"""
import json
import os

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
]
with open(os.path.join(HERE, "manifest.json"), "w") as f:
    json.dump(cases, f, indent=1)
