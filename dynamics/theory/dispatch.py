"""Every rule's derivations and numbers, by family: the one module that chooses.

The families: the SGD family (:mod:`dynamics.theory.symbolic`, white gradients, or
:mod:`dynamics.theory.correlated` with the measured gradient power k), the adaptive rules
(:mod:`dynamics.theory.adaptive`) and Muon (:mod:`dynamics.theory.muon`). This module
imports them; none of them imports it, so the dependency runs one way:
core → symbolic → correlated, core → adaptive → muon, all → dispatch.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from dynamics.rules import ADAPTIVE, ORTHOGONAL, get_rule
from dynamics.theory import adaptive, correlated, muon, symbolic
from dynamics.theory.core import Formula, G, Prediction, alpha, check_hyperparameters, lam, rho
from dynamics.util.errors import RidgelineError


def _family(rule: str, name: str):
    """The family function ``name`` for ``rule`` (Muon's take no rule; the others do)."""
    get_rule(rule)
    if rule in ORTHOGONAL:
        return getattr(muon, name)
    family = adaptive if rule in ADAPTIVE else symbolic
    return lambda: getattr(family, name)(rule)


@lru_cache(maxsize=None)
def equilibrium(rule: str):
    """The equilibrium of ``rule`` under its family's noise model: :func:`symbolic.equilibrium`,
    :func:`adaptive.equilibrium` or :func:`muon.equilibrium`."""
    return _family(rule, "equilibrium")()


@lru_cache(maxsize=None)
def derive(rule: str) -> tuple[Formula, ...]:
    """Every derived result for ``rule``, in reading order (keys documented in README)."""
    return _family(rule, "derive")()


def rescaling_symmetry(rule: str) -> dict:
    """The exact rescaling symmetry of ``rule``, from its family's derivation."""
    return _family(rule, "rescaling_symmetry")()


def init_follow_exponent(rule: str) -> sp.Rational:
    """e = a/b with |w₀| ∝ (λ/λ₀)^e: the initial scale that keeps a run on the orbit of the
    rescaling symmetry (w, λ, α) → (r^a w, r^b λ, r^c α) through its reference point.

    A run at (λ, α) whose scale-invariant tensors start at (λ/λ₀)^(a/b) |w₀| is, exactly
    (up to BN's ε and rounding), the run at (λ₀, α·(λ/λ₀)^(−c/b)) with the usual |w₀|,
    rescaled by r = (λ/λ₀)^(1/b). For the SGD rules (a, b, c) = (1, 2, −2), so e = 1/2 and
    the orbit keeps λα; the adaptive rules and Muon take their own exponents
    (:func:`rescaling_symmetry`).
    """
    exps = rescaling_symmetry(rule)
    if exps["b"] == 0:
        raise ValueError(f"the rescaling symmetry of {rule!r} does not move λ")
    return sp.nsimplify(exps["a"] / exps["b"])


# ------------------------------------------------------------------------ numbers
@lru_cache(maxsize=None)
def _numeric(rule: str):
    """(|w|⁴, cos θ, Jacobian entries) of the white equilibrium as numpy functions of (λ, α, ρ, G)."""
    eq = symbolic.equilibrium(rule)
    args = (lam, alpha, rho, G)
    return (sp.lambdify(args, eq.weight_norm4, "numpy"),
            sp.lambdify(args, eq.cos_angle, "numpy"),
            sp.lambdify(args, list(eq.jacobian), "numpy"))  # 9 entries, row-major


def predict(rule: str, lr, wd, momentum=0.0, grad_norm=1.0, power=None, *, elements=None,
            beta2=None, radial=None, shape=None, nesterov=True, adjust_lr="original") -> Prediction:
    """Equilibrium |w|, angular update, effective lr and relaxation time.

    ``lr`` λ, ``wd`` α, ``momentum`` ρ (ignored by "sgd"; β₁ of the adaptive rules),
    ``grad_norm`` the scale-free gradient norm G = |g||w|; ``power`` k, the gradient
    power through the momentum filter relative to white noise (:mod:`dynamics.theory.correlated`;
    None: white, k = 1); for ``adamw`` the update power κ instead, and ``radial`` the
    normalised gradient's radial share ξ (:func:`dynamics.theory.adaptive.power_equilibrium`,
    training.updatestats; None: 0). Scalars or broadcastable numpy arrays. The adaptive rules
    (:mod:`dynamics.theory.adaptive`) also need ``elements``, the number C of elements of the
    tensor, and take β₂ (``beta2``, None: the rule's default); their effective lr is
    λ/|w| (per normalised coordinate), not λ/|w|². ``muon`` needs the matrix ``shape``
    (A, B) or "AxB" and takes ``nesterov`` and ``adjust_lr`` (:func:`dynamics.theory.muon.predict`;
    G plays no part: NS(u) does not see the gradient's size); its effective lr is λs/|w|.
    """
    get_rule(rule)
    check_hyperparameters(lr, wd, momentum)
    if rule in ORTHOGONAL:
        return _predict_muon(lr, wd, momentum, shape, nesterov, adjust_lr, power, radial)
    if rule in ADAPTIVE:
        return _predict_adaptive(rule, lr, wd, momentum, grad_norm, elements, beta2, power, radial)
    return _predict_sgd_family(rule, lr, wd, momentum, grad_norm, power)


def _predict_sgd_family(rule, lr, wd, momentum, grad_norm, power) -> Prediction:
    """The white (``power`` None) or correlated fixed point of the moment map, its angle, and
    −1/ln μ for μ the largest |eigenvalue| of the map's Jacobian there."""
    if rule == "sgd":
        momentum = np.zeros_like(np.asarray(momentum, dtype=float))
    scalar = all(np.ndim(a) == 0 for a in (lr, wd, momentum, grad_norm, power))
    if power is None or rule == "sgd":  # plain SGD's norm does not see correlations
        norm4_f, cos_f, jac_f = _numeric(rule)
        extra = ()
    else:
        norm4_f, cos_f, jac_f = correlated.numeric(rule)
        extra = (power,)
    lr, wd, momentum, grad_norm, *extra = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (lr, wd, momentum, grad_norm, *extra)))
    with np.errstate(all="ignore"):
        norm4 = np.asarray(norm4_f(lr, wd, momentum, grad_norm, *extra), dtype=float)
        cos = np.asarray(cos_f(lr, wd, momentum, grad_norm, *extra), dtype=float)
        entries = (np.broadcast_to(np.asarray(e, dtype=float), lr.shape)  # constants too
                   for e in jac_f(lr, wd, momentum, grad_norm, *extra))
        jac = np.stack(list(entries), axis=-1).reshape(*lr.shape, 3, 3)
        ok = (lr > 0) & (wd > 0) & np.isfinite(norm4) & (norm4 > 0) & (np.abs(cos) <= 1)
        ok &= np.all(np.isfinite(jac), axis=(-2, -1))
        mu = np.full(lr.shape, np.nan)
        mu[ok] = np.abs(np.linalg.eigvals(jac[ok])).max(axis=-1)
        ok &= mu < 1
        norm = np.where(ok, norm4 ** 0.25, np.nan)
        out = Prediction(norm, np.where(ok, np.arccos(np.clip(cos, -1, 1)), np.nan),
                         np.where(ok, lr / norm**2, np.nan), np.where(ok, -1 / np.log(mu), np.nan))
    if scalar:
        if not ok:
            raise RidgelineError(
                f"no stable equilibrium for {rule} at lr={lr}, wd={wd}, momentum={momentum}: "
                "it needs lr > 0, wd > 0 and lr*wd small enough for the rule to be stable")
        return Prediction(*(float(x) for x in (out.weight_norm, out.angular_update,
                                               out.effective_lr, out.relaxation_steps)))
    return out


