"""NormLogger: each logged column is what its docstring says, measured independently."""

import pytest
import torch

from dynamics.geometry import angle
from training.config import sgd_arguments
from training.model import ResNet9
from training.norms import COLUMNS, NormLogger


def _step(model, opt, logger, step, x, y):
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    if logger.wants(step):
        logger.before(step)
    opt.step()
    if logger.wants(step):
        logger.after(step, 1, opt.param_groups[0]["lr"])


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_logged_values_match_direct_measurements(momentum):
    torch.manual_seed(0)
    wd, lr = 5e-3, 0.2
    model = ResNet9(0.0625)
    opt = torch.optim.SGD(model.parameters(), **sgd_arguments(lr, wd, momentum, True, 16))
    logger = NormLogger(model, opt, every=2, per_channel=True, wd=wd)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    _step(model, opt, logger, 1, x, y)  # not logged
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _step(model, opt, logger, 2, x, y)
    norms, channels = logger.fetch()
    assert list(norms.columns) == COLUMNS
    assert len(norms) == len(before) and set(norms["step"]) == {2} and set(norms["lr"]) == {lr}
    for (name, p), row in zip(model.named_parameters(), norms.itertuples()):
        assert row.layer == name
        w, g = before[name], p.grad  # p.grad: the loss gradient alone (torch adds α w internally)
        assert row.weight_norm == pytest.approx(w.norm().item(), rel=1e-5)
        assert row.grad_norm == pytest.approx(g.norm().item(), rel=1e-5)
        if w.norm() > 0:
            assert row.angular_update == pytest.approx(angle(w.flatten(), p.detach().flatten(), 0).item(), rel=1e-5)
        v = opt.state[p]["momentum_buffer"] if momentum else g + wd * w
        assert row.momentum_norm == pytest.approx(v.norm().item(), rel=1e-5)
    # per channel: squared channel norms add up to the tensor's
    summed = channels.assign(w2=channels.weight_norm ** 2).groupby("layer", sort=False).w2.sum()
    whole = norms.set_index("layer").weight_norm ** 2
    assert set(summed.index) == {n for n, p in model.named_parameters() if p.dim() >= 2}
    for name, value in summed.items():
        assert value == pytest.approx(whole[name], rel=1e-4)
    assert logger.fetch()[0].empty  # fetch hands over and clears


def test_logging_does_not_change_the_training_trajectory():
    results = []
    for every in (1, 1000):
        torch.manual_seed(0)
        model = ResNet9(0.0625)
        opt = torch.optim.SGD(model.parameters(), **sgd_arguments(0.2, 5e-4, 0.9, True, 8))
        logger = NormLogger(model, opt, every=every)
        torch.manual_seed(1)
        for step in range(1, 4):
            _step(model, opt, logger, step, torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)))
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(results[0], results[1])
