"""Muon: the rule against torch.optim.Muon, ridgeline's conv Muon against torch's on the
reshaped matrix, the derivation, the simulator on the derived equilibrium, bad input."""

import numpy as np
import pytest
import torch

from dynamics.rules import initial_state, muon, newton_schulz, stepper
from dynamics.util.errors import RidgelineError
from training.optim import Muon

STEPS = 8


@pytest.mark.parametrize("shape", [(7, 5), (5, 7), (6, 6)])
@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("adjust_lr", ["original", "match_rms_adamw"])
def test_rule_matches_torch_muon_step_for_step(shape, nesterov, adjust_lr):
    gen = torch.Generator().manual_seed(3)
    w0 = torch.randn(*shape, generator=gen, dtype=torch.float64)
    p = torch.nn.Parameter(w0.clone())
    opt = torch.optim.Muon([p], lr=0.03, weight_decay=0.2, momentum=0.9, nesterov=nesterov, adjust_lr_fn=adjust_lr)
    w, v = w0.clone(), initial_state("muon", w0)
    for _ in range(STEPS):
        g = torch.randn(*shape, generator=gen, dtype=torch.float64)
        p.grad = g.clone()
        opt.step()
        w, v = muon(w, v, g, 0.03, 0.2, 0.9, nesterov=nesterov, adjust_lr=adjust_lr)
        torch.testing.assert_close(w, p.detach(), rtol=0, atol=1e-10)
        torch.testing.assert_close(v[0], opt.state[p]["momentum_buffer"], rtol=0, atol=1e-10)


