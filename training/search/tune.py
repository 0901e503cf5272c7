"""``ridgeline tune``: Page's cyclical coordinate descent, resumable.

Page ("How to Train Your ResNet 5") tuned λ ``lr`` (per step), ρ ``momentum`` and α
``wd`` from a bad start (0.001, 0.5, 0.01) to 94.2% in 22 runs by

- optimising one coordinate at a time with a crude line search: multiply by
  ``factor`` = 2 (or divide) and rerun until the score gets worse;
- in the order λ, then ρ (halving or doubling 1 − ρ, not ρ), then α;
- in the *rotated* coordinates (u, ρ, α) with u = λα/(1−ρ): while ρ or α moves, λ
  follows as λ = u(1−ρ)/α (:func:`dynamics.theory.symbolic.from_rotated`), so the nearly flat
  directions λ/(1−ρ) and λα line up with the axes;
- cycling until a full cycle brings no improvement.

``coordinates="naive"`` runs the same descent in (λ, ρ, α), leaving λ where it is
while ρ or α moves, for comparison. ``method="tpe"`` or ``"random"`` replaces the
descent by Optuna's seeded sampler in the same coordinates
(:mod:`training.search.samplers`), for the same number of runs. Every evaluation goes through the record store of
:mod:`training.search.records` (``<out>/records``), so a rerun replays the descent without
recomputing any finished trial, and the run count is the number of distinct trials.

Writes ``tune.csv`` (Page's table: run, lr, momentum, wd, rotated, score, one row
for the start and one per line search, or sampled trial, that improved), ``trials.csv``
(every distinct trial in order), ``records.csv`` (the same trials as a sweep lists
them) and ``tune_summary.json``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from dynamics.registry import COORDINATES, SAMPLER_RUNS  # --coordinates; runs of a sampler without --max-runs
from dynamics.util.errors import RidgelineError
from dynamics.util.output import changed_settings
from dynamics.util.io import write_csv, write_json
from training.search.executors import make_executor
from training.search.objectives import make_objective
from training.search.records import RecordStore, abandon, canonical, claim_directory, make_record
from training.search.samplers import METHODS, check_bounds, make_sampler, search

ORDER = ("lr", "momentum", "wd")  # Page's cycle


@dataclass(frozen=True)
class TuneConfig:
    """One ``ridgeline tune``: printed at the start and saved (``tune_config.json``)."""

    objective: str  # "quadratic" (the toy) or "train" (the real network)
    out: str  # tune directory
    lr: float | None = None  # λ at the start, per step; None: the objective's default
    momentum: float | None = None  # ρ at the start, in [0, 1); None: the objective's default
    wd: float | None = None  # α at the start, per step; None: the objective's default
    coordinates: str = "rotated"  # "rotated": (λα/(1−ρ), ρ, α); "naive": (λ, ρ, α)
    method: str = "coordinate"  # "coordinate" (Page's descent), "tpe" or "random" (Optuna)
    sampler_seed: int = 0  # seed of Optuna's sampler (tpe, random)
    bounds: tuple[tuple[str, float, float], ...] = ()  # (name, lo, hi) for tpe/random; see samplers
    factor: float = 2.0  # line-search step: multiply or divide λ, 1 − ρ or α by this
    refine: int = 0  # after convergence, halve the step in log space this many times (0: Page's)
    tolerance: float = 1e-6  # relative improvement a move must make to count (1e-6: rounding)
    max_runs: int | None = None  # stop after this many distinct trials (a rerun with more continues); None: no limit for coordinate (it converges), SAMPLER_RUNS for tpe/random
    options: tuple[str, ...] = ()  # the objective's own options, e.g. ("--width", "0.25")
    executor: str = "local"  # "local" or "ray"
    workers: int | None = None  # unused by tune's one-at-a-time trials; kept for the executor
    ray_address: str | None = None  # existing Ray cluster; None: start a local one
    cpus_per_trial: float = 1.0  # Ray resources per trial, cores
    gpus_per_trial: float = 0.0  # Ray resources per trial, GPUs
    format: str = "table"  # Page's table on stdout: "table" (full values when piped) or "csv"


@dataclass(frozen=True)
class TuneResult:
    """Page's table, every trial, and the best point found."""

    out: Path
    table: object  # pandas DataFrame, tune.csv
    trials: object  # pandas DataFrame, trials.csv
    best: dict  # lr, momentum, wd, rotated, score of the best trial
    runs: int  # distinct trials evaluated (the start included)
    new: int  # trials computed by this call (the rest came from records)
    converged: bool  # False when max_runs stopped the descent


class _Budget(Exception):
    """max_runs reached."""


