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
