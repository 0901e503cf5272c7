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
"""

from __future__ import annotations

import torch


class GradientMemory:
    """m_t = ρ m_{t−1} + g_t for every tensor in ``params``, kept on their device."""

    def __init__(self, params: list[torch.Tensor], momentum: float):
        self.params, self.rho = params, float(momentum)
        self.memory = [torch.zeros_like(p, dtype=torch.float32) for p in params]

    def _grads(self) -> list[torch.Tensor]:
        return [p.grad.float() if p.grad is not None else torch.zeros_like(m)
                for p, m in zip(self.params, self.memory)]

    @torch.no_grad()
    def power_ratio(self) -> torch.Tensor:
        """k_t = 1 + 2ρ m_{t−1}·g_t/|g_t|² per tensor (NaN where g_t = 0); call before update()."""
        grads = self._grads()
        dots = torch.stack([torch.vdot(m.flatten().double(), g.flatten().double()) for m, g in zip(self.memory, grads)])
        g2 = torch.stack([torch.vdot(g.flatten().double(), g.flatten().double()) for g in grads])
        return 1 + 2 * self.rho * dots / g2.where(g2 > 0, torch.nan)

    @torch.no_grad()
    def update(self) -> None:
        """m ← ρ m + g: call once per optimiser step, after backward."""
        torch._foreach_mul_(self.memory, self.rho)
        torch._foreach_add_(self.memory, self._grads())

    def hook(self, optimizer, args, kwargs) -> None:
        """As a ``register_step_pre_hook`` hook: update() on every optimiser step."""
        self.update()
