"""Trajectory prediction: the moment map iterated along a run's own hyperparameters.

The second moments x = E|w|², y = E[w·v], z = E|v|² of a scale-invariant tensor obey,
exactly under the noise model (:mod:`dynamics.theory.symbolic`, derivation 4; with gradient
correlations :mod:`dynamics.theory.correlated`),

    (x, y, z)_{t+1} = M(λ_t, α_t, ρ_t) (x, y, z)_t + h(λ_t, α_t, ρ_t, k_t) s_t,   s_t = G_t²/x_t,   (T)

with λ_t, α_t, ρ_t the learning rate, weight decay and momentum of step t (each step's
update is the rule with that step's values, so the derived map needs nothing new: it is
evaluated along the arrays; the monitor records them for every step, the trainer's
schedule is :func:`step_lrs`), G_t² the scale-free gradient norm² and k_t the gradient power
ratio (:mod:`training.gradstats`), both measured. Since h is affine in k,
h(k) s = h₀ s + h₁ (k − 1) s, the inputs are G² and (k − 1) G², each interpolated
linearly between logged steps. Started from the run's initial |w|² and a zero buffer,
(T) predicts |w_t| = √x_t and the angle of every step,

    cos θ_t = E[w_t·w_{t+1}] / √(x_t x_{t+1}),

the overlap E[w·w'] being the linear form :func:`overlap_form` of (x, y, z). Nothing
measured about w or v enters: only the gradients' G² and k, and |w₀|.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def schedule_lr(epoch_time: float, lr: float, warmup: float, epochs: float, schedule: str) -> float:
    """λ at ``epoch_time`` (fractional epochs): linear 0 → λ over ``warmup`` epochs, then
    ``piecewise``: linear λ → 0 at ``epochs`` (Page's); ``constant``: λ."""
    if warmup > 0 and epoch_time < warmup:
        return lr * epoch_time / warmup
    if schedule == "constant":
        return lr
    return lr * max(0.0, (epochs - epoch_time) / (epochs - warmup)) if epochs > warmup else 0.0


def step_lrs(lr: float, warmup: float, epochs: float, schedule: str, steps_per_epoch: int,
             total_steps: int) -> np.ndarray:
    """λ_s of steps s = 1 … total, each at the middle of its step, (s − ½)/steps_per_epoch
    (as the trainer sets it)."""
    times = (np.arange(1, total_steps + 1) - 0.5) / steps_per_epoch
    return np.array([schedule_lr(t, lr, warmup, epochs, schedule) for t in times])


@lru_cache(maxsize=None)
def overlap_form(rule: str):
    """E[w·w'] as a linear form in (x, y, z): its coefficients as numpy functions of
    (λ, α, ρ), from the rule under the moment table (g ⟂ w, so |g|² does not enter)."""
    import sympy as sp

    from dynamics.theory import core
    from dynamics.theory.moments import WHITE, moment_map
    from dynamics.theory.symbolic import sgd_family

    form = moment_map(sgd_family(rule), WHITE).overlap
    assert form.coeff(core._s) == 0, "E[w·w'] must not depend on |g|² when g ⟂ w"
    coefficients = [form.coeff(m) for m in (core._x, core._y, core._z)]
    return sp.lambdify((core.lam, core.alpha, core.rho), coefficients, "numpy")


@dataclass(frozen=True)
class Trajectory:
    """Predicted |w| after each step and the angle of each step, per tensor."""

    weight_norm: np.ndarray  # (T + 1, L): |w| after 0 … T steps
    angle: np.ndarray  # (T, L): θ of steps 1 … T, radians


def _coefficients(rule: str, lr: np.ndarray, wd: np.ndarray, momentum: np.ndarray):
    """M (T, L, 3, 3), h₀ (T, L, 3), h₁ (T, L, 3), overlap c (T, L, 3) along the per-step
    (λ_t, α_t, ρ_t), each (T, L)."""
    from dynamics.theory.correlated import moment_map_numeric

    M_f, h0_f, h1_f = moment_map_numeric(rule)
    full = lambda e: np.broadcast_to(np.asarray(e, dtype=float), lr.shape)  # noqa: E731 - constants too
    M = np.stack([np.stack([full(e) for e in row], -1) for row in M_f(lr, wd, momentum)], -2)
    h0 = np.stack([full(e) for e in h0_f(lr, wd, momentum)], -1)
    h1 = np.stack([full(e) for e in h1_f(lr, wd, momentum)], -1)
    c = np.stack([full(e) for e in overlap_form(rule)(lr, wd, momentum)], -1)
    return M, h0, h1, c


def per_step(value, T: int, L: int, name: str) -> np.ndarray:
    """``value`` (a scalar, (T,) one per step, or (T, L) one per step and tensor) as (T, L)."""
    from dynamics.util.errors import RidgelineError

    a = np.asarray(value, dtype=float)
    if a.ndim == 1 and a.shape == (T,):
        a = a[:, None]
    if a.ndim > 2 or (a.ndim >= 1 and a.shape[0] not in (1, T)) or (a.ndim == 2 and a.shape[1] not in (1, L)):
        raise RidgelineError(f"trajectory: {name} has shape {a.shape}: need a scalar, ({T},) or ({T}, {L})")
    return np.broadcast_to(a, (T, L))


def trajectory(rule: str, lr, wd, momentum, grad_norm2, weight_norm0, power=None) -> Trajectory:
    """Iterate (T) for L tensors at once.

    ``lr``, ``wd``, ``momentum``: λ_t, α_t, ρ_t of steps 1 … T, each a scalar, (T,) or
    (T, L) (a tensor's own param group's values); ``grad_norm2`` (T, L) G² at each step;
    ``weight_norm0`` (L,) the initial |w|; ``power`` (T, L) k at each step, or None for
    white gradients.
    """
    from dynamics.util.errors import RidgelineError

    G2 = np.asarray(grad_norm2, dtype=float)
    if G2.ndim == 1:
        G2 = G2[:, None]
    x0 = np.asarray(weight_norm0, dtype=float).reshape(-1) ** 2
    T, L = G2.shape
    if np.ndim(lr) != 1 and np.ndim(lr) != 2 or np.shape(lr)[0] != T or x0.shape != (L,):
        raise RidgelineError(f"trajectory: lr has shape {np.shape(lr)}, grad_norm2 {G2.shape}, "
                             f"weight_norm0 {x0.shape}: need (T,) or (T, L), (T, L), (L,)")
    lr, wd = per_step(lr, T, L, "lr"), per_step(wd, T, L, "wd")
    momentum = per_step(0.0 if rule == "sgd" else momentum, T, L, "momentum")
    excess = np.zeros_like(G2) if power is None else (np.broadcast_to(power, G2.shape) - 1) * G2
    M, h0, h1, c = _coefficients(rule, lr, wd, momentum)
    state = np.zeros((T + 1, 3, L))
    state[0, 0] = x0
    m = state[0]
    with np.errstate(all="ignore"):
        for t in range(T):  # vectorised over the L tensors; T batches of small matrix products
            x = m[0]
            m = np.einsum("lij,jl->il", M[t], m) + h0[t].T * (G2[t] / x) + h1[t].T * (excess[t] / x)
            state[t + 1] = m
        x = state[:, 0]
        overlap = np.einsum("tli,til->tl", c, state[:-1])
        cos = overlap / np.sqrt(x[:-1] * x[1:])
        return Trajectory(np.sqrt(x), np.arccos(np.clip(cos, -1, 1)))
