"""Which tensors, and which rows of them, are scale-invariant: found by probing.

A tensor w is scale-invariant when the network's output f (hence any loss of it) is
unchanged under w → c·w; a row w_i (a slice along dim 0: an output filter) when it is
unchanged under w_i → c_i·w_i alone. BatchNorm after a conv makes every row invariant;
LayerNorm or GroupNorm over several channels only the whole tensor (or a group of rows);
a weight-standardised conv every row by itself.

The probe, on one real batch x:

1. *one forward and one backward pass for all tensors*: for a fixed random projection
   y = ⟨r, f(x)⟩, Euler's relation says a function unchanged under w_i → c w_i has
   d/dc y(c w_i) = Σ_j w_ij ∂y/∂w_ij = 0. Each row's score is
   |Σ_j w_ij ∂y/∂w_ij| / Σ_j |w_ij ∂y/∂w_ij| (0 for an invariant row, order 1/√n for
   a generic one); the tensor's score is the same over all its entries. A tensor with
   score < ``tolerance`` and a row with score < ``tolerance``/10 is a candidate; one the
   output does not depend on (zero gradient) is not.
2. *at most two forward passes per candidate tensor* confirm it: the whole tensor scaled
   by ``factor``, and its candidate rows scaled by random factors in [1/factor, factor];
   each is kept when the output moves by less than ``tolerance`` of its largest entry.

Tolerances from what the method achieves: invariant tensors move the output by 1e-6 to
1e-4 of its largest entry (the normalisation's ε against the channel variance, and
round-off, amplified through the layers after), up to 1e-3 with BatchNorm over only four
values per channel; the non-invariant ones seen move it by 0.2 or more. The gradient
scores of invariant tensors and rows are below 1e-6; a generic row's is about 1/√(fan-in),
so a row needs the stricter score, and a tensor's candidacy is settled by its forward pass.

Invariance must hold around the weights, not only at them: a zero-initialised BN shift
makes the BN scale before a ReLU and a conv-BN look invariant at initialisation, by
coincidence. So the probe evaluates everything at the weights with every tensor
perturbed by ``jitter`` times its RMS (times 1 for an all-zero tensor) of random noise.

It runs in eval mode with every BatchNorm's running statistics taken away for the
duration, so BN normalises by the batch's statistics (as in training, where the
invariance holds) and no running statistic moves; dropout is off. The parameters are
never modified (torch.func.functional_call). The remaining error of an invariant tensor
is the normalisation's ε against the channel variance (about 1e-5 relative here).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from dynamics.util.errors import RidgelineError

TOLERANCE = 1e-2  # relative output change (and tensor score) below which a tensor is invariant
FACTOR = 2.0  # scale factor of the confirming forward passes
JITTER = 0.1  # relative random perturbation of every tensor at the probed point


@dataclass
class TensorProbe:
    """One tensor's result."""

    name: str
    shape: str
    tensor_score: float  # |Σ w ∂y/∂w| / Σ|w ∂y/∂w| over the tensor
    tensor_change: float  # relative output change under w → factor·w (nan: not tried)
    tensor_invariant: bool
    rows: int  # rows (dim 0)
    invariant_rows: torch.Tensor  # bool per row, confirmed
    row_change: float  # relative output change with the candidate rows scaled (nan: none)


@dataclass
class ProbeResult:
    tensors: list[TensorProbe]

    @property
    def invariant(self) -> dict[str, bool]:
        """Name → whole tensor scale-invariant (what training.monitor records)."""
        return {t.name: t.tensor_invariant for t in self.tensors}

    @property
    def row_invariant(self) -> dict[str, torch.Tensor]:
        """Name → bool per row: the rows invariant on their own."""
        return {t.name: t.invariant_rows for t in self.tensors}

    def frame(self):
        """One row per tensor, as a pandas DataFrame (probe.csv)."""
        import pandas as pd

        return pd.DataFrame([{"tensor": t.name, "shape": t.shape, "tensor_invariant": t.tensor_invariant,
                              "invariant_rows": int(t.invariant_rows.sum()), "rows": t.rows,
                              "tensor_score": t.tensor_score, "tensor_change": t.tensor_change,
                              "row_change": t.row_change} for t in self.tensors])

    def table(self, title: str = "scale invariance, probed"):
        """The report: one rich Table, a row per tensor."""
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for column in ("tensor", "shape", "whole tensor", "rows on their own", "score", "Δoutput"):
            table.add_column(column, justify="left" if column in ("tensor", "shape") else "right")
        for t in self.tensors:
            n = int(t.invariant_rows.sum())
            table.add_row(t.name, t.shape, "[green]yes[/]" if t.tensor_invariant else "no",
                          f"{n}/{t.rows}" if n else "–", f"{t.tensor_score:.1e}",
                          f"{t.tensor_change:.1e}" if t.tensor_change == t.tensor_change else "–")
        return table


