"""The fused eager step (dynamics/sim/fused.py) advances every linear rule exactly as
dynamics/rules.py does, ragged runs and observers included."""

from __future__ import annotations

import pytest
import torch

from dynamics.sim.engine import SplitGradient, integrate, schedule_factor
from dynamics.sim.fused import LINEAR, coefficients
from dynamics.rules import RULES


def reference(rule, gradient, w, v, lr, wd, momentum, steps, schedule):
    """The plain loop of the rule as written, frozen rows kept with torch.where."""
    total = int(steps.max())
    for t in range(total):
        lr_t = lr * schedule_factor(schedule, t, steps)
        w_new, v_new = RULES[rule](w, v, gradient(w, t), lr_t, wd, momentum)
        active = t < steps
        w, v = torch.where(active, w_new, w), torch.where(active, v_new, v)
    return w, v


@pytest.mark.parametrize("rule", LINEAR)
@pytest.mark.parametrize("ragged", [False, True])
def test_fused_matches_the_rule(rule, ragged):
    gen = torch.Generator().manual_seed(1)
    R, D = 8, 16
    w0 = torch.randn(R, D, generator=gen, dtype=torch.float64)
    z = torch.randn(40, 1, D, generator=gen, dtype=torch.float64)
    gradient = SplitGradient(lambda t: z[t], lambda w, zt: zt - (zt * w).sum(-1, keepdim=True) * w / (w * w).sum(-1, keepdim=True))
    col = lambda lo, hi: torch.linspace(lo, hi, R, dtype=torch.float64)[:, None]  # noqa: E731
    lr, wd, mom = col(0.05, 0.5), col(1e-3, 1e-2), col(0.0, 0.95)
    steps = torch.randint(10, 40, (R, 1), generator=gen).double() if ragged else torch.full((R, 1), 40.0)
    w, v = integrate(gradient, rule, w0, torch.zeros_like(w0), lr=lr, wd=wd, momentum=mom, steps=steps,
                     schedule="piecewise")
    w_ref, v_ref = reference(rule, gradient, w0, torch.zeros_like(w0), lr, wd, mom, steps, "piecewise")
    torch.testing.assert_close(w, w_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(v, v_ref, rtol=1e-12, atol=1e-12)


def test_caller_tensors_and_observer_before_after():
    w0 = torch.ones(2, 3)
    v0 = torch.zeros(2, 3)
    keep = w0.clone()
    pairs = []
    integrate(lambda w, t: torch.full_like(w, 0.5), "heavy-ball", w0, v0, lr=torch.full((2, 1), 0.1),
              wd=torch.full((2, 1), 0.01), momentum=torch.full((2, 1), 0.9),
              steps=torch.full((2, 1), 3.0), schedule="constant", every=1,
              observe=lambda t, wb, wa, va, g, lr_t: pairs.append((wb.clone(), wa.clone())))
    assert torch.equal(w0, keep) and torch.equal(v0, torch.zeros(2, 3))  # never written
    assert torch.equal(pairs[0][0], keep)
    for (_, after), (before, _) in zip(pairs, pairs[1:]):
        assert torch.equal(after, before)  # each step starts where the last one ended


def test_heavy_ball_coefficients_are_the_textbook_ones():
    """w' = w − λ v' for heavy-ball: A = 1, B = −λ, C = 0 (derived, not typed in)."""
    co = coefficients("heavy-ball")
    assert (co["A"][0], co["C"][0]) == ("1", "0")
    assert co["B"][1](0.3, 0.01, 0.9) == pytest.approx(-0.3)
    assert co["e"][1](0.3, 0.01, 0.9) == pytest.approx(0.9)


def test_compile_threads_follow_the_idle_cores(monkeypatch):
    import os

    from dynamics.sim.fused import choose_compile_threads

    saved = torch.get_num_threads()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    try:
        torch.set_num_threads(4)
        monkeypatch.setattr(os, "getloadavg", lambda: (6.0, 6.0, 6.0))  # busy: 1 thread
        assert choose_compile_threads() == 1 and torch.get_num_threads() == 1
        torch.set_num_threads(4)
        monkeypatch.setattr(os, "getloadavg", lambda: (2.2, 2.0, 2.0))  # 4 - 2.2 + 1 -> 2
        assert choose_compile_threads() == 2
        torch.set_num_threads(2)
        monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))  # idle: never raised
        assert choose_compile_threads() == 2
    finally:
        torch.set_num_threads(saved)


