"""The inner loop: model and optimiser for a config, one epoch of steps, evaluation.

Kept apart from the run bookkeeping (training.trainer) so the throughput benchmark
times exactly the steps a run takes. Tensors are channels_last; on CUDA the
forward/backward runs under bf16 autocast, optionally through torch.compile; the only
host synchronisations are the divergence checks on logged steps and the epoch end.
On CPU everything is float32 and deterministic for a given seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from dynamics.util.errors import RidgelineError
from training.config import TrainConfig, initial_scale, lr_at
from training.model import ResNet9, scale_invariant
from training.monitor import Monitor


def resolve_device(name: str) -> torch.device:
    """"auto" → cuda if available else cpu; "cuda[:N]" must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RidgelineError(f"device {name!r} requested but torch sees no CUDA device "
                                 f"(torch {torch.__version__}); use --device cpu or auto")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise RidgelineError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA "
                                 "device(s) visible; use cuda:0 or auto")
    elif name != "cpu":
        raise RidgelineError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    return torch.device(name)


@dataclass
class Setup:
    """Everything the steps need: model, its (maybe compiled) forward, optimiser."""

    model: torch.nn.Module
    forward: Callable
    optimizer: torch.optim.Optimizer
    device: torch.device
    amp: Optional[torch.dtype]  # autocast dtype (bf16 on CUDA) or None
    memory_format: torch.memory_format

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp, enabled=self.amp is not None)


def build(config: TrainConfig, device: torch.device) -> Setup:
    """Seeded ResNet9(width) and the config's optimiser on the mean loss
    (:func:`training.optim.make_optimizer`: torch.optim.SGD, AdamW, Adam, Lion or Muon), with
    α on the tensors ``config.wd_on`` names and ``config.other_lr``/``other_wd`` on the
    tensors without the symmetry (:func:`training.optim.param_groups`); the
    scale-invariant conv weights start at :func:`training.config.initial_scale` times their
    usual values (``config.init_scale``, or (λ/λ₀)^e when it is "follow")."""
    from training.optim import make_optimizer, param_groups

    torch.manual_seed(config.seed)
    cuda = device.type == "cuda"
    memory_format = torch.channels_last  # faster on CUDA and, with oneDNN, on CPU (about 1.3x)
    model = ResNet9(config.width).to(device=device, memory_format=memory_format)
    init_scale = initial_scale(config)
    if init_scale != 1.0:  # |w₀| of the scale-invariant convs only; the network's function is unchanged
        flags = scale_invariant(model)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if flags[name]:
                    p.mul_(init_scale)
    scale = 1.0 if config.other_lr is None else config.other_lr / config.lr
    groups = param_groups(model, config.wd_on, scale, config.other_wd, split=config.optimizer == "muon")
    optimizer = make_optimizer(params=groups,
                               **config.optimizer_arguments())
    forward = torch.compile(model) if config.compile else model
    if cuda:
        torch.backends.cudnn.benchmark = True
    return Setup(model, forward, optimizer, device, torch.bfloat16 if cuda else None, memory_format)


@dataclass
class EpochResult:
    step: int  # steps done since the start of the run, after this epoch
    loss_sum: float  # Σ over images of the training loss
    correct: int
    images: int
    diverged: bool


def train_epoch(setup: Setup, config: TrainConfig, batches, epoch: int, step: int,
                steps_per_epoch: int, monitor: Optional[Monitor] = None,
                on_step: Optional[Callable] = None, progress: Optional[Callable] = None) -> EpochResult:
    """One pass over ``batches`` (x, y); ``epoch`` counts from 1, ``step`` is the
    number of steps already done. Learning rate set before every step from
    :func:`training.config.lr_at` at the step's middle, (s − ½)/steps_per_epoch for
    the s-th step (s from 1). ``monitor`` (a training.monitor.Monitor attached to
    ``setup.optimizer``) measures around the steps through the optimiser's step hooks; it
    gets the epoch for its table and must count the same steps. Stops at the first
    non-finite loss it sees (every step on CPU; on logged steps and at the end on CUDA,
    to avoid host syncs)."""
    model, opt = setup.model, setup.optimizer
    model.train()
    sync_each_step = setup.device.type != "cuda"
    sums = torch.zeros(2, dtype=torch.float64, device=setup.device)  # Σ loss·n, Σ correct
    images, diverged = 0, False
    if monitor is not None:
        monitor.epoch = epoch
        assert monitor.step == step, "the monitor must count the steps the loop counts"
    for x, y in batches:
        step += 1
        lr = lr_at(config, (step - 0.5) / steps_per_epoch)
        for group in opt.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)  # --other-lr: the same schedule, scaled
        x = x.contiguous(memory_format=setup.memory_format)
        with setup.autocast():
            logits = setup.forward(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        logged = monitor is not None and monitor.wants(step)
        opt.step()  # the monitor, if any, measures around it through the optimizer's step hooks
        with torch.no_grad():  # stays on the device: no host sync
            sums += torch.stack([loss.detach().double() * len(y), (logits.argmax(1) == y).sum().double()])
        images += len(y)
        if on_step is not None:
            on_step(step, model, opt)
        if sync_each_step or logged:
            value = float(loss.detach())
            if progress is not None:
                progress(step, value)
            if not math.isfinite(value):
                diverged = True
                break
    loss_sum, correct = sums.tolist()
    if not diverged and not math.isfinite(loss_sum):
        diverged = True
    return EpochResult(step, loss_sum, int(correct), int(images), diverged)


@torch.no_grad()
def evaluate(setup: Setup, images, batch_size: int = 1024) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the model in eval mode on DeviceImages."""
    setup.model.eval()
    loss = torch.zeros((), dtype=torch.float64, device=setup.device)
    correct = torch.zeros((), dtype=torch.float64, device=setup.device)
    for x, y in images.eval_batches(batch_size):
        with setup.autocast():
            logits = setup.forward(x.contiguous(memory_format=setup.memory_format))
        loss += F.cross_entropy(logits.float(), y, reduction="sum").double()
        correct += (logits.argmax(1) == y).sum()
    setup.model.train()
    n = len(images)
    return float(loss) / n, float(correct) / n
