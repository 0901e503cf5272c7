"""``ridgeline sweep``: Page's two-dimensional hyperparameter slices, resumable.

A sweep evaluates an objective (:mod:`training.search.objectives`) on a log-spaced grid over
two of λ ``lr`` (per step), N ``batch_size`` (examples per step), 1 − ρ
``one_minus_momentum`` and α ``wd``, ``repeats`` times with seeds s, s+1, …; every
other hyperparameter stays at the objective's default (Page's, or the toy's
``TOY_DEFAULTS``) unless given. David Page ("How to Train Your ResNet 5: Hyperparameters") found a
ridge of best score along λ/N, λ/(1−ρ) and λα constant: a line of slope 1 in log-log
axes for N and 1 − ρ against λ, and of slope −1 for α against λ.

The sweep directory ``--out`` holds

- ``sweep.json``: what the sweep is; a directory holding another sweep is refused;
- ``records/<key>.json``: one per finished run (:mod:`training.search.records`); a rerun
  recomputes nothing finished, and a run killed mid-way is simply run again;
- ``records.csv``: one row per finished run (hyperparameters, seed, score, diverged);
- ``heatmap.png`` and then, last, ``ridge.json`` once every run has finished: the ridge
  of best mean score, fitted as a line in log-log axes by :func:`dynamics.analysis.ridge.fit_ridge`,
  drawn by :func:`figures.heatmap.slice_heatmap` (the functions ``ridgeline simulate
  slices`` uses). ``ridge.json`` names the records it was fitted on (their number,
  repeats and a hash of their keys) and is the sweep's "finished" marker; both files
  are removed when a rerun starts, so a grown or unfinished sweep never shows the ridge
  of fewer records.

Its size is checked before anything is built (:func:`check_size`): the runs are counted
from the axes' specs, and the estimate adds every buffer held at the peak.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from dynamics.util.errors import RidgelineError
from dynamics.util.io import write_csv, write_json
from dynamics.util.parse import number, whole
from dynamics.util.output import changed_settings
from training.search.executors import make_executor
from training.search.objectives import make_objective
from training.search.records import RecordStore, abandon, canonical, claim_directory, make_record

#: names an axis may take, and the hyperparameter each one sets
AXES = ("lr", "batch_size", "one_minus_momentum", "wd")
#: records.csv columns before score and diverged
COLUMNS = ("lr", "batch_size", "momentum", "one_minus_momentum", "wd", "seed")
#: the largest batch size an axis may reach: a whole number the toy's and torch's int64 hold
LARGEST_BATCH = 2**62
#: the final table is printed up to this many grid columns and rows (a terminal's width);
#: a larger grid is in records.csv and the heatmap
PRINTED_POINTS = 40


@dataclass(frozen=True)
class Axis:
    """One axis of a slice: ``points`` log-spaced values from ``lo`` to ``hi``."""

    name: str  # lr (per step), batch_size (examples), one_minus_momentum or wd
    lo: float  # first value, in the axis' own units
    hi: float  # last value
    points: int  # number of values, >= 2 (1 on --y: a single row, lo == hi)

    def values(self) -> list[float]:
        """The grid values; batch sizes rounded to whole examples."""
        if self.points == 1:
            return [float(round(self.lo))] if self.name == "batch_size" else [canonical(self.lo)]
        ratio = self.hi / self.lo
        raw = [self.lo * ratio ** (i / (self.points - 1)) for i in range(self.points)]
        if self.name == "batch_size":
            return [float(round(v)) for v in raw]
        return [canonical(v) for v in raw]

    def refuse_repeats(self, option: str) -> None:
        raise RidgelineError(
            f"{option}: batch sizes {self.lo:g}:{self.hi:g} in {self.points} points repeat after rounding "
            "to whole examples; use fewer points or a wider range")

    def check_values(self, option: str) -> None:
        """Refuse a batch-size axis whose rounded values repeat (after :func:`check_size`:
        this builds the values)."""
        if self.name == "batch_size" and len(set(self.values())) < self.points:
            self.refuse_repeats(option)

    def params(self, value: float) -> dict:
        """The hyperparameters one grid value sets."""
        if self.name == "one_minus_momentum":
            return {"momentum": 1.0 - value}
        if self.name == "batch_size":
            return {"batch_size": int(value)}
        return {self.name: value}


def parse_axis(text: str, option: str) -> Axis:
    """``NAME=LO:HI:POINTS`` (e.g. ``lr=0.01:1:7``) as a checked :class:`Axis`."""
    usage = f"{option}: expected NAME=LO:HI:POINTS with NAME one of {', '.join(AXES)}, e.g. lr=0.01:1:7"
    name, sep, spec = text.partition("=")
    parts = spec.split(":")
    if not sep or len(parts) != 3:
        raise RidgelineError(f"{usage}; got {text!r}")
    name = name.strip()
    if name not in AXES:
        raise RidgelineError(f"{option}: unknown parameter {name!r}; use one of {', '.join(AXES)}")
    try:
        lo, hi, points = number(parts[0]), number(parts[1]), whole(parts[2])
    except ValueError as e:
        raise RidgelineError(f"{usage}; got {text!r}, whose {'LO' if _bad(parts[0]) else 'HI' if _bad(parts[1]) else 'POINTS'} {e}") from None
    if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
        raise RidgelineError(f"{option}: {name} needs LO and HI > 0 (log-spaced), got {lo:g}:{hi:g}")
    if lo > hi:
        raise RidgelineError(f"{option}: {name}={lo:g}:{hi:g}:{points} runs from high to low; "
                             f"give LO first: {name}={hi:g}:{lo:g}:{points}")
    one_row = option == "--y" and points == 1 and lo == hi  # one row: the best λ at one value, no slope
    if not one_row and (points < 2 or lo == hi):
        raise RidgelineError(f"{option}: a slice needs at least 2 distinct points (or, on --y, one row "
                             f"as LO:LO:1), got {text!r}")
    if name == "one_minus_momentum" and max(lo, hi) > 1:
        raise RidgelineError(f"{option}: one_minus_momentum must be in (0, 1], got {lo:g}:{hi:g}")
    if name == "batch_size" and not (0.5 <= min(lo, hi) and max(lo, hi) <= LARGEST_BATCH):
        raise RidgelineError(f"{option}: batch sizes must be whole numbers from 1 to {LARGEST_BATCH:.3g}, "
                             f"got {lo:g}:{hi:g}")
    axis = Axis(name, lo, hi, points)
    if name == "batch_size" and points > round(max(lo, hi)) - round(min(lo, hi)) + 1:
        axis.refuse_repeats(option)  # more points than whole numbers in the range: counted, not built
    return axis


def _bad(text: str) -> bool:
    try:
        number(text)
    except ValueError:
        return True
    return False


@dataclass(frozen=True)
class SweepConfig:
    """One ``ridgeline sweep``: printed at the start and saved (``sweep_config.json``)."""

    objective: str  # "quadratic" (the toy) or "train" (the real network)
    x: Axis  # horizontal axis of the slice
    y: Axis  # vertical axis of the slice
    out: str  # sweep directory
    repeats: int = 1  # runs per grid point, with seeds seed, seed+1, …
    options: tuple[str, ...] = ()  # the objective's own options, e.g. ("--width", "0.25")
    executor: str = "local"  # "local" or "ray"
    workers: int | None = None  # local worker processes; None: one per visible GPU for train
    ray_address: str | None = None  # existing Ray cluster; None: start a local one
    cpus_per_trial: float = 1.0  # Ray resources per task, cores
    gpus_per_trial: float = 0.0  # Ray resources per task, GPUs
    max_runs: int | None = None  # stop after this many new runs (a rerun continues)
    floor: float | None = None  # heatmap floor on the score; None: the objective's (0.91 for accuracy)
    format: str = "table"  # final grid on stdout: "table" (full values when piped) or "csv"


@dataclass(frozen=True)
class SweepResult:
    """What a sweep left: its frame of finished runs and, once complete, the ridge."""

    out: Path
    records: object  # pandas DataFrame, one row per finished run (records.csv)
    total: int  # runs in the sweep
    new: int  # runs computed by this call
    fit: object | None  # dynamics.analysis.ridge.RidgeFit, None until every run has finished


def _check(config: SweepConfig) -> None:
    if config.x.name == config.y.name:
        raise RidgelineError(f"--x and --y are both {config.x.name}; sweep two different parameters")
    if config.repeats < 1:
        raise RidgelineError(f"--repeats must be >= 1, got {config.repeats}")
    if config.format not in ("table", "csv"):
        raise RidgelineError(f"--format must be table or csv, got {config.format!r}")
    if config.max_runs is not None and config.max_runs < 1:
        raise RidgelineError(f"--max-runs must be >= 1, got {config.max_runs}")
    if isinstance(config.repeats, bool) or not isinstance(config.repeats, int):
        raise RidgelineError(f"--repeats must be a whole number, got {config.repeats!r}")
    swept = {p for a in (config.x, config.y) for p in a.params(a.lo)}
    given = {o[2:].split("=")[0].replace("-", "_") for o in config.options if o.startswith("--")}
    given |= {"momentum"} if "beta1" in given else set()  # β₁ is stored as momentum
    if swept & given:
        raise RidgelineError(f"--{', --'.join(sorted(swept & given))} is swept by --x/--y; drop it")


def _deep_size(obj) -> int:
    """Bytes of ``obj`` and everything it holds (dicts, lists, dataclass fields)."""
    import sys

    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(_deep_size(k) + _deep_size(v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        size += sum(_deep_size(v) for v in obj)
    elif hasattr(obj, "__dataclass_fields__"):
        size += sum(_deep_size(getattr(obj, f)) for f in obj.__dataclass_fields__)
    return size


def _objects(obj, seen: dict) -> dict:
    """id -> object for ``obj`` and everything it holds (dicts, lists, dataclass fields)."""
    if id(obj) in seen:
        return seen
    seen[id(obj)] = obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            _objects(k, seen), _objects(v, seen)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _objects(v, seen)
    elif hasattr(obj, "__dataclass_fields__"):
        for f in obj.__dataclass_fields__:
            _objects(getattr(obj, f), seen)
    return seen


def unique_size(obj, other) -> int:
    """Bytes that one more object like ``obj`` adds: what it holds, each object once, less
    what it shares with ``other`` (a second one of its kind), such as interned dict keys,
    small integers and the option values every trial refers to."""
    import sys

    shared = _objects(other, {})
    return sum(sys.getsizeof(o) for i, o in _objects(obj, {}).items() if i not in shared)


def runs_of(config: SweepConfig) -> int:
    """Runs in the sweep, counted from the axes' specs (nothing built)."""
    return config.x.points * config.y.points * config.repeats


