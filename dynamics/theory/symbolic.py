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
   moments x = |w|², y = w·v, z = |v|² obey x' = M (x, y, z) + h s with s = |g|²;
   its fixed point, the angular update cos θ = w·w'/|w|², the effective learning
   rate λ/|w|², and the relaxation time from the Jacobian at the fixed point;
5. *rotated coordinates* (λα/(1−ρ), ρ, α) and the map back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from dynamics.util.errors import RidgelineError
from dynamics.rules import ADAPTIVE, ORTHOGONAL, RULES, get_rule

lam, alpha, G, N, M_ex = sp.symbols("lambda alpha G N M", positive=True)
rho = sp.Symbol("rho", nonnegative=True)
u = sp.Symbol("u", positive=True)  # the rotated coordinate λα/(1−ρ)
_t = sp.Symbol("t", positive=True)  # bookkeeping for "leading order in λα"


@dataclass(frozen=True)
class Formula:
    """One derived result: a key, what it means, and the sympy expression."""

    key: str
    meaning: str
    expr: sp.Expr


def linear_coefficients(rule: str) -> dict[str, sp.Expr]:
    """The coefficients a … f of (1), read off the rule applied to scalar symbols."""
    w, v, g = sp.symbols("w v g")
    w1, v1 = get_rule(rule)(w, v, g, lam, alpha, rho)
    out = {}
    for name, expr, var in zip("abcdef", [w1] * 3 + [v1] * 3, [w, v, g] * 2):
        out[name] = sp.expand(sp.diff(expr, var))
        assert not out[name].free_symbols & {w, v, g}, "rule is not linear"
    return out


def leading_order(expr: sp.Expr) -> sp.Expr:
    """The leading term of a rational ``expr`` for small λ (so small λα) at fixed α, ρ."""
    return sp.factor(sp.cancel(expr.subs(lam, _t * lam)).as_leading_term(_t).subs(_t, 1))


