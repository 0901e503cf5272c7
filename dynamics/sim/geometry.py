"""Measurements on weight tensors shared by the simulator, the trainer and the tests."""

from __future__ import annotations

import torch


def angle(a: torch.Tensor, b: torch.Tensor, dim=-1) -> torch.Tensor:
    """Angle between ``a`` and ``b`` along ``dim``, in radians.

        θ = 2 atan2(|â − b̂|, |â + b̂|)

    which stays accurate for the tiny per-step angles (1e-4 rad) where
    acos(â·b̂) loses half its digits.
    """
    a_hat = a / a.norm(dim=dim, keepdim=True)
    b_hat = b / b.norm(dim=dim, keepdim=True)
    return 2 * torch.atan2((a_hat - b_hat).norm(dim=dim), (a_hat + b_hat).norm(dim=dim))


def angles(a: list[torch.Tensor], b: list[torch.Tensor], a_norms: list[torch.Tensor] | None = None) -> torch.Tensor:
    """:func:`angle` between ``a[i]`` and ``b[i]`` over all their elements, for every i at once:

        θ_i = 2 atan2(|â_i − b̂_i|, |â_i + b̂_i|),   â_i = a_i/|a_i|, b̂_i = b_i/|b_i|

    the same arithmetic in a few ``torch._foreach`` calls instead of ten operations per
    tensor (``a_norms``: the |a_i| as 0-d tensors, when already known). Returns a (len(a),) tensor.
    """
    a_hat = torch._foreach_div(a, torch._foreach_norm(a) if a_norms is None else a_norms)
    b_norms = torch._foreach_norm(b)
    diff = torch._foreach_addcdiv(a_hat, b, b_norms, value=-1)  # â − b̂
    torch._foreach_addcdiv_(a_hat, b, b_norms)  # now â + b̂
    return 2 * torch.atan2(torch.stack(torch._foreach_norm(diff)), torch.stack(torch._foreach_norm(a_hat)))
