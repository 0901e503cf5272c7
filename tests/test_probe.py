"""training.probe: scale invariance found by scaling tensors and rows on a batch."""

import pytest
import torch
from torch import nn

from training.model import ResNet9, scale_invariant
from training.probe import probe


@pytest.fixture(autouse=True)
def _seed(one_thread):
    torch.manual_seed(0)


def invariant_set(result):
    return {name for name, flag in result.invariant.items() if flag}


def all_rows(result, name):
    return bool(result.row_invariant[name].all())


def test_resnet9_exactly_its_eight_conv_weights_every_row_on_its_own():
    model = ResNet9(0.125)
    result = probe(model, torch.randn(16, 3, 32, 32))
    convs = {n + ".weight" for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    assert len(convs) == 8 and invariant_set(result) == convs
    assert all(all_rows(result, n) for n in convs)
    assert not result.row_invariant["linear.weight"].any()


def test_resnet18_every_conv_followed_by_bn_but_not_fc():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "resnet18_cifar.py"
    spec = importlib.util.spec_from_file_location("resnet18_cifar", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)  # examples/ is a folder of scripts, not a package
    ResNet18Cifar = example.ResNet18Cifar

    model = ResNet18Cifar(0.125)
    result = probe(model, torch.randn(8, 3, 32, 32))
    convs = {n + ".weight" for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    assert len(convs) == 20 and invariant_set(result) == convs  # incl. the downsample 1x1 convs
    assert {n for n, f in scale_invariant(model).items() if f} == convs  # the structural fallback agrees
    assert not result.invariant["fc.weight"] and not result.row_invariant["fc.weight"].any()


def test_layernorm_mlp_whole_tensor_only():
    model = nn.Sequential(nn.Linear(8, 16, bias=False), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 4))
    result = probe(model, torch.randn(32, 8))
    assert invariant_set(result) == {"0.weight"}
    assert not result.row_invariant["0.weight"].any()  # LN mixes the rows: none on its own


class Standardised(nn.Conv2d):
    """Weight standardisation: every filter to zero mean and unit variance before the conv."""

    def forward(self, x):
        w = self.weight
        w = (w - w.mean((1, 2, 3), keepdim=True)) / (w.std((1, 2, 3), keepdim=True) + 1e-5)
        return self._conv_forward(x, w, self.bias)


def test_groupnorm_and_weight_standardised_convs():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.GroupNorm(2, 8), nn.ReLU(),
                          Standardised(8, 6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(6, 3))
    result = probe(model, torch.randn(8, 3, 12, 12))
    assert invariant_set(result) == {"0.weight", "3.weight"}
    assert not result.row_invariant["0.weight"].any()  # GroupNorm: four channels per group
    assert all_rows(result, "3.weight")  # standardised: each filter by itself


class HalfNormalised(nn.Module):
    """A linear layer whose first three outputs are batch-normalised and the rest are not."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 6, bias=False)
        self.bn = nn.BatchNorm1d(3)
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        h = self.linear(x)
        return self.head(torch.cat([self.bn(h[:, :3]), h[:, 3:]], 1))


def test_rows_invariant_on_their_own_in_a_tensor_that_is_not():
    model = HalfNormalised()
    result = probe(model, (torch.randn(32, 8), torch.zeros(32)))
    assert not result.invariant["linear.weight"]
    assert result.row_invariant["linear.weight"].tolist() == [True] * 3 + [False] * 3


def test_probing_changes_nothing_in_the_model():
    model = ResNet9(0.0625).train()
    with torch.no_grad():
        model(torch.randn(8, 3, 32, 32))  # give the BN layers some running statistics
    state = {k: v.clone() for k, v in model.state_dict().items()}
    result = probe(model, torch.randn(8, 3, 32, 32))
    assert model.training
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    table = result.table()
    assert table.row_count == len(state) - 3 * 8  # a row per parameter (BN buffers excluded)
