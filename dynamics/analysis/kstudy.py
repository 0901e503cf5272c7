"""What sets the gradient power ratio k: the quadratic-valley mechanism, and k over logged runs.

**Mechanism.** Along a direction of curvature h (of the loss on the unit sphere) with
minibatch noise ξ of variance σ², the tangent coordinate x of u = w/|w| moves with the
effective step η = λ/|w|². With m the gradients' own momentum filter (training.gradstats),

    g_t = h x_t + ξ_t,    m_t = ρ m_{t−1} + g_t,
    x_{t+1} = x_t − η m_t                       (heavy-ball)
    x_{t+1} = x_t − η (g_t + ρ m_t)             (Nesterov)

is linear in s_t = (x_t, m_{t−1}): s_{t+1} = A s_t + B ξ_t. Its stationary covariance
Σ = A Σ Aᵀ + B Bᵀ σ² (a discrete Lyapunov equation, solved as (I − A⊗A) vec Σ = vec BBᵀσ²)
gives

    k = 1 + 2ρ E[m_{t−1}·g_t]/E|g_t|² = 1 + 2ρ h Σ_xm / (h² Σ_xx + σ²) = f(ηh, ρ),

a function of ηh alone, f(0) = 1 and f < 1 for ηh > 0: a gradient pushes the iterate up
the far wall of the valley, so the next gradient points back. The same solution gives the
gradient power E|g|² = σ² P(ηh), P = 1 + h²Σ_xx/σ² ≥ 1. examples/kstudy.py checks f on the
simulator's quadratic toy (dynamics.sim.toys.quadratic_gradient) and fits k over real runs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: ηh of the tabulated f, log-spaced; below the first value f = 1 − O(ηh) is interpolated to 1 at 0
GRID = np.logspace(-5, 0.5, 300)


def _system(a: float, rho: float, rule: str):
    if rule == "nesterov":
        return (np.array([[1 - a * (1 + rho), -a * rho ** 2], [1.0, rho]]), np.array([-a * (1 + rho), 1.0]))
    if rule == "heavy-ball":
        return np.array([[1 - a, -a * rho], [1.0, rho]]), np.array([-a, 1.0])
    raise ValueError(f"curvature model: rule {rule!r} is not nesterov or heavy-ball")


def valley(eta_h, rho: float, rule: str = "nesterov") -> tuple[np.ndarray, np.ndarray]:
    """(k, P) of the linear valley at each ηh (exact Lyapunov solution; NaN where unstable)."""
    ks, ps = [], []
    for a in np.atleast_1d(np.asarray(eta_h, dtype=float)):
        if a == 0:  # flat: x a random walk that the gradient never sees
            ks.append(1.0)
            ps.append(1.0)
            continue
        A, B = _system(a, rho, rule)
        if not np.isfinite(a) or np.max(np.abs(np.linalg.eigvals(A))) >= 1:
            ks.append(np.nan)
            ps.append(np.nan)
            continue
        S = np.linalg.solve(np.eye(4) - np.kron(A, A), np.outer(B, B).reshape(-1)).reshape(2, 2)
        power = S[0, 0] + 1.0  # h = σ = 1: E g² = h²Σ_xx + σ²
        ks.append(1 + 2 * rho * S[0, 1] / power)
        ps.append(power)
    return np.array(ks), np.array(ps)


@lru_cache(maxsize=None)
def _table(rho: float, rule: str):
    k, p = valley(GRID, rho, rule)
    ok = np.isfinite(k)
    return np.log(GRID[ok]), k[ok], p[ok]


def curvature_k(eta_h, rho: float, rule: str = "nesterov") -> np.ndarray:
    """f(ηh, ρ), elementwise, interpolated in log ηh on :data:`GRID` (NaN beyond its stable end)."""
    x, k, _ = _table(float(rho), rule)
    eh = np.asarray(eta_h, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.interp(np.log(eh), x, k, left=np.nan, right=np.nan)
        small = (eh >= 0) & (eh < GRID[0])
        return np.where(small, 1 + (k[0] - 1) * eh / GRID[0], np.where(eh > np.exp(x[-1]), np.nan, out))


def fit_curvature(k, eta, rho, rule: str = "nesterov", weights=None) -> float:
    """The h minimising Σ w (k − f(ηh, ρ))² (log grid, then refined), or NaN without data;
    ``rho`` a number or one per observation."""
    k, eta = np.asarray(k, dtype=float), np.asarray(eta, dtype=float)
    rho = np.broadcast_to(np.asarray(rho, dtype=float), k.shape)
    w = np.ones_like(k) if weights is None else np.asarray(weights, dtype=float)
    ok = np.isfinite(k) & np.isfinite(eta) & (eta > 0) & np.isfinite(w) & np.isfinite(rho)
    if not ok.any():
        return np.nan
    k, eta, w, rho = k[ok], eta[ok], w[ok], rho[ok]
    groups = [(r, rho == r) for r in np.unique(rho)]

    def loss(h):
        total = 0.0
        for r, sel in groups:
            pred = curvature_k(eta[sel] * h, r, rule)
            if not np.isfinite(pred).all():
                return np.inf
            total += float(np.sum(w[sel] * (k[sel] - pred) ** 2))
        return total

    grid = np.logspace(-4, 4, 161)
    best = grid[int(np.argmin([loss(h) for h in grid]))]
    fine = best * np.logspace(-0.05, 0.05, 41)
    return float(fine[int(np.argmin([loss(h) for h in fine]))])


def mixed_k(eta_h, rho: float, rule: str = "nesterov", curved_share: float = 1.0) -> np.ndarray:
    """k of a gradient whose noise is shared by curved directions (a ``curved_share`` of them,
    each the valley above) and flat ones (pure noise: power σ², no correlation)."""
    k, power = valley(eta_h, rho, rule)
    q = curved_share
    return 1 + q * (k - 1) * power / (q * power + (1 - q))


def toy_k(eta_h: float, rho: float = 0.9, rule: str = "nesterov", lr: float = 0.1, wd: float = 5e-4,
          dim: int = 512, steps: int = 6000, runs: int = 8, seed: int = 0) -> tuple[float, float]:
    """(k measured, ηh reached) on the simulator's quadratic toy (dynamics.sim.toys.quadratic_gradient,
    the rule of dynamics.rules with weight decay): half the directions flat, half of curvature h
    set so that ηh ≈ ``eta_h`` at the white equilibrium η = λ/|w|²; noise s = 1. k as
    training.gradstats measures it, power-weighted over the second half of the steps;
    :func:`mixed_k` at ``curved_share`` 0.5 and the ηh reached is its theory."""
    import torch

    from dynamics.rules import RULES
    from dynamics.theory.dispatch import predict
    from dynamics.sim.toys import quadratic_gradient

    gen = torch.Generator().manual_seed(seed)
    w_eq = float(predict(rule, lr, wd, rho, 1.0).weight_norm)  # white equilibrium at G = 1
    h_value = eta_h * w_eq ** 2 / lr
    h = torch.cat([torch.zeros(dim // 2), torch.full((dim - dim // 2,), h_value)]).double()
    w = torch.randn(runs, dim, generator=gen, dtype=torch.float64)
    w = w / w.norm(dim=1, keepdim=True) * w_eq
    v, m = torch.zeros_like(w), torch.zeros_like(w)
    num = den = 0.0
    eta = []
    for t in range(steps):
        z = torch.randn(runs, dim, generator=gen, dtype=torch.float64)
        g = quadratic_gradient(w, h, 1.0, z)
        if t > steps // 2:
            num += float((2 * rho * (m * g).sum(1)).sum())
            den += float((g * g).sum(1).sum())
            eta.append(float((lr / (w * w).sum(1)).mean()))
        m = rho * m + g
        w, v = RULES[rule](w, v, g, lr, wd, rho)
    return 1 + num / den, float(np.mean(eta)) * h_value
