"""The sympy derivations: literature forms, invariants, symmetry, equilibrium numbers."""

import math

import numpy as np
import pytest
import sympy as sp

from dynamics.theory import dispatch as D
from dynamics.theory import symbolic as S
from dynamics.util.errors import RidgelineError
from dynamics.rules import ADAPTIVE, ORTHOGONAL, RULES


def test_heavy_ball_equilibrium_equals_literature():
    """Wan et al. 2021 (Spherical Motion Dynamics), Kosson et al. 2024."""
    eq = S.equilibrium("heavy-ball")
    lam, a, rho, G = S.lam, S.alpha, S.rho, S.G
    lit = lam * G**2 * (1 + rho) / (a * (1 - rho) * (2 * (1 + rho) - lam * a))
    assert sp.simplify(eq.weight_norm4 - lit) == 0
    assert sp.simplify(eq.weight_norm4_leading - lam * G**2 / (2 * a * (1 - rho))) == 0
    assert sp.simplify(eq.angular_update_leading - sp.sqrt(2 * lam * a / (1 + rho))) == 0


def test_sgd_equilibrium_by_hand():
    """|w|² (1 − (1−λα)²) = λ² G²/|w|²  and  cos θ = 1 − λα."""
    eq = S.equilibrium("sgd")
    lam, a, G = S.lam, S.alpha, S.G
    assert sp.simplify(eq.weight_norm4 - lam**2 * G**2 / (1 - (1 - lam * a) ** 2)) == 0
    assert sp.simplify(eq.cos_angle - (1 - lam * a)) == 0
    assert sp.simplify(eq.relaxation_steps_leading - 1 / (4 * lam * a)) == 0


@pytest.mark.parametrize("rule,expected", [
    ("sgd", -S.lam), ("heavy-ball", -S.lam / (1 - S.rho)),
    ("nesterov", -S.lam / (1 - S.rho)), ("decoupled", -S.lam / (1 - S.rho))])
def test_total_gradient_weight(rule, expected):
    first, total = S.gradient_weight(rule)
    assert sp.simplify(total - expected) == 0
    # the first increments are the rule's own impulse response
    if rule == "heavy-ball":
        assert [sp.simplify(x) for x in first] == [-S.lam, -S.lam * S.rho, -S.lam * S.rho**2]


@pytest.mark.parametrize("rule", [r for r in RULES if r not in ADAPTIVE + ORTHOGONAL])  # their own: test_adaptive, test_muon
def test_rescaling_symmetry_is_solved_and_verified(rule):
    sym = S.rescaling_symmetry(rule)
    assert (sym["a"], sym["b"], sym["c"], sym["p"]) == (1, 2, -2, -1)
    assert sym["verified"] == sp.true
    assert sym["invariant"] == S.lam * S.alpha


@pytest.mark.parametrize("rule", ["heavy-ball", "nesterov"])
def test_linear_scaling_and_momentum_invariants(rule):
    scaling = S.linear_scaling(rule)
    assert sp.simplify(scaling["invariant"] - S.lam / (S.N * (1 - S.rho))) == 0
    assert S.momentum_invariant(rule) == S.lam / (1 - S.rho)


@pytest.mark.parametrize("rule", ["heavy-ball", "nesterov"])
def test_total_effective_step_depends_on_rotated_coordinate_only(rule):
    """λ/((1−ρ)|w|²) at equilibrium is √(2u)/G with u = λα/(1−ρ): Page's coordinate."""
    f = {x.key: x.expr for x in S.derive(rule)}["total_effective_lr_leading_rotated"]
    assert sp.simplify(f - sp.sqrt(2 * S.u) / S.G) == 0


def test_rotated_coordinates_round_trip():
    u = S.to_rotated(0.4, 0.9, 5e-4)
    assert u == pytest.approx(0.002)
    assert S.from_rotated(u, 0.9, 5e-4) == pytest.approx(0.4)
    lr = S.from_rotated(np.array([0.002, 0.004]), np.array([0.75, 0.875]), 0.00125)
    np.testing.assert_allclose(lr, [0.4, 0.4])


@pytest.mark.parametrize("rule", [r for r in RULES if r not in ADAPTIVE + ORTHOGONAL])  # their own: test_adaptive, test_muon
def test_predict_exact_close_to_leading_order_for_small_lr_wd(rule):
    p = D.predict(rule, 0.01, 1e-4, 0.5)
    eq = S.equilibrium(rule)
    vals = {S.lam: 0.01, S.alpha: 1e-4, S.rho: 0.5, S.G: 1.0}
    assert p.weight_norm == pytest.approx(float(eq.weight_norm4_leading.subs(vals)) ** 0.25, rel=1e-3)
    assert p.angular_update == pytest.approx(float(eq.angular_update_leading.subs(vals)), rel=1e-3)
    assert p.effective_lr == pytest.approx(0.01 / p.weight_norm**2)
    lead = float(eq.relaxation_steps_leading.subs(vals))
    assert p.relaxation_steps == pytest.approx(lead, rel=0.02)


def test_predict_scales_with_grad_norm_and_vectorises():
    p1, p2 = D.predict("nesterov", 0.4, 5e-4, 0.9, 1.0), D.predict("nesterov", 0.4, 5e-4, 0.9, 4.0)
    assert p2.weight_norm == pytest.approx(2 * p1.weight_norm)  # |w| ∝ √G
    assert p2.angular_update == pytest.approx(p1.angular_update)  # the angle is scale-free
    arr = D.predict("nesterov", np.array([0.4, 0.0]), 5e-4, 0.9, np.array([1.0, 1.0]))
    assert arr.weight_norm[0] == pytest.approx(p1.weight_norm) and math.isnan(arr.weight_norm[1])


@pytest.mark.parametrize("kwargs,match", [
    (dict(lr=-0.1, wd=1e-3, momentum=0.9), "lr"),
    (dict(lr=0.1, wd=-1e-3, momentum=0.9), "wd"),
    (dict(lr=0.1, wd=1e-3, momentum=1.0), "momentum"),
    (dict(lr=0.1, wd=0.0, momentum=0.9), "no stable equilibrium"),
    (dict(lr=100.0, wd=1.0, momentum=0.9), "no stable equilibrium"),
])
def test_predict_rejects_bad_input(kwargs, match):
    with pytest.raises(RidgelineError, match=match):
        D.predict("heavy-ball", **kwargs)


def test_predict_vectorises_plain_sgd_whose_jacobian_has_constant_entries():
    arr = D.predict("sgd", np.array([0.1, 0.2]), 1e-3, 0.9, np.array([1.0, 2.0]))
    one = D.predict("sgd", 0.2, 1e-3, 0.0, 2.0)
    assert arr.weight_norm[1] == pytest.approx(one.weight_norm)
    assert arr.relaxation_steps[1] == pytest.approx(one.relaxation_steps)
