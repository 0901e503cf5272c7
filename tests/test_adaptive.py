"""Derivations of dynamics.theory.adaptive: symmetries, closed forms, the paper's forms, and
the simulator on the noise loss within 2% of the exact equilibrium."""

import numpy as np
import pytest
import sympy as sp

from dynamics.theory import adaptive as A
from dynamics.theory.dispatch import predict
from dynamics.theory.symbolic import G, alpha, lam


def _formula(rule, key):
    return {f.key: f.expr for f in A.derive(rule)}[key]


@pytest.mark.parametrize("rule,exponents,invariant", [
    ("adamw", (1, 1, -1), lam * alpha), ("lion", (1, 1, -1), lam * alpha),
    ("adam-l2", (1, 1, -2), lam**2 * alpha)])
def test_rescaling_exponents_are_solved_and_verified(rule, exponents, invariant):
    sym = A.rescaling_symmetry(rule)
    assert (sym["a"], sym["b"], sym["c"]) == exponents
    assert sym["verified"] == sp.true
    assert sp.simplify(sym["invariant"] - invariant) == 0


def test_adamw_leading_forms_are_the_papers():
    C, b1 = A.C, A.beta1
    assert sp.simplify(_formula("adamw", "weight_norm_leading") - sp.sqrt(lam * C / (2 * alpha))) == 0
    assert sp.simplify(_formula("adamw", "angular_update_leading")
                       - sp.sqrt(2 * lam * alpha * (1 - b1) / (1 + b1))) == 0
    assert sp.simplify(_formula("adamw", "weight_norm_leading") - _formula("adamw", "paper_weight_norm")) == 0


def test_adam_l2_leading_norm_is_the_cube_root_and_depends_on_G():
    lead = _formula("adam-l2", "weight_norm_leading")
    assert sp.simplify(lead**3 - lam * sp.sqrt(A.C) * G / (2 * alpha)) == 0
    # a row's norm follows its own gradient: balanced only for the decoupled rules
    assert sp.Symbol("G_row", positive=True) in _formula("adam-l2", "weight_norm_row_leading").free_symbols
    assert G not in _formula("adamw", "weight_norm_row_leading").free_symbols


def test_lion_without_momentum_is_a_random_walk_and_the_paper_is_off_by_sqrt_pi_over_2():
    lr, wd, C = 1e-3, 0.1, 256.0
    q = 1 - lr * wd
    p = predict("lion", lr, wd, 0.0, elements=C)
    assert p.weight_norm == pytest.approx(np.sqrt(lr**2 * C / (1 - q**2)), rel=1e-12)
    paper = float(A.PAPER["lion"][1].subs({lam: lr, alpha: wd, A.beta1: 0, A.beta2: 0.99}))
    assert paper / p.angular_update == pytest.approx(np.sqrt(np.pi / 2), rel=1e-3)


def test_lion_correlation_sum_matches_direct_summation():
    lr, wd, b1, b2 = 1e-3, 0.1, 0.9, 0.99
    S, _ = A._lion_sums(np.array(lr), np.array(wd), np.array(b1), np.array(b2))
    a = float(A.lion_correlation()[0].subs({A.beta1: b1, A.beta2: b2}))
    j = np.arange(1, 200001)
    direct = ((1 - lr * wd) ** j * 2 / np.pi * np.arcsin(a * b2 ** (j - 1))).sum()
    assert S == pytest.approx(direct, rel=1e-9)


def test_adaptive_predict_refuses_a_missing_element_count():
    from dynamics.util.errors import RidgelineError

    with pytest.raises(RidgelineError, match="number of elements"):
        predict("adamw", 1e-3, 0.1, 0.9)


# ---------------------------------------------------------------- the simulator
SETTINGS = dict(lr=[1e-3, 1e-3, 1e-2, 1e-2], wd=[1.0, 1.0, 1.0, 10.0], momentum=[0.0, 0.9, 0.9, 0.0])


@pytest.mark.slow  # about a minute per rule on an idle core
@pytest.mark.parametrize("rule", ["adamw", "adam-l2", "lion"])
def test_simulated_equilibrium_is_within_2_percent_of_the_exact_derivation(rule):
    """β₁ ∈ {0, 0.9}, λα from 1e-3 to 1e-1, started at the predicted |w|."""
    from dynamics.jobs.simulate import SimConfig, simulate

    res = simulate(SimConfig(loss="noise", rule=rule, steps=4000, runs=16, dim=256, init_norm=0,
                             record_every=10, dtype="float64", **SETTINGS))
    s = res.summary
    assert np.all(np.abs(s.norm_ratio - 1) < 0.02), s[["lr", "wd", "momentum", "norm_ratio"]]
    assert np.all(np.abs(s.angle_ratio - 1) < 0.02), s[["lr", "wd", "momentum", "angle_ratio"]]


