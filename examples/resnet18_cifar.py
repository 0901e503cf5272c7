"""Your own training loop, watched by ridgeline: torchvision's ResNet-18 on CIFAR-10.

    python examples/resnet18_cifar.py --data cifar10.npz --out runs/resnet18
    ridgeline validate runs/resnet18          # the script runs this itself at the end

A plain PyTorch loop (nothing from ridgeline's trainer): torchvision.models' ResNet-18
(BasicBlock, [2, 2, 2, 2]) adapted to 32x32 images (3x3 stem with stride 1, no max-pool)
at a CPU-sized width, a class-balanced subset of CIFAR-10 with random flips,
torch.optim.SGD with Nesterov momentum and weight decay, torch's OneCycleLR with its
default arguments (so the momentum cycles 0.95 → 0.85 → 0.95 against λ). ridgeline
enters in one line, ``Monitor(model, optimizer, out=..., batch=...)``, which probes the
network for its scale-invariant tensors, logs every 10th step and records λ, α and ρ
of every step; afterwards ``ridgeline validate`` compares every layer with the
equilibrium and the trajectory Page's analysis predicts along those per-step values
(David Page, "How to Train Your ResNet 5: Hyperparameters", Myrtle AI blog).

``--wd2 A`` puts the second half of the conv weights (in the order of
``model.named_parameters()``) in a second param group with weight decay A: validate
predicts each tensor with its own group's α.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from training.monitor import Monitor

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


class ResNet18Cifar(ResNet):
    """torchvision's ResNet-18 with every channel count times ``width``, a 3x3 stride-1
    stem and no max-pool, for 32x32 images."""

    def __init__(self, width: float = 0.25, classes: int = 10):
        self.width = width
        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=classes)
        stem = round(64 * width)
        self.conv1 = nn.Conv2d(3, stem, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.maxpool = nn.Identity()
        self.fc = nn.Linear(round(512 * width), classes)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64:  # the first stage: torchvision starts from 64 stem channels
            self.inplanes = round(64 * self.width)
        return super()._make_layer(block, round(planes * self.width), blocks, stride, dilate)


def load(path: str, n: int, test: int):
    """n class-balanced training images and ``test`` test images as normalised tensors."""
    data = np.load(path)
    y = data["y_train"].astype(np.int64)
    keep = np.sort(np.concatenate([np.flatnonzero(y == c)[: n // 10] for c in range(10)]))

    def tensor(x):
        x = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
        return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)

    return (tensor(data["x_train"][keep]), torch.from_numpy(y[keep]),
            tensor(data["x_test"][:test]), torch.from_numpy(data["y_test"][:test].astype(np.int64)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("RIDGELINE_DATA"), help="cifar10.npz (default $RIDGELINE_DATA)")
    p.add_argument("--out", default="runs/resnet18", help="run directory the monitor writes")
    p.add_argument("--width", type=float, default=0.125, help="channel multiplier (1 = torchvision's)")
    p.add_argument("--train-size", type=int, default=2048)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.2, help="OneCycleLR's peak λ")
    p.add_argument("--wd", type=float, default=5e-3, help="α, coupled weight decay")
    p.add_argument("--momentum", type=float, default=0.9,
                   help="ρ before the first step (OneCycleLR then cycles it 0.95 → 0.85 → 0.95)")
    p.add_argument("--wd2", type=float, default=None,
                   help="α of a second param group holding the second half of the conv weights")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if not args.data:
        raise SystemExit("give --data cifar10.npz or set RIDGELINE_DATA")
    torch.manual_seed(args.seed)
    x, y, x_test, y_test = load(args.data, args.train_size, 1000)
    model = ResNet18Cifar(args.width)
    params = list(model.parameters())
    if args.wd2 is not None:
        convs = [q for name, q in model.named_parameters() if q.dim() == 4]
        second = {id(q) for q in convs[len(convs) // 2:]}
        params = [{"params": [q for q in params if id(q) not in second]},
                  {"params": [q for q in params if id(q) in second], "weight_decay": args.wd2}]
    optimizer = torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, nesterov=True,
                                weight_decay=args.wd)
    steps = args.epochs * (len(x) // args.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=steps)  # defaults

    monitor = Monitor(model, optimizer, out=args.out, every=10, batch=x[:256], overwrite=True)  # ridgeline

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(x))
        for i in range(len(x) // args.batch_size):
            idx = order[i * args.batch_size:(i + 1) * args.batch_size]
            xb = x[idx]
            flip = torch.rand(len(idx)) < 0.5
            xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(3), xb)
            loss = F.cross_entropy(model(xb), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        with torch.no_grad():
            acc = (model(x_test).argmax(1) == y_test).float().mean().item()
        print(f"epoch {epoch}: loss {loss.item():.3f}, test accuracy {acc:.1%}, "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    monitor.close()

    from dynamics.jobs.validate import ValidateConfig, validate

    validate(ValidateConfig(args.out))


if __name__ == "__main__":
    main()