def move(point: dict, coordinate: str, direction: int, factor: float, rotated: bool) -> dict | None:
    """``point`` with ``coordinate`` multiplied by factor**direction (1 − ρ for momentum);
    in rotated coordinates λ follows so that λα/(1−ρ) stays fixed. None if out of range."""
    from dynamics.theory.symbolic import from_rotated, to_rotated

    step = factor ** direction
    new = dict(point)
    if coordinate == "lr":
        new["lr"] = canonical(point["lr"] * step)
        return new if _representable(new) else None
    if coordinate == "momentum":
        new["momentum"] = canonical(1.0 - (1.0 - point["momentum"]) * step)
        if abs(new["momentum"]) < 1e-9:  # 1 − ρ doubled onto 1 up to rounding: plain SGD
            new["momentum"] = 0.0
        if not 0 <= new["momentum"] < 1:
            return None
    else:
        new["wd"] = canonical(point["wd"] * step)
    if rotated:
        u = to_rotated(point["lr"], point["momentum"], point["wd"])
        new["lr"] = canonical(float(from_rotated(u, new["momentum"], new["wd"])))
    return new if _representable(new) else None


def _representable(point: dict) -> bool:
    """λ and α finite normal floats: a move past the range of floats (from a start like
    lr=1e308) is out of range, as ρ >= 1 is, not an error."""
    return all(sys.float_info.min <= point[k] < math.inf for k in ("lr", "wd"))


class _Evaluator:
    """Score points through the record store, numbering distinct trials in order."""

    def __init__(self, objective, executor, store: RecordStore, workdir: str, max_runs: int | None,
                 tick, report=None):
        self.objective, self.executor, self.store = objective, executor, store
        self.workdir, self.max_runs, self.tick, self.report = workdir, max_runs, tick, report
        self.runs: dict[str, int] = {}  # key -> run number
        self.rows: list[dict] = []
        self.records: list[dict] = []
        self.new = 0

    def __call__(self, point: dict, coordinate: str) -> tuple[int, float]:
        trial = self.objective.trial(point)
        if trial.key not in self.runs:
            if self.max_runs is not None and len(self.runs) >= self.max_runs:
                raise _Budget
            if not self.store.has(trial.key):
                self.executor.run(self.objective, [trial], self.workdir, self._write, self.report)
                self.new += 1
            record = self.store.load(trial.key)
            self.runs[trial.key] = len(self.runs)
            self.records.append(record)
            self.rows.append(_row(self.runs[trial.key], record, coordinate))
            self.tick()
        return self.runs[trial.key], self.rows[self.runs[trial.key]]["score"]

    def _write(self, trial, result) -> None:
        self.store.write(make_record(self.objective.name, trial, result))


def _row(run: int, record: dict, coordinate: str) -> dict:
    from dynamics.theory.symbolic import to_rotated

    p = record["params"]
    return {"run": run, "coordinate": coordinate, "lr": p["lr"], "momentum": p["momentum"],
            "wd": p["wd"], "rotated": canonical(float(to_rotated(p["lr"], p["momentum"], p["wd"]))),
            "score": math.nan if record["score"] is None else record["score"],  # JSON null: diverged
            "diverged": record["diverged"]}


def descend(evaluate, start: dict, maximize: bool, factor: float, rotated: bool, *,
            tolerance: float = 0.0, refine: int = 0, log=lambda row: None) -> tuple[dict, float, int]:
    """The cyclical coordinate descent; returns (best point, its score, its run number).

    ``evaluate(point, coordinate) -> (run, score)``. A move counts as better when it
    improves the score by more than ``tolerance`` × |score| (ties from exact
    symmetries, e.g. λα in the toy with ``head=0``, are not improvements). After a full cycle without
    improvement the step is refined ``refine`` times, factor → √factor, and the
    cycles resume. ``log`` receives each improvement.
    """
    def better(a: float, b: float) -> bool:
        if a != a:  # NaN (diverged) is never better
            return False
        if b != b:
            return True
        margin = tolerance * abs(b)
        return a > b + margin if maximize else a < b - margin

    point = dict(start)
    run, score = evaluate(point, "start")
    log({"run": run, "coordinate": "start", **point, "score": score})
    directions = {c: 1 for c in ORDER}
    for level in range(refine + 1):
        step = factor ** (0.5 ** level)
        improved = True
        while improved:  # cycles at this step size
            improved = False
            for coordinate in ORDER:
                for direction in (directions[coordinate], -directions[coordinate]):
                    moved = False
                    while (candidate := move(point, coordinate, direction, step, rotated)) is not None:
                        cand_run, cand_score = evaluate(candidate, coordinate)
                        if not better(cand_score, score):
                            break
                        point, score, run, moved = candidate, cand_score, cand_run, True
                    if moved:
                        directions[coordinate] = direction
                        improved = True
                        log({"run": run, "coordinate": coordinate, **point, "score": score})
                        break
    return point, score, run


