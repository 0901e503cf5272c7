"""The quadratic-valley mechanism for k < 1 (dynamics.analysis.kstudy) against the simulator's toy."""

import numpy as np
import pytest

from dynamics.analysis.kstudy import curvature_k, fit_curvature, mixed_k, toy_k, valley


def test_valley_is_white_when_flat_and_anticorrelated_when_curved():
    k, power = valley([0.0, 0.01, 0.1], 0.9)
    assert k[0] == pytest.approx(1.0) and power[0] == pytest.approx(1.0)
    assert 0 < k[2] < k[1] < 1 and power[2] > power[1] > 1
    assert np.isnan(valley([10.0], 0.9)[0][0])  # past the stable step


@pytest.mark.parametrize("rule", ["nesterov", "heavy-ball"])
def test_tabulated_k_is_the_exact_solution(rule):
    eh = np.array([3e-5, 1e-3, 0.02, 0.3])
    assert curvature_k(eh, 0.9, rule) == pytest.approx(valley(eh, 0.9, rule)[0], abs=2e-4)


@pytest.mark.parametrize("eta_h", [0.01, 0.1])
def test_simulator_toy_has_the_valleys_k(eta_h):
    """The toy (g ⟂ w on the sphere, weight decay, the rule itself) against the linear theory:
    agreement to 0.001–0.002 is reached (8 runs of 2,000 steps; 0.05 apart from white)."""
    k_toy, reached = toy_k(eta_h, dim=256, steps=2000)
    theory = float(mixed_k(reached, 0.9, curved_share=0.5)[0])
    assert k_toy == pytest.approx(theory, abs=0.005)
    assert 1 - theory > 0.05


def test_fit_recovers_the_curvature():
    rng = np.random.default_rng(0)
    eta = np.exp(rng.uniform(np.log(1e-3), np.log(3e-2), 200))
    k = curvature_k(eta * 7.0, 0.9) + rng.normal(0, 0.01, 200)
    assert fit_curvature(k, eta, 0.9) == pytest.approx(7.0, rel=0.03)
    assert np.isnan(fit_curvature([np.nan], [1e-2], 0.9))
