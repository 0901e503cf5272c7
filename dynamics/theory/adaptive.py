"""Sympy derivations for the adaptive rules: AdamW, Adam with L2 decay, Lion.

As in :mod:`dynamics.theory.symbolic`, the results start from the rules of
:mod:`dynamics.rules` applied to sympy symbols. Notation: λ learning rate, α weight
decay, β₁ (the rules' ``momentum``) and β₂ the moment coefficients, C the number of
elements of the tensor (or of one output row), G = |g||w| the scale-free gradient norm,
V = E g_i² the per-coordinate second moment.

Noise model, in which each result is exact (checked by ``ridgeline simulate``):

- all rules: g ⟂ w, zero mean, independent across steps, per-coordinate second moment
  V = |g|²/C the same for every coordinate; late times (bias corrections 1 − β^k → 1);
- ``adamw``, ``adam-l2``: the second moment has settled to its expectation, s = V
  (β₂ close to 1 and the gradient scale changing slowly), and ε = 0, so the update is
  linear in (w, m, g); for ``adam-l2`` V = E (g + αw)_i² = (|g|² + α²|w|²)/C, the
  decay's mean share included (``predict`` solves this exactly; the leading-order
  forms neglect it, k² = α²|w|⁴/G² ≪ 1);
- ``lion``: the coordinates of c = β₁ m + (1 − β₁) g are Gaussian, so two signs with
  correlation r agree as E[sign a sign b] = (2/π) asin r (Sheppard); |sign c|² = C.

AdamW and Lion drive w with an update whose size does not depend on |w|, so
x = |w|² obeys x' = (1 − λα)² x + (forcing free of x): |w| ∝ √(λ/α), λα is exactly
invariant and x relaxes as (1 − λα)^2t. Adam with L2 normalises the decay too: its
effective decay per step is λα/√V ∝ λα|w|, |w|³ ∝ λ√C G/α and λ²α is the invariant.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from dynamics.rules import get_rule
from dynamics.theory.core import (  # noqa: F401 - C, V, β₁, β₂, r = √V: the adaptive rules' symbols
    C, Formula, G, V, _s, _x, _y, _z, alpha, beta1, beta2, lam, leading_order, r_, rational as _rational, tidy)
from dynamics.theory.moments import WHITE, moment_map
from dynamics.util.errors import RidgelineError

_j = sp.Symbol("j", integer=True, positive=True)

ADAM = ("adamw", "adam-l2")
LION_TERMS = 256  # exact terms of Lion's correlation sum; the tail in closed form


# ------------------------------------------------------------- rescaling exponents
def _degree(expr, r, equations: set):
    """The power of ``r`` in ``expr``, collecting the equations that make every sum
    homogeneous (the rescaled rule maps onto itself only if each sum's terms agree)."""
    if expr == r:
        return sp.Integer(1)
    if expr.is_Atom:
        return sp.Integer(0)
    if expr.is_Add:
        degrees = [_degree(a, r, equations) for a in expr.args]
        for d in degrees[1:]:
            if sp.expand(d - degrees[0]) != 0:
                equations.add(sp.expand(d - degrees[0]))
        return degrees[0]
    if expr.is_Mul:
        return sp.expand(sum(_degree(a, r, equations) for a in expr.args))
    if expr.is_Pow:
        base, exp = expr.as_base_exp()
        if r in exp.free_symbols:  # r**(symbolic exponent)
            return exp if base == r else sp.Integer(0)
        return sp.expand(_degree(base, r, equations) * exp)
    if isinstance(expr, sp.sign) or getattr(expr, "scale_free", False):
        _degree(expr.args[0], r, equations)
        return sp.Integer(0)  # sign(r^q c) = sign(c); Muon's NS(r^q u) = NS(u)
    raise AssertionError(f"no degree rule for {expr.func}")


@lru_cache(maxsize=None)
def rescaling_symmetry(rule: str) -> dict[str, sp.Expr]:
    """(a, b, c) with w→r^a w, λ→r^b λ, α→r^c α, g→r^(−a) g (scale invariance), the
    buffers rescaled too, mapping the rule (ε = 0) onto itself; a = 1, then verified."""
    r = sp.Symbol("rr", positive=True)
    w, g, m, s, k = sp.symbols("w g m s k", positive=True)
    eb, ec, em, es = sp.symbols("b c p q")
    adam = rule in ADAM
    state = (r**em * m, r**es * s, k) if adam else (r**em * m,)
    w1, v1 = get_rule(rule)(r * w, state, g / r, r**eb * lam, r**ec * alpha, beta1, beta2=beta2,
                            **({"eps": 0} if adam else {}))
    w1, v1 = _rational(w1), tuple(_rational(e) for e in v1)
    equations: set = set()
    targets = [(w1, 1), (v1[0], em)] + ([(v1[1], es)] if adam else [])
    for expr, target in targets:
        d = _degree(sp.powsimp(sp.expand_power_base(expr, force=True), force=True), r, equations)
        if sp.expand(d - target) != 0:
            equations.add(sp.expand(d - target))
    unknowns = [eb, ec, em] + ([es] if adam else [])
    (sol,) = sp.solve(list(equations), unknowns, dict=True)
    exps = {"a": sp.Integer(1), "b": sol[eb], "c": sol[ec]}
    sub = {eb: sol[eb], ec: sol[ec], em: sol[em]} | ({es: sol[es]} if adam else {})
    w0, _ = get_rule(rule)(w, (m, s, k) if adam else (m,), g, lam, alpha, beta1, beta2=beta2,
                           **({"eps": 0} if adam else {}))
    exps["verified"] = sp.true if sp.simplify(w1.subs(sub) - r * _rational(w0)) == 0 else sp.false
    exps["invariant"] = sp.powsimp(lam ** (-exps["c"]) * alpha ** exps["b"])  # r^(−cb + bc) = 1
    return exps


@dataclass(frozen=True)
class AdaptiveEquilibrium:
    rule: str
    weight_norm2: sp.Expr  # |w|² (AdamW, Lion), or the equation that fixes it (Adam-L2)
    weight_norm_leading: sp.Expr
    weight_norm_row_leading: sp.Expr
    cos_angle: sp.Expr
    angular_update_leading: sp.Expr
    effective_lr_leading: sp.Expr  # λ/|w|: the step on the unit sphere per unit normalised coordinate
    relaxation_steps: sp.Expr


@lru_cache(maxsize=None)
def _adam_fixed(rule: str):
    """The fixed point (x, y, z) per unit s at given r, and cos θ there, of the moment map
    (x, y, z)' = M (x, y, z) + h s, x = |w|², y = w·m, z = |m|², s = |g|² = C V, at late
    times with s settled (noise model; :func:`dynamics.theory.moments.moment_map`, white
    table); M and h depend on r = √V for adam-l2."""
    mm = moment_map(rule, WHITE)
    (fixed,) = sp.linsolve((sp.eye(3) - mm.matrix, mm.noise_vector), _x, _y, _z)
    fixed = [sp.factor(f) for f in fixed]
    cos = sp.factor(sp.cancel(mm.overlap.subs({_x: fixed[0], _y: fixed[1]}) / fixed[0]))
    return fixed, cos


@lru_cache(maxsize=None)
def equilibrium(rule: str) -> AdaptiveEquilibrium:
    """The equilibrium of an adaptive ``rule`` under the noise model (module docstring)."""
    if rule == "lion":
        return _lion_equilibrium()
    fixed, cos = _adam_fixed(rule)
    x = sp.factor(fixed[0] * C * r_**2)  # x = K s, s = C V = C r²
    q = 1 - lam * alpha
    if rule == "adamw":
        x = sp.factor(sp.cancel(x))
        assert r_ not in x.free_symbols, "AdamW's |w| must not depend on the gradient size"
        lead = sp.sqrt(leading_order(x))
        cos = sp.factor(sp.cancel(cos))
        relax = -1 / (2 * sp.log(q))
        norm2, row = x, lead.subs(C, sp.Symbol("C_row", positive=True))
    else:  # x = K(r) s with s = |g|² = G²/x, and r² = V = (G²/x + α²x)/C
        xs = sp.Symbol("x", positive=True)  # |w|²
        norm2 = sp.Eq(xs**2, sp.factor(fixed[0] * G**2))  # with r = √((G²/x + α²x)/C)
        r_lead = sp.solve(sp.Eq(G**2, leading_order(x) * C * r_**2), r_)[0]  # α²x ≪ G²/x
        lead = sp.simplify(sp.sqrt(leading_order(x).subs(r_, r_lead)))
        row = lead.subs({C: sp.Symbol("C_row", positive=True), G: sp.Symbol("G_row", positive=True)})
        # leading order, β₁ = 0: x' − x = −(2λα/r) x + λ² C with r = G/√(C x) ∝ x^(−1/2),
        # so d(x' − x)/dx = −(3/2)(2λα/r) at the fixed point
        relax = sp.simplify(r_lead / (3 * lam * alpha))
    angle_lead = tidy(sp.sqrt(2 * leading_order(1 - (cos if rule == "adamw" else cos.subs(r_, r_lead)))))
    return AdaptiveEquilibrium(rule, norm2, tidy(lead), tidy(row), cos, angle_lead,
                               tidy(sp.simplify(lam / lead)), relax)


# ------------------------------------------------- AdamW: the measured update power
kappa = sp.Symbol("kappa", positive=True)  # update power ratio (training.updatestats)
_c = sp.Symbol("c", real=True)  # E[m_{t−1}·g_t] / |g|²: gradient memory within β₁'s window
_nu = sp.Symbol("nu", positive=True)  # |g|²/(C V): normalised gradient power per coordinate


xi = sp.Symbol("xi", real=True)  # radial share of the normalised gradient, E[ŵ·n]/√C
_R = sp.Symbol("R", positive=True)  # |w|
#: the measured statistics as a noise table: E[w·g] = r E[w·n] = ξ|w|√C r, E[m_{t−1}·g_t] = c |g|²
POWER_NOISE = {"gg": _s, "wg": xi * _R * sp.sqrt(C) * r_, "vg": _c * _s}


@dataclass(frozen=True)
class PowerEquilibrium:
    """AdamW's equilibrium in terms of the measured statistics of its normalised update
    (training.updatestats): κ = E|u|²/(C P), u = m̂/√ŝ, P = (1 − β₁)/(1 + β₁), and the
    radial share ξ = E[ŵ·n]/√C of the normalised gradient n = g/√ŝ."""

    kappa: sp.Expr  # κ as a function of (c, ν), from the rule's moment map
    weight_norm: sp.Expr  # |w| in terms of κ and ξ
    cos_angle: sp.Expr  # cos θ in terms of κ and ξ
    weight_norm2_tangent: sp.Expr  # |w|² at ξ = 0: κ times the white |w|²


@lru_cache(maxsize=None)
def power_equilibrium(rule: str = "adamw") -> PowerEquilibrium:
    """Derive AdamW's fixed point with the white model's assumptions about the normalised
    update replaced by measurable statistics.

    The rule's moment map of (x, y, z) = (|w|², w·m, |m|²) (:func:`dynamics.theory.moments.moment_map`
    with the table :data:`POWER_NOISE`) with three free statistics in place of the white ones: successive
    gradients correlated within the first moment's memory, E[m_{t−1}·g_t] = c |g|²
    (white: 0; :mod:`dynamics.theory.correlated`); a normalised gradient power
    |g|²/(C V) = ν (white: 1; less when √ŝ overestimates a coordinate's typical |g|);
    and a radial share E[w·n] = ξ |w| √C of n = g/√V (white: 0, as g ⟂ w; not 0 when
    the elementwise normalisation tilts n off the tangent plane). The fixed point is
    |w|² = A + B|w| with A, B from the map; κ(c, ν) = (z/V)/(C P) absorbs c and ν, so
    |w| = (B + √(B² + 4A))/2 depends on κ and ξ alone. Sympy checks that at ξ = 0,
    |w|² = κ |w|²_white and cos θ is the white one (|w| scales as √κ, the angle does
    not move). AdamW only: Adam-L2 normalises the decay too, and Lion's |sign c|² = C
    carries no such statistic.
    """
    if rule != "adamw":
        raise RidgelineError(f"the update-power equilibrium is derived for adamw only, not {rule!r}")
    mm = moment_map(rule, POWER_NOISE)
    (fixed,) = sp.linsolve((sp.eye(3) - mm.matrix, mm.forcing), _x, _y, _z)
    forcing = {_s: _nu * C * r_**2}
    x, z = (sp.expand(sp.cancel(f.subs(forcing))) for f in (fixed[0], fixed[2]))
    white_p = (1 - beta1) / (1 + beta1)
    kap = sp.factor(sp.cancel(z / r_**2 / (C * white_p)))
    assert sp.simplify(kap.subs({_c: 0, _nu: 1}) - 1) == 0, "κ must be 1 in the white model"
    c_of = sp.solve(sp.Eq(kap, kappa), _c)[0]
    A, B = (sp.factor(sp.cancel(x.coeff(_R, n).subs(_c, c_of))) for n in (0, 1))
    assert sp.simplify(x.subs(_c, c_of) - A - B * _R) == 0, "|w|² must be A + B|w|"
    assert r_ not in (A + B).free_symbols and _nu not in (A + B).free_symbols, "κ and ξ must be all it takes"
    white = sp.factor(x.subs({_c: 0, _nu: 1, xi: 0}))
    assert sp.simplify(A - kappa * white) == 0 and B.subs(xi, 0) == 0, "at ξ = 0, |w|² = κ |w|²_white"
    norm = (B + sp.sqrt(B**2 + 4 * A)) / 2
    cos_x = mm.overlap.subs({_x: _R**2, _y: fixed[1]}) / _R**2
    cos = sp.cancel(cos_x.subs(forcing).subs(_c, c_of))
    assert r_ not in cos.free_symbols
    cos_white = sp.factor(sp.cancel(cos.subs({xi: 0}).subs(_R, sp.sqrt(A))))
    assert kappa not in cos_white.free_symbols, "at ξ = 0 the angle must not depend on κ"
    return PowerEquilibrium(kap, norm, cos.subs(_R, norm), sp.factor(A))


# ------------------------------------------------------------------------ Lion
def lion_correlation() -> tuple[sp.Expr, sp.Expr]:
    """(A, R_j): c_t = Σ_k a_k g_{t−k} with a_0 = 1 − β₁, a_k = β₁(1 − β₂)β₂^(k−1) (from the
    rule), corr(c_t, c_{t+j}) = A β₂^(j−1), and R_j = (2/π) asin(A β₂^(j−1)) the mean
    product of the signs of one coordinate j steps apart."""
    gvec = sp.symbols("g0:3")
    m = sp.Integer(0)
    for gk in reversed(gvec[1:]):  # m after g2, g1 (oldest first): read a_1, a_2 off the rule
        _, (m,) = get_rule("lion")(sp.Integer(0), (m,), gk, lam, alpha, beta1, beta2=beta2)
    c = sp.expand(beta1 * m + (1 - beta1) * gvec[0])
    assert sp.expand(c.coeff(gvec[1]) - beta1 * (1 - beta2)) == 0
    a = lambda n: (1 - beta1) if n == 0 else beta1 * (1 - beta2) * beta2 ** (n - 1)  # noqa: E731
    assert all(sp.expand(c.coeff(gvec[n]) - a(n)) == 0 for n in range(3))
    geometric = 1 / (1 - beta2**2)  # Σ_{k≥1} β₂^(2(k−1))
    norm = a(0) ** 2 + (beta1 * (1 - beta2)) ** 2 * geometric  # Σ_k a_k²
    lag1 = a(0) * a(1) + (beta1 * (1 - beta2)) ** 2 * beta2 * geometric  # Σ_k a_k a_(k+1)
    A = sp.factor(sp.simplify(lag1 / norm))
    return A, 2 / sp.pi * sp.asin(A * beta2 ** (_j - 1))


@lru_cache(maxsize=None)
def _lion_equilibrium() -> AdaptiveEquilibrium:
    """w_t = −λ Σ q^k u_{t−1−k} (q = 1 − λα, u = sign c, |u|² = C): x and w·u from R_j."""
    w, g, m = sp.symbols("w g m")
    w1, _ = get_rule("lion")(w, (m,), g, lam, alpha, beta1, beta2=beta2)
    q = sp.expand(w1.coeff(w))
    assert sp.expand(q - (1 - lam * alpha)) == 0
    u2 = sp.sign(sp.Symbol("c", real=True, nonzero=True)) ** 2  # |u|² = C: sign² = 1
    assert u2 == 1
    A, R = lion_correlation()
    S = sp.Sum(q**_j * R, (_j, 1, sp.oo))
    S1 = sp.Sum(q ** (_j - 1) * R, (_j, 1, sp.oo))
    x = lam**2 * C * (1 + 2 * S) / (1 - q**2)
    cos = q + lam**2 * C * S1 / x  # w·w' = q x − λ E[w·u],  E[w·u] = −λ C Σ q^(j−1) R_j
    S0 = sp.Sum(R, (_j, 1, sp.oo))  # λα → 0
    lead = sp.sqrt(lam * C * (1 + 2 * S0) / (2 * alpha))
    return AdaptiveEquilibrium(
        "lion", x, lead, lead.subs(C, sp.Symbol("C_row", positive=True)), cos,
        sp.sqrt(2 * lam * alpha / (1 + 2 * S0)), sp.sqrt(2 * alpha / (C * (1 + 2 * S0))),
        -1 / (2 * sp.log(q)))


# ---------------------------------------------------------------------- formulas
PAPER = {  # Kosson et al. (2024), random-walk model, per tensor of C elements (λ lr, α wd)
    "adamw": (sp.sqrt(lam * C / (2 * alpha)), sp.sqrt(2 * lam * alpha * (1 - beta1) / (1 + beta1))),
    "adam-l2": (None, None),
    "lion": (None, sp.sqrt(sp.pi / 2) * sp.sqrt(2 * lam * alpha)
             * sp.sqrt((1 - beta1) ** 2 + beta1**2 * (1 - beta2) / (1 + beta2))),
}


@lru_cache(maxsize=None)
def derive(rule: str) -> tuple[Formula, ...]:
    """Every derived result for an adaptive ``rule``, in reading order."""
    eq = equilibrium(rule)
    sym = rescaling_symmetry(rule)
    out = [
        Formula("rescaling_exponents", "(a, b, c): w→r^a w, λ→r^b λ, α→r^c α (buffers too, ε = 0) maps the update onto itself",
                sp.Tuple(sym["a"], sym["b"], sym["c"])),
        Formula("rescaling_verified", "the exponents substituted back into the rule give the same update", sym["verified"]),
        Formula("rescaling_invariant", "exactly invariant combination of (λ, α) (ε breaks it unless ε ∝ 1/|w|)", sym["invariant"]),
        Formula("weight_norm_sq" if rule != "adam-l2" else "weight_norm_equation",
                "equilibrium |w|² per tensor of C elements (exact)" if rule != "adam-l2"
                else "exact equilibrium: x = |w|² solves this with r = √V = √((G²/x + α²x)/C)", eq.weight_norm2),
        Formula("weight_norm_leading", "equilibrium |w| per tensor of C elements, leading order in λα", eq.weight_norm_leading),
        Formula("weight_norm_row_leading", "the same per output row of C_row elements"
                + (" with its own G_row" if rule == "adam-l2" else ": independent of the row's gradient"), eq.weight_norm_row_leading),
        Formula("angular_update", "equilibrium angle between w_t and w_t+1, radians per step (exact)", sp.acos(eq.cos_angle)),
        Formula("angular_update_leading", "the angle, leading order in λα", eq.angular_update_leading),
        Formula("effective_lr_leading", "λ/|w|, the step on the unit sphere per unit normalised coordinate, leading order", eq.effective_lr_leading),
        Formula("relaxation_steps" if rule != "adam-l2" else "relaxation_steps_leading",
                "e-folding time of |w|² towards equilibrium, steps (second moment tracking at once"
                + ("; leading order at β₁ = 0, predict uses the moment map at any β₁)" if rule == "adam-l2" else ")"),
                eq.relaxation_steps),
    ]
    norm, angle = PAPER[rule]
    if norm is not None:
        out.append(Formula("paper_weight_norm", "Kosson et al. (2024), random-walk model", norm))
    if angle is not None:
        out.append(Formula("paper_angular_update", "Kosson et al. (2024), random-walk model (their code's "
                           "equilibrium angle)", angle))
    return tuple(out)


# ------------------------------------------------------------------------ numbers
@lru_cache(maxsize=None)
def _adam_numeric(rule: str):
    fixed, cos = _adam_fixed(rule)
    mm = moment_map(rule, WHITE)
    M, h = mm.matrix, mm.noise_vector
    args = (lam, alpha, beta1, r_)
    return (sp.lambdify(args, fixed, "numpy"), sp.lambdify(args, cos, "numpy"),
            sp.lambdify(args, list(M), "numpy"), sp.lambdify(args, list(h), "numpy"))


@lru_cache(maxsize=None)
def _lion_lag1():
    return sp.lambdify((beta1, beta2), lion_correlation()[0], "numpy")


def _lion_sums(lr, wd, b1, b2):
    """(S, S1) = (Σ_j q^j R_j, Σ_j q^(j−1) R_j): LION_TERMS terms exactly, the rest from
    asin x = x + x³/6 + 3x⁵/40 + … summed as geometric series."""
    q = 1 - lr * wd
    A = _lion_lag1()(b1, b2)
    j = np.arange(1, LION_TERMS + 1).reshape((-1,) + (1,) * np.ndim(q))
    R = 2 / np.pi * np.arcsin(A * b2 ** (j - 1))
    S = (q**j * R).sum(0)
    tail = 0.0
    for n, c in ((1, 1.0), (3, 1 / 6), (5, 3 / 40), (7, 5 / 112)):  # Σ_{j>J} q^j (A β₂^(j−1))^n
        ratio = q * b2**n
        tail = tail + c * A**n / b2**n * ratio ** (LION_TERMS + 1) / (1 - ratio)
    S = S + 2 / np.pi * tail
    return S, S / q


@lru_cache(maxsize=None)
def _adamw_power():
    eq = power_equilibrium("adamw")
    args = (lam, alpha, beta1, C, kappa, xi)
    return sp.lambdify(args, eq.weight_norm, "numpy"), sp.lambdify(args, eq.cos_angle, "numpy")


def predict(rule: str, lr, wd, momentum, grad_norm, elements, beta2=None, power=None, radial=None):
    """(|w|, θ, λ/|w|, relaxation steps, ok) at the equilibrium, numpy arrays; ``power``
    the measured update power κ and ``radial`` the normalised gradient's radial share ξ
    (adamw only, :func:`power_equilibrium`; None: white, κ = 1, ξ = 0)."""
    from dynamics.rules import DEFAULT_BETA2

    b2 = DEFAULT_BETA2[rule] if beta2 is None else beta2
    measured = power is not None or radial is not None
    if measured and rule != "adamw":
        raise RidgelineError(f"a measured update power or radial share applies to adamw only, not {rule}")
    if elements is None:
        raise RidgelineError(f"predicting {rule} needs the number of elements C of the tensor")
    lr, wd, b1, Gn, Cn, b2, kap, xi_ = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (
        lr, wd, momentum, grad_norm, elements, b2, 1.0 if power is None else power,
        0.0 if radial is None else radial)))
    q = 1 - lr * wd
    with np.errstate(all="ignore"):
        if rule == "lion":
            S, S1 = _lion_sums(lr, wd, b1, b2)
            x = lr**2 * Cn * (1 + 2 * S) / (1 - q**2)
            cos = q + lr**2 * Cn * S1 / x
            tau = -1 / (2 * np.log(q))
        else:
            fixed_f, cos_f, M_f, h_f = _adam_numeric(rule)
            if rule == "adamw":  # V cancels: any r, s = C V
                r = np.ones_like(lr)
                x = np.asarray(fixed_f(lr, wd, b1, r)[0], dtype=float) * Cn * r**2
            else:
                x, r = _solve_x(fixed_f, lr, wd, b1, Gn, Cn)
            cos = np.asarray(cos_f(lr, wd, b1, r), dtype=float)
            if measured:  # the measured update statistics in place of the white ones
                norm_f, cos_f = _adamw_power()
                x = np.asarray(norm_f(lr, wd, b1, Cn, kap, xi_), dtype=float) ** 2
                cos = np.asarray(cos_f(lr, wd, b1, Cn, kap, xi_), dtype=float)
            tau = _relaxation(rule, M_f, h_f, lr, wd, b1, r, x, Cn, Gn)
        ok = (lr > 0) & (wd > 0) & np.isfinite(x) & (x > 0) & (np.abs(cos) <= 1) & (q > 0) & (kap > 0)
        norm = np.where(ok, np.sqrt(x), np.nan)
        theta = np.where(ok, np.arccos(np.clip(cos, -1, 1)), np.nan)
        return norm, theta, np.where(ok, lr / norm, np.nan), np.where(ok, tau, np.nan), ok


