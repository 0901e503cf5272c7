"""Sympy derivations of Page's flat directions and the weight-norm equilibrium.

Nothing here is typed in by hand: every result starts from the update rules in
:mod:`dynamics.rules`, applied to sympy symbols.

Notation (Page's): λ learning rate, α weight decay, ρ momentum, N batch size,
w parameter, v momentum buffer, g loss gradient, G = |g| |w| the scale-free gradient
norm of a scale-invariant parameter.

Each rule is linear in its state and gradient, so applying it to scalar symbols gives

    w' = a w + b v + c g,        v' = d w + e v + f g          (1)

with a … f functions of (λ, α, ρ). The derivations are:

1. *gradient weight*: with α = 0, the total change of w caused by one gradient over
   all later steps, c + b f Σ_k e^k, a geometric series (−λ/(1−ρ) for heavy-ball);
2. *linear scaling*: drift and diffusion per epoch, which depend on (λ, N) only
   through λ/N;
3. *rescaling symmetry*: exponents with w → r^a w, λ → r^b λ, α → r^c α, v → r^p v,
   g → r^(−a) g (scale invariance) mapping (1) onto itself: (1, 2, −2, −1);
4. *equilibrium*: under the noise model g ⟂ w, g ⟂ v, |g|² = G²/|w|², the second
   moments x = |w|², y = w·v, z = |v|² obey x' = M (x, y, z) + h s with s = |g|²
   (:func:`dynamics.theory.moments.moment_map` with the white table);
   its fixed point, the angular update cos θ = w·w'/|w|², the effective learning
   rate λ/|w|², and the relaxation time from the Jacobian at the fixed point;
5. *rotated coordinates* (λα/(1−ρ), ρ, α) and the map back.

These are the SGD family's (sgd, heavy-ball, nesterov, decoupled). The symbols and helpers
live in :mod:`dynamics.theory.core` (re-exported here); the choice of family for any rule,
and the numbers (``predict``), in :mod:`dynamics.theory.dispatch`, which imports this module
and never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from dynamics.rules import ADAPTIVE, ORTHOGONAL, get_rule
from dynamics.theory.core import (  # noqa: F401 - the core's names, re-exported for symbolic's readers
    Formula, G, M_ex, N, Prediction, _s, _t, _x, _y, _z, alpha, check_hyperparameters, lam, leading_order,
    rho, tidy, u)
from dynamics.theory.moments import WHITE, linear_update, moment_map
from dynamics.util.errors import RidgelineError


def linear_coefficients(rule: str) -> dict[str, sp.Expr]:
    """The coefficients a … f of (1), read off the rule applied to scalar symbols
    (:func:`dynamics.theory.moments.linear_update`)."""
    w, v, g, w1, v1 = linear_update(sgd_family(rule))
    out = {}
    for name, expr, var in zip("abcdef", [w1] * 3 + [v1] * 3, [w, v, g] * 2):
        out[name] = sp.expand(sp.diff(expr, var))
        assert not out[name].free_symbols & {w, v, g}, "rule is not linear"
    return out


def sgd_family(rule: str) -> str:
    """``rule`` if it is one of the SGD family (state (w, v), linear in (w, v, g)); a one-line
    RidgelineError otherwise (the adaptive rules and Muon have their own modules)."""
    get_rule(rule)
    if rule in ADAPTIVE or rule in ORTHOGONAL:
        raise RidgelineError(f"{rule!r} is not an SGD-family rule: its derivation is in "
                             f"dynamics.theory.{'muon' if rule in ORTHOGONAL else 'adaptive'} "
                             "(dynamics.theory.dispatch chooses it)")
    return rule


# 1. ---------------------------------------------------------------- gradient weight
@lru_cache(maxsize=None)
def gradient_weight(rule: str, steps: int = 3) -> tuple[list[sp.Expr], sp.Expr]:
    """Weight of one gradient in later updates, with weight decay off (α = 0).

    Returns the first ``steps`` increments of w after a unit gradient at step 0
    (found by running the rule) and their sum over all steps (the series c + b f Σ e^k).
    """
    step = get_rule(rule)
    w, v, increments = sp.Integer(0), sp.Integer(0), []
    for k in range(steps):
        w_new, v = step(w, v, sp.Integer(1 if k == 0 else 0), lam, 0, rho)
        increments.append(sp.factor(w_new - w))
        w = w_new
    co = {k: e.subs(alpha, 0) for k, e in linear_coefficients(rule).items()}
    assert co["a"] == 1 and co["d"] == 0, "with α = 0 the rule must not move w on its own"
    k = sp.Symbol("k", integer=True, nonnegative=True)
    series = sp.summation(co["e"] ** k, (k, 0, sp.oo))
    if isinstance(series, sp.Piecewise):  # geometric series: the |ρ| < 1 branch
        series = series.args[0][0]
    return increments, tidy(co["c"] + co["b"] * co["f"] * series)


def momentum_invariant(rule: str) -> sp.Expr:
    """The combination of (λ, ρ) that fixes the total gradient weight (λ/(1−ρ))."""
    total = gradient_weight(rule)[1]
    kappa = sp.Symbol("kappa", positive=True)
    for candidate in (lam / (1 - rho), lam):
        solved = sp.solve(sp.Eq(candidate, kappa), lam)[0]
        if rho not in sp.cancel(total.subs(lam, solved)).free_symbols:
            return candidate
    raise AssertionError(f"no momentum invariant found for {rule}")


# 2. ------------------------------------------------------------- linear scaling rule
def linear_scaling(rule: str) -> dict[str, sp.Expr]:
    """Drift and diffusion of w per epoch of M examples at batch size N.

    A minibatch gradient is ḡ + ξ with Var ξ = σ²/N per component. Over one epoch
    (M/N steps) in the quasi-static regime — ḡ, σ² and w change little within an
    epoch and momentum's delay (1/(1−ρ) steps) is short, i.e. λ/(1−ρ) times the
    curvature ≪ 1 and N ≪ M — each gradient acts with its total weight W
    (derivation 1), so drift = (M/N) W (ḡ + α w) and diffusion = (M/N) W² σ²/N.
    With λ = κ N both are free of N: λ/N is the invariant.
    """
    gbar, sigma, w, kappa = sp.symbols("gbar sigma w kappa", positive=True)
    _, weight = gradient_weight(rule)
    steps = M_ex / N
    drift = tidy(steps * weight * (gbar + alpha * w))
    diffusion = tidy(steps * weight**2 * sigma**2 / N)
    at_fixed_ratio = [sp.cancel(e.subs(lam, kappa * N)) for e in (drift, diffusion)]
    assert all(N not in e.free_symbols for e in at_fixed_ratio)
    return {"drift_per_epoch": drift, "diffusion_per_epoch": diffusion,
            "invariant": momentum_invariant(rule) / N}


# 3. -------------------------------------------------------- exact rescaling symmetry
def rescaling_symmetry(rule: str) -> dict[str, sp.Expr]:
    """Solve for (a, b, c, p) with w→r^a w, λ→r^b λ, α→r^c α, v→r^p v, g→r^(−a) g.

    Every term of the transformed w' must carry r^a and every term of v' r^p; the
    solution is a one-parameter family, normalised to a = 1, then verified by
    substituting it back into the rule. SGD family; any rule's:
    :func:`dynamics.theory.dispatch.rescaling_symmetry`.
    """
    sgd_family(rule)
    r = sp.Symbol("r", positive=True)
    w, v, g = sp.symbols("w v g", positive=True)
    ea, eb, ec, ep = sp.symbols("a b c p")
    step = get_rule(rule)
    w1, v1 = step(r**ea * w, r**ep * v, r**-ea * g, r**eb * lam, r**ec * alpha, rho)
    equations = set()
    for expr, target in ((w1, ea), (v1, ep)):
        for term in sp.Add.make_args(sp.expand(expr)):
            exponent = sum(f.as_base_exp()[1] for f in sp.Mul.make_args(term)
                           if f.as_base_exp()[0] == r)  # term ∝ r**exponent
            if sp.expand(exponent - target) != 0:
                equations.add(sp.expand(exponent - target))
    solution = sp.solve(list(equations), [eb, ec, ep], dict=True)[0]
    exps = {"a": sp.Integer(1)} | {str(k): v_.subs(ea, 1) for k, v_ in solution.items()}
    exps.setdefault("b", sp.Integer(0)); exps.setdefault("c", sp.Integer(0))
    exps.setdefault("p", sp.Integer(0))
    sub = {ea: exps["a"], eb: exps["b"], ec: exps["c"], ep: exps["p"]}
    w0, v0 = step(w, v, g, lam, alpha, rho)
    checks = (w1.subs(sub) - r ** exps["a"] * w0, v1.subs(sub) - r ** exps["p"] * v0)
    exps["verified"] = sp.true if all(sp.expand(e) == 0 for e in checks) else sp.false
    exps["invariant"] = lam * alpha if exps["b"] + exps["c"] == 0 else sp.nan
    return exps


# 4. ----------------------------------------------------------------- equilibrium
@dataclass(frozen=True)
class Equilibrium:
    """Sympy expressions for one rule's equilibrium (exact and leading order in λα)."""

    rule: str
    moment_map: sp.Matrix  # (x', y', z') = moment_map (x, y, z) + noise_vector s
    noise_vector: sp.Matrix
    weight_norm4: sp.Expr  # |w|⁴ at the fixed point
    weight_norm4_leading: sp.Expr
    cos_angle: sp.Expr  # cos θ = w·w'/|w|² at the fixed point
    angular_update: sp.Expr  # θ = acos(cos θ), radians per step
    angular_update_leading: sp.Expr
    effective_lr: sp.Expr  # λ / |w|²
    effective_lr_leading: sp.Expr
    total_effective_lr_leading: sp.Expr  # W/|w|², W the gradient weight (derivation 1)
    jacobian: sp.Matrix  # of the moment map with s = G²/x, at the fixed point
    relaxation_steps_leading: sp.Expr  # −1/ln μ for the slowest eigenvalue μ


