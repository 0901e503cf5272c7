"""The report's relaxation table (issue 21): measured τ beside the derived one and the same
fit on the noise-free moment map, and a flag where the measurement is not explained."""

import pytest

from dynamics.jobs.simulate import SimConfig, simulate, summary_json
from training.report.steps import Step
from training.report.text import _simulate_section


@pytest.fixture(scope="module")
def relaxation():
    # the report's settings (Nesterov, ρ 0.9, α 0.01, λ 0.8 → 0.08), shorter and smaller
    return simulate(SimConfig(loss="noise", rule="nesterov", lr=[0.4, 0.8], wd=1e-2, momentum=0.9, steps=2000,
                              runs=16, dim=128, schedule="step", init_norm=0.0, record_every=5))


def test_the_noise_free_map_fitted_alike_gives_the_derived_relaxation_time(relaxation):
    s = relaxation.summary
    # reached: 1.046 and 1.063 from 10% of the plateau (the map's curvature over the fit's
    # window: large deviations decay slower); from 2% it was 1.008 and 1.007
    ratio = (s.relaxation_expected / s.relaxation_predicted).to_numpy()
    assert ((ratio > 1.0) & (ratio < 1.08)).all(), ratio


def test_the_report_flags_a_relaxation_time_it_cannot_explain(relaxation):
    payload = summary_json(relaxation)
    step = Step("relaxation", "Relaxation after a 10x drop", "ridgeline simulate …", {}, lambda: {},
                status="done", result={"folder": "simulate/relaxation", "summary": payload})
    assert "τ, noise-free map fitted alike" in _simulate_section([], step)
    first, second = payload["settings"]
    for s in payload["settings"]:  # both measured as the noise-free map fitted alike: nothing to flag
        s["measured"]["relaxation_steps"] = s["predicted"]["relaxation_steps_fitted"]
    assert "not explained" not in _simulate_section([], step)
    second["measured"]["relaxation_steps"] = 1.15 * second["predicted"]["relaxation_steps_fitted"]
    text = _simulate_section([], step)
    assert f"λ {second['lr']:g}: the measured τ" in text and "not explained" in text
    assert f"λ {first['lr']:g}: the measured τ" not in text


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_report_relaxation_fit_is_not_thrown_by_the_plateaus_wander(seed):
    """The report's λ 0.8 → 0.08 drop at its quick size per setting (64 runs, D = 256,
    a record every 5 steps): measured τ against the noise-free map fitted alike within
    10% (reached over seeds 0–8: 0.906–1.100). The fit from 2% of the plateau, with the
    ringing model chosen on its residual alone, gave 3.96, 3.64, 8.85 and 0.9 at seeds
    0–3: it fitted the plateau's slow wander as a ringing decay."""
    s = simulate(SimConfig(loss="noise", rule="nesterov", lr=[0.8], wd=1e-2, momentum=0.9, steps=4000, runs=64,
                           dim=256, schedule="step", init_norm=0.0, record_every=5, seed=seed)).summary
    ratio = float((s.relaxation_measured / s.relaxation_expected).iloc[0])
    assert ratio == pytest.approx(1, abs=0.10), ratio
