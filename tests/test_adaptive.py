"""Derivations of dynamics.adaptive: symmetries, closed forms, the paper's forms, and
the simulator on the noise loss within 2% of the exact equilibrium."""

import numpy as np
import pytest
import sympy as sp

from dynamics import adaptive as A
from dynamics.symbolic import G, alpha, lam, predict


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
    from dynamics.simulate import SimConfig, simulate

    res = simulate(SimConfig(loss="noise", rule=rule, steps=4000, runs=16, dim=256, init_norm=0,
                             record_every=10, dtype="float64", **SETTINGS))
    s = res.summary
    assert np.all(np.abs(s.norm_ratio - 1) < 0.02), s[["lr", "wd", "momentum", "norm_ratio"]]
    assert np.all(np.abs(s.angle_ratio - 1) < 0.02), s[["lr", "wd", "momentum", "angle_ratio"]]


@pytest.mark.parametrize("rule", ["adamw", "adam-l2", "lion"])
def test_short_simulation_started_at_the_prediction_stays_there(rule):
    """A fast version of the check above: one setting per rule, 600 steps (λα = 1e-2)."""
    from dynamics.simulate import SimConfig, simulate

    res = simulate(SimConfig(loss="noise", rule=rule, lr=1e-2, wd=1.0, momentum=0.9, steps=600, runs=16,
                             dim=128, init_norm=0, record_every=10, dtype="float64"))
    s = res.summary.iloc[0]
    assert abs(s.norm_ratio - 1) < 0.03 and abs(s.angle_ratio - 1) < 0.03, s
