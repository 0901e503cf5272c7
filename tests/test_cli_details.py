"""The command line as a newcomer meets it (issue 27): one-line usage errors with
"did you mean", help texts that survive rich's markup, one type for paths, an example
in every command's help, reversed ranges refused, no "± nan"."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def _commands():
    """(path, click command) of every command and subcommand."""
    root = typer.main.get_command(app)
    stack = [((name,), cmd) for name, cmd in root.commands.items()]
    while stack:
        path, cmd = stack.pop()
        yield path, cmd
        stack += [((*path, n), c) for n, c in getattr(cmd, "commands", {}).items()]


def _help(path) -> str:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "250"})  # no word broken
    assert result.exit_code == 0, result.output
    return " ".join(result.output.replace("│", " ").split())


@pytest.mark.parametrize("args, near", [
    (["simulate", "--rule", "heavyball", "--out", "x"], "heavy-ball"),
    (["derive", "--format", "jsn"], "json"),
    (["sweep", "--objective", "quad", "--x", "lr=1:2:2", "--y", "wd=1:2:2", "--out", "x"], "quadratic"),
])
def test_a_bad_choice_is_one_line_with_did_you_mean(args, near, tmp_path):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"did you mean {near}?" in lines[0], result.output


def test_a_missing_option_is_one_line():
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: Missing option '--out'. (`ridgeline train --help` lists the options)"]


def test_every_help_text_survives_rich_markup_and_every_command_has_an_example():
    for path, cmd in _commands():
        text = _help(path)
        assert "Example: ridgeline " in text, path
        for param in cmd.params:
            for token in re.findall(r"\w+\\?\[[^\]\s]+\]", param.help or ""):
                assert token.replace("\\[", "[") in text, (path, param.name, token)


def test_paths_have_one_type_and_width_says_what_the_readme_does():
    for path, cmd in _commands():
        text = _help(path)
        for param in cmd.params:
            if param.name in ("out", "data", "slices", "cache_dir") and getattr(param, "opts", None):
                shown = re.findall(re.escape(param.opts[0]) + r" (<\w+>|[A-Z]+) ", text)  # the options table
                assert shown == ["<path>"], (path, param.name, shown)
    assert "0.125 for CPU" in _help(("train",))


@pytest.mark.parametrize("args, message", [
    (["--x", "lr=1:0.1:3"], "--x: lr=1:0.1:3 runs from high to low; give LO first: lr=0.1:1:3"),
    (["--y", "wd=1e-2:1e-4:3"], "--y: wd=0.01:0.0001:3 runs from high to low"),
])
def test_a_reversed_range_is_refused_in_one_line(args, message, tmp_path):
    base = {"--x": "lr=0.01:1:3", "--y": "wd=1e-4:1e-2:3"} | {args[0]: args[1]}
    result = runner.invoke(app, ["sweep", "--objective", "quadratic", "--out", str(tmp_path / "s"),
                                 *[v for kv in base.items() for v in kv]])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {message}"] or message in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "s").exists()
    bounds = runner.invoke(app, ["tune", "--objective", "quadratic", "--out", str(tmp_path / "t"),
                                 "--method", "random", "--bounds", "wd=1e-2:1e-5"])
    assert bounds.exit_code == 2 and "runs from high to low; give LO first: wd=1e-5:1e-2" in bounds.output


def test_a_ridge_through_two_rows_says_why_it_has_no_error(tmp_path):
    result = runner.invoke(app, ["sweep", "--objective", "quadratic", "--x", "lr=0.1:3.2:6",
                                 "--y", "wd=2.5e-4:1e-3:2", "--out", str(tmp_path / "s"), "--steps", "200"],
                           terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "nan" not in result.output
    assert "(no error: a line through 2 rows fits them exactly)" in result.output
