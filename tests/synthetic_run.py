"""A run directory whose truth is known: the noise model advanced by the rules themselves.

Each "layer" is one vector of ``dim`` weights updated by ``dynamics.rules.RULES[rule]``
with gradients from ``dynamics.sim.toys.noise_gradient`` (g ⟂ w, |g| = G/|w|, independent
across steps), or, with ``correlation`` c > 0, the tangent part of an AR(1) noise
ξ_t = c ξ_{t−1} + √(1−c²) n_t, so that successive gradients are correlated (the noise
model's assumption broken on purpose), rescaled to the same |g| = G/|w|.
``radial`` r adds r·(G/|w|)·ŵ to every gradient (a tensor that is *not* scale-invariant:
g no longer ⟂ w); ``skip`` p leaves a random share p of the steps untaken (w, the buffer
and the gradient memory unchanged, as when a loss scaler skips a step). The gradient
power ratio k = 1 + 2ρ m_{t−1}·g_t/|g_t|² (m_t = ρ m_{t−1} + g_t, training.gradstats)
is logged for the SGD rules, and κ, ν, ξ (training.updatestats) for adamw and adam-l2.
The files follow the run-directory contract of docs/run-directory.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dynamics.sim.geometry import angle
from dynamics.rules import RULES
from dynamics.sim.toys import noise_gradient, tangent
from training.updatestats import update_stats

ADAM = ("adamw", "adam-l2")  # state (m, s, k); κ, ν, ξ logged as training.updatestats does

def warmup_constant(steps: int, lr: float, warmup: int) -> np.ndarray:
    """λ rising linearly from λ/warmup to λ over ``warmup`` steps, then constant."""
    t = np.arange(steps, dtype=float)
    return lr * np.minimum(1.0, (t + 1) / warmup)


def make_run(path, lrs, *, rule="heavy-ball", wd=5e-3, momentum=0.9,
             layers=(("conv1.weight", (16, 64), 1.0, True), ("conv2.weight", (32, 64), 3.0, True),
                     ("bn1.weight", (500,), 1.0, False)),
             init_norm=1.0, correlation=0.0, drift=0.0, log_every=5, seed=0, diverged=False,
             radial=0.0, skip=0.0) -> Path:
    """Write a run directory at ``path``; ``layers`` are (name, shape, G, scale_invariant).

    ``drift``: G grows as G·exp(drift·t), t the step (a loss landscape that keeps changing).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape, G, _ in layers:
        dim = int(np.prod(shape))
        w = torch.randn(1, dim, generator=gen, dtype=torch.float64)
        buffer = ((torch.zeros_like(w), torch.zeros_like(w), 0) if rule in ADAM
                  else torch.zeros_like(w))
        state[name] = [w * (init_norm / w.norm()), buffer,
                       torch.randn(1, dim, generator=gen, dtype=torch.float64), torch.zeros_like(w)]
    skipped = np.random.default_rng(seed + 1).random(len(lrs)) < skip
    rows = []
    for t, lr in enumerate(lrs):
        for name, shape, G, si in layers:
            w, v, direction, memory = state[name]
            G = G * float(np.exp(drift * t))
            g = noise_gradient(w, G, gen)
            if correlation:
                c = correlation
                direction = c * direction + (1 - c * c) ** 0.5 * torch.randn(
                    direction.shape, generator=gen, dtype=direction.dtype)
                state[name][2] = direction
                g = tangent(w, direction)
                g = g * (G / (g.norm() * w.norm()))
            if radial:
                g = g + radial * G / w.norm() ** 2 * w
            if skipped[t]:
                w_new, v_new, memory_new = w, v, memory
            else:
                w_new, v_new = RULES[rule](w, v, g, lr, wd, momentum)
                memory_new = momentum * memory + g
            if t % log_every == 0:
                row = dict(step=t, epoch=t // 100, layer=name, shape="x".join(map(str, shape)),
                           scale_invariant=si, weight_norm=w.norm().item(),
                           grad_norm=g.norm().item(), angular_update=angle(w, w_new).item(),
                           lr=lr, momentum_norm=(v_new[0] if rule in ADAM else v_new).norm().item())
                if rule in ADAM:
                    m, s2, k = v
                    stats = update_stats(rule, w, g, dict(exp_avg=m, exp_avg_sq=s2, step=k) if k else {},
                                         wd, momentum, 0.999, 1e-8)
                    row.update(zip(("update_power_ratio", "normalised_grad_power", "normalised_grad_radial"),
                                   stats.tolist()))
                elif momentum:
                    row["grad_power_ratio"] = 1 + 2 * momentum * float((memory * g).sum() / (g * g).sum())
                rows.append(row)
            state[name][:2] = [w_new, v_new]
            state[name][3] = memory_new
    pd.DataFrame(rows).to_csv(path / "norms.csv", index=False)
    config = dict(lr=float(max(lrs)), wd=wd, momentum=momentum, nesterov=rule == "nesterov",
                  schedule="synthetic", epochs=len(lrs) // 100, batch_size=512, rule=rule)
    (path / "config.json").write_text(json.dumps(config))
    (path / "summary.json").write_text(json.dumps(dict(test_acc=0.5, diverged=diverged,
                                                       steps=len(lrs), seconds=1.0)))
    pd.DataFrame([dict(epoch=0, step=len(lrs), lr=lrs[-1], train_loss=1.0, train_acc=0.5,
                       test_loss=1.0, test_acc=0.5, seconds=1.0)]).to_csv(path / "metrics.csv", index=False)
    return path