def _root_of(lr, wd, Gn, Cn):
    """r(x) = √V, V = (|g|² + α²|w|²)/C = (G²/x + α²x)/C: Adam-L2's second moment with
    the decay's mean share included."""
    return lambda x: np.sqrt((Gn**2 / x + wd**2 * x) / Cn)


def _solve_x(fixed_f, lr, wd, b1, Gn, Cn, iterations=200):
    """x = |w|² with x² = K(r(x)) G² (x = K s, s = |g|² = G²/x), by bisection on ln x;
    K(r(x)) G²/x² falls as x grows. Returns (x, r)."""
    r_of = _root_of(lr, wd, Gn, Cn)
    lo, hi = np.full(lr.shape, -60.0), np.full(lr.shape, 60.0)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        x = np.exp(mid)
        K = np.asarray(fixed_f(lr, wd, b1, r_of(x))[0], dtype=float)
        up = ~(np.log(K * Gn**2) - 2 * mid < 0)  # NaN (no stable fixed point) counts as too small
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    x = np.exp((lo + hi) / 2)
    return x, r_of(x)


def _relaxation(rule, M_f, h_f, lr, wd, b1, r, x, Cn, Gn):
    """−1/ln μ, μ the slowest eigenvalue of the moment map at the fixed point; for
    adam-l2 with r = r(x) and the forcing |g|² = G²/x following x (the x column by a
    numerical derivative)."""
    def matrix(rr):
        return np.stack([np.broadcast_to(np.asarray(e, dtype=float), lr.shape) for e in M_f(lr, wd, b1, rr)],
                        -1).reshape(*lr.shape, 3, 3)

    M = matrix(r)
    if rule == "adam-l2":
        r_of, eps = _root_of(lr, wd, Gn, Cn), 1e-6
        state = _fixed_state(rule, lr, wd, b1, r, x)

        def moment_map(xx):
            rr = r_of(xx)
            h = np.stack([np.broadcast_to(np.asarray(e, dtype=float), lr.shape) for e in h_f(lr, wd, b1, rr)], -1)
            moved = state.copy()
            moved[..., 0] = xx
            return (matrix(rr) @ moved[..., None])[..., 0] + h * (Gn**2 / xx)[..., None]

        M = M.copy()
        M[..., :, 0] = (moment_map(x * (1 + eps)) - moment_map(x)) / (x * eps)[..., None]
    ok = np.all(np.isfinite(M), axis=(-2, -1))
    mu = np.full(lr.shape, np.nan)
    mu[ok] = np.abs(np.linalg.eigvals(M[ok])).max(-1)
    return -1 / np.log(mu)


def _fixed_state(rule, lr, wd, b1, r, x):
    fixed_f = _adam_numeric(rule)[0]
    f = [np.broadcast_to(np.asarray(e, dtype=float), lr.shape) for e in fixed_f(lr, wd, b1, r)]
    return np.stack([x, f[1] / f[0] * x, f[2] / f[0] * x], -1)