@lru_cache(maxsize=None)
def equilibrium(rule: str) -> Equilibrium:
    """Derive the equilibrium of an SGD-family ``rule`` under the noise model (module
    docstring); any rule's: :func:`dynamics.theory.dispatch.equilibrium`."""
    sgd_family(rule)
    mm = moment_map(rule, WHITE)  # (x, y, z)' = M (x, y, z) + h s
    Mm, h, state = mm.matrix, mm.noise_vector, mm.state
    (fixed,) = sp.linsolve((sp.eye(3) - Mm, h), *state)  # (x, y, z) per unit s
    K = sp.factor(fixed[0])  # x = K s = K G²/x  =>  |w|⁴ = K G²
    norm4 = sp.factor(K * G**2)
    cos = sp.factor(sp.cancel(mm.overlap.subs({_x: fixed[0], _y: fixed[1]}) / fixed[0]))
    norm4_leading = leading_order(norm4)
    _, weight = gradient_weight(rule)
    J = Mm - h * sp.Matrix([[1 / K, 0, 0]])  # ∂(h G²/x)/∂x = −h/K at the fixed point
    return Equilibrium(
        rule=rule, moment_map=Mm, noise_vector=h,
        weight_norm4=norm4, weight_norm4_leading=tidy(norm4_leading),
        cos_angle=cos, angular_update=sp.acos(cos),
        angular_update_leading=tidy(sp.sqrt(2 * leading_order(1 - cos))),  # θ² ≈ 2(1 − cos θ)
        effective_lr=lam / sp.sqrt(norm4),
        effective_lr_leading=tidy(lam / sp.sqrt(norm4_leading)),
        total_effective_lr_leading=tidy(-weight / sp.sqrt(norm4_leading)),
        jacobian=J, relaxation_steps_leading=_relaxation_leading(J),
    )


