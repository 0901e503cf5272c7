"""ridgeline transfer: the invariants each move keeps, exactly, over random settings."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from cli import app
from dynamics.transfer import INVARIANTS, TransferConfig, equivalent_lr, render, transfer
from dynamics.util.errors import RidgelineError

runner = CliRunner()

#: the invariants each single move must keep (module docstring of dynamics.transfer)
KEEPS = {"batch_size": {"lr/N", "lr/((1-momentum)N)", "lr*wd/N", "u/N"},
         "momentum": {"lr/(1-momentum)", "u = lr*wd/(1-momentum)", "lr/((1-momentum)N)", "u/N"},
         "wd": {"lr*wd", "u = lr*wd/(1-momentum)", "lr*wd/N", "u/N"}}

lrs = st.floats(1e-4, 10, allow_nan=False)
wds = st.floats(1e-6, 1e-1, allow_nan=False)
moms = st.floats(0, 0.999, allow_nan=False)
batches = st.integers(1, 4096)


def _exact(p: dict, lr) -> dict:
    """Every invariant at ``p`` with λ = ``lr``, in rational arithmetic."""
    args = (Fraction(lr), Fraction(p["batch_size"]), 1 - Fraction(p["momentum"]), Fraction(p["wd"]))
    return {name: f(*args) for name, f in INVARIANTS.items()}


@settings(max_examples=200, deadline=None)
@given(lr=lrs, wd=wds, momentum=moms, batch_size=batches, name=st.sampled_from(sorted(KEEPS)),
       new=st.data())
def test_each_move_keeps_its_invariants_exactly(lr, wd, momentum, batch_size, name, new):
    source = {"lr": lr, "wd": wd, "momentum": momentum, "batch_size": batch_size}
    value = new.draw({"batch_size": batches, "momentum": moms, "wd": wds}[name])
    if value == source[name]:
        return
    target = source | {name: value}
    lr_new = equivalent_lr(source, target)
    before, after = _exact(source, lr), _exact(target, lr_new)
    for inv in KEEPS[name]:
        assert after[inv] == before[inv], inv  # Fractions: exactly equal
    others = set(INVARIANTS) - KEEPS[name]
    assert all(after[inv] != before[inv] for inv in others)  # the move changes the rest
    result = transfer(TransferConfig(source=source, target={name: value}, rule="heavy-ball"))
    assert {i.name for i in result.invariants if i.kept} == KEEPS[name]
    assert result.after[name] == value and result.after["lr"] == float(lr_new)


def test_page_setting_to_batch_128_and_its_relaxation_in_epochs():
    r = transfer(TransferConfig(source={}, target={"batch_size": 128}))
    assert r.after == {"lr": 0.1, "wd": 5e-4, "momentum": 0.9, "batch_size": 128}
    # leading order the relaxation is (1-ρ)/(4λα) steps: ×4 in steps, the same in epochs
    assert r.relaxation_steps[1] / r.relaxation_steps[0] == pytest.approx(4, rel=0.1)
    assert r.relaxation_epochs[1] == pytest.approx(r.relaxation_steps[1] * 128 / 50_000)
    assert not r.warnings


def test_warnings_name_the_regime_left():
    big = transfer(TransferConfig(source={}, target={"batch_size": 4096}))
    assert any("batch 4096 is above 512" in w for w in big.warnings)
    assert any("leading order fails" in w for w in big.warnings)
    # the relaxation (1-ρ)/(4λα) steps = N/(4uM) epochs is what every move keeps at
    # leading order: a source far from equilibrium stays so
    slow = transfer(TransferConfig(source={"lr": 0.05, "wd": 5e-5}, target={"wd": 1e-4}))
    assert any(w.startswith("relaxation:") for w in slow.warnings)


def test_invariants_are_the_derived_ones():
    """λ/(1−ρ), λ/((1−ρ)N) and λα are what dynamics.symbolic derives from the rules."""
    import sympy as sp

    from dynamics import symbolic as S

    args = (S.lam, S.N, 1 - S.rho, S.alpha)
    assert sp.simplify(INVARIANTS["lr/(1-momentum)"](*args) - S.momentum_invariant("nesterov")) == 0
    assert sp.simplify(INVARIANTS["lr/((1-momentum)N)"](*args)
                       - S.linear_scaling("nesterov")["invariant"]) == 0
    assert sp.simplify(INVARIANTS["lr*wd"](*args) - S.rescaling_symmetry("nesterov")["invariant"]) == 0
    assert sp.simplify(INVARIANTS["u = lr*wd/(1-momentum)"](*args) - S.rotated_coordinates()["u"]) == 0


def test_cli_json():
    result = runner.invoke(app, ["transfer", "--from", "lr=0.4,wd=5e-4,momentum=0.9,batch_size=512",
                                 "--to", "momentum=0.97", "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["after"]["lr"] == pytest.approx(0.12) and "lr/(1-momentum)" in out["kept"]
    assert out["not_kept"]["lr*wd"]["ratio"] == pytest.approx(0.3)


@pytest.mark.parametrize("args, message", [
    (["--to", "wd=5e-4"], "changes nothing"),
    (["--to", "lr=0.1"], "unknown name 'lr'"),
    (["--to", "rho=0.9"], "unknown name 'rho'"),
    (["--from", "lr=0.4,mom=0.9", "--to", "wd=1e-3"], "unknown name 'mom'"),
    (["--to", "momentum=1"], "momentum must be in [0, 1)"),
    (["--to", "batch_size=12.5"], "whole number"),
    (["--to", "wd=1e-3", "--rule", "decoupled"], "'decoupled' is not one of"),
    (["--to", "wd=1e-3", "--format", "xml"], "'xml' is not one of"),
])
def test_cli_bad_input(args, message):
    result = runner.invoke(app, ["transfer"] + args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_library_refuses_a_decoupled_rule_and_an_unknown_format():
    with pytest.raises(RidgelineError, match="coupled weight decay"):
        transfer(TransferConfig(source={}, target={"wd": 1e-3}, rule="decoupled"))
    with pytest.raises(RidgelineError, match="unknown format"):
        render(transfer(TransferConfig(source={}, target={"wd": 1e-3})), "xml", "nesterov")


def test_library_refuses_unknown_names():
    with pytest.raises(RidgelineError, match="unknown name 'lr'"):
        transfer(TransferConfig(source={}, target={"lr": 0.1}))


@settings(max_examples=100, deadline=None)
@given(lr=lrs, wd=wds, momentum=moms, batch_size=batches, new_wd=wds, new_batch=batches)
def test_an_alpha_move_keeps_the_tensors_without_the_symmetry_on_lr_over_n_and_their_alpha(
        lr, wd, momentum, batch_size, new_wd, new_batch):
    """The tensors without the symmetry follow λ/N (and λ/(1−ρ)), not λα: ``others`` is the
    equivalent λ without the α factor, at the old α; no α move, no ``others``."""
    source = {"lr": lr, "wd": wd, "momentum": momentum, "batch_size": batch_size}
    if new_wd == wd and new_batch == batch_size:
        return  # refused: changes nothing
    result = transfer(TransferConfig(source=source, target={"wd": new_wd, "batch_size": new_batch}, rule="heavy-ball"))
    if new_wd == wd:
        assert result.others is None
        return
    expected = Fraction(lr) * Fraction(new_batch) / Fraction(batch_size)
    assert result.others == {"lr": float(expected), "wd": wd}
    moved = transfer(TransferConfig(source=source, target={"batch_size": new_batch + 1}, rule="heavy-ball"))
    assert moved.others is None
