"""Item 4 of issue 23: a flag the chosen rule or optimiser ignores is a one-line error
(exit 2) in every command, never silently dropped."""

import pytest
from typer.testing import CliRunner

from cli import app


@pytest.mark.parametrize("args,text", [
    (["derive", "--rule", "sgd", "--at", "lr=0.4,wd=5e-4,momentum=0.9"], "momentum is not used by sgd"),
    (["derive", "--rule", "nesterov", "--at", "lr=0.4,wd=5e-4,beta2=0.99,C=100"], "beta2, C are not used by nesterov"),
    (["simulate", "--rule", "sgd", "--momentum", "0.5", "--out", "OUT"], "the rule sgd has no momentum"),
    (["simulate", "--rule", "nesterov", "--beta2", "0.99", "--out", "OUT"], "beta2 applies to the rules adamw"),
    (["simulate", "--loss", "bn-net", "--compile", "--out", "OUT"], "--compile applies to the toy losses"),
    (["simulate", "--correlation", "0.5", "--out", "OUT"], "used by --loss correlated only"),
    (["train", "--out", "OUT", "--momentum", "0", "--nesterov"], "--nesterov needs --momentum > 0"),
    (["train", "--out", "OUT", "--beta2", "0.99"], "--beta2 apply to --optimizer adamw, adam or lion"),
    (["train", "--out", "OUT", "--optimizer", "lion", "--eps", "1e-6"], "Lion's update sign(c) has no ε"),
    (["train", "--out", "OUT", "--optimizer", "adamw", "--nesterov"], "--nesterov is an SGD flag"),
    (["sweep", "--objective", "quadratic", "--x", "lr=0.1:0.4:3", "--y", "wd=1e-3:4e-3:3", "--out", "OUT",
      "--rule", "sgd", "--momentum", "0.5"], "the rule sgd has no momentum"),
    (["sweep", "--objective", "quadratic", "--x", "lr=0.1:0.4:3", "--y", "wd=1e-3:4e-3:3", "--out", "OUT",
      "--head", "0", "--head-noise", "0.1"], "--head-noise: the toy has no head with --head 0"),
    (["sweep", "--objective", "train", "--x", "lr=0.1:0.4:3", "--y", "wd=1e-3:4e-3:3", "--out", "OUT",
      "--optimizer", "lion", "--eps", "1e-6"], "Lion's update sign(c) has no ε"),
])
def test_a_flag_the_rule_ignores_is_a_one_line_error(tmp_path, args, text):
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and text in lines[0], result.output
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_what_the_rule_uses_is_still_accepted():
    """The same flags where the rule takes them: no error."""
    runner = CliRunner()
    assert runner.invoke(app, ["derive", "--rule", "nesterov", "--at", "lr=0.4,wd=5e-4,momentum=0.9"]).exit_code == 0
    assert runner.invoke(app, ["derive", "--rule", "sgd", "--at", "lr=0.4,wd=5e-4"]).exit_code == 0
    assert runner.invoke(app, ["derive", "--rule", "all", "--at",
                               "lr=0.4,wd=5e-4,momentum=0.9,beta2=0.99,C=100"]).exit_code == 0