def _relaxation_leading(J: sp.Matrix) -> sp.Expr:
    """1/κλ where μ = 1 − κλ + O(λ²) is the eigenvalue of J that tends to 1 as λ → 0."""
    kappa, mu = sp.symbols("kappa mu")
    from sympy.polys.matrices import DomainMatrix

    dm = DomainMatrix.from_Matrix(J.subs(lam, _t * lam)).to_field()
    coeffs = [dm.domain.to_sympy(c) for c in dm.charpoly()]
    char = sum(c * mu ** (len(coeffs) - 1 - i) for i, c in enumerate(coeffs))
    poly = sp.expand(sp.numer(sp.together(char.subs(mu, 1 - kappa * _t * lam))))
    for order in range(0, 12):
        coeff = sp.factor(poly.coeff(_t, order))
        if coeff != 0:
            roots = [r for r in sp.solve(coeff, kappa) if r != 0]
            positive = [r for r in roots if r.is_positive is not False]
            return tidy(1 / (positive[0] * lam))
    raise AssertionError("no slow eigenvalue found")


# 5. ------------------------------------------------------------ rotated coordinates
def rotated_coordinates() -> dict[str, sp.Expr]:
    """Page's tuning coordinates (u, ρ, α) with u = λα/(1−ρ), and λ(u, ρ, α)."""
    forward = lam * alpha / (1 - rho)
    back = sp.solve(sp.Eq(u, forward), lam)[0]
    assert sp.simplify(forward.subs(lam, back) - u) == 0
    return {"u": forward, "lambda": back}


