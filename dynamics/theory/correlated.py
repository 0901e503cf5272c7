"""Sympy derivation of the equilibrium under correlated gradient noise.

**The model.** As in the white model (:mod:`dynamics.theory.symbolic`), the gradient of a
scale-invariant tensor stays in the tangent space, g_t ⟂ w_t, with |g_t|² = s =
G²/|w_t|². What changes is its memory: successive gradients may be correlated. In
the update rules (:mod:`dynamics.rules`) the past gradients reach the present only
through the momentum buffer v, so of all the moments of (w, v, g) the correlations
change exactly one, E[v·g], which the white model sets to 0. Write v_t ≈ m_{t−1},
the momentum filter of the past gradients alone (m_t = ρ m_{t−1} + g_t; v differs
by the weight-decay terms α Σ ρ^j w_{t−1−j}, whose overlap with g_t ⟂ w_t is of
order λα), and parametrise by the measured statistic (:mod:`training.gradstats`)

    k = 1 + 2ρ E[m_{t−1}·g_t] / E|g_t|²,      so      E[v·g] = (k − 1)/(2ρ) · s.     (C)

k is the power of the ρ-filtered gradient relative to white noise: stationary
gradients give E|m|² = s (1 + 2ρ c)/(1 − ρ²) with c = E[m·g]/s. k = 1 is the white
model; k < 1 when gradients cancel within the momentum's memory (1/(1 − ρ) steps),
k > 1 when they persist. The moment map (x, y, z)' = M (x, y, z) + h(k) s keeps its
matrix M; only the noise vector h depends on k, affinely. The map is
:func:`dynamics.theory.moments.moment_map` with the table :data:`NOISE`.

**Why the data support it.** On real runs k̄ is well below 1 in every conv layer (0.38
to 0.85 on the report's quick run) and the momentum buffer is correspondingly smaller
than the white model's; with the measured k the predicted |w| matches to about 1%
where the white one is 4–18% high (docs/correlated-noise.md). (C) weighs every lag
within the momentum's window, Σ_τ ρ^(τ−1) times the lag-τ covariance, which a lag-1
model would not. Plain SGD has no buffer, so its norm does not see correlations (k drops out).

Results (exact in the model, and leading order in λα) mirror
:func:`dynamics.theory.symbolic.equilibrium`; at k = 1 they are the white ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from dynamics.theory import symbolic as S
from dynamics.theory.moments import moment_map

k = sp.Symbol("k", positive=True)  # gradient power ratio through the momentum filter


#: the noise table of (C) for :func:`dynamics.theory.moments.moment_map`: g ⟂ w, E[v·g] from k
NOISE = {"gg": S._s, "wg": sp.Integer(0), "vg": (k - 1) / (2 * S.rho) * S._s}


@dataclass(frozen=True)
class CorrelatedEquilibrium:
    """One rule's moment map and equilibrium under (C), as sympy expressions."""

    rule: str
    moment_map: sp.Matrix  # M: unchanged by the correlations
    noise_vector: sp.Matrix  # h(k), affine in k
    weight_norm4: sp.Expr  # |w|⁴ at the fixed point (exact in the model)
    weight_norm4_leading: sp.Expr
    cos_angle: sp.Expr  # cos θ = E[w·w']/E|w|² at the fixed point
    angular_update_leading: sp.Expr
    jacobian: sp.Matrix  # of the map with s = G²/x, at the fixed point


@lru_cache(maxsize=None)
def equilibrium(rule: str) -> CorrelatedEquilibrium:
    """Derive the moment map and its fixed point for ``rule`` under (C)."""
    mm = moment_map(S.sgd_family(rule), NOISE)  # (x, y, z)' = M (x, y, z) + h(k) s
    Mm, h = mm.matrix, mm.noise_vector.applyfunc(sp.cancel)
    (fixed,) = sp.linsolve((sp.eye(3) - Mm, h), *mm.state)
    K = sp.factor(fixed[0])  # x = K s = K G²/x
    norm4 = sp.factor(K * S.G**2)
    overlap = mm.overlap  # E[w·w'] has no v·g term
    cos = sp.factor(sp.cancel(overlap.subs({S._x: fixed[0], S._y: fixed[1], S._z: fixed[2]}) / fixed[0]))
    return CorrelatedEquilibrium(
        rule=rule, moment_map=Mm, noise_vector=h, weight_norm4=norm4,
        weight_norm4_leading=S.tidy(S.leading_order(norm4)), cos_angle=cos,
        angular_update_leading=S.tidy(sp.sqrt(2 * S.leading_order(1 - cos))),
        jacobian=Mm - h * sp.Matrix([[1 / K, 0, 0]]))


def norm_factor_leading(rule: str) -> sp.Expr:
    """|w|⁴ under (C) over the white |w|⁴, leading order in λα: how k moves the norm."""
    eq = equilibrium(rule)
    return sp.factor(sp.cancel(eq.weight_norm4_leading / eq.weight_norm4_leading.subs(k, 1)))


@lru_cache(maxsize=None)
def numeric(rule: str):
    """(|w|⁴, cos θ, Jacobian entries) as numpy functions of (λ, α, ρ, G, k)."""
    eq = equilibrium(rule)
    args = (S.lam, S.alpha, S.rho, S.G, k)
    return (sp.lambdify(args, eq.weight_norm4, "numpy"), sp.lambdify(args, eq.cos_angle, "numpy"),
            sp.lambdify(args, list(eq.jacobian), "numpy"))


@lru_cache(maxsize=None)
def moment_map_numeric(rule: str):
    """(M, h₀, h₁) as numpy functions of (λ, α, ρ) with h(k) = h₀ + (k − 1) h₁."""
    eq = equilibrium(rule)
    h0 = eq.noise_vector.subs(k, 1)
    h1 = sp.Matrix([sp.cancel(e) for e in eq.noise_vector.diff(k)])
    args = (S.lam, S.alpha, S.rho)
    return (sp.lambdify(args, eq.moment_map.tolist(), "numpy"),
            sp.lambdify(args, list(h0), "numpy"), sp.lambdify(args, list(h1), "numpy"))
