"""Makes the fused linear cross-entropy fixtures beside this file: truth from PyTorch 2.15 in float64.

Each case's logits are X @ W.T + b formed in full in float64 from the inputs as stored; the loss is
F.cross_entropy of them (which F.linear_cross_entropy is defined as, and is checked against here where
it applies: it has no z-loss or soft-capping) plus, where asked, the z-loss as Liger Kernel defines it
(each row not ignored adds z * logsumexp^2; `mean` divides that part by the rows kept) and soft-capping
(every logit read as s * tanh(x / s)); the gradients with respect to X, W and b are PyTorch's autograd
of that expression (for `none`, of the sum of the per-row losses).

usage: python3 make_fixtures.py   (writes one folder per case and manifest.json)
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def make(name, leading, hidden_size, classes, dtype=np.float32, bias=True, reduction="mean", weighted=False,
         ignore_index=-100, ignored_rows=(), label_smoothing=0.0, z=0.0, softcap=None, seed=0):
    rng = np.random.default_rng(seed)
    x_np = rng.uniform(-1, 1, size=list(leading) + [hidden_size]).astype(dtype)
    w_np = rng.uniform(-1, 1, size=(classes, hidden_size)).astype(dtype)
    b_np = rng.uniform(-0.5, 0.5, size=classes).astype(dtype) if bias else None
    weight = rng.uniform(0.5, 2.0, size=classes) if weighted else None
    target = rng.integers(0, classes, size=leading).astype(np.int64)
    flat = target.reshape(-1)
    for row in ignored_rows:
        flat[row] = ignore_index
    x = torch.tensor(x_np.astype(np.float64), requires_grad=True)
    w = torch.tensor(w_np.astype(np.float64), requires_grad=True)
    b = torch.tensor(b_np.astype(np.float64), requires_grad=True) if bias else None
    t = torch.tensor(target)
    wt = torch.tensor(weight) if weighted else None
    logits = (x.reshape(-1, hidden_size) @ w.T + (b if bias else 0))
    capped = softcap * torch.tanh(logits / softcap) if softcap else logits
    flat_t = t.reshape(-1)
    ce = F.cross_entropy(capped, flat_t, weight=wt, ignore_index=ignore_index, reduction="none",
                         label_smoothing=label_smoothing)
    kept = flat_t != ignore_index
    lse = torch.logsumexp(capped, dim=1)
    zl = torch.where(kept, z * lse * lse, torch.zeros_like(lse))
    if reduction == "none":
        loss = (ce + zl).reshape(leading)
        objective = loss.sum()
    elif reduction == "sum":
        loss = ce.sum() + zl.sum()
        objective = loss
    else:
        divisor = (wt[flat_t.clamp(min=0)] * kept).sum() if weighted else kept.sum()
        loss = ce.sum() / divisor + zl.sum() / kept.sum()
        objective = loss
    if z == 0 and softcap is None:
        # F.linear_cross_entropy takes (N, H) or (H) inputs only: the rows flattened.
        reference = F.linear_cross_entropy(x.reshape(-1, hidden_size), w, flat_t, linear_bias=b, weight=wt,
                                           reduction=reduction, ignore_index=ignore_index,
                                           label_smoothing=label_smoothing)
        if reduction == "none":
            reference = reference.reshape(leading)
        assert torch.allclose(reference, loss, rtol=1e-12, atol=1e-12, equal_nan=True), (name, reference, loss)
    objective.backward()
    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    np.save(os.path.join(folder, "hidden.npy"), x_np)
    np.save(os.path.join(folder, "linear_weight.npy"), w_np)
    if bias:
        np.save(os.path.join(folder, "linear_bias.npy"), b_np)
        np.save(os.path.join(folder, "expected_grad_linear_bias.npy"), b.grad.numpy())
    if weighted:
        np.save(os.path.join(folder, "weight.npy"), weight)
    np.save(os.path.join(folder, "target.npy"), target)
    np.save(os.path.join(folder, "expected_loss.npy"), loss.detach().numpy())
    np.save(os.path.join(folder, "expected_grad_hidden.npy"), x.grad.numpy())
    np.save(os.path.join(folder, "expected_grad_linear_weight.npy"), w.grad.numpy())
    return {"name": name, "bias": bias, "weighted": weighted, "reduction": reduction,
            "ignore_index": ignore_index, "label_smoothing": label_smoothing, "z_loss_scale": z,
            "softcap": softcap, "dtype": np.dtype(dtype).str}


def main():
    cases = [
        make("basic_mean", [6], 5, 11, seed=1),
        make("weighted_ignored_smoothing_sum", [9], 7, 23, reduction="sum", weighted=True, ignored_rows=(0, 4),
             label_smoothing=0.1, seed=2),
        make("leading_dims_none", [2, 3], 4, 13, bias=False, reduction="none", ignored_rows=(2,), seed=3),
        make("z_softcap_weighted_mean", [8], 6, 300, weighted=True, ignored_rows=(1,), z=1e-3, softcap=4.0, seed=4),
        make("float64_ignore_index_mean", [7], 5, 17, dtype=np.float64, ignore_index=3, ignored_rows=(2, 5), seed=5),
        make("all_ignored_mean", [4], 3, 9, ignored_rows=(0, 1, 2, 3), seed=6),
    ]
    with open(os.path.join(HERE, "manifest.json"), "w") as manifest:
        json.dump(cases, manifest, indent=1)
        manifest.write("\n")


if __name__ == "__main__":
    main()
