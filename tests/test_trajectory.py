"""The trajectory prediction against a direct step-by-step simulation of each rule."""

import numpy as np
import pytest
import torch

from dynamics.rules import get_rule
from dynamics.theory.dispatch import predict
from dynamics.sim.toys import CorrelatedDraw, correlated_power, tangent_noise
from dynamics.theory.trajectory import schedule_lr, step_lrs, trajectory

WD, RHO, G, STEPS = 0.01, 0.9, 1.0, 1200


def schedule(peak: float) -> np.ndarray:
    """Warm-up over 100 steps, flat, a 10x drop at 500, then linear decay to 0.1x at the end."""
    t = np.arange(1, STEPS + 1)
    lr = np.minimum(t / 100, 1.0) * peak
    lr[t > 500] = peak / 10
    decay = t > 800
    lr[decay] = peak / 10 * (1 - 0.9 * (t[decay] - 800) / (STEPS - 800))
    return lr


def simulate(rule: str, lr: np.ndarray, w0: float, correlation: float | None, runs=32, dim=512):
    """Mean |w|² after every step and the mean cosine of every step, float64."""
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(runs, dim, generator=gen, dtype=torch.float64)
    w = w / w.norm(dim=1, keepdim=True) * w0
    v = torch.zeros_like(w)
    draw = (CorrelatedDraw((runs, dim), correlation, gen, torch.float64) if correlation is not None
            else lambda t: torch.randn(runs, dim, generator=gen, dtype=torch.float64))
    step = get_rule(rule)
    x, cos = [w0**2], []
    for t, lr_t in enumerate(lr):
        g = tangent_noise(w, G, draw(t))
        w_new, v = step(w, v, g, float(lr_t), WD, RHO)
        cos.append(((w * w_new).sum(1) / (w.norm(dim=1) * w_new.norm(dim=1))).mean().item())
        w = w_new
        x.append((w * w).sum(1).mean().item())
    return np.sqrt(x), np.arccos(np.array(cos))


@pytest.mark.parametrize("rule", ["sgd", "heavy-ball", "nesterov", "decoupled"])
@pytest.mark.parametrize("correlation", [None, -0.5, 1.0])
def test_trajectory_equals_direct_simulation(rule, correlation):
    if rule == "sgd" and correlation is not None:
        pytest.skip("plain SGD does not see correlations (k drops out)")
    peak = 0.1 if rule != "decoupled" else 0.5
    lr = schedule(peak)
    w0 = 2.0
    power = None if correlation is None else np.full((STEPS, 1), correlated_power(correlation, RHO))
    pred = trajectory(rule, lr, WD, RHO, np.full((STEPS, 1), G**2), [w0], power)
    norm, angle = simulate(rule, lr, w0, correlation)
    tau = predict(rule, lr, WD, RHO, np.ones_like(lr)).relaxation_steps
    settled = np.cumsum(1 / tau) >= 1  # after the first relaxation time
    assert settled.sum() > STEPS / 2
    np.testing.assert_allclose(pred.weight_norm[1:, 0][settled], norm[1:][settled], rtol=0.02)
    # the per-step angle of 32 runs scatters by about 1%: compare 11-step means of both
    smooth = lambda a: np.convolve(a, np.ones(11) / 11, mode="same")  # noqa: E731
    inner = settled & (np.arange(STEPS) >= 5) & (np.arange(STEPS) < STEPS - 5)
    np.testing.assert_allclose(smooth(pred.angle[:, 0])[inner], smooth(angle)[inner], rtol=0.02)
    # and it is a trajectory, not an equilibrium: after the drop the norm lags the
    # instantaneous equilibrium by far more than 2%
    eq = predict(rule, lr, WD, RHO, G).weight_norm
    assert np.max(np.abs(norm[1:] / eq - 1)[settled]) > 0.1


