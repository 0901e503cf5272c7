"""``--wd-on scale-invariant`` (α on the conv weights only) and ``--other-lr``/``--other-wd``
(λ, α of the tensors without the symmetry), checked against torch.optim.SGD by hand."""

import json

import pytest
import torch
from torch import nn

from dynamics.util.errors import RidgelineError
from test_train import tiny_config
from training import train
from training.config import check
from training.data import load
from training.loop import build, train_epoch
from training.trainer import epoch_seed

ALPHA = 5e-3


def conv_and_rest(model: nn.Module) -> tuple[list, list]:
    """By hand: the ResNet-9's conv weights (each before a BatchNorm), and every other tensor."""
    convs = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
    rest = [p for p in model.parameters() if all(p is not c for c in convs)]
    return convs, rest


def hand_sgd(model: nn.Module, config) -> torch.optim.SGD:
    convs, rest = conv_and_rest(model)
    return torch.optim.SGD([{"params": convs}, {"params": rest, "weight_decay": 0.0}], lr=config.lr,
                           momentum=config.momentum, nesterov=config.nesterov, weight_decay=config.wd)


def same_groups(a: torch.optim.Optimizer, b: torch.optim.Optimizer) -> None:
    assert len(a.param_groups) == len(b.param_groups)
    for ga, gb in zip(a.param_groups, b.param_groups):
        assert [id(p) for p in ga["params"]] == [id(p) for p in gb["params"]]
        assert {k: v for k, v in ga.items() if k != "params"} == {k: v for k, v in gb.items() if k != "params"}


def test_scale_invariant_puts_alpha_on_the_eight_convs_and_zero_elsewhere(tmp_path):
    config = tiny_config(tmp_path, wd=ALPHA, wd_on="scale-invariant")
    setup = build(config, torch.device("cpu"))
    convs, rest = conv_and_rest(setup.model)
    assert len(convs) == 8 and len(rest) == 8 * 2 + 1  # BN scale and shift per conv, the classifier
    same_groups(setup.optimizer, hand_sgd(setup.model, config))
    assert [g["weight_decay"] for g in setup.optimizer.param_groups] == [ALPHA, 0.0]


def test_the_default_is_one_group_with_alpha_everywhere_as_before(tmp_path):
    config = tiny_config(tmp_path, wd=ALPHA)
    assert config.wd_on == "all"
    setup = build(config, torch.device("cpu"))
    by_hand = torch.optim.SGD(setup.model.parameters(), lr=config.lr, momentum=config.momentum,
                              nesterov=config.nesterov, weight_decay=ALPHA)
    same_groups(setup.optimizer, by_hand)


def test_training_equals_a_hand_built_sgd_with_the_same_groups(tmp_path):
    config = tiny_config(tmp_path, wd=ALPHA, lr=0.2, wd_on="scale-invariant", epochs=2)
    final = {}
    train(config, verbose=False, on_step=lambda s, model, opt: final.update(
        {n: p.detach().clone() for n, p in model.state_dict().items()}))
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["wd_on"] == "scale-invariant" and saved["wd"] == ALPHA
    import pandas as pd

    norms = pd.read_csv(tmp_path / "run" / "norms.csv")  # what validate reads, per tensor
    assert norms.groupby("scale_invariant")["wd"].unique().map(list).to_dict() == {True: [ALPHA], False: [0.0]}

    device = torch.device("cpu")
    train_set, _, _, _ = load(config, device)
    setup = build(config, device)
    setup.optimizer = hand_sgd(setup.model, config)
    steps_per_epoch, step = len(train_set) // config.batch_size, 0
    for epoch in range(1, config.epochs + 1):
        generator = torch.Generator(device=device).manual_seed(epoch_seed(config.seed, epoch))
        batches = train_set.train_batches(config.batch_size, generator, config.cutout)
        step = train_epoch(setup, config, batches, epoch, step, steps_per_epoch).step
    assert step == 6
    for name, value in setup.model.state_dict().items():
        torch.testing.assert_close(value, final[name], rtol=0, atol=0, msg=name)

    # and it is not the default: the tensors without the symmetry end elsewhere with α on them
    default = {}
    train(tiny_config(tmp_path, wd=ALPHA, lr=0.2, epochs=2, out=str(tmp_path / "all")), verbose=False,
          on_step=lambda s, model, opt: default.update({n: p.detach().clone() for n, p in model.named_parameters()}))
    assert not torch.equal(default["linear.weight"], final["linear.weight"])
    assert not torch.equal(default["prep.bn.weight"], final["prep.bn.weight"])


def test_a_bad_wd_on_is_a_one_line_error(tmp_path):
    with pytest.raises(RidgelineError, match="wd_on must be 'all' or 'scale-invariant'"):
        check(tiny_config(tmp_path, wd_on="convs"))


def test_wd_on_passes_through_sweep_and_only_changes_keys_when_given():
    from training.search.objectives import TrainObjective

    default = TrainObjective.from_options(["--width", "0.125"]).trial({})
    explicit = TrainObjective.from_options(["--width", "0.125", "--wd-on", "all"]).trial({})
    only = TrainObjective.from_options(["--width", "0.125", "--wd-on", "scale-invariant"]).trial({})
    assert default.key == explicit.key and "wd_on" not in default.config
    assert only.key != default.key and only.config["wd_on"] == "scale-invariant"