def tidy(expr: sp.Expr) -> sp.Expr:
    """Simplify using 0 ≤ ρ < 1 (sympy cannot assume ρ < 1, so write ρ = 1 − q, q > 0)."""
    q = sp.Symbol("q", positive=True)
    out = sp.powsimp(sp.factor(expr.subs(rho, 1 - q)), force=True).subs(q, 1 - rho)
    return out.replace(lambda e: e.is_Pow and e.base.is_Add, lambda e: sp.factor(e.base) ** e.exp)


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
    substituting it back into the rule.
    """
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


def init_follow_exponent(rule: str) -> sp.Rational:
    """e = a/b with |w₀| ∝ (λ/λ₀)^e: the initial scale that keeps a run on the orbit of the
    rescaling symmetry (w, λ, α) → (r^a w, r^b λ, r^c α) through its reference point.

    A run at (λ, α) whose scale-invariant tensors start at (λ/λ₀)^(a/b) |w₀| is, exactly
    (up to BN's ε and rounding), the run at (λ₀, α·(λ/λ₀)^(−c/b)) with the usual |w₀|,
    rescaled by r = (λ/λ₀)^(1/b). For the SGD rules (a, b, c) = (1, 2, −2), so e = 1/2 and
    the orbit keeps λα; the adaptive rules take their own exponents
    (:func:`dynamics.theory.adaptive.rescaling_symmetry`).
    """
    if rule in ORTHOGONAL:
        from dynamics.theory.muon import rescaling_symmetry as muon_symmetry

        exps = muon_symmetry()
    elif rule in ADAPTIVE:
        from dynamics.theory.adaptive import rescaling_symmetry as adaptive_symmetry

        exps = adaptive_symmetry(rule)
    else:
        exps = rescaling_symmetry(rule)
    if exps["b"] == 0:
        raise ValueError(f"the rescaling symmetry of {rule!r} does not move λ")
    return sp.nsimplify(exps["a"] / exps["b"])


# 4. ----------------------------------------------------------------- equilibrium
_x, _y, _z, _s = sp.symbols("x y z s", positive=True)  # |w|², w·v, |v|², |g|²


def moments(expr: sp.Expr, w, v, g) -> sp.Expr:
    """Replace products of (w, v, g) by second moments under the noise model."""
    table = {(2, 0, 0): _x, (1, 1, 0): _y, (0, 2, 0): _z, (0, 0, 2): _s,
             (1, 0, 1): 0, (0, 1, 1): 0}  # g ⟂ w; g independent of v with mean 0
    poly = sp.Poly(sp.expand(expr), w, v, g)
    return sp.expand(sum(c * table[m] for m, c in poly.terms()))


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
    """Derive the equilibrium of ``rule`` under the noise model (see module docstring);
    the adaptive rules' is :func:`dynamics.theory.adaptive.equilibrium`, Muon's :func:`dynamics.theory.muon.equilibrium`."""
    if rule in ORTHOGONAL:
        from dynamics.theory import muon

        return muon.equilibrium()
    if rule in ADAPTIVE:
        from dynamics.theory import adaptive

        return adaptive.equilibrium(rule)
    w, v, g = sp.symbols("w v g")
    w1, v1 = get_rule(rule)(w, v, g, lam, alpha, rho)
    new = [moments(e, w, v, g) for e in (w1 * w1, w1 * v1, v1 * v1)]
    state = sp.Matrix([_x, _y, _z])
    Mm = sp.Matrix(new).jacobian(state)
    h = sp.Matrix(new).diff(_s)
    (fixed,) = sp.linsolve((sp.eye(3) - Mm, h), *state)  # (x, y, z) per unit s
    K = sp.factor(fixed[0])  # x = K s = K G²/x  =>  |w|⁴ = K G²
    norm4 = sp.factor(K * G**2)
    cos = sp.factor(sp.cancel(moments(w * w1, w, v, g).subs({_x: fixed[0], _y: fixed[1]}) / fixed[0]))
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
    """Every derived result for ``rule``, in reading order (keys documented in README);
    the adaptive rules' are :func:`dynamics.theory.adaptive.derive`, Muon's :func:`dynamics.theory.muon.derive`."""
    if rule in ORTHOGONAL:
        from dynamics.theory import muon

        return muon.derive()
    if rule in ADAPTIVE:
        from dynamics.theory import adaptive

        return adaptive.derive(rule)
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


# ------------------------------------------------------------------------ numbers
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


@lru_cache(maxsize=None)
def _numeric(rule: str):
    eq = equilibrium(rule)
    args = (lam, alpha, rho, G)
    return (sp.lambdify(args, eq.weight_norm4, "numpy"),
            sp.lambdify(args, eq.cos_angle, "numpy"),
            sp.lambdify(args, list(eq.jacobian), "numpy"))  # 9 entries, row-major


def check_hyperparameters(lr, wd, momentum) -> None:
    """Raise a one-line RidgelineError for values outside the rules' domain."""
    if np.any(np.asarray(lr) < 0) or not np.all(np.isfinite(lr)):
        raise RidgelineError(f"lr must be a finite number >= 0, got {lr}")
    if np.any(np.asarray(wd) < 0) or not np.all(np.isfinite(wd)):
        raise RidgelineError(f"wd must be a finite number >= 0, got {wd}")
    if np.any(np.asarray(momentum) < 0) or np.any(np.asarray(momentum) >= 1):
        raise RidgelineError(f"momentum must be in [0, 1), got {momentum}")


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
    if rule == "sgd":
        momentum = np.zeros_like(np.asarray(momentum, dtype=float))
    scalar = all(np.ndim(a) == 0 for a in (lr, wd, momentum, grad_norm, power))
    if power is None or rule == "sgd":  # plain SGD's norm does not see correlations
        norm4_f, cos_f, jac_f = _numeric(rule)
        extra = ()
    else:
        from dynamics.theory.correlated import numeric

        norm4_f, cos_f, jac_f = numeric(rule)
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


def _predict_muon(lr, wd, momentum, shape, nesterov, adjust_lr, power, radial) -> Prediction:
    from dynamics.theory import muon

    if shape is None:
        raise RidgelineError("predicting muon needs the matrix shape, rows x columns (e.g. 64x576 for a "
                             "64x64x3x3 conv)")
    if power is not None or radial is not None:
        raise RidgelineError("a measured update power or radial share applies to adamw only, not muon")
    scalar = all(np.ndim(a) == 0 for a in (lr, wd, momentum))
    norm, theta, eff, tau, ok = muon.predict(lr, wd, momentum, shape, nesterov, adjust_lr)
    if scalar:
        if not ok:
            raise RidgelineError(f"no stable equilibrium for muon at lr={lr}, wd={wd}, momentum={momentum}: "
                                 "it needs lr > 0, wd > 0 and lr*wd < 1")
        return Prediction(*(float(x) for x in (norm, theta, eff, tau)))
    return Prediction(norm, theta, eff, tau)


def _predict_adaptive(rule, lr, wd, momentum, grad_norm, elements, beta2, power=None, radial=None) -> Prediction:
    from dynamics.theory import adaptive

    scalar = all(np.ndim(a) == 0 for a in (lr, wd, momentum, grad_norm, elements, beta2, power, radial))
    if beta2 is not None and (np.any(np.asarray(beta2) < 0) or np.any(np.asarray(beta2) >= 1)):
        raise RidgelineError(f"beta2 must be in [0, 1), got {beta2}")
    norm, theta, eff, tau, ok = adaptive.predict(rule, lr, wd, momentum, grad_norm, elements, beta2, power, radial)
    if scalar:
        if not ok:
            raise RidgelineError(f"no stable equilibrium for {rule} at lr={lr}, wd={wd}, momentum={momentum}: "
                                 "it needs lr > 0, wd > 0 and lr*wd < 1")
        return Prediction(*(float(x) for x in (norm, theta, eff, tau)))
    return Prediction(norm, theta, eff, tau)