def describe(config: TuneConfig, objective) -> dict:
    """The identity of a tune, saved as ``tune.json``: a rerun must match it."""
    out = {"kind": "tune", "objective": objective.name, "score": objective.score_name,
           "maximize": objective.maximize, "start": {"lr": config.lr, "momentum": config.momentum,
                                                     "wd": config.wd},
           "coordinates": config.coordinates, **objective.describe()}
    if config.method == "coordinate":
        return out | {"factor": config.factor, "refine": config.refine, "tolerance": config.tolerance}
    return out | {"method": config.method, "sampler_seed": config.sampler_seed,
                  "bounds": {name: list(lh) for name, *lh in config.bounds}}


def _check(config: TuneConfig) -> None:
    if config.coordinates not in COORDINATES:
        raise RidgelineError(f"--coordinates must be rotated or naive, got {config.coordinates!r}")
    if config.method not in METHODS:
        raise RidgelineError(f"--method must be one of {', '.join(METHODS)}, got {config.method!r}")
    if config.method != "coordinate":
        make_sampler(config.method, config.sampler_seed)  # Optuna installed?
    if not config.factor > 1:
        raise RidgelineError(f"--factor must be > 1, got {config.factor}")
    if config.refine < 0 or not config.tolerance >= 0:
        raise RidgelineError("--refine and --tolerance must be >= 0")
    if config.format not in ("table", "csv"):
        raise RidgelineError(f"--format must be table or csv, got {config.format!r}")
    if config.max_runs is not None and config.max_runs < 1:
        raise RidgelineError(f"--max-runs must be >= 1, got {config.max_runs}")
    given = {o[2:].split("=")[0].replace("-", "_") for o in config.options if o.startswith("--")}
    if given & set(ORDER):
        raise RidgelineError(f"give the starting point with --start, not --{', --'.join(sorted(given & set(ORDER)))}")


def run_tune(config: TuneConfig, *, console=None) -> TuneResult:
    """Run (or resume) the descent; write tune.csv, trials.csv and tune_summary.json."""
    from rich.console import Console

    report_to = console or Console()  # Page's table, on stdout
    console = console or Console(stderr=True)  # progress and notes
    config, objective, start, rotated = _prepare(config)
    executor = make_executor(config.executor, workers=config.workers,
                             ray_address=config.ray_address, cpus_per_trial=config.cpus_per_trial,
                             gpus_per_trial=config.gpus_per_trial)
    out = Path(config.out)
    lock = claim_directory(out, "tune", describe(config, objective))
    table: list[dict] = []
    budget = config.max_runs if config.max_runs is not None or config.method == "coordinate" else SAMPLER_RUNS
    try:
        write_json(out / "tune_config.json", asdict(config))
        console.print(f"[bold]tune[/] {config.objective}, {config.method}, in {config.coordinates} coordinates "
                      f"from lr={config.lr:g}, momentum={config.momentum:g}, wd={config.wd:g} -> {out}")
        console.print(f"settings: {changed_settings(config, skip=('objective', 'out', 'lr', 'momentum', 'wd'))}",
                      highlight=False, soft_wrap=True)
        evaluator, converged = _run_search(config, objective, executor, out, budget, start, rotated, table, console)
        seed_table, trials, best = _write_results(config, objective, out, evaluator, table, converged)
    except BaseException:
        abandon(out, "tune", lock)  # refused before its first record: no tune.json left behind
        raise
    finally:
        lock.release()
    result = TuneResult(out, seed_table, trials, best, len(evaluator.runs), evaluator.new, converged)
    _print_summary(report_to, objective, result, config.format)
    return result


def _prepare(config: TuneConfig) -> tuple:
    """``(config, objective, start, rotated)``: the checked config with the start (lr,
    momentum, wd: given, else the objective's defaults) and sampler bounds filled in,
    checked by the objective before anything is written."""
    _check(config)
    if config.objective == "train":  # --init-scale follow, --exact-symmetry: about the start
        from training.search.objectives import with_symmetry_ref

        config = replace(config, options=with_symmetry_ref(config.options, config.lr, config.wd))
    objective = make_objective(config.objective, list(config.options))
    given = {"lr": config.lr, "momentum": config.momentum, "wd": config.wd}
    start = {k: v for k, v in objective.trial({}).params.items() if k in ORDER}
    start = canonical(start | {k: v for k, v in given.items() if v is not None})
    rotated = config.coordinates == "rotated"
    if config.method != "coordinate":
        bounds = check_bounds({n: (lo, hi) for n, lo, hi in config.bounds}, start, rotated)
        config = replace(config, bounds=tuple((n, *canonical(list(lh))) for n, lh in bounds.items()))
    config = replace(config, **start)
    objective.trial(start)  # checks the start before anything is written
    return config, objective, start, rotated