def test_beta1_passes_through_sweep_as_train_takes_it():
    from training.search.objectives import TrainObjective

    assert TrainObjective.from_options(["--optimizer", "adamw", "--beta1", "0.8"]).base.momentum == 0.8
    with pytest.raises(RidgelineError, match="--beta1 apply to --optimizer adamw"):
        TrainObjective.from_options(["--beta1", "0.8"])


def test_a_run_from_before_the_option_resumes_as_wd_on_all(tmp_path):
    config = tiny_config(tmp_path, epochs=1)
    summary = train(config, verbose=False)
    path = tmp_path / "run" / "config.json"
    older = {k: v for k, v in json.loads(path.read_text()).items() if k != "wd_on"}
    path.write_text(json.dumps(older))
    assert train(config, resume=True, verbose=False) == summary
    with pytest.raises(RidgelineError, match="wd_on: 'all' then, 'scale-invariant' now"):
        train(tiny_config(tmp_path, epochs=1, wd_on="scale-invariant"), resume=True, verbose=False)


def test_a_sweep_over_momentum_refuses_beta1_as_it_refuses_momentum(tmp_path):
    from training.search.sweep import SweepConfig, parse_axis, run_sweep

    config = SweepConfig(objective="train", x=parse_axis("lr=0.1:0.2:2", "--x"),
                         y=parse_axis("one_minus_momentum=0.1:0.2:2", "--y"), out=str(tmp_path / "s"),
                         options=("--optimizer", "adamw", "--beta1", "0.8"))
    with pytest.raises(RidgelineError, match="--momentum is swept by --x/--y"):
        run_sweep(config)
    assert not (tmp_path / "s").exists()


def test_other_lr_and_wd_set_only_the_tensors_without_the_symmetry(tmp_path):
    """Two groups as by hand: the convs at (λ, α), the rest at α_other and λ_other on the same
    schedule; the loop sets each group's λ at every step (norms.csv logs it per tensor)."""
    config = tiny_config(tmp_path, lr=0.2, wd=ALPHA, other_lr=0.05, other_wd=1e-3, log_every=1)
    setup = build(config, torch.device("cpu"))
    convs, rest = conv_and_rest(setup.model)
    by_hand = torch.optim.SGD([{"params": convs}, {"params": rest, "weight_decay": 1e-3, "lr_scale": 0.25}],
                              lr=config.lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=ALPHA)
    same_groups(setup.optimizer, by_hand)
    train(config, verbose=False)
    import pandas as pd

    norms = pd.read_csv(tmp_path / "run" / "norms.csv")
    norms = norms[norms.step > 0]
    lr = norms.pivot_table(index="step", columns="scale_invariant", values="lr")
    torch.testing.assert_close(torch.tensor(lr[False].to_numpy()), 0.25 * torch.tensor(lr[True].to_numpy()))
    assert set(norms[~norms.scale_invariant].wd) == {1e-3} and set(norms[norms.scale_invariant].wd) == {ALPHA}


def test_other_lr_at_lr_and_other_wd_at_wd_train_exactly_as_the_default(tmp_path):
    finals = []
    for name, extra in (("default", {}), ("same", {"other_lr": 0.2, "other_wd": ALPHA})):
        final = {}
        train(tiny_config(tmp_path, lr=0.2, wd=ALPHA, out=str(tmp_path / name), **extra), verbose=False,
              on_step=lambda s, model, opt: final.update({n: p.detach().clone() for n, p in model.named_parameters()}))
        finals.append(final)
    for name, value in finals[0].items():
        torch.testing.assert_close(finals[1][name], value, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("extra,message", [({"other_wd": 1e-3, "wd_on": "scale-invariant"}, "other_wd"),
                                           ({"other_lr": -1.0}, "other_lr"), ({"other_lr": 0.1, "lr": 0.0}, "other_lr")])
def test_bad_other_settings_are_one_line_errors(tmp_path, extra, message):
    with pytest.raises(RidgelineError, match=message):
        check(tiny_config(tmp_path, **extra))


def test_init_scale_multiplies_only_the_scale_invariant_convs_and_keeps_the_function(tmp_path):
    cpu = torch.device("cpu")
    base, scaled = (build(tiny_config(tmp_path, init_scale=s), cpu).model for s in (1.0, 2.5))
    (convs_b, rest_b), (convs_s, rest_s) = conv_and_rest(base), conv_and_rest(scaled)
    assert len(convs_s) == 8
    assert all(torch.equal(s, 2.5 * b) for b, s in zip(convs_b, convs_s))
    assert all(torch.equal(s, b) for b, s in zip(rest_b, rest_s))  # BN scales and shifts, the classifier
    x = torch.randn(8, 3, 32, 32)  # BatchNorm in training mode divides the scale out (up to its ε)
    torch.testing.assert_close(scaled.train()(x), base.train()(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_init_scale_is_a_one_line_error(tmp_path, value):
    with pytest.raises(RidgelineError, match="init_scale must be a finite number > 0"):
        check(tiny_config(tmp_path, init_scale=value))