@pytest.mark.parametrize("rule", ["adamw", "adam-l2", "lion"])
def test_short_simulation_started_at_the_prediction_stays_there(rule):
    """The default-CI version of the check above: every rule at two settings, β₁ 0 and 0.9
    (λα = 1e-2), 600 steps. Reached: within 2.0% (lion at β₁ 0.9: |w| 1.020, angle 0.982;
    adamw 1.4%, adam-l2 0.5%), so 3% leaves 1.5x."""
    from dynamics.jobs.simulate import SimConfig, simulate

    res = simulate(SimConfig(loss="noise", rule=rule, lr=[1e-2, 1e-2], wd=[1.0, 1.0], momentum=[0.0, 0.9],
                             steps=600, runs=16, dim=128, init_norm=0, record_every=10, dtype="float64"))
    s = res.summary
    assert np.all(np.abs(s.norm_ratio - 1) < 0.03), s[["momentum", "norm_ratio"]]
    assert np.all(np.abs(s.angle_ratio - 1) < 0.03), s[["momentum", "angle_ratio"]]


# ------------------------------------------- AdamW with measured update statistics
def test_adamw_power_equilibrium_reduces_to_the_white_one_and_kappa_is_k_times_nu():
    """κ(c, ν) = ν k with k = 1 + 2β₁ c/(1 − β₁) the gradient power ratio of
    training.gradstats (its filter is m/(1 − β₁)); at κ = 1, ξ = 0 the white |w|."""
    eq = A.power_equilibrium("adamw")
    b1 = A.beta1
    k = 1 + 2 * b1 * A._c / (1 - b1)
    assert sp.simplify(eq.kappa - A._nu * k) == 0
    white = _formula("adamw", "weight_norm_sq")
    assert sp.simplify(eq.weight_norm.subs({A.kappa: 1, A.xi: 0}) ** 2 - white) == 0
    assert sp.simplify(eq.weight_norm2_tangent - A.kappa * white) == 0


def _simulate_adamw(kind, lr=1e-2, wd=1.0, b1=0.9, b2=0.99, runs=8, dim=256, steps=3000, seed=0):
    """AdamW (dynamics.rules) on the noise loss with coordinates of different scale and
    gradients anti-correlated ('anti') or persistent ('persist') from step to step; returns
    late-time (|w|, θ, κ̄, ξ̄) with κ, ξ measured as training.updatestats does."""
    from dynamics.rules import adamw
    from training.updatestats import white_power

    rng = np.random.default_rng(seed)
    w = rng.standard_normal((runs, dim))
    w *= predict("adamw", lr, wd, b1, 1.0, elements=dim, beta2=b2).weight_norm / np.linalg.norm(w, axis=1)[:, None]
    state, prev = (np.zeros_like(w), np.zeros_like(w), 0), np.zeros_like(w)
    scale = np.exp(np.linspace(-1, 1, dim))
    x, cos, kappa, radial = [], [], [], []
    for t in range(steps):
        xi = rng.standard_normal(w.shape)
        z = (xi + {"anti": -0.5, "persist": 0.5}[kind] * prev) * scale
        prev = xi
        norm = np.linalg.norm(w, axis=1, keepdims=True)
        g = (z - (z * w).sum(1, keepdims=True) * w / norm**2) / norm  # g ⟂ w, |g| ∝ 1/|w|
        u = -adamw(np.zeros_like(w), state, g, 1.0, 0.0, b1, beta2=b2, eps=0)[0]
        n = -adamw(np.zeros_like(w), state, g, 1.0, 0.0, 0.0, beta2=b2, eps=0)[0]
        w1, state = adamw(w, state, g, lr, wd, b1, beta2=b2, eps=0)
        if t >= steps // 2:
            x.append((w * w).sum(1))
            cos.append((w * w1).sum(1) / np.sqrt((w * w).sum(1) * (w1 * w1).sum(1)))
            kappa.append((u * u).sum(1) / (dim * white_power(b1, t + 1)))
            radial.append((w * n).sum(1) / norm[:, 0] / np.sqrt(dim))
        w = w1
    return np.sqrt(np.mean(x)), np.arccos(np.mean(cos)), np.mean(kappa), np.mean(radial)


@pytest.mark.parametrize("kind", ["anti", "persist"])
def test_adamw_with_measured_update_statistics_is_within_2_percent_of_simulation(kind):
    """Correlated gradients over coordinates of different scale: the white |w| is 40%
    (anti) or 28% (persist) off and κ alone several per cent; with κ and the radial share
    ξ the derived |w| and angle are within 2% (β₂ = 0.99, λα = 1e-2)."""
    norm, theta, kappa, radial = _simulate_adamw(kind)
    white = predict("adamw", 1e-2, 1.0, 0.9, elements=256, beta2=0.99)
    tangent = predict("adamw", 1e-2, 1.0, 0.9, elements=256, beta2=0.99, power=kappa)
    full = predict("adamw", 1e-2, 1.0, 0.9, elements=256, beta2=0.99, power=kappa, radial=radial)
    assert abs(norm / white.weight_norm - 1) > 0.2
    assert abs(norm / tangent.weight_norm - 1) > 0.01 or abs(theta / tangent.angular_update - 1) > 0.01
    assert abs(norm / full.weight_norm - 1) < 0.02 and abs(theta / full.angular_update - 1) < 0.02
