"""Page's ResNet-9: layer shapes, weight count, FLOPs, and which tensors are scale-invariant."""

import pytest
import torch
from torch import nn

from training.model import ResNet9, channels, forward_flops, scale_invariant, weight_count

# Page's network, written out from the description: (layer, c_in, c_out) per 3x3 conv
PAGE_CONVS = [("prep", 3, 64), ("layer1", 64, 128), ("res1a", 128, 128), ("res1b", 128, 128),
              ("layer2", 128, 256), ("layer3", 256, 512), ("res3a", 512, 512), ("res3b", 512, 512)]


def test_layer_shapes_and_weight_count_are_pages():
    model = ResNet9(1.0)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [tuple(c.weight.shape) for c in convs] == [(o, i, 3, 3) for _, i, o in PAGE_CONVS]
    assert all(c.bias is None for c in convs)
    assert tuple(model.linear.weight.shape) == (10, 512) and model.linear.bias is None
    expected = sum(9 * i * o for _, i, o in PAGE_CONVS) + 512 * 10
    assert weight_count(model) == expected
    assert round(expected / 1e6, 2) == 6.57
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == len(convs)
    assert all(torch.equal(b.weight, torch.ones_like(b.weight)) for b in bns)


def test_forward_shapes_and_logit_scale():
    model = ResNet9(0.25).eval()
    x = torch.randn(5, 3, 32, 32)
    assert model(x).shape == (5, 10)
    features = model.pool(model.layer3(model.layer2(model.layer1(model.prep(x))))).flatten(1)
    assert features.shape == (5, 128)
    torch.testing.assert_close(model(x), model.linear(features) * 0.125)


def test_forward_flops_is_pages_076_gflop_and_scales_with_width_squared():
    assert forward_flops(ResNet9(1.0)) == pytest.approx(0.76e9, rel=0.01)
    assert forward_flops(ResNet9(0.5)) == pytest.approx(forward_flops(ResNet9(1.0)) / 4, rel=0.01)


def test_width_multiplies_every_stage():
    assert channels(0.25) == {"prep": 16, "layer1": 32, "layer2": 64, "layer3": 128}
    assert channels(0.001)["prep"] == 1


def test_scale_invariant_flags_are_measured_true():
    """Rescaling a flagged tensor leaves the training-mode output unchanged; rescaling
    the unflagged linear weight does not."""
    torch.manual_seed(0)
    model = ResNet9(0.125).train()
    flags = scale_invariant(model)
    assert sum(flags.values()) == 8
    assert not flags["linear.weight"] and not flags["prep.bn.weight"] and not flags["prep.bn.bias"]
    x = torch.randn(8, 3, 32, 32)
    reference = model(x)
    params = dict(model.named_parameters())
    for name, invariant in flags.items():
        if params[name].dim() < 2:
            continue
        with torch.no_grad():
            params[name].mul_(3.0)
        changed = not torch.allclose(model(x), reference, rtol=1e-4, atol=1e-5)
        with torch.no_grad():
            params[name].div_(3.0)
        assert changed != invariant, name