def estimate_memory(config: SweepConfig, objective) -> dict[str, float]:
    """Bytes the sweep holds at its peak, by buffer. Held throughout:

    - ``trials``: every Trial (key, params, config), :func:`unique_size` of one;
    - ``index``: the lists of trials and pending trials (a reference each), and the
      key → trial map that drops repeats while the pending list is made;

    and then the larger of its two phases:

    - ``run``: one task's results (the runs of one seed), the task lists, and the objective's
      working set for that task (:meth:`QuadraticObjective.working_set`: the
      simulator's buffers for one chunk);
    - ``table``: records.csv's frame built from the records and averaged per grid
      point, per run as measured (``tracemalloc``'s peak) at :data:`TABLE_SAMPLES` runs,
      and the CSV writer's buffer of one chunk (:data:`CSV_CELLS`).
    """
    import sys

    runs = runs_of(config)
    trial = objective.trial({})
    other = objective.trial({"lr": 0.7 * trial.params["lr"], "seed": trial.params["seed"] + 1})
    index = {str(i): trial for i in range(1024)}
    per_entry = (sys.getsizeof(index) + sum(sys.getsizeof(k) for k in index)) / len(index)
    per_seed = config.x.points * config.y.points
    working = objective.working_set(per_seed) if hasattr(objective, "working_set") else 0
    result = lambda v: {"score": v, "diverged": False, "summary": {objective.score_name: v}}  # noqa: E731
    run = per_seed * (unique_size(result(0.5), result(0.25)) + 2 * 8) + working
    table = runs * table_bytes_per_run(config, objective)
    return {"trials": runs * unique_size(trial, other), "index": runs * (2 * 8 + per_entry),
            "run" if run >= table else "table": float(max(run, table))}


