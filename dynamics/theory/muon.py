"""Muon's weight-norm equilibrium, derived with sympy from :func:`dynamics.rules.muon`.

Notation: λ learning rate, α weight decay, ρ momentum, w the A × B matrix (a conv weight's
(out, in·k·k)), O = NS(u) the orthogonalised update, s = s(A, B) torch's lr factor
(:func:`dynamics.rules.muon_lr_scale`), η = λ s, q = 1 − λα.

The rule is w' = q w − η O (read off it here, O a symbol), so w_t = q^t w₀ − η Σ_k q^k O_(t−1−k):
|w|² is a weighted sum of the products O_t·O_t' and nothing else of the update enters.
Noise model (exact in it; checked by ``ridgeline simulate``):

- the loss gradient g is white: Gaussian, i.i.d. over coordinates and steps (g ⟂ w up to
  the 1/(A·B) share that projection removes); its size is irrelevant, NS(c u) = NS(u);
- the buffer u = Σ_k a_k g_(t−k) (a_k read off the rule: the mean m' = ρm + (1 − ρ)g,
  Nesterov or not) is then a Gaussian matrix, and u_t, u_(t+j) are elementwise correlated
  with r_j = A_1 ρ^(j−1) (A_1 = ρ without Nesterov);
- two moments of O enter: its power P = E|O|²_F and its lagged correlations
  R_j = E[O_t·O_(t+j)]/P = F(r_j), F the correlation transfer of NS for Gaussian
  matrices of that shape. Neither has a closed form: the quintic leaves the singular
  values spread (about 0.7 to 1.2, not all 1) and F(r) < r for square matrices, so both
  are measured by Monte Carlo on Gaussian matrices of the shape (:func:`ns_statistics`,
  float32, fixed seed) — statistics of the model, never of a run;
- how much of the update lies along w follows: E[w_t·O_(t+1)] = −η P S/q, S = Σ_(j≥1) q^j R_j,
  a radial share cos(w, O) = −η √P S/(q|w|) ≈ −S √(2λα/((1 + 2S) P)), small but not 0.

Then x = |w|² = η² P (1 + 2S)/(1 − q²) exactly, cos θ = q + η² P S/(q x), |w|² relaxes as
q^(2t) (its map has no other x), and the exact symmetry is (w, λ, α) → (r w, r λ, α/r): λα
is invariant, |w| ∝ λ at fixed λα, like Lion's and AdamW's, unlike SGD's (r² λ, α/r²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from dynamics.rules import ADJUST_LR, muon, muon_lr_scale
from dynamics.theory.core import Formula, alpha, lam, rho
from dynamics.util.errors import RidgelineError

A_, B_ = sp.symbols("A B", positive=True, integer=True)  # rows (fan-out), columns of the matrix
P_ = sp.Symbol("P", positive=True)  # E|O|²_F, the update's power
s_ = sp.Symbol("s", positive=True)  # torch's lr factor s(A, B)
_j = sp.Symbol("j", integer=True, positive=True)
F_ = sp.Function("F")  # NS's correlation transfer, R_j = F(r_j)
O_ = sp.Symbol("O")  # the orthogonalised update

GRID = 33  # buffer correlations r at which F is measured: sin(π/2 · k/32), dense near 1
SAMPLE_ELEMENTS = 2**20  # Gaussian matrix elements per statistic (samples = this / (A·B), 4 to 8192)
MAX_ELEMENTS = 2**16  # a larger matrix is measured at its aspect ratio with this many elements
TERMS = 4096  # exact terms of S = Σ q^j F(r_j); the tail from F's slope at 0, geometric


class NS(sp.Function):
    """The Newton–Schulz output as a sympy function: NS(c u) = NS(u) for c > 0."""

    scale_free = True  # dynamics.theory.adaptive._degree: degree 0 in the rescaling

    @classmethod
    def eval(cls, u):
        factors = sp.Mul.make_args(sp.factor(u))
        if any(f.is_positive for f in factors):
            return cls(sp.expand(sp.Mul(*(f for f in factors if not f.is_positive))))
        return None


def _symbolic_step(w, m, g, lr, wd, momentum, nesterov=True, orthogonalise=None):
    """The rule on sympy symbols for an A × B matrix, O (or ``orthogonalise(u)``) for NS(u);
    returns (w', m', u)."""
    seen = []

    def capture(u, shape):
        seen.append(u)
        return O_ if orthogonalise is None else orthogonalise(u)

    w1, (m1,) = muon(w, (m,), g, lr, wd, momentum, nesterov=nesterov, shape=(A_, B_), orthogonalise=capture)
    return w1, m1, seen[0]


# ----------------------------------------------------------------- the buffer's memory
@lru_cache(maxsize=None)
def buffer_correlation(nesterov: bool = True) -> tuple[sp.Expr, sp.Expr]:
    """(A_1, r_j): u_t = Σ_k a_k g_(t−k) with a_k read off the rule, corr(u_t, u_(t+j)) = A_1 ρ^(j−1)."""
    gs = sp.symbols("g0:4")
    m = sp.Integer(0)
    u = None
    for gk in reversed(gs):  # oldest first
        _, m, u = _symbolic_step(sp.Integer(0), m, gk, lam, alpha, rho, nesterov)
    u = sp.expand(u)
    a = [sp.factor(u.coeff(gk)) for gk in gs]
    assert all(sp.simplify(a[k + 1] - a[k] * rho) == 0 for k in (1, 2)), "a_k must be a_1 ρ^(k−1) for k ≥ 1"
    norm = a[0] ** 2 + a[1] ** 2 / (1 - rho**2)  # Σ a_k²
    lag1 = a[0] * a[1] + a[1] ** 2 * rho / (1 - rho**2)  # Σ a_k a_(k+1)
    A1 = sp.factor(sp.simplify(lag1 / norm))
    return A1, A1 * rho ** (_j - 1)


# ------------------------------------------------------------------ rescaling exponents
@lru_cache(maxsize=None)
def rescaling_symmetry(nesterov: bool = True) -> dict:
    """(a, b, c) with w → r^a w, λ → r^b λ, α → r^c α, g → r^(−a) g, m → r^p m mapping the
    rule onto itself (NS scale-free), a = 1; then verified by substitution."""
    from dynamics.theory.adaptive import _degree

    r = sp.Symbol("rr", positive=True)
    w, g, m = sp.symbols("w g m", real=True)
    eb, ec, em = sp.symbols("b c p")
    w1, m1, _ = _symbolic_step(r * w, r**em * m, g / r, r**eb * lam, r**ec * alpha, rho, nesterov, NS)
    w1 = w1.subs(muon_lr_scale((A_, B_)), s_)  # s(A, B) is r-free
    equations: set = set()
    for expr, target in ((w1, 1), (m1, em)):
        d = _degree(sp.powsimp(sp.expand_power_base(sp.expand(expr), force=True), force=True), r, equations)
        if sp.expand(d - target) != 0:
            equations.add(sp.expand(d - target))
    (sol,) = sp.solve(list(equations), [eb, ec, em], dict=True)
    w0, _, _ = _symbolic_step(w, m, g, lam, alpha, rho, nesterov, NS)
    w0 = w0.subs(muon_lr_scale((A_, B_)), s_)
    moved = w1.subs(sol)
    verified = sp.simplify(sp.expand(moved - r * w0)) == 0
    return {"a": sp.Integer(1), "b": sol[eb], "c": sol[ec], "p": sol[em],
            "verified": sp.true if verified else sp.false,
            "invariant": sp.powsimp(lam ** (-sol[ec]) * alpha ** sol[eb])}


# ------------------------------------------------------------------------ equilibrium
@dataclass(frozen=True)
class MuonEquilibrium:
    q: sp.Expr  # the decay factor per step, read off the rule
    eta: sp.Expr  # the step on O, read off the rule: λ s(A, B)
    S: sp.Expr  # Σ_j q^j F(r_j)
    weight_norm2: sp.Expr  # |w|², exact in the model
    cos_angle: sp.Expr
    radial_share: sp.Expr  # cos(w_t, O_(t+1))
    weight_norm_leading: sp.Expr
    angular_update_leading: sp.Expr
    relaxation_steps: sp.Expr
    linear_S0: sp.Expr  # S at λα → 0 if NS were linear, F(r) = r


@lru_cache(maxsize=None)
def equilibrium(nesterov: bool = True) -> MuonEquilibrium:
    """|w|², cos θ, the radial share and the relaxation time from the rule, in P and R_j = F(r_j)."""
    w, m, g = sp.symbols("w m g", real=True)
    w1, _, _ = _symbolic_step(w, m, g, lam, alpha, rho, nesterov)
    q = sp.expand(w1.coeff(w))
    eta = sp.factor(-sp.expand(w1).coeff(O_))
    assert sp.expand(w1 - q * w + eta * O_) == 0, "Muon's step must be linear in (w, O)"
    _, r_j = buffer_correlation(nesterov)
    S = sp.Sum(q**_j * F_(r_j), (_j, 1, sp.oo))
    x = eta**2 * P_ * (1 + 2 * S) / (1 - q**2)  # Σ_k,k' q^(k+k') E[O·O'] over the past updates
    cos = q + eta**2 * P_ * S / (q * x)  # w·w' = q x − η E[w·O],  E[w_t·O_(t+1)] = −η P S/q
    radial = -eta * P_ * S / q / (sp.sqrt(x) * sp.sqrt(P_))
    S0 = sp.Sum(F_(r_j), (_j, 1, sp.oo))
    lead = sp.sqrt(lam * s_**2 * P_ * (1 + 2 * S0) / (2 * alpha))
    assert sp.simplify(eta - lam * muon_lr_scale((A_, B_))) == 0, "the step on O must be λ s(A, B)"
    linear = sp.factor(buffer_correlation(nesterov)[0] / (1 - rho))  # Σ_j A_1 ρ^(j−1)
    return MuonEquilibrium(q, eta, S, x, cos, radial, lead, sp.sqrt(2 * lam * alpha / (1 + 2 * S0)),
                           -1 / (2 * sp.log(q)), linear)


def derive(nesterov: bool = True) -> tuple[Formula, ...]:
    """Every derived result for ``muon``, in reading order, written in q, η, A₁, S and S₀ (each
    defined by a row); sympy checks each against the equilibrium written out in λ, α, ρ."""
    eq = equilibrium(nesterov)
    sym = rescaling_symmetry(nesterov)
    A1, _ = buffer_correlation(nesterov)
    q, eta, a1, S, S0 = sp.symbols("q eta A_1 S S_0", positive=True)
    r_j = a1 * rho ** (_j - 1)
    full = {q: eq.q, eta: eq.eta, a1: A1}
    x = eta**2 * P_ * (1 + 2 * S) / (1 - q**2)
    cos = q + (1 - q**2) * S / (q * (1 + 2 * S))
    radial = -S * sp.sqrt(1 - q**2) / (q * sp.sqrt(1 + 2 * S))
    eff = sp.sqrt(1 - q**2) / (sp.sqrt(P_) * sp.sqrt(1 + 2 * S))
    points = [{lam: sp.Rational(1, 7), alpha: sp.Rational(1, 3), rho: sp.Rational(9, 10), S: 5, P_: 3, A_: 64, B_: 16},
              {lam: sp.Rational(1, 50), alpha: 2, rho: sp.Rational(1, 2), S: sp.Rational(1, 3), P_: 7, A_: 8, B_: 72}]
    for short, long_ in ((x, eq.weight_norm2), (cos, eq.cos_angle), (radial, eq.radial_share)):
        diff = short.subs(full) - long_.subs(eq.S, S)
        assert all(abs(float(diff.subs(p))) < 1e-12 for p in points), "the compact form must be the derived one"
    return (
        Formula("rescaling_exponents", "(a, b, c): w→r^a w, λ→r^b λ, α→r^c α (m→r^-1 m; NS(c u) = NS(u)) maps the update onto itself",
                sp.Tuple(sym["a"], sym["b"], sym["c"])),
        Formula("rescaling_verified", "the exponents substituted back into the rule give the same update", sym["verified"]),
        Formula("rescaling_invariant", "exactly invariant combination of (λ, α)", sym["invariant"]),
        Formula("decay_factor", "q, w' = q w − η O (read off the rule)", eq.q),
        Formula("update_step", "η = λ s(A, B), s torch's adjust_lr_fn 'original' (match_rms_adamw: 0.2√max(A, B))", eq.eta),
        Formula("lag1_correlation", "A_1 = corr(u_t, u_t+1) of the buffer u, elementwise, from the rule", A1),
        Formula("buffer_correlation", "r_j = corr(u_t, u_t+j)", r_j),
        Formula("update_power", "P = E|O|², O's mean square singular value times min(A, B) (measured for the shape)", P_),
        Formula("correlation_sum", "S = Σ_j q^j R_j, R_j = corr(O_t, O_t+j) = F(r_j) (F measured for the shape)",
                sp.Sum(q**_j * F_(r_j), (_j, 1, sp.oo))),
        Formula("weight_norm_sq", "equilibrium |w|² (exact in the model)", x),
        Formula("weight_norm_leading", "equilibrium |w|, leading order in λα (S_0 = S at q = 1)", eq.weight_norm_leading.subs(
            sp.Sum(F_(buffer_correlation(nesterov)[1]), (_j, 1, sp.oo)), S0)),
        Formula("angular_update", "equilibrium angle between w_t and w_t+1, radians per step (exact)", sp.acos(cos)),
        Formula("angular_update_leading", "the angle, leading order in λα", sp.sqrt(2 * lam * alpha / (1 + 2 * S0))),
        Formula("update_radial_share", "cos(w_t, O_t+1): how much of the update lies along w (exact)", radial),
        Formula("effective_lr", "η/|w|, the step on the unit sphere per unit of O (exact)", eff),
        Formula("relaxation_steps", "e-folding time of |w|² towards equilibrium, steps (exact: O's size is |w|-free)",
                eq.relaxation_steps),
        Formula("linear_update_angle", "the angle if NS were linear, F(r) = r (a random walk with the buffer's "
                "correlations, as Kosson et al. model AdamW)", sp.sqrt(2 * lam * alpha / (1 + 2 * a1 / (1 - rho)))),
    )


# ----------------------------------------------------------------- the NS statistics
@dataclass(frozen=True)
class NSStatistics:
    shape: tuple[int, int]  # the matrix measured
    measured_shape: tuple[int, int]  # the shape simulated (same aspect ratio when above MAX_ELEMENTS)
    samples: int
    power: float  # P = E|O|²_F
    singular_mean: float  # of O's singular values
    singular_sd: float
    singular_min: float
    singular_max: float
    r: np.ndarray  # buffer correlations
    F: np.ndarray  # R = F(r), F(0) = 0, F(1) = 1

    @property
    def power_per_singular(self) -> float:
        """P/min(A, B): the mean square singular value (1 for an exact polar factor)."""
        return self.power / min(self.shape)


def measured_shape(A: int, B: int) -> tuple[int, int]:
    if A * B <= MAX_ELEMENTS:
        return A, B
    k = math.sqrt(MAX_ELEMENTS / (A * B))
    return max(2, round(A * k)), max(2, round(B * k))


@lru_cache(maxsize=64)
def ns_statistics(A: int, B: int, seed: int = 0) -> NSStatistics:
    """P, the spread of O's singular values and F(r), by Monte Carlo on Gaussian A × B
    matrices X, Y (float32, torch's NS in working precision, common random numbers over r):
    F(r) = E[NS(X)·NS(rX + √(1 − r²)Y)]/E|NS(X)|²."""
    import torch

    from dynamics.rules import newton_schulz

    if A < 1 or B < 1 or min(A, B) < 2:
        raise RidgelineError(f"Muon needs a matrix with both sides >= 2, got {A}x{B}")
    a, b = measured_shape(A, B)
    n = int(min(8192, max(4, math.ceil(SAMPLE_ELEMENTS / (a * b)))))
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, a, b, generator=gen)
    Y = torch.randn(n, a, b, generator=gen)
    O = newton_schulz(X, dtype=None)
    power = float((O * O).sum((-2, -1)).mean())
    sv = torch.linalg.svdvals(O)
    r = np.sin(np.pi / 2 * np.linspace(0, 1, GRID))
    F = np.empty(GRID)
    x2 = float((X * X).sum((-2, -1)).mean())
    for i, ri in enumerate(r):
        U = ri * X + math.sqrt(max(0.0, 1 - ri * ri)) * Y
        f = (O * newton_schulz(U, dtype=None)).sum((-2, -1)).double() / power  # per sample
        lin = (X * U).sum((-2, -1)).double() / x2  # its linear twin, mean exactly r: a control variate
        beta = float(((f - f.mean()) * (lin - lin.mean())).mean() / lin.var(unbiased=False).clamp(min=1e-30))
        F[i] = float(f.mean()) - beta * (float(lin.mean()) - ri)
    F[0], F[-1] = 0.0, 1.0  # exactly: independent, identical
    scale = min(A, B) / min(a, b)  # P ∝ min(A, B) at a fixed spread
    return NSStatistics((A, B), (a, b), n, power * scale, float(sv.mean()), float(sv.std()),
                        float(sv.min()), float(sv.max()), r, F)


@lru_cache(maxsize=None)
def _lag1(nesterov: bool):
    return sp.lambdify(rho, buffer_correlation(nesterov)[0], "numpy")


def correlation_sums(stats: NSStatistics, q, momentum, nesterov: bool = True):
    """(S, S0) = (Σ_j q^j F(r_j), Σ_j F(r_j)), r_j = A_1 ρ^(j−1): TERMS terms, then the tail
    from F's slope at 0 (F(r) ≈ F'(0) r) as a geometric series."""
    q, rho_ = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(momentum, dtype=float))
    A1 = np.asarray(_lag1(nesterov)(rho_), dtype=float)
    j = np.arange(1, TERMS + 1).reshape((-1,) + (1,) * q.ndim)
    rj = A1 * rho_ ** (j - 1)
    Fj = np.interp(rj, stats.r, stats.F)
    slope = stats.F[1] / stats.r[1]
    out = []
    for qq in (q, np.ones_like(q)):
        S = (qq**j * Fj).sum(0)
        with np.errstate(all="ignore"):
            ratio = qq * rho_
            tail = np.where(ratio < 1, slope * A1 * qq ** (TERMS + 1) * rho_**TERMS / (1 - ratio), 0.0)
        out.append(S + tail)
    return out[0], out[1]


def parse_shape(text) -> tuple[int, int]:
    """'64x576' (or a pair, or (out, in, k, k): its (out, in·k·k) matrix) → (A, B); one-line error otherwise."""
    if isinstance(text, str):
        parts = [p for p in text.lower().replace("×", "x").split("x")]
        try:
            dims = [int(p) for p in parts]
        except ValueError:
            raise RidgelineError(f"shape {text!r} must be rows x columns, e.g. 64x576") from None
    else:
        dims = [int(d) for d in text]
    if len(dims) < 2:
        raise RidgelineError(f"Muon orthogonalises matrices: shape {text!r} has {len(dims)} dimension(s); "
                             "give rows x columns, e.g. 64x576 (a 64x64x3x3 conv is 64x576)")
    A, B = dims[0], math.prod(dims[1:])
    if min(A, B) < 2:
        raise RidgelineError(f"Muon needs a matrix with both sides >= 2, got {A}x{B}")
    return A, B


def predict(lr, wd, momentum, shape, nesterov: bool = True, adjust_lr: str = "original"):
    """(|w|, θ, λs/|w|, relaxation steps, ok) at the equilibrium, numpy arrays, for one
    matrix ``shape`` (A, B)."""
    if adjust_lr not in ADJUST_LR:
        raise RidgelineError(f"unknown adjust_lr {adjust_lr!r}: choose one of {', '.join(ADJUST_LR)}")
    A, B = parse_shape(shape)
    stats = ns_statistics(A, B)
    lr, wd, rho_ = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (lr, wd, momentum)))
    eta = lr * muon_lr_scale((A, B), adjust_lr)
    q = 1 - lr * wd
    S, _ = correlation_sums(stats, q, rho_, nesterov)
    with np.errstate(all="ignore"):
        x = eta**2 * stats.power * (1 + 2 * S) / (1 - q**2)
        cos = q + eta**2 * stats.power * S / (q * x)
        tau = -1 / (2 * np.log(q))
        ok = (lr > 0) & (wd > 0) & (q > 0) & np.isfinite(x) & (x > 0) & (np.abs(cos) <= 1)
        norm = np.where(ok, np.sqrt(x), np.nan)
        theta = np.where(ok, np.arccos(np.clip(cos, -1, 1)), np.nan)
        return norm, theta, np.where(ok, eta / norm, np.nan), np.where(ok, tau, np.nan), ok


def values(lr, wd, momentum, shape, nesterov: bool = True, adjust_lr: str = "original") -> dict:
    """Every formula of :func:`derive` at one point, with P and F measured for ``shape``."""
    A, B = parse_shape(shape)
    stats = ns_statistics(A, B)
    q = 1 - lr * wd
    S, S0 = (float(v) for v in correlation_sums(stats, q, momentum, nesterov))
    s = muon_lr_scale((A, B), adjust_lr)
    norm, theta, eff, tau, ok = (float(v) for v in predict(lr, wd, momentum, (A, B), nesterov, adjust_lr))
    A1 = float(_lag1(nesterov)(momentum))
    sym = rescaling_symmetry(nesterov)
    return {
        "rescaling_exponents": None, "rescaling_verified": None,
        "rescaling_invariant": float(sym["invariant"].subs({lam: lr, alpha: wd})),
        "decay_factor": q, "update_step": lr * s, "lag1_correlation": A1, "buffer_correlation": None,
        "update_power": stats.power, "correlation_sum": S,
        "weight_norm_sq": norm**2, "weight_norm_leading": s * math.sqrt(lr * stats.power * (1 + 2 * S0) / (2 * wd)),
        "angular_update": theta, "angular_update_leading": math.sqrt(2 * lr * wd / (1 + 2 * S0)),
        "update_radial_share": float(radial_share(lr, wd, momentum, (A, B), nesterov, adjust_lr)),
        "effective_lr": eff, "relaxation_steps": tau,
        "linear_update_angle": math.sqrt(2 * lr * wd / (1 + 2 * A1 / (1 - momentum))),
    }


def radial_share(lr, wd, momentum, shape, nesterov: bool = True, adjust_lr: str = "original"):
    """cos(w_t, O_t+1) at the equilibrium: −η √P S/(q|w|)."""
    A, B = parse_shape(shape)
    stats = ns_statistics(A, B)
    norm, *_ = predict(lr, wd, momentum, (A, B), nesterov, adjust_lr)
    q = 1 - np.asarray(lr, dtype=float) * np.asarray(wd, dtype=float)
    S, _ = correlation_sums(stats, q, momentum, nesterov)
    return -np.asarray(lr) * muon_lr_scale((A, B), adjust_lr) * math.sqrt(stats.power) * S / (q * norm)
