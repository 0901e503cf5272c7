"""Scale-invariant toy losses: gradients for many runs at once.

Every loss here satisfies L(c w) = L(w), hence g(c w) = g(w)/c and g ⟂ w. Weights are
torch tensors of shape (R, D): R runs (settings) of D dimensions each.
"""

from __future__ import annotations

import torch


def tangent(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The part of ``x`` orthogonal to ``w``, row by row: x − (x·ŵ) ŵ."""
    w_hat = w / w.norm(dim=-1, keepdim=True)
    return x - (x * w_hat).sum(-1, keepdim=True) * w_hat


def noise_gradient(w: torch.Tensor, grad_norm, generator: torch.Generator | None = None) -> torch.Tensor:
    """The derivation's noise model: a random direction in the tangent space of w,

        g ⟂ w,   |g| = G/|w|,   independent across steps,

    with ``grad_norm`` G (a number or a tensor broadcastable to (R, 1)).
    """
    z = tangent(w, torch.randn(w.shape, generator=generator, dtype=w.dtype, device=w.device))
    return z * (grad_norm / (z.norm(dim=-1, keepdim=True) * w.norm(dim=-1, keepdim=True)))
