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
parameter of the correlated-noise model (:mod:`dynamics.theory.correlated`), where it
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
    """m_t = ρ m_{t−1} + g_t for every tensor in ``params``, kept on their device (float32).

    ``groups``: each tensor's param group (whose ρ :meth:`step` takes; default: one group).
    The filters of one group on one device are views of one flat buffer, so ρ m is one
    multiplication per group; ``memory`` lists them in the order of ``params``.
    """

    def __init__(self, params: list[torch.Tensor], groups: list[int] | None = None):
        groups = [0] * len(params) if groups is None else groups
        self.memory: list[torch.Tensor] = [None] * len(params)
        self._flat: list[tuple[int, torch.Tensor]] = []  # (group, buffer) per (group, device)
        for group, device in dict.fromkeys((g, p.device) for g, p in zip(groups, params)):
            idx = [i for i, (g, p) in enumerate(zip(groups, params)) if (g, p.device) == (group, device)]
            flat = torch.zeros(sum(params[i].numel() for i in idx), dtype=torch.float32, device=device)
            for i, view in zip(idx, flat.split([params[i].numel() for i in idx])):
                self.memory[i] = view.view(params[i].shape)
            self._flat.append((group, flat))
        self._group = torch.tensor(groups, device=params[0].device) if params else None
        self._cast = any(p.dtype != torch.float32 for p in params)

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], rho: list[float],
             grad_norms: torch.Tensor | None = None) -> torch.Tensor | None:
        """One optimiser step with loss gradients ``grads`` (one per tensor) and momenta ``rho``
        (one per param group). On a logged step, given ``grad_norms`` |g_t| (one per tensor),
        first k_t = 1 + 2ρ m_{t−1}·g_t/|g_t|² per tensor (NaN where g_t = 0); then m ← ρ m + g.
        Returns k_t, or None without ``grad_norms``."""
        if self._cast:
            grads = [g.float() for g in grads]
        k = None
        if grad_norms is not None:
            dots = torch.stack([torch.vdot(m.view(-1), g.reshape(-1)) for m, g in zip(self.memory, grads)])
            g2 = grad_norms.double() ** 2
            rhos = torch.tensor(rho, dtype=torch.float64, device=g2.device)[self._group]
            k = 1 + 2 * rhos * dots.double() / g2.where(g2 > 0, torch.nan)
        for group, flat in self._flat:
            flat.mul_(rho[group])
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
