"""Per-tensor measurements around one optimiser step: what the equilibrium theory predicts.

For every parameter tensor w, on every logged step t (the optimiser step that turns
w_t into w_{t+1}, using the loss gradient g_t computed at w_t):

    weight_norm     |w_t|                      (the weights the gradient was taken at)
    grad_norm       |g_t|                      loss gradient only, WITHOUT weight decay
    angular_update  ∠(w_t, w_{t+1})            dynamics.sim.geometry.angle, radians
    momentum_norm   |v_{t+1}|                  the optimiser's first-moment buffer after the
                                               step (SGD's momentum_buffer, Adam's and Lion's
                                               exp_avg; for plain SGD the rule's v' = g + α w)
    grad_power_ratio  k_t, the gradient power through the momentum filter relative to
                    white noise (training.gradstats; 1 = uncorrelated gradients)

and on step 0, the initial weights before the first step, weight_norm only (the other
columns empty). G = grad_norm · weight_norm is the scale-free gradient norm that
dynamics.theory.symbolic.predict takes, next to k. The functions return ``{column: tensor}`` with one
value per tensor (or per output channel, the rows of dim 0 of tensors with dim >= 2);
:class:`training.monitor.Monitor` records whatever columns they return, so a new
measurement is one new key here. Nothing here synchronises with the device: a few
``torch._foreach`` calls over all tensors at once, all left on the device.
"""

from __future__ import annotations

import torch

from dynamics.sim.geometry import angle, angles

# per-row hyperparameters the monitor writes beside the measurements (float64, not measured)
HYPERPARAMETERS = ("lr", "wd", "momentum")


def grads_of(params: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each tensor's .grad, zeros where it has none (a tensor the loss did not reach)."""
    return [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]


def plain_sgd_buffers(grads: list[torch.Tensor], weights: list[torch.Tensor], wd: float) -> list[torch.Tensor]:
    """v' = g + α w, the buffer of dynamics.rules.sgd (plain SGD keeps none)."""
    return torch._foreach_add(grads, weights, alpha=wd)


def before_step(weights: list[torch.Tensor], grads: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """|w_t| and |g_t| per tensor (weights: the snapshot taken before the step)."""
    return {"weight_norm": torch.stack(torch._foreach_norm(weights)),
            "grad_norm": torch.stack(torch._foreach_norm(grads))}


@torch.no_grad()
def after_step(before: list[torch.Tensor], after: list[torch.Tensor], buffers: list[torch.Tensor],
               before_norms: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """∠(w_t, w_{t+1}) and |v_{t+1}| per tensor (``before_norms``: the |w_t| of
    :func:`before_step`, so they are not measured twice)."""
    return {"angular_update": angles(before, after, None if before_norms is None else before_norms.unbind()),
            "momentum_norm": torch.stack(torch._foreach_norm(buffers))}


def rows_before_step(weights: list[torch.Tensor], grads: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """:func:`before_step` per output channel (row of dim 0), concatenated over tensors."""
    return {"weight_norm": torch.cat([w.flatten(1).norm(dim=1) for w in weights]),
            "grad_norm": torch.cat([g.flatten(1).norm(dim=1) for g in grads])}


def rows_after_step(before: list[torch.Tensor], after: list[torch.Tensor],
                    buffers: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """:func:`after_step` per output channel (row of dim 0), concatenated over tensors."""
    return {"angular_update": torch.cat([angle(b.flatten(1), a.detach().flatten(1), dim=1)
                                         for b, a in zip(before, after)]),
            "momentum_norm": torch.cat([v.flatten(1).norm(dim=1) for v in buffers])}