def test_conv_muon_matches_torch_muon_on_the_reshaped_matrix():
    """A channels-last conv weight (out, in, k, k) steps as torch's Muon on its (out, in·k·k) matrix;
    a second group of vectors takes Nesterov SGD as torch.optim.SGD would."""
    gen = torch.Generator().manual_seed(4)
    conv = torch.randn(6, 3, 3, 3, generator=gen, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    bias = torch.randn(6, generator=gen, dtype=torch.float64)
    p, b = torch.nn.Parameter(conv.clone()), torch.nn.Parameter(bias.clone())
    mine = Muon([{"params": [p]}, {"params": [b], "sgd": "nesterov", "weight_decay": 5e-4}],
                lr=0.05, weight_decay=0.1, momentum=0.95)
    q, c = torch.nn.Parameter(conv.reshape(6, 27).clone()), torch.nn.Parameter(bias.clone())
    ref = torch.optim.Muon([q], lr=0.05, weight_decay=0.1, momentum=0.95)
    sgd = torch.optim.SGD([c], lr=0.05, weight_decay=5e-4, momentum=0.95, nesterov=True)
    for _ in range(STEPS):
        g, gb = torch.randn(6, 3, 3, 3, generator=gen, dtype=torch.float64), torch.randn(6, generator=gen, dtype=torch.float64)
        p.grad, q.grad, b.grad, c.grad = g.clone(), g.reshape(6, 27).clone(), gb.clone(), gb.clone()
        mine.step(), ref.step(), sgd.step()
        torch.testing.assert_close(p.detach().reshape(6, 27), q.detach(), rtol=0, atol=1e-10)
        torch.testing.assert_close(b.detach(), c.detach(), rtol=0, atol=1e-12)


def test_working_precision_newton_schulz_is_torch_bfloat16_to_its_rounding():
    """The simulator's float64 NS (numpy or torch) and torch's bfloat16 one differ by bf16 rounding only."""
    X = torch.randn(3, 16, 40, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    exact = newton_schulz(X, dtype=None)
    np.testing.assert_allclose(newton_schulz(X.numpy()), exact.numpy(), rtol=0, atol=1e-12)
    bf16 = torch.stack([newton_schulz(x) for x in X])
    rel = ((bf16 - exact).norm() / exact.norm()).item()
    assert 1e-4 < rel < 3e-2  # bfloat16 has 8 bits of mantissa


def test_newton_schulz_singular_values_are_spread_not_one():
    from dynamics.theory.muon import ns_statistics

    stats = ns_statistics(16, 72)
    assert 0.6 < stats.singular_min < 0.75 and 1.05 < stats.singular_max < 1.25
    assert 0.75 < stats.power_per_singular < 0.9  # P = E|O|² well below min(A, B)
    assert stats.F[0] == 0 and stats.F[-1] == 1 and np.all(np.diff(stats.F) > 0)


def test_derivation_exponents_invariant_and_leading_order():
    import sympy as sp

    from dynamics.theory import muon as M
    from dynamics.theory.symbolic import alpha, lam, rho

    for nesterov in (True, False):
        sym = M.rescaling_symmetry(nesterov)
        assert (sym["a"], sym["b"], sym["c"], sym["p"]) == (1, 1, -1, -1) and sym["verified"] == sp.true
        assert sym["invariant"] == lam * alpha
    A1, _ = M.buffer_correlation(False)
    assert sp.simplify(A1 - rho) == 0  # a mean buffer without Nesterov: corr ρ^j
    values = M.values(0.05, 0.1, 0.95, (64, 576))
    assert values["weight_norm_leading"] == pytest.approx(values["weight_norm_sq"] ** 0.5, rel=0.1)
    assert values["angular_update_leading"] == pytest.approx(values["angular_update"], rel=0.02)
    assert -0.3 < values["update_radial_share"] < -0.2  # a quarter of the update along −w


@pytest.mark.parametrize("shape", ["16x8", "12x12", "8x4x3x3"])
def test_simulator_lands_on_the_derived_equilibrium(shape):
    """Tall, square and conv-shaped matrices on the noise loss (16 runs, 1,500 steps from the
    prediction, float64, two settings): |w| within 0.4% and θ within 0.6% over 10 runs of
    5 shapes × 2 seeds behind these tolerances (the Monte Carlo P and F carry up to 0.5%)."""
    from dynamics.jobs.simulate import SimConfig, simulate, with_matrix

    config = with_matrix(SimConfig(loss="noise", rule="muon", shape=shape, lr=[0.05, 0.1], wd=[0.1, 0.2],
                                   momentum=[0.95, 0.9], steps=1500, runs=16, init_norm=0, record_every=5,
                                   dtype="float64"))
    summary = simulate(config).summary
    np.testing.assert_allclose(summary.norm_ratio, 1, atol=5e-3)
    np.testing.assert_allclose(summary.angle_ratio, 1, atol=8e-3)


def test_bad_input_is_one_line():
    from dynamics.theory.muon import parse_shape
    from dynamics.jobs.simulate import SimConfig, check_config
    from training.config import from_options

    with pytest.raises(RidgelineError, match="1-D tensor"):
        Muon([torch.nn.Parameter(torch.ones(5))])
    with pytest.raises(RidgelineError, match="1 dimension"):
        parse_shape("256")
    with pytest.raises(RidgelineError, match="--eps has no meaning"):
        from_options(optimizer="muon", eps=1e-8)
    with pytest.raises(RidgelineError, match="--beta1"):
        from_options(optimizer="muon", beta1=0.9)
    with pytest.raises(RidgelineError, match="--adjust-lr"):
        from_options(optimizer="adamw", adjust_lr="original")
    with pytest.raises(RidgelineError, match="needs --shape"):
        check_config(SimConfig(rule="muon"))
    with pytest.raises(RidgelineError, match="apply to --rule muon"):
        check_config(SimConfig(rule="nesterov", shape="8x8"))


def test_cli_bad_muon_input_exits_2(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    for args in (["train", "--out", str(tmp_path / "r"), "--optimizer", "muon", "--eps", "1e-8"],
                 ["simulate", "--out", str(tmp_path / "s"), "--rule", "muon", "--shape", "256"],
                 ["derive", "--rule", "muon", "--at", "lr=0.05,wd=0.1"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()


@pytest.mark.parametrize("which", ["torch", "ridgeline"])
def test_monitor_follows_muon_in_any_loop(which, tmp_path):
    """torch.optim.Muon on a linear layer's matrix, or ridgeline's on a conv, in a plain loop:
    the monitor maps the group onto rule muon and logs |O|²/P and cos(w, O)."""
    from training.monitor import Monitor

    torch.manual_seed(0)
    if which == "torch":
        model = torch.nn.Sequential(torch.nn.Linear(12, 16, bias=False), torch.nn.BatchNorm1d(16), torch.nn.Linear(16, 3))
        opt = torch.optim.Muon([model[0].weight], lr=0.02, weight_decay=0.1)
        x = torch.randn(32, 12)
    else:
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, bias=False), torch.nn.BatchNorm2d(8), torch.nn.Flatten(),
                                    torch.nn.LazyLinear(3))
        model(torch.randn(2, 3, 6, 6))
        opt = Muon([{"params": [model[0].weight]}, {"params": list(model[1].parameters()) + list(model[3].parameters()),
                                                   "sgd": "nesterov"}], lr=0.02, weight_decay=0.1)
        x = torch.randn(32, 3, 6, 6)
    y = torch.randint(0, 3, (32,))
    with Monitor(model, opt, out=str(tmp_path / "run"), every=1) as monitor:
        for _ in range(4):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        norms, _ = monitor.fetch()
        config = monitor.config()
    assert config["rule"] == "muon" and config["adjust_lr"] == "original"
    first = norms[(norms.step > 0) & (norms.layer == "0.weight")]
    assert np.isfinite(first.update_power_ratio).all() and (first.update_power_ratio > 0).all()
    assert (first.normalised_grad_radial.abs() <= 1).all()


def test_validate_predicts_muon_layers_from_their_matrix(tmp_path):
    """A monitored run with ridgeline's Muon: validate predicts the conv with rule muon on its
    (out, in·k·k) matrix and the BN tensors with Nesterov SGD at their own α, ρ."""
    from dynamics.theory.dispatch import predict
    from dynamics.jobs.validate import ValidateConfig, compare, load_run
    from training.monitor import Monitor

    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, bias=False), torch.nn.BatchNorm2d(8),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    opt = Muon([{"params": [model[0].weight]}, {"params": list(model[1].parameters()), "sgd": "nesterov",
                                                "weight_decay": 5e-4}], lr=0.05, weight_decay=0.1, momentum=0.9)
    x, y = torch.randn(16, 3, 6, 6), torch.randint(0, 8, (16,))
    with Monitor(model, opt, out=str(tmp_path / "run"), every=1):
        for _ in range(30):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    steps = compare(load_run(tmp_path / "run"), ValidateConfig(run_dir=str(tmp_path / "run")))
    conv = steps[(steps.layer == "0.weight") & (steps.step > 0)]
    expected = predict("muon", 0.05, 0.1, 0.9, shape=(8, 27)).weight_norm
    np.testing.assert_allclose(conv.predicted_norm_white, expected, rtol=1e-12)
    bn = steps[(steps.layer == "1.weight") & (steps.step > 0)]
    assert np.isfinite(bn.relaxation_steps).all()  # Nesterov SGD's at α = 5e-4, not Muon's


def test_transfer_and_slices_know_muons_invariant():
    from dynamics.jobs.slices import slice_claims
    from dynamics.jobs.transfer import TransferConfig, transfer

    result = transfer(TransferConfig(source={"lr": 0.05, "wd": 0.1, "momentum": 0.95, "batch_size": 64},
                                     target={"wd": 0.2}, rule="muon"))
    assert result.after["lr"] == pytest.approx(0.025)
    assert [i.name for i in result.invariants if i.kept][0] == "lr*wd"
    assert result.relaxation_steps[0] == pytest.approx(-1 / (2 * np.log(1 - 0.005)))
    with pytest.raises(RidgelineError, match="only lr\\*wd"):
        transfer(TransferConfig(source={"lr": 0.05, "wd": 0.1}, target={"batch_size": 128}, rule="muon"))
    claims = slice_claims("muon")
    assert claims["lr_x_wd"] == ("lr*wd", -1.0)
    assert claims["lr_x_batch_size"] == (None, None) and claims["lr_x_one_minus_momentum"] == (None, None)
