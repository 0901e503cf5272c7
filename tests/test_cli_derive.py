"""`ridgeline derive` and the CLI's contract: instant help, one-line errors, exit 2."""

import math
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def test_help_imports_no_heavy_library():
    code = ("import sys, cli; heavy = {'numpy', 'torch', 'sympy', 'seaborn', 'pandas', 'matplotlib'} "
            "& set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_cli_loads_only_the_registries():
    """At module level cli.py reads its choice lists from the light registries
    (docs/architecture.md); every command's own module is imported inside the command."""
    code = ("import sys, cli; print(' '.join(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('dynamics', 'training', 'figures'))))")
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True).stdout.split())
    assert loaded == {"dynamics", "dynamics.registry", "dynamics.rules", "dynamics.util", "dynamics.util.errors",
                      "dynamics.util.parse", "training", "training.config"}


def test_the_registry_mirrors_the_choices_its_owners_derive():
    """dynamics.registry copies two lists whose owners build them: transfer's rules (three
    lists of its own) and the report's profiles (a dict); the others are imported from it."""
    from dynamics import registry
    from dynamics.jobs import derive, simulate, slices, transfer
    from dynamics.sim import engine
    from training.report.steps import PROFILES
    from training.search import executors, objectives, samplers, tune

    assert registry.TRANSFER_RULES == transfer.CHOICES
    assert registry.REPORT_PROFILES == tuple(PROFILES)
    assert (derive.FORMATS, simulate.LOSSES, simulate.SCHEDULES, engine.SCHEDULES, slices.SLICE_RULES,
            transfer.KEEPS, transfer.PARAMETRISATIONS, executors.EXECUTORS, objectives.OBJECTIVES,
            samplers.METHODS, tune.COORDINATES, tune.SAMPLER_RUNS) == \
        (registry.DERIVE_FORMATS, registry.LOSSES, registry.SIM_SCHEDULES, registry.SIM_SCHEDULES,
         registry.SLICE_RULES, registry.KEEPS, registry.PARAMETRISATIONS, registry.EXECUTORS,
         registry.OBJECTIVES, registry.METHODS, registry.COORDINATES, registry.SAMPLER_RUNS)


