"""TrainConfig: Page's defaults, the summed-loss conversion, the schedule, validation."""

import dataclasses

import pytest
import torch

from dynamics.util.errors import RidgelineError
from dynamics.rules import RULES
from training.config import TrainConfig, check, lr_at, sgd_arguments


def test_defaults_are_the_seeds():
    c = TrainConfig()
    assert (c.batch_size, c.lr, c.wd, c.momentum, c.nesterov, c.epochs) == (512, 0.4, 5e-4, 0.9, True, 24)
    assert c.rule == "nesterov" and c.warmup == 5
    assert TrainConfig(momentum=0).rule == "sgd" and TrainConfig(nesterov=False).rule == "heavy-ball"
    assert c.to_dict()["rule"] == "nesterov"
    assert all(isinstance(getattr(c, f.name), (int, float, bool, str, type(None)))
               for f in dataclasses.fields(c))


@pytest.mark.parametrize("nesterov", [True, False])
def test_summed_loss_arguments_take_the_same_step_as_mean_loss_ones(nesterov):
    """Page's SGD(lr=λ/N, wd=α·N) on Σℓ equals SGD(lr=λ, wd=α) on mean ℓ, over 3 steps."""
    torch.manual_seed(0)
    n, lam, alpha, rho = 8, 0.4, 5e-4, 0.9
    x, target, w0 = torch.randn(n, 5), torch.randn(n), torch.randn(5)
    results = []
    for loss in ("mean", "sum"):
        w = w0.clone().requires_grad_()
        opt = torch.optim.SGD([w], **sgd_arguments(lam, alpha, rho, nesterov, n, loss=loss))
        for _ in range(3):
            per_example = (x @ w - target) ** 2
            opt.zero_grad()
            (per_example.mean() if loss == "mean" else per_example.sum()).backward()
            opt.step()
        results.append(w.detach())
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_torch_sgd_with_these_arguments_is_the_dynamics_rule(momentum, nesterov):
    torch.manual_seed(1)
    config = TrainConfig(lr=0.3, wd=0.01, momentum=momentum, nesterov=nesterov)
    w = torch.randn(6, requires_grad=True)
    opt = torch.optim.SGD([w], **sgd_arguments(config.lr, config.wd, momentum, nesterov, 512))
    w_rule, v_rule = w.detach().clone(), torch.zeros(6)
    for _ in range(3):
        g = torch.randn(6)
        w.grad = g.clone()
        opt.step()
        w_rule, v_rule = RULES[config.rule](w_rule, v_rule, g, config.lr, config.wd, momentum)
    torch.testing.assert_close(w.detach(), w_rule)


def test_piecewise_schedule_has_the_seeds_knots_scaled_to_the_run():
    seed = TrainConfig()
    assert [lr_at(seed, t) for t in (0, 2.5, 5, 14.5, 24)] == pytest.approx([0, 0.2, 0.4, 0.2, 0])
    short = TrainConfig(epochs=12)
    assert lr_at(short, 2.5) == pytest.approx(0.4) and lr_at(short, 12) == 0
    constant = TrainConfig(epochs=10, schedule="constant", warmup_epochs=1)
    assert [lr_at(constant, t) for t in (0.5, 1, 5, 10)] == pytest.approx([0.2, 0.4, 0.4, 0.4])


@pytest.mark.parametrize("field, value, match", [
    ("epochs", 0, "epochs must be an integer >= 1"),
    ("width", 0.0, "width must be a number > 0"),
    ("width", -1.0, "width must be a number > 0"),
    ("device", "tpu", "device must be"),
    ("momentum", 1.0, "momentum must be in"),
    ("batch_size", 0, "batch_size must be"),
    ("schedule", "cosine", "schedule must be"),
    ("log_every", 0, "log_every must be"),
    ("lr", float("nan"), "lr must be"),
])
def test_check_rejects_unusable_values_in_one_line(field, value, match):
    with pytest.raises(RidgelineError, match=match) as info:
        check(dataclasses.replace(TrainConfig(), **{field: value}))
    assert "\n" not in str(info.value)