def test_vectorised_over_layers_equals_one_by_one():
    lr = schedule(0.1)
    G2 = np.stack([np.linspace(0.5, 2, STEPS), np.full(STEPS, 3.0)], 1)
    power = np.stack([np.full(STEPS, 0.6), np.linspace(1, 2, STEPS)], 1)
    both = trajectory("nesterov", lr, WD, RHO, G2, [1.0, 4.0], power)
    for i, w0 in enumerate([1.0, 4.0]):
        one = trajectory("nesterov", lr, WD, RHO, G2[:, i], [w0], power[:, [i]])
        np.testing.assert_allclose(both.weight_norm[:, i], one.weight_norm[:, 0], rtol=1e-9)
        np.testing.assert_allclose(both.angle[:, i], one.angle[:, 0], rtol=1e-9)


def test_step_lrs_is_the_trainers_schedule():
    from training.config import TrainConfig, lr_at

    config = TrainConfig(epochs=6, lr=0.3, schedule="piecewise")
    lrs = step_lrs(config.lr, config.warmup, config.epochs, config.schedule, 10, 60)
    assert lrs == pytest.approx([lr_at(config, (s - 0.5) / 10) for s in range(1, 61)], abs=0)
    assert schedule_lr(0.0, 1.0, 1.0, 5, "constant") == 0 and schedule_lr(3, 1.0, 1.0, 5, "constant") == 1


def _simulate_per_step(rule, lr, wd, rho, w0, runs=32, dim=512):
    """Mean |w|² after every step under per-step (λ_t, α_t, ρ_t), white tangent noise."""
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(runs, dim, generator=gen, dtype=torch.float64)
    w = w / w.norm(dim=1, keepdim=True) * w0
    v = torch.zeros_like(w)
    step = get_rule(rule)
    x = [w0**2]
    for lr_t, wd_t, rho_t in zip(lr, wd, rho):
        g = tangent_noise(w, G, torch.randn(runs, dim, generator=gen, dtype=torch.float64))
        w, v = step(w, v, g, float(lr_t), float(wd_t), float(rho_t))
        x.append((w * w).sum(1).mean().item())
    return np.sqrt(x)


@pytest.mark.parametrize("rule", ["heavy-ball", "nesterov"])
def test_per_step_momentum_and_weight_decay_equal_direct_simulation(rule):
    """OneCycleLR's momentum cycle (ρ 0.95 → 0.85 → 0.95 against λ) and a weight decay that
    doubles half-way: the trajectory along (λ_t, α_t, ρ_t) follows the simulation, and one
    fixed ρ (the first, as validate used before) or one fixed α does not."""
    t = np.arange(STEPS)
    phase = np.minimum(t / 300, 1.0) - np.clip((t - 300) / (STEPS - 300), 0, 1)  # 0 → 1 → 0
    lr = 0.004 + 0.1 * phase
    rho = 0.95 - 0.10 * phase
    wd = np.where(t < STEPS // 2, WD, 2 * WD)
    pred = trajectory(rule, lr, wd, rho, np.full((STEPS, 1), G**2), [2.0]).weight_norm[:, 0]
    norm = _simulate_per_step(rule, lr, wd, rho, 2.0)
    np.testing.assert_allclose(pred, norm, rtol=0.02)
    fixed_rho = trajectory(rule, lr, wd, rho[0], np.full((STEPS, 1), G**2), [2.0]).weight_norm[:, 0]
    fixed_wd = trajectory(rule, lr, WD, rho, np.full((STEPS, 1), G**2), [2.0]).weight_norm[:, 0]
    assert np.max(np.abs(fixed_rho / norm - 1)) > 0.1 and np.max(np.abs(fixed_wd / norm - 1)) > 0.1
    per_tensor = trajectory(rule, np.stack([lr, lr], 1), np.stack([wd, np.full(STEPS, WD)], 1),
                            np.stack([rho, rho], 1), np.full((STEPS, 2), G**2), [2.0, 2.0]).weight_norm
    np.testing.assert_allclose(per_tensor[:, 0], pred, rtol=1e-12)  # each tensor its own α_t
    np.testing.assert_allclose(per_tensor[:, 1], fixed_wd, rtol=1e-12)