#: a bound on the table phase per run for :func:`check_size`'s quick pass (about ten
#: times what :func:`table_bytes_per_run` measures on the toy, 1.1 kB)
TABLE_CEILING = 16_000
#: cells pandas formats at once when it writes a CSV (pandas.io.formats.csvs)
CSV_CELLS = 100_000
#: runs on which :func:`table_bytes_per_run` measures the table phase: the slope
#: between the two sizes (a fixed cost, such as pandas' buffers, cancels)
TABLE_SAMPLES = (400, 1200)


def table_bytes_per_run(config: SweepConfig, objective) -> float:
    """Peak bytes per run of the table phase of :func:`run_sweep` (records read back
    from JSON one at a time, records.csv's frame, the mean per grid point),
    measured with ``tracemalloc`` at :data:`TABLE_SAMPLES` runs of this objective."""
    import json
    import os
    import tempfile
    import tracemalloc

    import pandas  # noqa: F401  (imported before tracing: not a per-run cost)

    def texts(n):
        return [json.dumps(make_record(objective.name, objective.trial(
            {"lr": canonical(0.01 * (1 + i)), "seed": i % 7}),
            {"score": 0.1 * i, "diverged": False, "summary": {objective.score_name: 0.1 * i}}))
            for i in range(n)]

    def peak(lines, tmp, csv=False):
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        frame = records_frame(json.loads(t) for t in lines)
        if csv:
            write_csv(os.path.join(tmp, "records.csv"), frame)
        mean_frame(frame, "lr", "wd")
        return tracemalloc.get_traced_memory()[1] - base

    small, large = (texts(n) for n in TABLE_SAMPLES)
    tracing = tracemalloc.is_tracing()
    with tempfile.TemporaryDirectory() as tmp:
        peak(small[:50], tmp) if tracing else None
        if not tracing:
            records_frame(json.loads(t) for t in small[:50])  # lazy imports, outside the measure
            tracemalloc.start()
        try:
            low, high = peak(small, tmp), peak(large, tmp)
            written = peak(large, tmp, csv=True)
        finally:
            if not tracing:
                tracemalloc.stop()
    per_run = max(0.0, (high - low) / (TABLE_SAMPLES[1] - TABLE_SAMPLES[0]))
    # pandas writes records.csv in chunks of CSV_CELLS cells: a bounded buffer, not per run
    per_written_row = max(0.0, written - high) / TABLE_SAMPLES[1]
    chunk_rows = CSV_CELLS // (len(COLUMNS) + 3)
    return per_run + per_written_row * min(chunk_rows, runs_of(config)) / max(1, runs_of(config))


