"""The ``bn-net`` toy: a small batch-norm network on synthetic data, trained by
torch.optim.SGD, whose pre-BN weights are exactly scale-invariant.

    x ∈ R^D (Gaussian) → Linear(D, D, no bias) → BN → ReLU → Linear(D, D, no bias) [w]
      → BN → ReLU → Linear(D, 10) → cross-entropy

Labels come from a fixed random teacher network, so the task has signal. Batch norm
after each hidden linear layer makes the loss invariant to rescaling its weight
(per output row, hence also as a whole), so g ⟂ w and |g| ∝ 1/|w| hold exactly, but
the gradient is a real one: it has a mean and is correlated from step to step, which
the derivation's noise model ignores. The measured tensor w is the second hidden
weight (D × D).

All R = settings × runs networks train together: one torch.optim.SGD whose parameter
groups carry each network's own (λ, α, ρ) from :func:`dynamics.rules.torch_sgd_kwargs`
(the update rule is torch's, not written again), one backward pass through the sum of
the networks' losses (each network only sees its own minibatch of N examples).
"""

from __future__ import annotations

import numpy as np

EXAMPLES = 4096  # size of the synthetic training set
CLASSES = 10


def _net(dim: int):
    import torch.nn as nn

    return nn.Sequential(nn.Linear(dim, dim, bias=False), nn.BatchNorm1d(dim), nn.ReLU(),
                         nn.Linear(dim, dim, bias=False), nn.BatchNorm1d(dim), nn.ReLU(),
                         nn.Linear(dim, CLASSES))


def synthetic_data(dim: int, gen):
    """EXAMPLES Gaussian inputs labelled by a random teacher (argmax of a 2-layer net)."""
    import torch

    x = torch.randn(EXAMPLES, dim, generator=gen)
    w1 = torch.randn(dim, dim, generator=gen) / dim**0.5
    w2 = torch.randn(dim, CLASSES, generator=gen) / dim**0.5
    y = (torch.relu(x @ w1) @ w2).argmax(1)
    return x, y


def train_bn_nets(config, settings, w0: np.ndarray, recorder, progress=None) -> None:
    """Train settings × runs networks; record the hidden pre-BN weight every k steps."""
    import torch
    import torch.nn.functional as F

    from dynamics.sim.engine import schedule_factor
    from dynamics.sim.geometry import angle
    from dynamics.rules import torch_sgd_kwargs

    torch.manual_seed(config.seed)
    dev, dtype = torch.device(config.device), getattr(torch, config.dtype)
    gen = torch.Generator().manual_seed(config.seed)
    x, y = (t.to(dev) for t in synthetic_data(config.dim, gen))
    runs = config.runs
    rows = settings.loc[settings.index.repeat(runs)].reset_index(drop=True)
    nets = torch.nn.ModuleList(_net(config.dim) for _ in range(len(rows))).to(dev, dtype)
    groups = []
    for net, row, norm in zip(nets, rows.itertuples(), np.repeat(w0, runs)):
        w = net[3].weight
        with torch.no_grad():
            w.mul_(norm / w.norm())
        groups.append({"params": list(net.parameters()),
                       **torch_sgd_kwargs(config.rule, row.lr, row.wd, row.momentum)})
    opt = torch.optim.SGD(groups)
    peak = rows.lr.to_numpy(float)
    batch = rows.batch_size.to_numpy(int)
    steps = torch.full((len(rows), 1), float(config.steps))
    for t in range(config.steps):
        factor = float(schedule_factor(config.schedule, t, steps[:1])[0, 0])
        for group, lr in zip(opt.param_groups, peak):
            group["lr"] = lr * factor
        opt.zero_grad(set_to_none=True)
        losses = []
        for net, n in zip(nets, batch):
            idx = torch.randint(EXAMPLES, (int(n),), generator=gen).to(dev)
            losses.append(F.cross_entropy(net(x[idx]), y[idx]))
        torch.stack(losses).sum().backward()
        record = (t + 1) % config.record_every == 0
        if record:
            before = torch.stack([net[3].weight.detach().reshape(-1).clone() for net in nets])
            grads = torch.stack([net[3].weight.grad.reshape(-1) for net in nets])
        opt.step()
        if record:
            after = torch.stack([net[3].weight.detach().reshape(-1) for net in nets])
            recorder.add(t + 1, (peak * factor)[::runs], after.norm(dim=1), angle(before, after),
                         grads.norm(dim=1) * before.norm(dim=1), torch.stack(losses).detach())
        if progress is not None and ((t + 1) % 16 == 0 or t + 1 == config.steps):
            progress(t + 1)