@pytest.mark.parametrize("rule", LINEAR)
@pytest.mark.parametrize("ragged", [False, True])
def test_gradient_folded_in_from_its_terms_matches_the_written_gradient(rule, ragged):
    """The noise model's g = a w + k z folded into the update (never written) gives the
    same (w, v), and the observer the same g, as the gradient written out by apply."""
    from dynamics.sim.toys import tangent_noise, tangent_noise_terms

    S, runs, D = 5, 3, 16
    gen = torch.Generator().manual_seed(2)
    z = torch.randn(30, runs, D, generator=gen, dtype=torch.float64)
    G = torch.linspace(0.5, 2.0, S, dtype=torch.float64).view(S, 1, 1)

    def terms(w, zt):
        a, k = tangent_noise_terms(w.view(S, runs, D), G, zt)
        return a.reshape(S * runs, 1), [(k, zt)]

    apply = lambda w, zt: tangent_noise(w.view(S, runs, D), G, zt).view(S * runs, D)  # noqa: E731
    w0 = torch.randn(S * runs, D, generator=gen, dtype=torch.float64)
    col = lambda lo, hi: torch.linspace(lo, hi, S * runs, dtype=torch.float64)[:, None]  # noqa: E731
    R = S * runs
    steps = torch.randint(10, 30, (R, 1), generator=gen).double() if ragged else torch.full((R, 1), 30.0)
    results = []
    for gradient in (SplitGradient(lambda t: z[t], apply), SplitGradient(lambda t: z[t], apply, terms)):
        seen = []
        w, v = integrate(gradient, rule, w0, torch.zeros_like(w0), lr=col(0.05, 0.5), wd=col(1e-3, 1e-2),
                         momentum=col(0.0, 0.95), steps=steps, schedule="piecewise", every=7,
                         observe=lambda t, wb, wa, va, g, lr_t: seen.append((wb.clone(), g.clone())))
        results.append((w, v, seen))
    (w1, v1, seen1), (w2, v2, seen2) = results
    torch.testing.assert_close(w2, w1, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(v2, v1, rtol=1e-12, atol=1e-12)
    assert len(seen1) == len(seen2) == 4
    for (wb1, g1), (wb2, g2) in zip(seen1, seen2):
        torch.testing.assert_close(wb2, wb1, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(g2, g1, rtol=1e-12, atol=1e-12)


def test_noise_terms_are_the_noise_model():
    """g = a w + k z from tangent_noise_terms: g ⟂ w and |g| |w| = G, row by row."""
    from dynamics.sim.toys import tangent_noise_terms

    gen = torch.Generator().manual_seed(3)
    scale = torch.tensor([0.1, 1.0, 10.0, 3.0], dtype=torch.float64).view(4, 1, 1)
    w = torch.randn(4, 2, 64, generator=gen, dtype=torch.float64) * scale
    z = torch.randn(2, 64, generator=gen, dtype=torch.float64)
    G = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64).view(4, 1, 1)
    a, k = tangent_noise_terms(w, G, z)
    g = a * w + k * z
    torch.testing.assert_close((g * w).sum(-1), torch.zeros(4, 2, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(g.norm(dim=-1) * w.norm(dim=-1), G.view(4, 1).expand(4, 2), rtol=1e-12, atol=0)


def test_eager_integrate_runs_on_the_idle_cores_and_restores_the_thread_count(monkeypatch):
    import os

    saved = torch.get_num_threads()
    seen = []
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 3.0, 3.0))  # busy: 2 - 3 + 1 -> 1
    try:
        torch.set_num_threads(2)
        integrate(lambda w, t: torch.full_like(w, 0.5), "heavy-ball", torch.ones(2, 3), torch.zeros(2, 3),
                  lr=torch.full((2, 1), 0.1), wd=torch.full((2, 1), 0.01), momentum=torch.full((2, 1), 0.9),
                  steps=torch.full((2, 1), 2.0), schedule="constant", every=1,
                  observe=lambda *args: seen.append(torch.get_num_threads()))
        assert seen == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)
