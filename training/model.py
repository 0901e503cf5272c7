"""Page's DAWNBench ResNet-9 ("How to Train Your ResNet", parts 4-5), with a width knob.

    prep    conv 3→64, BN, ReLU                                   32x32
    layer1  conv 64→128, BN, ReLU, max-pool 2                     16x16
            + residual: (conv 128→128, BN, ReLU) x 2
    layer2  conv 128→256, BN, ReLU, max-pool 2                    8x8
    layer3  conv 256→512, BN, ReLU, max-pool 2                    4x4
            + residual: (conv 512→512, BN, ReLU) x 2
    head    global max-pool, linear 512→10 without bias, logits x 0.125

Every conv is 3x3, padding 1, without bias, and followed by BatchNorm (scale
initialised to 1, shift to 0), so every conv weight is scale-invariant: the loss
is unchanged under w → c·w. The linear layer and the BN parameters are not.
``width`` multiplies every channel count (64·width, …, rounded, at least 1).
"""

from __future__ import annotations

import torch
from torch import nn

CHANNELS = {"prep": 64, "layer1": 128, "layer2": 256, "layer3": 512}  # at width 1
LOGIT_SCALE = 0.125  # Page's "Mul(0.125)" on the logits
CLASSES = 10


def channels(width: float) -> dict[str, int]:
    """Channel count of each stage at ``width``."""
    return {k: max(1, round(c * width)) for k, c in CHANNELS.items()}


class ConvBN(nn.Sequential):
    """conv 3x3 (no bias) → BatchNorm → ReLU."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        nn.init.ones_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)
        self.relu = nn.ReLU(inplace=True)


class Residual(nn.Module):
    """x + res2(res1(x)), both ConvBN at constant width."""

    def __init__(self, c: int):
        super().__init__()
        self.res1 = ConvBN(c, c)
        self.res2 = ConvBN(c, c)

    def forward(self, x):
        return x + self.res2(self.res1(x))


class ResNet9(nn.Module):
    """Page's ResNet-9; ``width`` scales every channel count (1.0 = 6.57 M weights)."""

    def __init__(self, width: float = 1.0):
        super().__init__()
        if not width > 0:
            from dynamics.util.errors import RidgelineError

            raise RidgelineError(f"width must be > 0, got {width}")
        c = channels(width)
        self.width = width
        self.prep = ConvBN(3, c["prep"])
        self.layer1 = nn.Sequential(ConvBN(c["prep"], c["layer1"]), nn.MaxPool2d(2), Residual(c["layer1"]))
        self.layer2 = nn.Sequential(ConvBN(c["layer1"], c["layer2"]), nn.MaxPool2d(2))
        self.layer3 = nn.Sequential(ConvBN(c["layer2"], c["layer3"]), nn.MaxPool2d(2), Residual(c["layer3"]))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.linear = nn.Linear(c["layer3"], CLASSES, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.prep(x))))
        return self.linear(self.pool(x).flatten(1)) * LOGIT_SCALE


def scale_invariant(model: nn.Module) -> dict[str, bool]:
    """For every parameter name: True for a conv weight followed by BatchNorm.

    Read off the module structure, not from names typed in by hand: a convolution whose
    next module, in the order the modules were registered, is a BatchNorm over its output
    channels (a ConvBN's ``conv``, torchvision's ``conv1``/``bn1``). Everything else (the
    linear layer, BN scale and shift) is False. Registration order is not data flow:
    :func:`training.probe.probe` measures it on a batch instead.
    """
    flags = {name: False for name, _ in model.named_parameters()}
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    for (name, module), (_, after) in zip(leaves, leaves[1:]):
        if isinstance(module, nn.modules.conv._ConvNd) and isinstance(after, nn.modules.batchnorm._BatchNorm) \
                and after.num_features == module.out_channels and f"{name}.weight" in flags:
            flags[f"{name}.weight"] = True
    return flags


def weight_count(model: nn.Module) -> int:
    """Conv and linear weights (Page's 6.57 M at width 1); BN parameters excluded."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def forward_flops(model: nn.Module, image_size: int = 32) -> float:
    """Forward FLOPs per image of the conv and linear layers (2 per multiply-add),
    measured by hooks on one forward pass; about 0.76e9 at width 1."""
    total = [0.0]

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            per_out = module.weight[0].numel()  # c_in · k · k multiply-adds per output value
            total[0] += 2.0 * per_out * output[0].numel()
        else:
            total[0] += 2.0 * module.weight.numel()

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    handles = [m.register_forward_hook(hook) for m in layers]
    device = next(model.parameters()).device
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size, device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total[0]
