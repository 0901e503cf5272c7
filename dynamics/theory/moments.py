"""One builder of the second-moment map, for every rule whose update is linear in (w, v, g).

A rule of :mod:`dynamics.rules`, applied to scalar symbols, gives the parameter w' and the
buffer v' (the momentum buffer of the SGD family, Adam's first moment m) as linear forms

    w' = a w + b v + c g,        v' = d w + e v + f g,                            (1)

(Adam's at late times, bias corrections 1, its second moment settled at s = V = r², ε = 0;
then a … f depend on r). The second moments x' = E|w'|², y' = E[w'·v'], z' = E|v'|² are
quadratic forms in (w, v, g) in which each product is replaced by its expectation:

    w·w → x,   w·v → y,   v·v → z,   and from the noise table
    g·g → E|g|²,   w·g → E[w·g],   v·g → E[v·g].                                 (2)

The noise tables: white (:data:`WHITE`): E|g|² = s, E[w·g] = 0 (g ⟂ w), E[v·g] = 0 (g
independent of the past); correlated (:mod:`dynamics.theory.correlated`): E[v·g] =
(k − 1)/(2ρ) s; AdamW's measured statistics (:func:`dynamics.theory.adaptive.power_equilibrium`):
E[w·g] = ξ|w|√C r, E[v·g] = c s. The result is

    (x, y, z)' = M (x, y, z) + f,        f = h s when every forcing term is ∝ s,     (3)

with M the Jacobian in (x, y, z), h = ∂f/∂s, and the overlap E[w·w'] (for cos θ) by the
same table. Lion (a sign) and Muon (Newton–Schulz) are not linear in (w, v, g): their
equilibria come from correlation sums in their own modules, and this builder refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

import sympy as sp

from dynamics.rules import ADAPTIVE, ORTHOGONAL, get_rule
from dynamics.theory.core import _s, _x, _y, _z, alpha, beta1, beta2, lam, r_, rational, rho
from dynamics.util.errors import RidgelineError

#: the products of (2) that the noise table fills, in its keys
NOISE_KEYS = ("gg", "wg", "vg")
#: the white model: E|g|² = s, g ⟂ w, g independent of the buffer
WHITE = {"gg": _s, "wg": sp.Integer(0), "vg": sp.Integer(0)}
#: the Adam rules, whose state is (m, s, k) and whose update (1) depends on r = √V
ADAM = ("adamw", "adam-l2")


@dataclass(frozen=True)
class MomentMap:
    """The one-step map (3) of the second moments of one rule under one noise table."""

    rule: str
    state: sp.Matrix  # (x, y, z) = (|w|², w·v, |v|²)
    new: sp.Matrix  # (x', y', z') in moments, by (2)
    matrix: sp.Matrix  # M = ∂(x', y', z')/∂(x, y, z)
    noise_vector: sp.Matrix  # h = ∂(x', y', z')/∂s
    forcing: sp.Matrix  # f = (x', y', z') − M (x, y, z)
    overlap: sp.Expr  # E[w·w'] in moments, for cos θ = E[w·w']/E|w|²


def linear_update(rule: str):
    """(w, v, g, w', v'): ``rule`` applied to the scalar symbols (w, v, g), in the form (1)."""
    get_rule(rule)
    w, v, g = sp.symbols("w v g")
    if rule in ORTHOGONAL or rule not in ADAM and rule in ADAPTIVE:
        raise RidgelineError(f"{rule!r} has no moment map: its update is not linear in (w, v, g) "
                             f"(dynamics.theory.{'muon' if rule in ORTHOGONAL else 'adaptive'} derives it)")
    if rule not in ADAM:
        w1, v1 = get_rule(rule)(w, v, g, lam, alpha, rho)
        return w, v, g, w1, v1
    k = sp.Symbol("k", positive=True)
    w1, (v1, s1, _) = get_rule(rule)(w, (v, r_**2, k), g, lam, alpha, beta1, beta2=beta2, eps=0)
    late = {beta1 ** (k + 1): 0, beta2 ** (k + 1): 0}
    w1 = rational(sp.powsimp(w1.subs(late).subs(s1, r_**2), force=True))  # bias corrections 1, s = V
    assert r_ in w1.free_symbols and not w1.free_symbols & {k}
    return w, v, g, w1, v1


def second_moments(expr: sp.Expr, w, v, g, noise: Mapping) -> sp.Expr:
    """``expr``, quadratic in (w, v, g), with each product replaced by its moment (2)."""
    table = {(2, 0, 0): _x, (1, 1, 0): _y, (0, 2, 0): _z,
             (0, 0, 2): noise["gg"], (1, 0, 1): noise["wg"], (0, 1, 1): noise["vg"]}
    poly = sp.Poly(sp.expand(expr), w, v, g)
    unknown = [m for m in poly.monoms() if m not in table]
    if unknown:
        raise RidgelineError(f"not a second moment of (w, v, g): powers {unknown} in {expr}")
    return sp.expand(sum(c * table[m] for m, c in poly.terms()))


def moment_map(rule: str, noise: Mapping = WHITE) -> MomentMap:
    """The map (3) of ``rule`` with the products of the gradient taken from ``noise``
    (keys :data:`NOISE_KEYS`: E|g|², E[w·g], E[v·g])."""
    get_rule(rule)
    missing = [key for key in NOISE_KEYS if key not in noise]
    extra = [key for key in noise if key not in NOISE_KEYS]
    if missing or extra:
        raise RidgelineError(f"noise table for {rule!r}: missing {missing or 'none'}, unknown {extra or 'none'}; "
                             f"it needs exactly {', '.join(NOISE_KEYS)} (E|g|², E[w·g], E[v·g])")
    return _moment_map(rule, tuple((key, sp.sympify(noise[key])) for key in NOISE_KEYS))


@lru_cache(maxsize=None)
def _moment_map(rule: str, noise: tuple) -> MomentMap:
    w, v, g, w1, v1 = linear_update(rule)
    table = dict(noise)
    new = sp.Matrix([second_moments(e, w, v, g, table) for e in (w1 * w1, w1 * v1, v1 * v1)])
    state = sp.Matrix([_x, _y, _z])
    M = new.jacobian(state)
    return MomentMap(rule, state, new, M, new.diff(_s), new - M * state,
                     second_moments(w * w1, w, v, g, table))