def check_size(config: SweepConfig, objective) -> None:
    """Refuse, with the numbers, a sweep that cannot be held in memory, before any of
    it is built: the runs are counted from the axes, the estimate is
    :func:`estimate_memory` (benchmarks/sweep_memory.py measures it against the peak)."""
    from dynamics.util.io import available_memory, check_memory

    runs = runs_of(config)
    available = available_memory()
    trial = objective.trial({})
    if available is not None and runs * (_deep_size(trial) + TABLE_CEILING) < 0.4 * available:
        return  # far inside the limit by a cheap bound: not worth measuring the table phase
    check_memory(sum(estimate_memory(config, objective).values()),
                 f"a sweep of {config.x.points} × {config.y.points} points × "
                 f"{config.repeats} repeats = {runs:,} runs", "use fewer --x/--y points or --repeats")


def _centred(config: SweepConfig) -> tuple[str, ...]:
    """The objective's options, with ``--init-scale follow`` or ``--exact-symmetry``
    centred on the grid: λ₀ and α₀ at the geometric middle of their axes, when swept."""
    if config.objective != "train":
        return config.options
    from training.search.objectives import with_symmetry_ref

    middle = {a.name: canonical(math.sqrt(a.lo * a.hi)) for a in (config.x, config.y)}
    return with_symmetry_ref(config.options, middle.get("lr"), middle.get("wd"))