def _flat(output) -> torch.Tensor:
    """Every floating tensor in a model's output (tensor, tuple, list or dict), flattened."""
    if isinstance(output, torch.Tensor):
        return output.float().flatten()
    items = output.values() if isinstance(output, dict) else output
    if not isinstance(items, (list, tuple, type({}.values()))):
        raise RidgelineError(f"cannot probe a model whose output is a {type(output).__name__}")
    return torch.cat([_flat(o) for o in items])


@contextlib.contextmanager
def _batch_statistics(model: nn.Module):
    """Eval mode, BatchNorm on batch statistics, running statistics untouched."""
    saved = [(m, m.running_mean, m.running_var) for m in model.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    was_training = model.training
    model.eval()
    try:
        for m, _, _ in saved:
            m.running_mean = m.running_var = None
        yield
    finally:
        for m, mean, var in saved:
            m.running_mean, m.running_var = mean, var
        model.train(was_training)


def _jittered(w: torch.Tensor, jitter: float, gen: torch.Generator) -> torch.Tensor:
    """w + jitter·rms(w)·noise (jitter·noise where w is all zero)."""
    rms = float(w.double().pow(2).mean().sqrt()) if w.numel() else 0.0
    noise = torch.randn(w.shape, generator=gen).to(w)
    return w + jitter * (rms if rms > 0 else 1.0) * noise


def probe(model: nn.Module, batch, tolerance: float = TOLERANCE, factor: float = FACTOR,
          jitter: float = JITTER, seed: int = 0) -> ProbeResult:
    """Probe every trainable tensor of ``model`` on ``batch`` (inputs, or (inputs, targets))."""
    from torch.func import functional_call

    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    if not isinstance(x, torch.Tensor):
        raise RidgelineError(f"batch must be an input tensor or an (inputs, targets) pair, got {type(x).__name__}")
    gen = torch.Generator().manual_seed(seed)
    params = {n: _jittered(p.detach(), jitter, gen).requires_grad_() for n, p in model.named_parameters()
              if p.requires_grad}
    with _batch_statistics(model):
        with torch.no_grad():
            reference = _flat(functional_call(model, params, (x,)))
        scale = reference.abs().max().clamp_min(torch.finfo(reference.dtype).tiny)

        def change(name: str, scaled: torch.Tensor) -> float:
            with torch.no_grad():
                out = _flat(functional_call(model, {**params, name: scaled}, (x,)))
            return float((out - reference).abs().max() / scale)

        r = torch.randn(reference.shape, generator=gen).to(reference.device)
        y = (_flat(functional_call(model, params, (x,))) * r).sum()
        grads = torch.autograd.grad(y, list(params.values()), allow_unused=True)
        results = []
        for (name, w), g in zip(params.items(), grads):
            w = w.detach()
            e = (g * w if g is not None else torch.zeros_like(w)).double().reshape(max(w.shape[0], 1) if w.dim() else 1, -1)
            with torch.no_grad():
                total = e.abs().sum(1)
                row_score = torch.where(total > 0, e.sum(1).abs() / total, torch.full_like(total, float("inf")))
                tensor_score = float(e.sum().abs() / total.sum()) if total.sum() > 0 else float("inf")
            tensor_change = change(name, w * factor) if tensor_score < tolerance else float("nan")
            candidates = (row_score < tolerance / 10).cpu()
            row_change = float("nan")
            if candidates.any() and w.dim() >= 1:
                c = torch.ones(w.shape[0])
                c[candidates] = factor ** (2 * torch.rand(int(candidates.sum()), generator=gen) - 1)
                row_change = change(name, w * c.to(w).reshape(-1, *[1] * (w.dim() - 1)))
                if not row_change < tolerance:
                    candidates[:] = False
            results.append(TensorProbe(name, "x".join(map(str, w.shape)), tensor_score, tensor_change,
                                       bool(tensor_change < tolerance), w.shape[0] if w.dim() else 1,
                                       candidates, row_change))
    return ProbeResult(results)
