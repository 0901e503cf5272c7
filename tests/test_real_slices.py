"""Page's slices on the real network: sweep → summary → heatmaps, and the report's two profiles.

Tiny: a synthetic CIFAR-shaped .npz (tests.test_train.tiny_npz), width 1/16, one epoch
of three steps per run. The slope machinery is checked on a sweep whose score is an exact
parabola in log λ around a known ridge (no training), where every number is known.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from rich.console import Console

from test_report import TINY
from test_train import tiny_npz
from training.report.slices import SliceSpec, markdown, rows_markdown, slices_figure, summarise
from training.report.steps import ReportConfig, report
from training.search.sweep import run_sweep

TINY_TRAIN = ("--width", "0.0625", "--epochs", "1", "--batch-size", "32", "--device", "cpu", "--log-every", "1")


@pytest.fixture(scope="module")
def tiny_slice(tmp_path_factory):
    """A real 2 × 2 lr × wd slice with 2 seeds on the tiny data set."""
    root = tmp_path_factory.mktemp("slice")
    data = tiny_npz(root / "tiny.npz")
    spec = SliceSpec("lr_wd", "lr=0.05:0.2:2", "wd=1e-3:4e-3:2", 2, TINY_TRAIN + ("--data", data))
    run_sweep(spec.sweep_config(str(root / "lr_wd")), console=Console(quiet=True))
    return root / "lr_wd"


def test_a_tiny_real_slice_is_summarised_and_drawn(tiny_slice, tmp_path):
    s = summarise(tiny_slice)
    assert (s.name, s.claim, s.expected) == ("lr_x_wd", "lr*wd", -1.0)
    assert (s.runs_done, s.runs_total, s.seeds_done, s.repeats) == (8, 8, 2, 2)
    assert len(s.means) == 4 and s.score == "test_acc"
    assert len(s.fit.points) == 2 and len(s.per_seed) == 2
    # 96 images at N = 32: 3 steps; τ = (1 − ρ)/(4λα) (Nesterov), λ_t of Page's schedule
    from training.config import TrainConfig, lr_at

    assert s.steps == [3, 3]
    for (lr, wd), peak, integrated in zip(s.fit.points, s.relax_peak, s.relax_integrated):
        config = TrainConfig(lr=lr, wd=wd, epochs=1, batch_size=32)
        assert peak == pytest.approx(3 * 4 * lr * wd / 0.1)
        assert integrated == pytest.approx(sum(4 * lr_at(config, (t - 0.5) / 3) * wd / 0.1 for t in (1, 2, 3)))
        assert integrated < peak
    table = markdown([s])
    assert "| lr_x_wd | λα (-1) |" in table and "2 of 2 (8/8)" in table
    assert "--x lr=0.05:0.2:2 --y wd=0.001:0.004:2 --out lr_wd" in table
    assert (tiny_slice / "heatmap.png").stat().st_size > 0  # the sweep's own heatmap
    path = slices_figure([s], None, tmp_path / "new" / "slices.png")  # the folder is made
    assert path.stat().st_size > 10_000


@pytest.fixture
def parabola_slice(tmp_path, monkeypatch):
    """A 5 × 3 lr × wd slice, 2 seeds, scored −(log₁₀ λ − log₁₀ λ*)² with the ridge
    log₁₀ λ* = log₁₀ 0.4 − (1 + ε_s) log₁₀(α/10⁻³): seed s's own slope is exactly −1/(1 + ε_s)."""
    from training.search.objectives import TrainObjective

    eps = {0: 0.0, 1: 0.2}

    def evaluate(self, trials, workdir, report=None):
        out = []
        for t in trials:
            p = t.params
            best = math.log10(0.4) - (1 + eps[p["seed"]]) * math.log10(p["wd"] / 1e-3)  # λ* = 0.4 at α = 1e-3
            out.append({"score": -(math.log10(p["lr"]) - best) ** 2, "diverged": False, "summary": {}})
        return out

    monkeypatch.setattr(TrainObjective, "evaluate", evaluate)
    spec = SliceSpec("lr_wd", "lr=0.1:1.6:5", "wd=5e-4:2e-3:3", 2, ("--epochs", "2", "--device", "cpu"))
    run_sweep(spec.sweep_config(str(tmp_path / "lr_wd")), console=Console(quiet=True))
    return tmp_path / "lr_wd", eps


