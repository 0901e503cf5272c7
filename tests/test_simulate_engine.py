"""The vectorised integrator: schedules, per-row run lengths, and agreement with the rule."""

from __future__ import annotations

import pytest
import torch

from dynamics.sim.engine import integrate, schedule_factor
from dynamics.rules import RULES


def test_piecewise_schedule_is_the_seeds_triangle():
    steps = torch.tensor([[240.0]])
    f = torch.cat([schedule_factor("piecewise", t, steps) for t in range(240)]).ravel()
    assert f.argmax().item() in (49, 50)  # peak at 5/24 of the run
    assert f.max().item() == pytest.approx(1, abs=0.01) and f[0] < 0.02 and f[-1] < 0.01
    assert schedule_factor("step", 119, steps).item() == 1
    assert schedule_factor("step", 120, steps).item() == pytest.approx(0.1)


def test_rows_with_fewer_steps_freeze_and_match_separate_runs():
    """One call with run lengths (5, 9) equals the rule applied 5 and 9 times by hand."""
    gen = torch.Generator().manual_seed(0)
    grads = torch.randn(9, 2, 3, generator=gen, dtype=torch.float64)
    w0 = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    lr = torch.tensor([[0.1], [0.3]], dtype=torch.float64)
    wd, mom = torch.full_like(lr, 1e-2), torch.tensor([[0.9], [0.5]], dtype=torch.float64)
    steps = torch.tensor([[5.0], [9.0]], dtype=torch.float64)
    w, v = integrate(lambda w, t: grads[t], "nesterov", w0, torch.zeros_like(w0), lr=lr, wd=wd,
                     momentum=mom, steps=steps, schedule="constant")
    for r, n in enumerate((5, 9)):
        wr, vr = w0[r], torch.zeros(3, dtype=torch.float64)
        for t in range(n):
            wr, vr = RULES["nesterov"](wr, vr, grads[t, r], lr[r, 0], wd[r, 0], mom[r, 0])
        assert torch.allclose(w[r], wr) and torch.allclose(v[r], vr)


def test_observer_sees_every_kth_step():
    seen = []
    w = torch.ones(2, 4)
    integrate(lambda w, t: torch.zeros_like(w), "sgd", w, torch.zeros_like(w), lr=torch.ones(2, 1),
              wd=torch.full((2, 1), 0.1), momentum=torch.zeros(2, 1), steps=torch.full((2, 1), 10.0),
              schedule="constant", every=4, observe=lambda t, *a: seen.append(t))
    assert seen == [4, 8]


def test_compiled_step_matches_eager():
    """integrate(compile=True) fuses gradient and rule; same trajectory up to rounding."""
    from dynamics.jobs.simulate import SimConfig, settings_table, toy_gradient

    config = SimConfig(lr=[0.1, 0.4], wd=1e-2, momentum=[0.0, 0.9], runs=2, dim=16, steps=30)
    table = settings_table(config)
    col = lambda k: torch.tensor(table[k].to_numpy(float), dtype=torch.float64).repeat_interleave(2)[:, None]  # noqa: E731
    results = []
    for compiled in (False, True):
        gen = torch.Generator().manual_seed(0)
        gradient, _ = toy_gradient(config, table, torch.float64, torch.device("cpu"), gen)
        w0 = torch.ones(4, 16, dtype=torch.float64)
        results.append(integrate(gradient, "nesterov", w0, torch.zeros_like(w0), lr=col("lr"), wd=col("wd"),
                                 momentum=col("momentum"), steps=torch.full((4, 1), 30.0, dtype=torch.float64),
                                 schedule="piecewise", compile=compiled))
    assert torch.allclose(results[0][0], results[1][0], rtol=1e-10)
    assert torch.allclose(results[0][1], results[1][1], rtol=1e-10, atol=1e-12)