def _run_search(config: TuneConfig, objective, executor, out: Path, budget: int, start: dict, rotated: bool,
                table: list, console) -> tuple:
    """``(evaluator, converged)``: the coordinate descent or the sampler's search from ``start``
    under a spinner, each accepted point appended to ``table``; stops at ``budget`` runs
    (then not converged; a sampler never converges)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = [SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()]
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("runs: 0")
        evaluator = _Evaluator(
            objective, executor, RecordStore(out), str(out.resolve()), budget,
            tick=lambda: progress.update(bar, description=f"runs: {len(evaluator.runs)}"),
            report=lambda text: progress.update(
                bar, description=f"runs: {len(evaluator.runs)}, next: {text}"))
        converged = config.method == "coordinate"  # a sampler never converges
        try:
            if config.method == "coordinate":
                descend(evaluator, start, objective.maximize, config.factor, rotated,
                        tolerance=config.tolerance, refine=config.refine, log=table.append)
            else:
                search(evaluator, start, objective.maximize, config.method, rotated,
                       seed=config.sampler_seed, bounds=dict((n, lh) for n, *lh in config.bounds),
                       max_asks=20 * budget, log=table.append)
        except _Budget:
            converged = False
    return evaluator, converged


def _write_results(config: TuneConfig, objective, out: Path, evaluator, table: list, converged: bool) -> tuple:
    """Write tune.csv (the accepted points, with the rotated coordinate), trials.csv,
    records.csv and tune_summary.json; return ``(seed_table, trials, best)``."""
    import pandas as pd

    from training.search.sweep import records_frame

    trials = pd.DataFrame(evaluator.rows)
    seed_table = pd.DataFrame(table)[["run", "coordinate", "lr", "momentum", "wd", "score"]]
    seed_table.insert(5, "rotated", [canonical(float(v)) for v in _rotated(seed_table)])
    write_csv(out / "tune.csv", seed_table)
    write_csv(out / "trials.csv", trials)
    write_csv(out / "records.csv", records_frame(evaluator.records))
    best = seed_table.iloc[-1].to_dict()
    write_json(out / "tune_summary.json", {
        "runs": len(evaluator.runs), "converged": converged, "coordinates": config.coordinates,
        "method": config.method,
        "best": best, "score": objective.score_name, "maximize": objective.maximize})
    return seed_table, trials, best


def _rotated(frame):
    from dynamics.theory.symbolic import to_rotated

    return to_rotated(frame["lr"].to_numpy(float), frame["momentum"].to_numpy(float),
                      frame["wd"].to_numpy(float))


def _print_summary(console, objective, result: TuneResult, fmt: str = "table") -> None:
    from rich.console import Console
    from rich.table import Table

    from dynamics.util.output import print_table

    if fmt == "csv":  # every digit; the notes go to stderr so stdout is the CSV alone
        console.file.write(result.table.rename(columns={"score": objective.score_name})
                           .to_csv(index=False, float_format="%.17g"))
        console = Console(stderr=True)

    table = Table(title=f"tune: {objective.score_name} "
                        f"({'higher' if objective.maximize else 'lower'} is better)")
    for column in ("run", "coordinate", "lr", "momentum", "wd", "rotated", objective.score_name):
        table.add_column(column, justify="left" if column == "coordinate" else "right")
    for row in result.table.itertuples(index=False):
        table.add_row(str(row.run), row.coordinate, f"{row.lr:.4g}", f"{row.momentum:.4g}",
                      f"{row.wd:.4g}", f"{row.rotated:.4g}", f"{row.score:.5g}")
    if fmt == "table":
        print_table(console, table)
    diverged = int(result.trials["diverged"].sum()) if "diverged" in result.trials else 0
    if diverged:
        console.print(f"{diverged} of {result.runs} runs diverged (scored as the worst: never a move)")
    state = "converged" if result.converged else (
        "stopped at --max-runs (rerun with more to continue)" if result.runs != SAMPLER_RUNS else
        f"stopped at {SAMPLER_RUNS} runs (--max-runs; its default for tpe and random; rerun with more to continue)")
    console.print(f"{result.runs} runs ({result.new} new), {state}; "
                  f"tables in {result.out / 'tune.csv'} and {result.out / 'trials.csv'}")
