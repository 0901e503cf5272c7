"""ridgeline transfer: the invariants each move keeps, exactly, over random settings."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from cli import app
from dynamics.jobs.transfer import INVARIANTS, TransferConfig, equivalent_lr, render, transfer
from dynamics.util.errors import RidgelineError

runner = CliRunner()

#: the invariants each single move must keep (module docstring of dynamics.jobs.transfer)
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
    """λ/(1−ρ), λ/((1−ρ)N) and λα are what dynamics.theory.symbolic derives from the rules."""
    import sympy as sp

    from dynamics.theory import symbolic as S

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


# ---------------------------------------------- --to train_size / epochs / width (τ in epochs)
from dynamics.jobs.transfer import TIMESCALE_RULES, relaxation_form, relaxation_steps  # noqa: E402

sizes = st.integers(100, 200_000)


def _in_regime(rule, lr, wd, momentum, m0, m1):
    """λα small next to (1−ρ)² before and after (where τ has one mode and falls with λα: the
    regime the moves are for), and τ under 10⁵ steps (beyond, −1/ln μ with μ = 1 − 1/τ carries
    rounding of order 10⁻¹⁶ τ, so "the same to 10⁻⁹" would test the eigenvalue solver)."""
    q = 1.0 if rule in ("sgd", "adamw", "lion") else 1 - momentum
    leading = q / (4 * lr * wd) if rule in ("sgd", "nesterov", "heavy-ball") else 1 / (2 * lr * wd)
    return lr * wd * max(1.0, m0 / m1) / q**2 < 0.05 and leading * max(1.0, m1 / m0) < 1e5


@settings(max_examples=150, deadline=None)
@given(rule=st.sampled_from(TIMESCALE_RULES), lr=st.floats(1e-3, 2), wd=st.floats(1e-5, 1e-1),
       momentum=st.floats(0, 0.99), batch_size=st.integers(1, 1024), m0=sizes, m1=sizes,
       e0=st.floats(1, 100), e1=st.floats(1, 100), keep=st.sampled_from(("lr", "wd")),
       which=st.sets(st.sampled_from(("train_size", "epochs")), min_size=1))
def test_a_size_or_epochs_move_keeps_the_relaxation_time_in_epochs(
        rule, lr, wd, momentum, batch_size, m0, m1, e0, e1, keep, which):
    from hypothesis import assume

    momentum = 0.0 if rule == "sgd" else momentum
    target = {"train_size": m1, "epochs": e1}
    target = {k: target[k] for k in which}
    assume((m1 != m0 and "train_size" in which) or (e1 != e0 and "epochs" in which))
    assume(_in_regime(rule, lr, wd, momentum, m0, m1 if "train_size" in which else m0))
    source = {"lr": lr, "wd": wd, "momentum": momentum, "batch_size": batch_size}
    r = transfer(TransferConfig(source=source, target=target, rule=rule, train_size=m0, epochs=e0, keep=keep))
    e_before, e_after = r.relaxation_epochs
    assert e_after == pytest.approx(e_before, rel=1e-9)  # τ N/M, the same to rounding
    # and it is the rule's τ at the new setting, over the new steps per epoch
    m_after = target.get("train_size", m0)
    assert relaxation_steps(rule, r.after["lr"], r.after["wd"], momentum) * batch_size / m_after == \
        pytest.approx(e_before, rel=1e-9)
    assert r.after[keep] == source[keep]  # --keep: untouched; the other one moved (if anything did)
    assert r.after["momentum"] == momentum and r.after["batch_size"] == batch_size
    epochs_after = target.get("epochs", e0)
    runs = r.scale["run_relaxation_times"]
    assert runs["after"] / runs["before"] == pytest.approx(epochs_after / e0, rel=1e-9)


def test_wang_and_aitchisons_rule_is_the_leading_order():
    """AdamW, tiny λα: 4x the data at a fixed lr is wd / 4 (α ∝ 1/M); 2x the epochs moves nothing."""
    source = {"lr": 1e-4, "wd": 1e-3, "momentum": 0.9, "batch_size": 128}
    r = transfer(TransferConfig(source=source, target={"train_size": 40_000}, rule="adamw", train_size=10_000))
    assert r.after["wd"] / source["wd"] == pytest.approx(0.25, rel=1e-6) and r.after["lr"] == 1e-4
    assert r.scale["moved"] == {"wd": pytest.approx(0.25, rel=1e-6)}
    r = transfer(TransferConfig(source=source, target={"epochs": 48}, rule="adamw"))
    assert r.after == r.before and r.scale["moved"] == {}
    assert any("epochs move nothing" in n for n in r.scale["notes"])


def test_at_page_like_lr_wd_the_exact_move_differs_from_the_leading_order():
    """nesterov at lr 0.512, wd 0.0025, ρ 0.75 (u/(1−ρ) = 0.02): keeping the exact τ in epochs
    at 4x the images is wd x0.26, not the leading-order x0.25; the table says both."""
    source = {"lr": 0.512, "wd": 0.0025, "momentum": 0.75, "batch_size": 64}
    r = transfer(TransferConfig(source=source, target={"train_size": 10_000}, train_size=2500, epochs=10))
    factor = r.after["wd"] / source["wd"]
    assert 0.255 < factor < 0.27 and r.scale["moved_leading_order"]["wd"] == pytest.approx(0.25)
    text = render(r, "table", "nesterov")
    assert f"wd x{factor:.4g} (x0.25 at leading order" in text and "relaxation time, epochs" in text


def test_width_moves_follow_the_stated_parametrisation():
    sgd = transfer(TransferConfig(source={"width": 0.125}, target={"width": 0.25}))
    assert sgd.after == sgd.before  # τ = (1−ρ)/(4λα) has no width in it: nothing moves
    assert any("does not depend on width" in n for n in sgd.scale["notes"])
    assert relaxation_form("nesterov")[1:] == (False, False, True)  # no C, no G, through λα only
    source = {"lr": 1e-3, "wd": 0.1, "momentum": 0.9, "batch_size": 64, "width": 0.25}
    mup = transfer(TransferConfig(source=source, target={"width": 1.0}, rule="adamw", parametrisation="mup"))
    assert mup.after["lr"] == pytest.approx(2.5e-4, rel=1e-12) and mup.after["wd"] == pytest.approx(0.4, rel=1e-12)
    assert mup.relaxation_steps[1] == pytest.approx(mup.relaxation_steps[0], rel=1e-12)
    standard = transfer(TransferConfig(source=source, target={"width": 1.0}, rule="adamw"))
    assert standard.after == standard.before


@pytest.mark.parametrize("args, message", [
    (["--to", "width=2", "--parametrisation", "mup"], "no width in it"),
    (["--rule", "adamw", "--to", "width=2", "--parametrisation", "mup", "--keep", "wd"], "use --keep lr"),
    (["--to", "train_size=100,wd=1e-3"], "in two calls"),
    (["--to", "epochs=24"], "changes nothing"),
    (["--to", "train_size=2.5"], "whole number"),
    (["--to", "width=0"], "must be finite numbers > 0"),
    (["--to", "train_size=1000", "--rule", "adam-l2"], "depends on the gradient"),
    (["--to", "momentum=0.95", "--rule", "adamw"], "it has none for batch_size or momentum"),
    (["--to", "train_size=1000", "--keep", "momentum"], "'momentum' is not one of"),
])
def test_cli_bad_scale_moves(args, message):
    result = runner.invoke(app, ["transfer"] + args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_library_refuses_a_rule_whose_relaxation_needs_the_gradient():
    with pytest.raises(RidgelineError, match="depends on the gradient"):
        transfer(TransferConfig(source={}, target={"train_size": 1000}, rule="adam-l2"))


def test_cli_size_move_json():
    result = runner.invoke(app, ["transfer", "--from", "lr=0.512,wd=0.0025,momentum=0.75,batch_size=64",
                                 "--to", "train_size=10000", "--train-size", "2500", "--epochs", "10",
                                 "--keep", "wd", "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["after"]["wd"] == 0.0025 and set(out["scale"]["moved"]) == {"lr"}
    assert out["relaxation_epochs"]["after"] == pytest.approx(out["relaxation_epochs"]["before"], rel=1e-9)
    assert "lr/N" in out["not_kept"] and "lr/(1-momentum)" in out["not_kept"]


def test_the_adam_family_and_lion_move_wd_along_their_derived_invariant():
    """λα for AdamW and Lion, λ²α for Adam with L2: the exponent comes from the rescaling
    symmetry derived from each rule (transfer --rule adamw was refused)."""
    from fractions import Fraction

    from dynamics.jobs.transfer import TransferConfig, rescaling_exponent, transfer

    assert {r: rescaling_exponent(r) for r in ("adamw", "lion", "adam-l2")} == {
        "adamw": (1, "lr*wd"), "lion": (1, "lr*wd"), "adam-l2": (Fraction(1, 2), "lr**2*wd")}
    for rule, lr in (("adamw", 0.00025), ("lion", 0.00025), ("adam-l2", 0.0005)):
        result = transfer(TransferConfig(source={"lr": 1e-3, "wd": 0.1}, target={"wd": 0.4}, rule=rule))
        assert result.after["lr"] == pytest.approx(lr, rel=1e-15) and result.invariants[0].kept, rule
        assert result.others == {"lr": 1e-3, "wd": 0.1}
    with pytest.raises(RidgelineError, match="it has none for batch_size or momentum"):
        transfer(TransferConfig(source={}, target={"momentum": 0.95}, rule="adamw"))


def test_cli_transfer_rule_adamw_and_adam_l2():
    for rule, invariant in (("adamw", "lr*wd"), ("adam-l2", "lr**2*wd")):
        result = runner.invoke(app, ["transfer", "--rule", rule, "--from", "lr=1e-3,wd=0.1", "--to", "wd=0.4"])
        assert result.exit_code == 0, result.output
        assert any(line.startswith(invariant + " ") and line.endswith("yes") for line in result.output.splitlines())
        assert "nan" not in result.output
