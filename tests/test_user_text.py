"""What a newcomer reads: the README, docs, every command's --help and the figures' text.

"seed" means a random seed only (Page's post is "Page's"), nothing points at paths
that exist only on the developers' machines, and the CLI keeps its conventions:
--version, -h, commands in the order of the work, choices listed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import WORKFLOW, app

ROOT = Path(__file__).resolve().parent.parent
#: "the seed" meaning Page's post ("the seed's 0.4"); "the seed-to-seed error" is fine
POST_AS_SEED = re.compile(r"\bthe seed\b(?!-)|\bseed's\b", re.I)
DEV_PATHS = re.compile(r"\.\./shared|/work/|DESIGN\.md|see dynamics/validate\.py")
COMMANDS = [[], ["report"], ["derive"], ["simulate"], ["simulate", "slices"], ["train"],
            ["validate"], ["sweep"], ["tune"]]


def _clean(text: str, where: str) -> None:
    assert not POST_AS_SEED.search(text), f"{where}: {POST_AS_SEED.search(text).group(0)!r}"
    assert not DEV_PATHS.search(text), f"{where}: {DEV_PATHS.search(text).group(0)!r}"


_HELP: dict[tuple, str] = {}


def _help(args: list[str]) -> str:
    """``ridgeline ARGS --help`` at 200 columns (in this process: the suite stays fast)."""
    import typer.rich_utils

    if tuple(args) not in _HELP:
        before = typer.rich_utils.MAX_WIDTH
        typer.rich_utils.MAX_WIDTH = 200
        try:
            result = CliRunner().invoke(app, [*args, "--help"], prog_name="ridgeline")
        finally:
            typer.rich_utils.MAX_WIDTH = before
        assert result.exit_code == 0, result.output
        _HELP[tuple(args)] = result.output
    return _HELP[tuple(args)]


def test_readme_and_docs_say_pages_and_name_no_developer_path():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        _clean(path.read_text(), path.name)
    readme = (ROOT / "README.md").read_text()
    assert 'David Page, "How to Train Your ResNet 5: Hyperparameters" (Myrtle AI blog)' in readme
    for array in ("x_train", "y_train", "x_test", "y_test"):  # the .npz layout is documented
        assert f"`{array}`" in readme


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "ridgeline")
def test_every_help_text_is_clean(args):
    _clean(_help(args), "ridgeline " + " ".join(args) + " --help")


def test_root_help_lists_the_commands_in_workflow_order_and_h_works():
    text = _help([])
    positions = [re.search(rf"^│ {name}\s", text, re.M) for name in WORKFLOW]
    assert all(positions), text
    assert [p.start() for p in positions] == sorted(p.start() for p in positions)
    assert "report    The main job, end to end" in text  # first, and its summary on one line
    short = CliRunner().invoke(app, ["derive", "-h"])
    assert short.exit_code == 0 and "--format" in short.output
    assert "--install-completion" in text


def test_version():
    from cli import _version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"ridgeline {_version()}"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", _version())


def test_choices_are_listed_in_help():
    from dynamics.rules import RULES
    from dynamics.jobs.simulate import LOSSES, SCHEDULES
    from training.report.steps import PROFILES
    from training.search.objectives import OBJECTIVES

    expected = {("simulate",): [RULES, LOSSES, SCHEDULES, ("table", "json")],
                ("report",): [PROFILES], ("sweep",): [OBJECTIVES, ("table", "csv")],
                ("tune",): [OBJECTIVES, ("rotated", "naive")]}
    for args, registries in expected.items():
        text = _help(list(args))
        for names in registries:
            assert f"<{'|'.join(names)}>" in text, (args, names)


def test_sweep_and_tune_help_list_the_pass_through_options():
    from training.config import TrainConfig

    for command in ("sweep", "tune"):
        text = " ".join(_help([command]).split())
        for field in ("width", "epochs", "train_size", "holdout", "log_every"):
            assert "--" + field.replace("_", "-") in text, (command, field)
        assert field in TrainConfig.__dataclass_fields__
        assert "--steps" in text and "--head" in text  # the toy's options


def test_figure_text_is_clean_and_in_pages_symbols(tmp_path, monkeypatch):
    """Every title, axis label and legend the figures write, recorded while they draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.axes
    import matplotlib.figure
    import numpy as np
    import pandas as pd

    from dynamics.analysis.ridge import fit_ridge
    from dynamics.jobs.simulate import SimConfig
    from figures.dynamics import trajectory_figure
    from figures.heatmap import slice_heatmap

    seen: list[str] = []
    for cls, name in [(matplotlib.axes.Axes, "set_title"), (matplotlib.axes.Axes, "set_xlabel"),
                      (matplotlib.axes.Axes, "set_ylabel"), (matplotlib.figure.Figure, "suptitle"),
                      (matplotlib.figure.Figure, "legend"), (matplotlib.axes.Axes, "legend")]:
        original = getattr(cls, name)

        def record(self, *args, _original=original, **kwargs):
            seen.extend(str(a) for a in args if isinstance(a, str))
            seen.extend(str(a) for a in args if isinstance(a, list) for a in a if isinstance(a, str))
            seen.append(str(kwargs.get("title", "")))
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(cls, name, record)

    config = SimConfig(lr=[0.1, 0.4], wd=1e-2, steps=40, schedule="step")
    steps = np.arange(0, 40, 10)
    trajectories = pd.DataFrame({"setting": np.repeat([0, 1], 4), "step": np.tile(steps, 2),
                                 "weight_norm": 1.0, "predicted_weight_norm": 1.1, "angular_update": 0.1,
                                 "predicted_angular_update": 0.11, "batch_size": 1.0})
    summary = pd.DataFrame({"setting": [0, 1], "lr": [0.1, 0.4], "wd": 1e-2, "momentum": 0.9, "batch_size": 1.0,
                            "relaxation_measured": 50.0, "relaxation_predicted": 48.0, "relaxation_ratio": 1.04})
    trajectory_figure(trajectories, summary, tmp_path / "t.png", config=config)
    assert any("λ=0.4→0.04" in s for s in seen), seen  # the legend names every λ, before → after
    lr, wd = np.meshgrid([0.1, 0.2, 0.4, 0.8], [1e-4, 1e-3, 1e-2])
    loss = (np.log(lr * wd) + 7) ** 2 + 1.0
    loss[0, 0] = np.nan  # a diverged cell
    frame = pd.DataFrame({"lr": lr.ravel(), "wd": wd.ravel(), "loss": loss.ravel()})
    slice_heatmap(frame, "lr", "wd", "loss", tmp_path / "h.png", maximize=False, floor=3.0,
                  fit=fit_ridge(frame, "lr", "wd", "loss", maximize=False))
    text = "\n".join(seen)
    assert "learning rate λ (log scale)" in text and "weight decay α (log scale)" in text
    assert "blank: 1 cell(s)" in text
    _clean(text, "figure text")