def test_derive_json_has_every_rule_and_values_at_a_point():
    result = runner.invoke(app, ["derive", "--rule", "all", "--format", "json",
                                 "--at", "lr=0.4,wd=5e-4,momentum=0.9"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"sgd", "heavy-ball", "nesterov", "decoupled", "adamw", "adam-l2", "lion", "muon"}
    assert doc["adamw"]["formulas"]["rescaling_invariant"]["expr"] == "alpha*lambda"
    assert doc["muon"]["formulas"]["rescaling_exponents"]["expr"] == "(1, 1, -1)"
    assert doc["muon"]["formulas"]["weight_norm_sq"]["value"] is None  # no A, B: no matrix to measure
    assert doc["adam-l2"]["formulas"]["rescaling_invariant"]["expr"] == "alpha*lambda**2"
    hb = doc["heavy-ball"]
    assert hb["formulas"]["rescaling_exponents"]["expr"] == "(1, 2, -2, -1)"
    assert hb["formulas"]["momentum_invariant"]["value"] == pytest.approx(4.0)
    assert hb["formulas"]["rotated_u"]["value"] == pytest.approx(0.002)
    assert hb["at"] == {"lr": 0.4, "wd": 5e-4, "momentum": 0.9, "grad_norm": 1.0}
    from dynamics.theory.dispatch import predict

    assert hb["relaxation_steps"] == pytest.approx(predict("heavy-ball", 0.4, 5e-4, 0.9).relaxation_steps, rel=1e-12)


def test_derive_table_and_latex():
    table = runner.invoke(app, ["derive", "--rule", "nesterov"])
    assert table.exit_code == 0 and "weight_norm4" in table.stdout
    latex = runner.invoke(app, ["derive", "--rule", "sgd", "--format", "latex"])
    assert latex.exit_code == 0 and r"\begin{align*}" in latex.stdout
    for rule in ("adamw", "adam-l2", "lion"):
        table = runner.invoke(app, ["derive", "--rule", rule])
        assert table.exit_code == 0 and "weight_norm_leading" in table.stdout and "angular_update" in table.stdout
        latex = runner.invoke(app, ["derive", "--rule", rule, "--format", "latex"])
        assert latex.exit_code == 0 and "weight\\_norm\\_leading" in latex.stdout


@pytest.mark.parametrize("args,message", [
    (["--at", "momentum=1"], "momentum must be in [0, 1)"),
    (["--at", "momentum=-0.1"], "momentum must be in [0, 1)"),
    (["--at", "lr=-0.4"], "lr must be"),
    (["--at", "wd=-1"], "wd must be"),
    (["--at", "lr0.4"], "is not NAME=VALUE"),
    (["--at", "lr=abc"], "is not a number"),
    (["--at", "beta=1"], "unknown name 'beta'"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    proc = subprocess.run([sys.executable, "-m", "cli", "derive", *args],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("option, value", [("--rule", "rmsprop"), ("--format", "yaml")])
def test_a_value_outside_the_choices_exits_2_naming_them(option, value):
    proc = subprocess.run([sys.executable, "-m", "cli", "derive", option, value],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"Invalid value for '{option}'" in proc.stderr and "Traceback" not in proc.stderr


def test_rule_choices_come_from_the_registry():
    """A rule added to dynamics.rules.RULES appears in --help without touching cli.py."""
    from dynamics.rules import RULES

    import os

    text = subprocess.run([sys.executable, "-m", "cli", "derive", "--help"], capture_output=True,
                          text=True, env=os.environ | {"COLUMNS": "300"}, check=True).stdout
    assert f"<{'|'.join([*RULES, 'all'])}>" in text


def test_derive_at_gives_the_adaptive_rules_values():
    """--at takes beta1 (= momentum), beta2 and C: the exact values are predict's, the
    leading forms and the paper's evaluated, Lion's infinite sums included."""
    from dynamics.theory.dispatch import predict

    point = "lr=0.01,wd=1,beta1=0.9,beta2=0.99,C=256,C_row=64,G_row=0.5"
    for rule in ("adamw", "adam-l2", "lion"):
        result = runner.invoke(app, ["derive", "--rule", rule, "--format", "json", "--at", point])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)[rule]
        values = {k: e["value"] for k, e in doc["formulas"].items()}
        p = predict(rule, 0.01, 1.0, 0.9, 1.0, elements=256, beta2=0.99)
        norm2 = values.get("weight_norm_sq", values.get("weight_norm_equation"))
        assert norm2 == pytest.approx(p.weight_norm**2, rel=1e-12)
        assert values["angular_update"] == pytest.approx(p.angular_update, rel=1e-12)
        assert doc["relaxation_steps"] == pytest.approx(p.relaxation_steps, rel=1e-12)
        assert doc["at"]["beta2"] == 0.99
        # a row of C_row elements at G_row: |w| ∝ √C for AdamW and Lion, C^(1/6) G^(1/3) for Adam-L2
        row = (64 / 256) ** (1 / 6) * 0.5 ** (1 / 3) if rule == "adam-l2" else (64 / 256) ** 0.5
        assert values["weight_norm_row_leading"] == pytest.approx(row * values["weight_norm_leading"], rel=1e-12)
    # AdamW's leading |w| is √(λC/2α), its angle √(2λα(1−β₁)/(1+β₁))
    adamw = json.loads(runner.invoke(app, ["derive", "--rule", "adamw", "--format", "json", "--at", point]).stdout)
    assert adamw["adamw"]["formulas"]["weight_norm_leading"]["value"] == pytest.approx((0.01 * 256 / 2) ** 0.5)
    assert adamw["adamw"]["formulas"]["angular_update_leading"]["value"] == pytest.approx((2 * 0.01 * 0.1 / 1.9) ** 0.5)


@pytest.mark.parametrize("rule", ["adamw", "adam-l2", "lion"])
def test_derive_leading_forms_are_the_exact_ones_at_small_lambda_alpha(rule):
    """At λα = 1e-4 the leading |w| and angle are the exact ones within 0.6% (reached: 0.48%,
    Lion's angle 0.37%; at λα = 0.01 Lion's leading |w| is 40% off, AdamW's 4%)."""
    point = "lr=1e-4,wd=1,beta1=0.9,beta2=0.99,C=256"
    result = runner.invoke(app, ["derive", "--rule", rule, "--format", "json", "--at", point])
    assert result.exit_code == 0, result.output
    values = {k: e["value"] for k, e in json.loads(result.stdout)[rule]["formulas"].items()}
    norm = values.get("weight_norm_sq", values.get("weight_norm_equation")) ** 0.5
    assert values["weight_norm_leading"] == pytest.approx(norm, rel=0.006)
    assert values["angular_update_leading"] == pytest.approx(values["angular_update"], rel=0.006)


@pytest.mark.parametrize("args,message", [
    (["--rule", "adamw", "--at", "lr=0.01,wd=1"], "adamw needs C, the number of elements"),
    (["--rule", "lion", "--at", "lr=0.01,wd=1,C=10,beta2=1"], "beta2 must be in [0, 1)"),
    (["--rule", "adamw", "--at", "lr=0.01,wd=1,C=0"], "C must be a number > 0"),
    (["--rule", "adamw", "--at", "lr=0.01,wd=1,C=10,beta1=1"], "momentum must be in [0, 1)"),
    (["--rule", "adamw", "--at", "C=10,momentum=0.9,beta1=0.5"], "momentum and beta1 are the same"),
])
def test_derive_at_bad_adaptive_points_are_one_line_and_exit_2(args, message):
    proc = subprocess.run([sys.executable, "-m", "cli", "derive", *args], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_derive_muon_takes_the_matrix_shape():
    result = runner.invoke(app, ["derive", "--rule", "muon", "--format", "json",
                                 "--at", "lr=0.05,wd=0.1,momentum=0.95,A=16,B=72"])
    assert result.exit_code == 0, result.output
    f = json.loads(result.stdout)["muon"]["formulas"]
    assert f["rescaling_invariant"]["value"] == pytest.approx(0.005)
    assert f["relaxation_steps"]["value"] == pytest.approx(-1 / (2 * math.log(0.995)))
    P, eta, S, q = (f[k]["value"] for k in ("update_power", "update_step", "correlation_sum", "decay_factor"))
    assert f["weight_norm_sq"]["value"] == pytest.approx(P * eta**2 * (2 * S + 1) / (1 - q**2), rel=1e-12)
    assert f["update_radial_share"]["value"] == pytest.approx(-S * (1 - q**2) ** 0.5 / (q * (2 * S + 1) ** 0.5), rel=1e-12)