def test_the_slope_and_its_seed_error_on_a_known_ridge(parabola_slice):
    path, eps = parabola_slice
    s = summarise(path)
    expected = [-1 / (1 + e) for e in eps.values()]
    assert s.per_seed == pytest.approx(expected, abs=1e-9)
    assert s.seed_err == pytest.approx(np.std(expected, ddof=1) / math.sqrt(2), abs=1e-9)
    # the mean of two parabolas is a parabola around the mean of their vertices
    assert s.slope == pytest.approx(-1 / (1 + np.mean(list(eps.values()))), abs=1e-9)
    assert s.z == pytest.approx((s.slope + 1) / s.seed_err)
    assert s.fit_err == pytest.approx(0, abs=1e-6)  # three exact points on a line
    # seed 0's score is a function of λα alone: all of its variance lies along the claim
    assert s.r2_seeds[0][0] == pytest.approx(1.0) and s.r2_seeds[1][0] < 1 and s.r2_seeds[0][1] < 0.5
    assert s.r2[0] < 1 and "; seeds alone" in markdown([s]) and s.to_dict()["r2"] == list(s.r2)
    # two seeds: z is a Student t with 1 degree of freedom; the null draws a p of its own
    from dynamics.analysis.ridge import student_t_p

    assert s.p_t == pytest.approx(student_t_p(s.z, 1)) and 0 <= s.p_null <= 1 and s.noise_sd > 0
    assert f"| {s.p_t:.2f}; {s.p_null:.2f} |" in markdown([s])


def test_the_ridge_row_by_row_with_its_error_across_seeds(parabola_slice):
    path, eps = parabola_slice
    s = summarise(path)
    wds = (5e-4, 1e-3, 2e-3)
    known = [[0.4 * (wd / 1e-3) ** -(1 + e) for e in eps.values()] for wd in wds]  # seed s's own λ* per row
    assert [yv for _, yv in s.fit.points] == pytest.approx(wds)
    assert sum(s.row_seeds, []) == pytest.approx(sum(known, []), rel=1e-9)
    # equal curvatures: the mean score peaks at the geometric mean of the per-seed λ*
    assert [lr for lr, _ in s.fit.points] == pytest.approx([math.sqrt(a * b) for a, b in known], rel=1e-9)
    table = rows_markdown(s)
    factor = 10 ** (abs(math.log10(known[0][1] / known[0][0])) / 2)  # stdev of two values / √2
    assert f"| 0.0005 | {math.sqrt(known[0][0] * known[0][1]):.3g} | ×÷ {factor:.2f} (2 seeds) | yes |" in table
    assert "| 0.001 | 0.4 | ×÷ 1.00 (2 seeds) | yes |" in table  # both seeds' ridges cross here


def test_settling_reads_the_angle_over_its_equilibrium_at_each_ridge(parabola_slice):
    """Each run gets a norms.csv whose scale-invariant angle is c(α) · θ(λ_t) with
    θ = √(2λα (1 + 2ρ − 2ρ³)/(1 + ρ)) (Nesterov's equilibrium at leading order, written
    out) and |w| doubling: the table reads c back."""
    import json

    import pandas as pd

    from training.report.settling import settling, settling_markdown

    path, _ = parabola_slice
    c = {5e-4: 1.5, 1e-3: 1.0, 2e-3: 0.7}
    for record in (path / "records").glob("*.json"):
        r = json.loads(record.read_text())
        lr, wd, rho = r["params"]["lr"], r["params"]["wd"], r["params"]["momentum"]
        run = path / "runs" / r["key"]
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"lr": lr, "wd": wd, "momentum": rho, "rule": "nesterov"}))
        lr_t = [lr * min(1, t / 20) * (1 if t < 20 else (100 - t) / 80) for t in range(0, 101, 5)]
        rows = [{"step": t, "layer": name, "scale_invariant": si, "weight_norm": 1 + t / 100,
                 "grad_norm": 1.0, "angular_update": c[wd] * math.sqrt(2 * l * wd * (1 + 2 * rho - 2 * rho**3) / (1 + rho)) if t else None,
                 "lr": l} for t, l in zip(range(0, 101, 5), lr_t) for name, si in (("conv", True), ("bn", False))]
        pd.DataFrame(rows).to_csv(run / "norms.csv", index=False)
    s = summarise(path)
    rows = settling(s)
    assert [r.y for r in rows] == [5e-4, 1e-3, 2e-3] and all(r.seeds == 2 for r in rows)
    for r, (best, _) in zip(rows, s.fit.points):
        assert r.angle_peak == pytest.approx(c[r.y]) and r.angle_mid == pytest.approx(c[r.y])
        assert r.norm_growth == pytest.approx(2.0)
        assert abs(math.log(r.lr / best)) <= math.log(2) / 2 + 1e-9  # the grid λ nearest the ridge point
    assert "| 0.0005 |" in settling_markdown(s, rows) and "| 1.50 | 1.50 | 2.00 | 2 |" in settling_markdown(s, rows)


