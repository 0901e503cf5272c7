"""The sweep's size check counts before it builds, and the toy simulates in bounded
chunks with the same results (issue 28, item 1). The estimate against the measured
peak is benchmarks/sweep_memory.py (a memory measurement is no test)."""

from typer.testing import CliRunner

import training.search.objectives as objectives
from cli import app
from training.search.objectives import QuadraticObjective
from training.search.sweep import Axis

runner = CliRunner()


def test_a_huge_axis_is_refused_by_its_count_before_any_value_is_built(tmp_path, monkeypatch):
    values = Axis.values

    def counted(self):
        assert self.points <= 1000, f"built {self.points:,} values before the size check"
        return values(self)

    monkeypatch.setattr(Axis, "values", counted)
    monkeypatch.setattr("dynamics.util.io.available_memory", lambda: 8 * 10**9)
    for axis in ("batch_size=1:1e12:100000000", "lr=0.1:1:1000000000"):
        result = runner.invoke(app, ["sweep", "--objective", "quadratic", "--x", axis, "--y", "wd=1e-4:1e-3:2",
                                     "--out", str(tmp_path / "s"), "--steps", "5"])
        assert result.exit_code == 2, result.output
        assert "needs about" in result.output and "runs" in result.output
        assert not (tmp_path / "s").exists()


def test_the_toy_runs_in_bounded_chunks_with_the_same_losses(monkeypatch):
    objective = QuadraticObjective.from_options(["--steps", "30", "--dim", "8", "--head", "2"])
    trials = [objective.trial({"lr": 0.05 * (1 + i), "wd": 1e-3 * (1 + i % 3), "seed": i % 2}) for i in range(13)]
    whole = [r["score"] for r in objective.evaluate(trials, ".")]
    sizes = []
    import dynamics.jobs.slices

    original = dynamics.jobs.slices.quadratic_final_loss

    def recorded(lr, **kw):
        sizes.append(len(lr))
        return original(lr, **kw)

    monkeypatch.setattr(dynamics.jobs.slices, "quadratic_final_loss", recorded)
    monkeypatch.setattr(objectives, "CHUNK_ELEMENTS", 3 * 10)  # 3 settings of D + D_b = 10
    chunked = [r["score"] for r in objective.evaluate(trials, ".")]
    assert max(sizes) == 3 and sum(sizes) == len(trials)
    assert chunked == whole  # each chunk draws the same noise: the same numbers, to the bit
