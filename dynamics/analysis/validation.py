"""What ``ridgeline validate`` and ``ridgeline forecast`` share about a logged run, and what
the validation figures read: the run loader, λ of every step, the causal average and the
prediction kinds (dynamics.jobs.validate holds the comparison itself).

    x̄_t = x̄_{t−1} + a_t (x_t − x̄_{t−1}),  a_t = 1 − exp(−Δstep_t/τ_t)      (:func:`_ema`)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dynamics.util.errors import RidgelineError

#: The prediction kinds, in the order shown. A *prediction* uses nothing of the run's own
#: weights or buffers but |w₀|, G² and the schedule. Each kind K writes the per-step
#: columns predicted_norm_K, predicted_angle_K (the equilibrium) and trajectory_norm_K,
#: trajectory_angle_K; dynamics.jobs.validate's add_ratios, summarise, the table and the summary
#: line do the rest (ratios, medians, status_K, trajectory_status_K). white: the noise model.
PREDICTIONS = ["white"]
PREDICTION_TITLES = {"white": "white-noise"}

NORM_COLUMNS = ("step", "layer", "scale_invariant", "weight_norm", "grad_norm",
                "angular_update", "lr")


@dataclass(frozen=True)
class Run:
    """A loaded run directory."""

    path: Path
    config: dict
    norms: "pandas.DataFrame"  # noqa: F821
    summary: dict | None  # None while the run is unfinished
    rule: str
    wd: float  # α, per step (torch.optim.SGD weight_decay on the mean loss)
    momentum: float  # ρ


def _rule_of(config: dict) -> str:
    from dynamics.rules import RULES

    if config.get("rule") in RULES:
        return config["rule"]
    if "rule" in config:
        raise RidgelineError(f"config.json names an unknown rule {config['rule']!r}")
    if float(config.get("momentum", 0.0)) == 0.0:
        return "sgd"
    return "nesterov" if config.get("nesterov") else "heavy-ball"


def _rule_arguments(run: Run, df) -> dict:
    """``predict``'s extra arguments for an adaptive rule: the layer's element count C
    (from the ``shape`` column) and the run's β₂; for muon the layer's matrix (out, in·k·k),
    Nesterov and adjust_lr; {} for the SGD rules."""
    from dynamics.rules import ADAPTIVE

    if run.rule == "muon":
        return dict(shape=tuple(int(n) for n in str(df["shape"].iloc[0]).split("x")),
                    nesterov=bool(run.config.get("nesterov", True)),
                    adjust_lr=run.config.get("adjust_lr") or "original")
    if run.rule not in ADAPTIVE:
        return {}
    return dict(elements=float(np.prod([int(n) for n in str(df["shape"].iloc[0]).split("x")])),
                beta2=run.config.get("beta2"))


def load_run(run_dir: str | Path) -> Run:
    """Read a run directory, or raise a one-line RidgelineError saying what is wrong.

    The files are checked by :mod:`dynamics.analysis.runtable`: a damaged config.json or
    summary.json is one line; norms.csv degrades per layer (what was repaired is printed
    as notes on stderr and kept in ``norms.attrs["notes"]``).
    """
    import sys

    from dynamics.analysis.runtable import NORM_KINDS, read_config, read_norms, read_summary

    path = Path(run_dir)
    hint = "give a directory written by `ridgeline train --out DIR`"
    if not path.is_dir():
        raise RidgelineError(f"{str(path)!r} is not a directory: {hint}")
    if not (path / "config.json").is_file():
        raise RidgelineError(f"{str(path)!r} is not a run directory (no config.json): {hint}")
    config = read_config(path / "config.json", numbers=("lr", "wd", "weight_decay", "momentum"))
    summary = read_summary(path / "summary.json")
    if summary and summary.get("diverged"):
        raise RidgelineError(
            f"run {path} diverged (loss became non-finite after {summary.get('steps', '?')} "
            "steps): there is no equilibrium to validate; rerun with a smaller lr")
    if not (path / "norms.csv").is_file() and config.get("source") == "training.monitor.Monitor":
        raise RidgelineError(f"run {path} has no norm table (norms.csv) yet: training.monitor.Monitor "
                             "writes it at its first logged step; let the loop take a logged step "
                             "(every `every` steps) or call monitor.flush()")
    if not (path / "norms.csv").is_file():
        raise RidgelineError(f"run {path} has no norm table (norms.csv): rerun "
                             "`ridgeline train` with norm logging on (--log-every K)")
    wd = config.get("wd", config.get("weight_decay"))
    if wd is None or "momentum" not in config and _rule_of(config) != "sgd":
        raise RidgelineError(f"{path / 'config.json'} lacks wd or momentum: not a ridgeline run")
    _refuse_initial_weights_only(path / "norms.csv")
    table = read_norms(path / "norms.csv", strict=False,
                       required={k: v for k, v in NORM_KINDS.items() if k in NORM_COLUMNS})
    for note in table.notes:
        print(f"note: {path / 'norms.csv'}: {note}", file=sys.stderr)
    norms = table.frame
    norms.attrs["notes"], norms.attrs["non_finite"] = table.notes, table.non_finite
    return Run(path, config, norms, summary, _rule_of(config), float(wd),
               float(config.get("momentum", 0.0)))


def _refuse_initial_weights_only(norms_csv: Path) -> None:
    """A run that logged only step 0 (its initial weights; no step reached --log-every) is too
    short, not damaged: say so, in the words of the verdicts."""
    import pandas as pd

    try:
        logged = pd.read_csv(norms_csv, usecols=["step"])["step"]
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return  # read_norms says what is wrong
    if len(logged) and (pd.to_numeric(logged, errors="coerce") == 0).all():
        raise RidgelineError(f"{norms_csv.parent} is too short: only step 0 (the initial weights) is logged, "
                             "0 relaxation times; the verdict needs 1 (trajectory) or 3 (equilibrium): "
                             "train for more steps, or log more often (--log-every)")


def _why_no_schedule(e: Exception) -> str:
    """Why the run directory gives no schedule, in words (no exception names)."""
    if isinstance(e, OSError):
        return "no schedule in the run directory (no readable metrics.csv)"
    if isinstance(e, KeyError):
        return f"no schedule in the run directory (config.json has no {e.args[0]})"
    return "no schedule in the run directory (metrics.csv has no step count)"


def step_lrs_of(run: Run, logged: "pandas.DataFrame") -> tuple[np.ndarray, str]:  # noqa: F821
    """λ of every step 1 … T from the run's config (the trainer's schedule), and a note.

    Falls back to the logged λ, interpolated, when the config does not give the schedule
    or its values disagree with the logged ones (then the note says so).
    """
    import pandas as pd

    from dynamics.theory.trajectory import step_lrs

    total = int(logged["step"].max())
    steps, lrs = logged["step"].to_numpy(float), logged["lr"].to_numpy(float)
    c = run.config
    try:
        per_epoch = int(pd.read_csv(run.path / "metrics.csv")["step"].iloc[0])
        epochs = float(c["epochs"])
        warmup = float(c["warmup_epochs"]) if c.get("warmup_epochs") is not None else epochs * 5 / 24
        lam = step_lrs(float(c["lr"]), warmup, epochs, str(c.get("schedule", "piecewise")), per_epoch, total)
        at = lam[np.clip(steps.astype(int) - 1, 0, total - 1)][steps > 0]
        if np.allclose(at, lrs[steps > 0], rtol=1e-5, atol=1e-12):
            return lam, ""
        note = "the config's schedule does not reproduce the logged lr"
    except (OSError, KeyError, ValueError, IndexError, pd.errors.ParserError) as e:
        note = _why_no_schedule(e)
    keep = steps > 0
    return (np.interp(np.arange(1, total + 1), steps[keep], lrs[keep]),
            note + ": trajectory uses the logged lr, interpolated")


def _ema(values: np.ndarray, steps: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Causal exponential average with a time constant τ_t (steps) that may vary.

    x̄_t = x̄_{t−1} + a_t (x_t − x̄_{t−1}),  a_t = 1 − exp(−Δstep_t/τ_t),
    started at the first finite value (NaN before it); a non-finite value is skipped
    (the average holds), as it does where τ is infinite (λ = 0).
    """
    out = np.full(len(values), np.nan)
    avg, prev = np.nan, steps[0] if len(steps) else 0
    for i, (x, s, t) in enumerate(zip(values, steps, tau)):
        if np.isfinite(x):
            if not np.isfinite(avg):
                avg = x
            elif np.isfinite(t) and t > 0:
                avg = avg + (1.0 - np.exp(-(s - prev) / t)) * (x - avg)
        out[i] = avg
        prev = s
    return out


def kinds_in(table) -> list[str]:
    """The prediction kinds with columns in ``table``, in :data:`PREDICTIONS` order."""
    return [k for k in PREDICTIONS if f"predicted_norm_{k}" in table or f"trajectory_norm_{k}" in table]