def _stable(rule, lr, wd, momentum, scalar: bool, result) -> Prediction:
    """A family's ``(norm, theta, eff, tau, ok)`` as a Prediction; a scalar point without a
    stable equilibrium (ok false) is refused in one line."""
    *values, ok = result
    if not scalar:
        return Prediction(*values)
    if not ok:
        raise RidgelineError(f"no stable equilibrium for {rule} at lr={lr}, wd={wd}, momentum={momentum}: "
                             "it needs lr > 0, wd > 0 and lr*wd < 1")
    return Prediction(*(float(x) for x in values))


def _predict_muon(lr, wd, momentum, shape, nesterov, adjust_lr, power, radial) -> Prediction:
    if shape is None:
        raise RidgelineError("predicting muon needs the matrix shape, rows x columns (e.g. 64x576 for a "
                             "64x64x3x3 conv)")
    if power is not None or radial is not None:
        raise RidgelineError("a measured update power or radial share applies to adamw only, not muon")
    scalar = all(np.ndim(a) == 0 for a in (lr, wd, momentum))
    return _stable("muon", lr, wd, momentum, scalar, muon.predict(lr, wd, momentum, shape, nesterov, adjust_lr))


def _predict_adaptive(rule, lr, wd, momentum, grad_norm, elements, beta2, power=None, radial=None) -> Prediction:
    scalar = all(np.ndim(a) == 0 for a in (lr, wd, momentum, grad_norm, elements, beta2, power, radial))
    if beta2 is not None and (np.any(np.asarray(beta2) < 0) or np.any(np.asarray(beta2) >= 1)):
        raise RidgelineError(f"beta2 must be in [0, 1), got {beta2}")
    return _stable(rule, lr, wd, momentum, scalar,
                   adaptive.predict(rule, lr, wd, momentum, grad_norm, elements, beta2, power, radial))
