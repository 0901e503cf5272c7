"""Which way Page's ridges bend beyond leading order, from the derived equilibrium.

At the weight-norm equilibrium of a scale-invariant tensor (:func:`dynamics.theory.symbolic.equilibrium`)
the direction w/|w| diffuses, per epoch of M/N steps, by

    D = (W/|w|²)² G² · M/N,   W = λ/(1−ρ) the total weight of one gradient,

the squared total effective step times G² = |g|²|w|², summed over an epoch. At leading
order in λα, |w|⁴ = G²λ/(2α(1−ρ)) and

    D = 2 λα M / ((1−ρ) N),

a function of λα/((1−ρ)N) alone: Page's three flat directions λα, λ/(1−ρ) and λ/N at
once (with G² ∝ 1/N for the last, the noise-dominated gradient). The exact |w|⁴ of the
moment map makes D depend on (λ, α, ρ) a little differently: holding the exact D fixed
through a reference point gives the ridge the theory predicts beyond leading order.
λα stays exact (the rescaling symmetry leaves D unchanged); λ/(1−ρ) bends by the
O(λα) and O(1−ρ) terms of |w|⁴. λ/N does not bend here: N enters D only through
M/N and G² (the moment map has no N), so its next order is the departure from
G² ∝ 1/N and from the small-step limit, which this model does not contain.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=None)
def _norm4_per_g2(rule: str):
    """|w|⁴/G² at the exact fixed point of ``rule``, as a numpy function of (λ, α, ρ)."""
    import sympy as sp

    from dynamics.theory.symbolic import alpha, equilibrium, lam, rho

    e = equilibrium(rule)
    (g,) = [s for s in e.weight_norm4.free_symbols if s.name == "G"]
    return sp.lambdify((lam, alpha, rho), sp.simplify(e.weight_norm4 / g**2), "numpy")


def epoch_diffusion(rule: str, lr, wd, momentum, steps_per_epoch=1.0, exact: bool = True):
    """D = (λ/((1−ρ)|w|²))² G² · steps per epoch at the equilibrium (module docstring);
    ``exact=False`` gives the leading order 2λα/(1−ρ) · steps per epoch."""
    lr, wd, momentum = (np.asarray(v, dtype=float) for v in (lr, wd, momentum))
    if not exact:
        return 2 * lr * wd / (1 - momentum) * steps_per_epoch
    return lr**2 / ((1 - momentum) ** 2 * _norm4_per_g2(rule)(lr, wd, momentum)) * steps_per_epoch


def _solve_lr(f, target: float, lo: float = 1e-6, hi: float = 1e3) -> float:
    """λ with f(λ) = target, f increasing in λ, by bisection in log λ."""
    for _ in range(200):
        mid = np.sqrt(lo * hi)
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return float(np.sqrt(lo * hi))


def ridge_beyond_leading_order(rule: str, wd: float, lr0: float, one_minus_momentum0: float,
                               one_minus_momenta) -> tuple[list, float]:
    """The λ × (1−ρ) ridge at fixed α that holds the exact D of (λ₀, 1−ρ₀): λ* for each
    1−ρ in ``one_minus_momenta``, and the slope d log(1−ρ)/d log λ* of the line fitted to
    them (Page's claim, and leading order: exactly +1)."""
    target = float(epoch_diffusion(rule, lr0, wd, 1 - one_minus_momentum0))
    lrs = [_solve_lr(lambda lr: float(epoch_diffusion(rule, lr, wd, 1 - om)), target) for om in one_minus_momenta]
    b = np.polyfit(np.log(one_minus_momenta), np.log(lrs), 1)[0]
    return lrs, float(1 / b)
