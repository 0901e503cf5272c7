"""The shared core of the derivations: Page's symbols, results and sympy helpers.

Imports no other module of dynamics.theory: every derivation (symbolic, moments,
correlated, adaptive, muon) builds on it, and :mod:`dynamics.theory.dispatch` sits on top.

Notation (Page's): λ learning rate, α weight decay, ρ momentum, N batch size, M the
examples per epoch, G = |g| |w| the scale-free gradient norm of a scale-invariant
parameter, u = λα/(1−ρ) the rotated coordinate; x = |w|², y = w·v, z = |v|² the second
moments of the parameter w and its buffer v, s = |g|². For the adaptive rules: β₁
(the rules' ``momentum``) and β₂ the moment coefficients, C the elements of the tensor,
V = E g_i² the per-coordinate second moment and r = √V.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from dynamics.util.errors import RidgelineError

lam, alpha, G, N, M_ex = sp.symbols("lambda alpha G N M", positive=True)
rho = sp.Symbol("rho", nonnegative=True)
u = sp.Symbol("u", positive=True)  # the rotated coordinate λα/(1−ρ)
_t = sp.Symbol("t", positive=True)  # bookkeeping for "leading order in λα"
_x, _y, _z, _s = sp.symbols("x y z s", positive=True)  # |w|², w·v, |v|², |g|²

beta1 = sp.Symbol("beta_1", nonnegative=True)
beta2 = sp.Symbol("beta_2", nonnegative=True)
C = sp.Symbol("C", positive=True)  # elements of the tensor (or row)
V = sp.Symbol("V", positive=True)  # per-coordinate second moment of what is normalised
r_ = sp.Symbol("r", positive=True)  # √V


@dataclass(frozen=True)
class Formula:
    """One derived result: a key, what it means, and the sympy expression."""

    key: str
    meaning: str
    expr: sp.Expr


@dataclass(frozen=True)
class Prediction:
    """Equilibrium of a scale-invariant parameter under the noise model.

    Floats for scalar inputs, numpy arrays for array inputs (NaN where no stable
    equilibrium exists).
    """

    weight_norm: float  # |w|*
    angular_update: float  # radians per step
    effective_lr: float  # λ/|w|*², per step
    relaxation_steps: float  # −1/ln μ_max of the linearised moment map, steps


def leading_order(expr: sp.Expr) -> sp.Expr:
    """The leading term of a rational ``expr`` for small λ (so small λα) at fixed α, ρ."""
    return sp.factor(sp.cancel(expr.subs(lam, _t * lam)).as_leading_term(_t).subs(_t, 1))


def tidy(expr: sp.Expr) -> sp.Expr:
    """Simplify using 0 ≤ ρ < 1 (sympy cannot assume ρ < 1, so write ρ = 1 − q, q > 0)."""
    q = sp.Symbol("q", positive=True)
    out = sp.powsimp(sp.factor(expr.subs(rho, 1 - q)), force=True).subs(q, 1 - rho)
    return out.replace(lambda e: e.is_Pow and e.base.is_Add, lambda e: sp.factor(e.base) ** e.exp)


def rational(expr):
    """x**0.5 (the rules' square root, which numpy and torch need) as sympy's exact √x."""
    return expr.replace(lambda e: e.is_Pow and e.exp.is_Float, lambda e: sp.Pow(e.base, sp.nsimplify(e.exp)))


def check_hyperparameters(lr, wd, momentum) -> None:
    """Raise a one-line RidgelineError for values outside the rules' domain."""
    if np.any(np.asarray(lr) < 0) or not np.all(np.isfinite(lr)):
        raise RidgelineError(f"lr must be a finite number >= 0, got {lr}")
    if np.any(np.asarray(wd) < 0) or not np.all(np.isfinite(wd)):
        raise RidgelineError(f"wd must be a finite number >= 0, got {wd}")
    if np.any(np.asarray(momentum) < 0) or np.any(np.asarray(momentum) >= 1):
        raise RidgelineError(f"momentum must be in [0, 1), got {momentum}")