def test_a_partial_sweep_counts_only_complete_seeds(parabola_slice):
    path, _ = parabola_slice
    records = sorted((path / "records").glob("*.json"))
    import json

    seed1 = [r for r in records if json.loads(r.read_text())["params"]["seed"] == 1]
    seed1[0].unlink()  # seed 1 still running: 14 of 15 grid points
    s = summarise(path)
    assert (s.runs_done, s.seeds_done) == (29, 1)
    assert s.slope == pytest.approx(-1.0, abs=1e-9)  # the mean over seed 0 alone
    assert s.per_seed == pytest.approx([-1.0]) and math.isnan(s.seed_err)  # one complete seed: no spread yet
    seed0 = [r for r in records if r.exists() and json.loads(r.read_text())["params"]["seed"] == 0]
    seed0[0].unlink()  # no seed complete: the mean of what there is, no slope per seed
    s = summarise(path)
    assert (s.runs_done, s.seeds_done, s.per_seed) == (28, 0, [])
    assert math.isfinite(s.slope) and "0 of 2 (28/30)" in markdown([s])


def test_not_a_train_sweep_is_a_one_line_error(tmp_path):
    from dynamics.util.errors import RidgelineError

    with pytest.raises(RidgelineError, match="sweep.json is missing"):
        summarise(tmp_path)


def test_quick_report_shows_given_slices_without_rerunning_them(tiny_slice, tmp_path, monkeypatch):
    monkeypatch.delenv("RIDGELINE_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    before = sorted(p.stat().st_mtime_ns for p in (tiny_slice / "records").glob("*.json"))
    out = tmp_path / "report"
    summary = report(ReportConfig.for_profile("quick", str(out), **TINY, runs=(), slices=(str(tiny_slice),)),
                     console=Console(quiet=True))
    assert summary["steps"]["real-slices"] == "done"
    assert sorted(p.stat().st_mtime_ns for p in (tiny_slice / "records").glob("*.json")) == before
    md = (out / "report.md").read_text()
    assert "## 4. Page's three slices on the real ResNet-9" in md and "| lr_x_wd | λα (-1) |" in md
    assert "](real-slices/slices.png)" in md and (out / "real-slices" / "slices.png").stat().st_size > 0
    assert "ridgeline sweep --objective train --repeats 2" in md  # how the sweep was made
    assert "lr_x_wd: the ridge row by row" in md and "lr_x_wd: had |w| settled at the ridge?" in md
    settled = [line for line in md.splitlines() if line.startswith("| 0.001 | 0.") and line.endswith("| 2 |")]
    assert len(settled) == 1  # α = 0.001's row of the settling table, read from both seeds' norms.csv


def test_full_profile_runs_the_slices_through_the_sweep_path(tmp_path, monkeypatch):
    from training.report import estimate

    monkeypatch.setattr(estimate, "measured_flop_rate", lambda *a, **k: 1e10)
    data = tiny_npz(tmp_path / "tiny.npz")
    specs = (SliceSpec("lr_batch", "lr=0.05:0.2:2", "batch_size=16:32:2", 1, TINY_TRAIN[:4] + TINY_TRAIN[6:]),
             SliceSpec("lr_wd", "lr=0.05:0.2:2", "wd=1e-3:4e-3:2", 1, TINY_TRAIN))
    out = tmp_path / "report"
    console = Console(record=True, width=300)
    summary = report(ReportConfig.for_profile("full", str(out), **TINY, runs=(), real_slices=specs, data=data,
                                              device="cpu"), console=console)
    assert summary["steps"]["sweep-lr_batch"] == summary["steps"]["sweep-lr_wd"] == "done"
    assert summary["steps"]["real-slices"] == "done"
    assert "training on the CPU: about" in console.export_text()  # the estimate, before any run
    for name in ("lr_batch", "lr_wd"):
        assert len(list((out / "real-slices" / name / "records").glob("*.json"))) == 4
    md = (out / "report.md").read_text()
    assert "| lr_x_batch_size | λ/N (+1) |" in md and "| lr_x_wd | λα (-1) |" in md
    assert "ridgeline sweep --objective train --repeats 1" in md


def test_full_profile_gpu_estimate_is_the_flop_count_over_the_measured_rate(monkeypatch):
    import torch

    from training.report import estimate
    from training.report.slices import PAGE_SLICES, spec_runs

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(estimate, "measured_flop_rate", lambda *a, **k: 1e14)
    runs = [run for spec in PAGE_SLICES for run in spec_runs(spec)]
    assert len(runs) == 3 * 9 * 5 * 3
    flops = estimate.training_flops(runs)
    console = Console(record=True, width=300)
    estimate.check_cpu_time(runs, "cuda", "full", console)
    assert f"about {flops / 1e14 / 3600:.1f} h at a measured 100 TFLOP/s" in console.export_text()


def test_report_refuses_a_slices_dir_that_is_no_sweep_before_any_work(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path / "r"), "--slices", str(tmp_path)])
    assert result.exit_code == 2 and "not a `ridgeline sweep` directory (no sweep.json)" in result.output
    assert not (tmp_path / "r").exists()
    full = CliRunner().invoke(app, ["report", "--profile", "full", "--out", str(tmp_path / "r"),
                                    "--slices", str(tmp_path)])
    assert full.exit_code == 2 and "the full profile runs its own slices" in full.output