def grid_trials(config: SweepConfig, objective) -> list:
    """Every trial of the sweep: seeds outermost, then y, then x."""
    base_seed = objective.trial({}).params["seed"]
    return [objective.trial({**config.x.params(xv), **config.y.params(yv), "seed": base_seed + r})
            for r in range(config.repeats) for yv in config.y.values() for xv in config.x.values()]


#: grid points whose runs are shorter than this many relaxation times of |w| are noted
MIN_RELAXATION_TIMES = 3.0


@functools.lru_cache(maxsize=None)
def _relaxation_rate(rule: str):
    """1/τ(λ, α, ρ) of ``rule``, lambdified once per rule."""
    from training.relaxation import relaxation_rate as derived

    return derived(rule)


def relaxation_times(objective, trial) -> float | None:
    """Relaxation times of |w| one trial's run spans, Σ_t 1/τ(λ_t) with τ derived from its
    update rule (leading order, :func:`training.report.slices.equilibrium_numeric`); None
    where no τ is derived (the adaptive rules)."""
    import numpy as np

    from training.relaxation import run_lengths

    if objective.name == "train":
        from training.config import TrainConfig

        config = TrainConfig(**trial.config)
        return None if config.optimizer != "sgd" else run_lengths(config, _relaxation_rate(config.rule))[2]
    import torch

    from dynamics.sim.engine import schedule_factor
    from dynamics.jobs.slices import steps_for_batch, toy_options

    options = toy_options() | dict(objective.options)
    if options["rule"] not in ("sgd", "heavy-ball", "nesterov"):
        return None
    p = trial.params
    steps = int(steps_for_batch(options["steps"], p["batch_size"]))
    factor = schedule_factor(options["schedule"], torch.arange(steps), torch.tensor(float(steps))).numpy()
    return float(np.sum(_relaxation_rate(options["rule"])(p["lr"] * factor, p["wd"], p["momentum"])))


def short_runs_note(config: SweepConfig, objective, trials) -> str | None:
    """One line when grid points run fewer than :data:`MIN_RELAXATION_TIMES` relaxation
    times of |w|: how many, and the shortest with its length."""
    points = {(t.params["lr"], t.params["batch_size"], t.params["momentum"], t.params["wd"]): t for t in trials}
    lengths = {k: relaxation_times(objective, t) for k, t in points.items()}
    short = {k: n for k, n in lengths.items() if n is not None and n < MIN_RELAXATION_TIMES}
    if not short:
        return None
    (lr, n_, rho, wd), fewest = min(short.items(), key=lambda kv: kv[1])
    return (f"{len(short)} of {len(points)} grid points run fewer than {MIN_RELAXATION_TIMES:g} relaxation "
            f"times of |w| (the fewest: {fewest:.2g}, at lr={lr:g} batch_size={n_} momentum={rho:g} wd={wd:g}); "
            "there |w| cannot follow its equilibrium, and the score tells of the start as much as of the "
            "hyperparameters: train longer or move the grid")