@lru_cache(maxsize=None)
def _rotated_numeric():
    rc = rotated_coordinates()
    return (sp.lambdify((lam, rho, alpha), rc["u"], "numpy"),
            sp.lambdify((u, rho, alpha), rc["lambda"], "numpy"))


def to_rotated(lr, momentum, wd):
    """λα/(1−ρ) for numbers or arrays."""
    return _rotated_numeric()[0](lr, momentum, wd)


def from_rotated(rotated, momentum, wd):
    """λ with λα/(1−ρ) = ``rotated``, for numbers or arrays."""
    return _rotated_numeric()[1](rotated, momentum, wd)


# ------------------------------------------------------------------ all, by name
@lru_cache(maxsize=None)
def derive(rule: str) -> tuple[Formula, ...]:
    """Every derived result for an SGD-family ``rule``, in reading order (keys documented in
    README); any rule's: :func:`dynamics.theory.dispatch.derive`."""
    sgd_family(rule)
    first, total = gradient_weight(rule)
    scaling = linear_scaling(rule)
    sym = rescaling_symmetry(rule)
    eq = equilibrium(rule)
    back = rotated_coordinates()["lambda"]
    in_u = lambda e: tidy(e.subs(lam, back))  # noqa: E731 - express in (u, ρ, α)
    return (
        Formula("gradient_weight_first_steps", "change of w from one unit gradient at steps 0, 1, 2 (α = 0)", sp.Tuple(*first)),
        Formula("gradient_weight_total", "its sum over all later steps (geometric series)", total),
        Formula("momentum_invariant", "combination held fixed by the total gradient weight", momentum_invariant(rule)),
        Formula("drift_per_epoch", "drift of w per epoch of M examples at batch N (quasi-static regime)", scaling["drift_per_epoch"]),
        Formula("diffusion_per_epoch", "variance added to w per epoch, per-example noise σ²", scaling["diffusion_per_epoch"]),
        Formula("batch_invariant", "combination that fixes drift and diffusion per epoch", scaling["invariant"]),
        Formula("rescaling_exponents", "(a, b, c, p): w→r^a w, λ→r^b λ, α→r^c α, v→r^p v maps the update onto itself", sp.Tuple(sym["a"], sym["b"], sym["c"], sym["p"])),
        Formula("rescaling_verified", "the exponents substituted back into the rule give the same update", sym["verified"]),
        Formula("rescaling_invariant", "exactly invariant combination of (λ, α)", sym["invariant"]),
        Formula("weight_norm4", "equilibrium |w|⁴ (exact)", eq.weight_norm4),
        Formula("weight_norm4_leading", "equilibrium |w|⁴, leading order in λα", eq.weight_norm4_leading),
        Formula("angular_update", "equilibrium angle between w_t and w_t+1, radians per step (exact)", eq.angular_update),
        Formula("angular_update_leading", "the angle, leading order in λα", eq.angular_update_leading),
        Formula("angular_update_leading_rotated", "the angle in the rotated coordinates u = λα/(1−ρ)", in_u(eq.angular_update_leading)),
        Formula("effective_lr", "λ/|w|², the step size on the unit sphere (exact)", eq.effective_lr),
        Formula("effective_lr_leading", "λ/|w|², leading order", eq.effective_lr_leading),
        Formula("total_effective_lr_leading", "total gradient weight over |w|², leading order", eq.total_effective_lr_leading),
        Formula("total_effective_lr_leading_rotated", "the same in rotated coordinates (u, ρ); u alone for coupled momentum", in_u(eq.total_effective_lr_leading)),
        Formula("relaxation_steps_leading", "e-folding time of |w|² towards equilibrium, steps, leading order", eq.relaxation_steps_leading),
        Formula("rotated_u", "Page's tuning coordinate u", rotated_coordinates()["u"]),
        Formula("rotated_lambda", "the map back: λ from (u, ρ, α)", back),
    )
