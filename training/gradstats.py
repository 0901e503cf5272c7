"""The gradient statistic that the correlated-noise theory takes: per tensor, every step.

For each parameter tensor keep the momentum filter of its loss gradients alone
(no weight decay, no learning rate), updated on every optimiser step:

    m_t = ρ m_{t−1} + g_t                                   (ρ the optimiser's momentum)

and on a logged step t report

    grad_power_ratio  k_t = 1 + 2ρ (m_{t−1}·g_t) / |g_t|²

For stationary gradients E|m|² = E|g|² (1 + 2ρ c)/(1 − ρ²) with c = E[m_{t−1}·g_t]/E|g|²,
so k is the power of the ρ-filtered gradient relative to white noise of the same
size: 1 for independent gradients, below 1 when successive gradients cancel within
the momentum's memory (1/(1 − ρ) steps), above 1 when they persist. It is the one
parameter of the correlated-noise model (:mod:`dynamics.correlated`), where it
enters through E[v·g] = c E|g|², the only moment the white model sets to zero.
With ρ = 0 (plain SGD) k ≡ 1: the SGD norm does not see gradient correlations.

ρ is each tensor's param-group momentum at that step (β₁ for Adam, AdamW and Lion,
whose first moment is the same filter up to a factor 1 − β₁), as
:class:`training.monitor.Monitor` reads it; the monitor calls :meth:`GradientMemory.step`
on every optimiser step, logged or not.
"""

from __future__ import annotations

import torch

from dynamics.util.errors import RidgelineError


class GradientMemory:
    """m_t = ρ m_{t−1} + g_t for every tensor in ``params``, kept on their device (float32)."""

    def __init__(self, params: list[torch.Tensor]):
        self.memory = [torch.zeros_like(p, dtype=torch.float32) for p in params]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], rho: list[float], logged: bool) -> torch.Tensor | None:
        """One optimiser step with loss gradients ``grads`` and momenta ``rho`` (one per
        tensor): on a logged step first k_t = 1 + 2ρ m_{t−1}·g_t/|g_t|² per tensor (NaN where
        g_t = 0), then m ← ρ m + g. Returns k_t, or None when not ``logged``."""
        grads = [g.float() for g in grads]
        k = None
        if logged:
            dots = torch.stack([torch.vdot(m.flatten().double(), g.flatten().double())
                                for m, g in zip(self.memory, grads)])
            g2 = torch.stack([torch.vdot(g.flatten().double(), g.flatten().double()) for g in grads])
            rhos = torch.tensor(rho, dtype=torch.float64, device=g2.device)
            k = 1 + 2 * rhos * dots / g2.where(g2 > 0, torch.nan)
        torch._foreach_mul_(self.memory, list(map(float, rho)))
        torch._foreach_add_(self.memory, grads)
        return k

    @torch.no_grad()
    def load(self, saved: list[torch.Tensor]) -> None:
        """Restore the filter state (from a checkpoint), in place: same count and shapes."""
        if len(saved) != len(self.memory) or any(s.shape != m.shape for s, m in zip(saved, self.memory)):
            raise RidgelineError("the checkpoint's gradient_memory does not match the model's tensors; "
                                 "delete checkpoint.pt to restart the run from scratch")
        for m, s in zip(self.memory, saved):
            m.copy_(s)
