"""The measured relaxation time of x = E|w|² after a drop of λ: a damped fit, its window
and the choice between a plain and a ringing decay, made against the run's own noise.

After the drop x(t) falls towards its new plateau x∞. In the linear regime

    x(t) = x∞ + e^(−(t − t₀)/τ) (A cos ω(t − t₀) + B sin ω(t − t₀)),

with ω = 0 where the slowest eigenvalue μ of the moment map is real and ω = arg μ
where it is a complex pair (x rings around its plateau under the envelope |μ|^t).
x∞, A and B enter linearly; (τ, ω) are found on a grid zoomed in four times.

The ringing model has two parameters more, and on a noisy mean of runs it can always
lower the residual a little by fitting the plateau's slow wander (the equilibrium's own
fluctuations, correlated over about τ). So it is taken only where the drop in the residual
is worth two parameters in the Bayesian information criterion counted in *independent*
records, n_eff = n / n_c, with n_c the integrated autocorrelation time (in records) of
x over the run's last 20%: n_eff ln(RSS_plain / RSS_ring) > 2 ln n_eff.
"""

from __future__ import annotations

import numpy as np

#: default start of the fit window: the first record within 10% of the plateau. Nearer
#: (2%) the deviation is at most ~10 times the plateau's wander on a CPU-sized run and
#: the fitted τ scatters by 15–30% between seeds; at 10% the curvature of the map slows
#: the decay by 3–6% (``relaxation_expected`` puts the noise-free map through the same
#: window, so the comparison stays like for like).
START = 0.1


def autocorrelation_time(y: np.ndarray, floor: float = 0.05) -> float:
    """Integrated autocorrelation time 1 + 2 Σ_k r_k of ``y`` in records, the sum taken
    until r_k first falls below ``floor`` (1 for white noise)."""
    y = np.asarray(y, float) - np.mean(y)
    var = float(np.dot(y, y))
    if var == 0 or len(y) < 8:
        return 1.0
    total = 1.0
    for k in range(1, len(y) // 4):
        r = float(np.dot(y[:-k], y[k:])) / var
        if r < floor:
            break
        total += 2 * r
    return total


def relaxation_time(traj, steps: int, drop_at: float = 0.5, start: float = START) -> tuple[float, float]:
    """(measured, predicted) e-folding time of x = E|w|² after the drop, in steps.

    Measured: the τ of the module's damped fit to the records from t₀, the first after the
    drop with |x − x_end| ≤ ``start``·x_end (x_end the mean over the last 20% of the run),
    to the end, the plateau pinning x∞. The ringing fit is taken only where the
    information criterion of the module docstring prefers it and its deviation crosses
    the plateau within 7τ (a slower "ringing" stands in for the curvature of the map).
    Predicted: the mean of ``predicted_relaxation_steps`` after the drop (−1/ln|μ| at the
    lowered λ). NaN when the run never gets within ``start`` of its plateau, the best τ
    is at the end of the search range, or the window after t₀ is shorter than 3τ.
    """
    t = traj.step.to_numpy(float)
    x = traj.weight_norm_sq.to_numpy(float)
    after = t > drop_at * steps
    if not after.any():
        return float("nan"), float("nan")
    predicted = float(np.nanmean(traj.predicted_relaxation_steps.to_numpy(float)[after]))
    late = x[t > 0.8 * steps]
    x_end = late.mean()
    tt, xx = t[after], x[after]
    close = np.flatnonzero(np.abs(xx - x_end) <= start * x_end)
    if not len(close) or len(tt) - close[0] < 8:
        return float("nan"), predicted
    tt, xx = tt[close[0]:] - tt[close[0]], xx[close[0]:]
    taus = np.logspace(0, np.log10(50 * steps), 80)
    plain = _zoom(tt, xx, taus, np.zeros(1), 0.0, 0.0)
    if plain is None:
        return float("nan"), predicted
    dt, span = float(np.median(np.diff(tt))), float(tt[-1])
    w_min = np.pi / span  # at least half a period in the window
    d_omega = (np.pi / (4 * dt) - w_min) / 40  # up to 8 records per period
    ring = _zoom(tt, xx, taus, w_min + d_omega * np.arange(41), w_min, d_omega)
    tau = ring[0] if ring is not None and _rings(plain, ring, len(tt) / autocorrelation_time(late)) else plain[0]
    return (tau if tau < span / 3 else float("nan")), predicted  # 3 e-foldings seen, or not settled


def _rings(plain, ring, n_eff: float) -> bool:
    """Whether the ringing fit (τ, ω, RSS, first zero) beats the plain one: its deviation
    crosses the plateau within 7τ, and its residual is lower by more than two parameters'
    worth of the information criterion over ``n_eff`` independent records."""
    if not ring[2] < plain[2] or not ring[3] < 7 * ring[0]:
        return False
    if ring[2] <= 0:
        return True
    n_eff = max(n_eff, 2.0)
    return n_eff * np.log(plain[2] / ring[2]) > 2 * np.log(n_eff)


def _zoom(t, x, taus, omegas, w_min, d_omega):
    """(τ, ω, RSS, first zero of the fitted deviation) of the best damped fit, zooming in on
    the grid's best (τ, ω) four times; None when τ sits at the end of the first grid."""
    r = _damped_fit(t, x, taus, omegas)
    i, j = np.unravel_index(int(np.argmin(r)), r.shape)
    if i in (0, len(taus) - 1):
        return None
    for _ in range(4):
        taus = np.geomspace(taus[i - 1], taus[i + 1], 7)
        if omegas[j] > 0:
            omegas = np.maximum(omegas[j] + d_omega * np.linspace(-1, 1, 7), w_min)
            d_omega /= 3
        r = _damped_fit(t, x, taus, omegas)
        i, j = np.unravel_index(int(np.argmin(r)), r.shape)
        i = min(max(i, 1), len(taus) - 2)
    tau, omega = float(taus[i]), float(omegas[j])
    if omega == 0:
        return tau, omega, float(r[i, j]), np.inf
    decay = np.exp(-t / tau)
    basis = np.stack([np.ones_like(t), decay * np.cos(omega * t), decay * np.sin(omega * t)], 1)
    _, a, b = np.linalg.lstsq(basis, x, rcond=None)[0]
    phase = np.arctan2(-b, a)  # deviation ∝ cos(ωt + phase)
    first = ((np.pi / 2 - phase) % np.pi) / omega
    return tau, omega, float(r[i, j]), first


def _damped_fit(t: np.ndarray, x: np.ndarray, taus: np.ndarray, omegas: np.ndarray) -> np.ndarray:
    """Residual sum of squares of the best x∞ + e^(−t/τ)(A cos ωt + B sin ωt), per (τ, ω)."""
    decay = np.exp(-t[None, :] / taus[:, None])  # (taus, records)
    out = np.empty((len(taus), len(omegas)))
    for j, omega in enumerate(omegas):
        basis = np.stack([np.ones_like(decay), decay * np.cos(omega * t), decay * np.sin(omega * t)], -1)
        gram = np.einsum("tni,tnj->tij", basis, basis)
        coef = np.einsum("tij,tj->ti", np.linalg.pinv(gram), np.einsum("tni,n->ti", basis, x))
        out[:, j] = np.sum((np.einsum("tni,ti->tn", basis, coef) - x) ** 2, 1)
    return out