def describe(config: SweepConfig, objective) -> dict:
    """The identity of a sweep, saved as ``sweep.json``: a rerun must match it."""
    return {"kind": "sweep", "objective": objective.name, "score": objective.score_name,
            "maximize": objective.maximize, "x": asdict(config.x), "y": asdict(config.y),
            "repeats": config.repeats, **objective.describe()}


def records_frame(records):
    """records.csv as a DataFrame: the hyperparameters, seed, score, diverged, key.
    ``records``: any iterable (a generator keeps one record in memory at a time)."""
    import pandas as pd

    names = [c for c in COLUMNS if c != "one_minus_momentum"]
    columns: dict[str, list] = {c: [] for c in [*names, "one_minus_momentum", "score", "diverged", "key"]}
    for r in records:
        for c in names:
            columns[c].append(r["params"].get(c))
        columns["one_minus_momentum"].append(canonical(1.0 - r["params"]["momentum"]))
        for c in ("score", "diverged", "key"):
            columns[c].append(r[c])
    order = [*names[:3], "one_minus_momentum", *names[3:], "score", "diverged", "key"]
    return pd.DataFrame({c: columns.pop(c) for c in order}, columns=order)


def mean_frame(frame, x: str, y: str):
    """Mean score over repeats at each grid point (a diverged repeat makes the mean NaN)."""
    return frame.groupby([x, y], as_index=False)["score"].agg(lambda s: s.mean(skipna=False))


def run_sweep(config: SweepConfig, *, console=None) -> SweepResult:
    """Run (or resume) the sweep; write records, records.csv, ridge.json, heatmap.png."""
    from rich.console import Console

    report_to = console or Console()  # the final table, on stdout
    console = console or Console(stderr=True)  # progress and notes
    _check(config)
    config = replace(config, options=_centred(config))
    objective = make_objective(config.objective, list(config.options))
    executor = make_executor(config.executor, workers=config.workers,
                             ray_address=config.ray_address, cpus_per_trial=config.cpus_per_trial,
                             gpus_per_trial=config.gpus_per_trial)
    check_size(config, objective)  # counted from the specs: before any list is built
    config.x.check_values("--x")
    config.y.check_values("--y")
    trials = grid_trials(config, objective)
    out = Path(config.out)
    lock = claim_directory(out, "sweep", describe(config, objective), grows="repeats")  # more seeds: allowed
    frame, pending = None, []
    try:
        for derived in ("ridge.json", "heatmap.png"):  # rebuilt below once every run is done
            (out / derived).unlink(missing_ok=True)
        write_json(out / "sweep_config.json", asdict(config))
        _announce(config, objective, trials, out, console)
        store = RecordStore(out)
        pending = list({t.key: t for t in trials if not store.has(t.key)}.values())
        before = f"runs ({len(trials) - len(pending)} done before)"
        if config.max_runs is not None:
            pending = pending[: config.max_runs]
        _run_pending(objective, executor, store, pending, before, out, console)
        frame = records_frame(store.load(t.key) for t in trials if store.has(t.key))
        write_csv(out / "records.csv", frame)
        fit = _ridge(config, objective, frame, out, console) if len(frame) == len(trials) else None
    except BaseException:
        abandon(out, "sweep", lock)  # refused before its first record: no sweep.json left behind
        raise
    finally:
        lock.release()
    result = SweepResult(out, frame, len(trials), len(pending), fit)
    _print_summary(report_to, config, objective, result)
    return result


def _announce(config: SweepConfig, objective, trials: list, out: Path, console) -> None:
    """The sweep's first lines: what runs where, the changed settings, a too-short warning."""
    console.print(f"[bold]sweep[/] {config.objective}: {config.x.name} x {config.y.name}, "
                  f"{len(trials)} runs -> {out}")
    console.print(f"settings: {changed_settings(config, skip=('objective', 'x', 'y', 'out'))}",
                  highlight=False, soft_wrap=True)
    note = short_runs_note(config, objective, trials)
    if note:
        console.print(f"[yellow bold]warning[/]: too short: {note}", highlight=False, soft_wrap=True)


def _run_pending(objective, executor, store: RecordStore, pending: list, before: str, out: Path,
                 console) -> None:
    """Run the ``pending`` trials under a progress bar, writing each record as it finishes;
    once, a note when the pace (seconds per run × runs left) says the rest takes over an hour."""
    from rich.progress import Progress

    with Progress(console=console, transient=False) as progress:
        bar = progress.add_task(before, total=len(pending))

        started, warned = time.monotonic(), []

        def finished(trial, result):
            store.write(make_record(objective.name, trial, result))
            progress.update(bar, advance=1, description=before)
            done_now = progress.tasks[bar].completed
            left = len(pending) - done_now
            hours = (time.monotonic() - started) / done_now * left / 3600
            if hours > 1 and not warned:  # once: at this pace the rest takes hours
                warned.append(hours)
                console.print(f"[yellow]note[/]: at this pace the {left} runs left take about "
                              f"{hours:.1f} h; --max-runs N stops after N (a rerun continues)")

        def report(text):  # within a trial, when it runs in this process
            progress.update(bar, description=f"{before}: {text}")

        if pending:
            executor.run(objective, pending, str(out.resolve()), finished, report)


def _ridge(config: SweepConfig, objective, frame, out: Path, console):
    """Fit the ridge of the mean score, save ridge.json and draw heatmap.png."""
    from dynamics.analysis.ridge import fit_ridge, interior_only
    from figures.heatmap import slice_heatmap

    x, y, score = config.x.name, config.y.name, objective.score_name
    means = mean_frame(frame, x, y).rename(columns={"score": score})
    fit = interior_only(fit_ridge(means, x, y, score, objective.maximize))
    floor = config.floor if config.floor is not None else objective.floor
    finite = means[score].dropna()
    if floor is not None and len(finite) and not (
            (finite > floor).any() if objective.maximize else (finite < floor).any()):
        console.print(f"[yellow]note[/]: the floor {floor:g} is past every {score}; "
                      "heatmap drawn without it (set --floor)")
        floor = None
    title = f"{objective.name}: mean {score} of {config.repeats} seed(s)"
    slice_heatmap(means, x, y, score, out / "heatmap.png", maximize=objective.maximize,
                  floor=floor, fit=fit, title=title)
    write_json(out / "ridge.json", {f"{x}_x_{y}": {"score": score, **fit.to_dict()},
                                    "records": records_identity(frame, config.repeats)})  # last: finished
    return fit


def records_identity(frame, repeats: int) -> dict:
    """Which records a derived file (ridge.json, heatmap.png) was made from: their
    number, the repeats, and sha256 of their sorted keys."""
    import hashlib

    keys = "\n".join(sorted(frame["key"]))
    return {"count": len(frame), "repeats": repeats, "keys_sha256": hashlib.sha256(keys.encode()).hexdigest()}


def _print_summary(console, config: SweepConfig, objective, result: SweepResult) -> None:
    """The final report: the mean scores (a table, or every digit as CSV on stdout), the runs
    finished and left, and the ridge."""
    x, y = config.x.name, config.y.name
    frame = result.records
    if config.format == "csv" and len(frame):  # every digit, one row per grid point
        console.file.write(mean_frame(frame, x, y).rename(columns={"score": objective.score_name})
                           .to_csv(index=False, float_format="%.17g"))
        from rich.console import Console

        console = Console(stderr=True)  # stdout holds the CSV alone
    if len(frame) and config.format == "table" and max(config.x.points, config.y.points) > PRINTED_POINTS:
        console.print(f"(a {config.x.points:,} × {config.y.points:,} grid is too wide to print; its "
                      f"scores are in {result.out / 'records.csv'} and the heatmap)")
    elif len(frame) and config.format == "table":
        from dynamics.util.output import print_table

        print_table(console, _score_table(objective, frame, x, y))
    left = result.total - len(frame)
    diverged = int(frame["diverged"].sum()) if len(frame) else 0
    console.print(f"{len(frame)}/{result.total} runs finished ({result.new} new)"
                  + (f"; {diverged} diverged (scored as the worst: their grid points show '-' "
                     "and never hold the ridge)" if diverged else "")
                  + (f"; {left} left: rerun the same command to continue" if left else ""))
    if result.fit is not None:
        _print_ridge(console, result.fit, x, y, result.out)


def _score_table(objective, frame, x: str, y: str):
    """The mean score per grid point as a table, rows top to bottom as in the heatmap, in
    units of 10^e when |e| ≥ 2 for e = ⌊log10 max |score|⌋ (1.23 × 1e-4, not 0.000123)."""
    import numpy as np
    from rich import box
    from rich.table import Table

    better = "higher" if objective.maximize else "lower"
    table = Table(title=f"mean {objective.score_name} ({better} is better)", box=box.SIMPLE_HEAD,
                  padding=(0, 1))
    grid = mean_frame(frame, x, y).pivot(index=y, columns=x, values="score")
    grid = grid.sort_index(ascending=False)  # rows top to bottom as in the heatmap
    finite = grid.to_numpy(float)[np.isfinite(grid.to_numpy(float))]
    exponent = int(np.floor(np.log10(np.abs(finite).max()))) if finite.size and finite.any() else 0
    exponent = exponent if abs(exponent) >= 2 else 0  # print 1.23 (x 1e-4), not 0.000123
    if exponent:
        table.title += f", in units of 1e{exponent}"
    table.add_column(f"{y} \\ {x}", no_wrap=True)
    for xv in grid.columns:
        table.add_column(f"{xv:.3g}", justify="right", no_wrap=True)
    for yv, row in grid.iterrows():
        table.add_row(f"{yv:.3g}", *("-" if v != v else f"{v / 10.0**exponent:.3g}" for v in row))
    return table


def _print_ridge(console, fit, x: str, y: str, out: Path) -> None:
    """The ridge line log y = slope · log x + intercept over the rows whose best x is inside
    the grid, or the one row's best x, or which rows' best x is on the grid's edge."""
    inside = sum(fit.interior) if fit.interior else len(fit.points)
    if inside >= 2:
        error = (f"± {fit.slope_err:.3f}" if math.isfinite(fit.slope_err) else
                 "no error: a line through 2 rows fits them exactly" if inside == 2 else "no error")
        console.print(f"ridge: log {y} = {fit.slope:.3f} ({error}) log {x} "
                      f"+ {fit.intercept:.3f}, from {inside} of {len(fit.points)} rows")
    elif len(fit.points) == 1:  # one row (--y LO:LO:1): its best x, and no slope
        (best, _), ok = fit.points[0], fit.interior[0]
        console.print(f"one row: best {x} = {best:.3g}" + (" (inside the grid)" if ok else
                      " [yellow]on the grid's edge[/]: move or widen --x"))
    else:
        edges = sorted({f"{p[0]:.3g}" for p, ok in zip(fit.points, fit.interior) if not ok})
        console.print(f"[yellow]no ridge inside the grid[/]: the best {x} of "
                      f"{len(fit.points) - inside} of {len(fit.points)} rows is on the grid's edge "
                      f"({x} = {', '.join(edges)}); move or widen --x")
    console.print(f"-> {out / 'ridge.json'}, {out / 'heatmap.png'}")
