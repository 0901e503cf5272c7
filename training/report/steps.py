"""``ridgeline report``: the main job end to end, one resumable step at a time.

Steps, in order, each calling the same library function as the command it cites:

1. ``derive``: the invariants and equilibria of every rule (:mod:`dynamics.jobs.derive`);
2. ``simulate-<rule>``: the noise loss, five settings with λα over two decades and
   ρ ∈ {0, 0.5, 0.9}, late-time |w| and angle against ``predict``
   (:func:`dynamics.jobs.simulate.run`);
3. ``relaxation``: λ drops 10x half-way; measured against derived relaxation time;
4. ``slices``: Page's three heatmaps on the quadratic toy with ridge slopes
   (:func:`dynamics.jobs.slices.run_slices`);
5. ``sweep-<name>`` (full profile): Page's three slices on the real ResNet-9 at Page's
   scale (:func:`training.search.sweep.run_sweep`, the code path of ``ridgeline sweep``),
   only when CIFAR-10 can be found;
6. ``real-slices``: those slices summarised (slope ± seed error, run lengths in relaxation
   times; row by row, and whether |w| had settled at each ridge point,
   :mod:`training.report.settling`) and drawn above the toy's
   (:mod:`training.report.slices`); the quick profile reads sweep directories given with
   ``--slices`` and never reruns them;
7. ``train-<name>``: a real ResNet-9 run on CIFAR-10 (:func:`training.train`), only
   when CIFAR-10 can be found; otherwise skipped with a plain message;
8. ``validate-<name>``: its per-layer comparison (:func:`dynamics.jobs.validate.validate`).

Then ``report.md`` and ``report.html`` (:mod:`training.report.text`) hold every table
and figure with the command that reproduces it.

Resuming: each finished step leaves ``.steps/<name>.json`` (status, the parameters it
ran with, its result); rerunning the same command skips a step whose record says
"done" with the same parameters, and the training step continues from its last
checkpoint (``ridgeline train --resume``). A step that fails is recorded with its
one-line error (traceback in ``.steps/<name>.log``), reported, and retried next time;
the others still run.
"""

from __future__ import annotations

import dataclasses
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from dynamics.util.errors import RidgelineError
from training.report.slices import PAGE_SLICES

#: Page's point: where the derived formulas are evaluated.
SEED_POINT = {"lr": 0.4, "wd": 5e-4, "momentum": 0.9, "grad_norm": 1.0}

#: Noise-loss settings (λ, α, ρ): λα from 5e-4 to 5e-2, ρ in {0, 0.5, 0.9}.
SIM_SETTINGS = ((0.05, 1e-2, 0.9), (0.1, 1e-2, 0.5), (0.2, 1.5e-2, 0.0),
                (0.4, 2.5e-2, 0.9), (0.5, 1e-1, 0.0))

#: The quick profile's run: Page's hyperparameters moved along its own flat
#: directions to batch 64 (λ/N and λα/(1−ρ) = 0.002 kept: λ = 0.4·64/512, α = 8·5e-4),
#: width 1/8, 8,000 training images, a 1-epoch warm-up then constant λ so that the
#: equilibrium phase spans about 7 relaxation times (τ ≈ 115 steps).
QUICK_RUN = dict(width=0.125, train_size=8000, batch_size=64, epochs=10, lr=0.05, wd=4e-3,
                 momentum=0.9, nesterov=True, schedule="constant", warmup_epochs=1.0,
                 log_every=2)

#: The quick run, and the same with Page's schedule (warm-up, then linear decay to 0):
#: no equilibrium phase, so it is judged on its trajectory (``ridgeline validate``).
QUICK_RUNS = (("quick", QUICK_RUN), ("quick-piecewise", {**QUICK_RUN, "schedule": "piecewise"}))

PROFILES = {
    "quick": dict(sim_steps=6000, sim_runs=16, sim_dim=256, relax_steps=4000,
                  slice_points=9, slice_rows=5, slice_repeats=3, runs=QUICK_RUNS),
    # Page's 24-epoch defaults (piecewise schedule) for the accuracy, and the same
    # with a constant λ after the 5-epoch warm-up for the cleanest equilibrium
    # (docs/theory.md, "Validation on a real run")
    "full": dict(sim_steps=10000, sim_runs=64, sim_dim=1024, relax_steps=6000,
                 slice_points=9, slice_rows=5, slice_repeats=3,
                 runs=(("seed", dict(log_every=5)),
                       ("constant", dict(schedule="constant", log_every=5))),
                 real_slices=PAGE_SLICES),
}


@dataclass(frozen=True)
class ReportConfig:
    """One ``ridgeline report``: what it computes and where it writes."""

    out: str  # report directory (report.md, report.html, one folder per step)
    profile: str = "quick"  # quick: CPU-sized; full: Page's 24 epochs, for a GPU
    data: Optional[str] = None  # CIFAR-10 .npz or torchvision root; None: $RIDGELINE_DATA
    download: bool = False  # let torchvision download CIFAR-10 (170 MB) when not found
    device: str = "auto"  # training device: auto, cpu, cuda
    require_data: bool = False  # no CIFAR-10: stop before any work instead of skipping the real runs
    derive_rules: tuple = ("sgd", "heavy-ball", "nesterov", "decoupled")  # rules derived
    sim_rules: tuple = ("heavy-ball", "nesterov", "decoupled")  # rules simulated
    sim_settings: tuple = SIM_SETTINGS  # (λ, α, ρ) per setting, per step
    sim_steps: int = 6000  # steps per simulated run (late time: the last half)
    sim_runs: int = 16  # independent runs per setting
    sim_dim: int = 256  # D, dimensions of w
    relax_lr: tuple = (0.2, 0.4, 0.8)  # λ before the 10x drop, per step (Nesterov, ρ = 0.9)
    relax_wd: float = 1e-2  # α of the relaxation runs, per step
    relax_steps: int = 4000  # steps; the drop comes half-way
    relax_runs: int = 256  # runs per relaxation setting (the fitted τ is noisier than a mean: ±10% at 256)
    slice_points: int = 9  # lr grid points per slice (a factor 2 apart)
    slice_rows: int = 5  # grid points of the other hyperparameter
    slice_repeats: int = 3  # seeds averaged per grid point
    slice_steps: int = 700  # toy steps at batch 512
    runs: tuple = QUICK_RUNS  # (name, TrainConfig fields) per training run
    slices: tuple = ()  # sweep directories of the real slices to show (quick; not rerun)
    real_slices: tuple = ()  # training.report.slices.SliceSpec per real slice to run (full)
    extra: dict = field(default_factory=dict)  # free-form notes saved with the config

    @classmethod
    def for_profile(cls, profile: str, out: str, **overrides) -> "ReportConfig":
        """The profile's settings, then ``overrides`` (field=value) on top."""
        if profile not in PROFILES:
            raise RidgelineError(f"unknown profile {profile!r}: choose quick or full")
        return cls(out=out, profile=profile, **(PROFILES[profile] | overrides))

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))


@dataclass
class Step:
    """One unit of the report: a name, what it shows, the command, and the work."""

    name: str
    title: str
    command: str
    params: dict  # what the step depends on; a change reruns it
    work: Callable[[], dict]  # returns the JSON-able result
    needs: tuple = ()  # steps that must be done first
    spinner: bool = False  # no progress bar of its own: show a spinner while it works
    skip: str = ""  # when set, the step is skipped with this message
    status: str = "pending"  # done | done earlier | failed | skipped
    message: str = ""
    seconds: float = 0.0
    result: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- steps
def _q(text: str) -> str:
    """Quote a path for a shell command when needed."""
    import shlex

    return shlex.quote(str(text))


def _derive_step(cfg: ReportConfig, out: Path) -> dict:
    from dynamics.jobs.derive import ignored_keys, render
    from dynamics.util.io import ensure_dir, write_text

    folder = ensure_dir(out / "derive")
    point = ",".join(f"{k}={v}" for k, v in SEED_POINT.items())
    payload = {}
    for rule in cfg.derive_rules:  # each rule at the names it takes (plain sgd has no momentum)
        unused = ignored_keys(SEED_POINT, [rule])
        at = {k: v for k, v in SEED_POINT.items() if k not in unused}
        payload.update(json.loads(render(rule, "json", at)))
    write_text(folder / "derivations.json", json.dumps(payload, indent=2) + "\n")
    write_text(folder / "derivations.tex", "".join(render(r, "latex") for r in cfg.derive_rules))
    return {"json": "derive/derivations.json", "tex": "derive/derivations.tex", "point": point}


def _simulate_step(cfg: ReportConfig, out: Path, rule: str, schedule: str = "constant") -> dict:
    from dynamics.jobs.simulate import run, summary_json

    folder = out / "simulate" / (rule if schedule == "constant" else "relaxation")
    result = run(_sim_config(cfg, rule, schedule), folder)
    return {"folder": str(folder.relative_to(out)), "summary": summary_json(result)}


def _sim_config(cfg: ReportConfig, rule: str, schedule: str):
    from dynamics.jobs.simulate import SimConfig

    if schedule == "step":
        return SimConfig(loss="noise", rule="nesterov", lr=list(cfg.relax_lr), wd=cfg.relax_wd,
                         momentum=0.9, steps=cfg.relax_steps, runs=cfg.relax_runs, dim=cfg.sim_dim,
                         schedule="step", init_norm=0.0, record_every=5)
    lr, wd, rho = (list(c) for c in zip(*cfg.sim_settings))
    return SimConfig(loss="noise", rule=rule, lr=lr, wd=wd, momentum=rho, steps=cfg.sim_steps,
                     runs=cfg.sim_runs, dim=cfg.sim_dim, schedule="constant", init_norm=1.0)


def _sim_command(cfg: ReportConfig, rule: str, schedule: str, out: Path) -> str:
    c = _sim_config(cfg, rule, schedule)
    lists = lambda v: ",".join(f"{x:g}" for x in (v if isinstance(v, list) else [v]))  # noqa: E731
    folder = out / "simulate" / (rule if schedule == "constant" else "relaxation")
    return (f"ridgeline simulate --loss noise --rule {c.rule} --lr {lists(c.lr)} --wd {lists(c.wd)} "
            f"--momentum {lists(c.momentum)} --steps {c.steps} --repeats {c.runs} --dim {c.dim} "
            f"--schedule {c.schedule} --init-norm {c.init_norm:g} --record-every {c.record_every} "
            f"--out {_q(folder)}")


def _slices_step(cfg: ReportConfig, out: Path) -> dict:
    from dynamics.jobs.slices import SlicesConfig, run_slices

    fits = run_slices(SlicesConfig(out=str(out / "slices"), points=cfg.slice_points,
                                   rows=cfg.slice_rows, repeats=cfg.slice_repeats,
                                   steps=cfg.slice_steps))
    return {"folder": "slices", "fits": json.loads(json.dumps(fits, default=str))}


def _train_config(cfg: ReportConfig, name: str, fields: dict, out: Path):
    from training.config import TrainConfig

    return TrainConfig(**fields, data=cfg.data, download=cfg.download, device=cfg.device,
                       out=str(out / "runs" / name))


def _train_command(cfg: ReportConfig, name: str, fields: dict, out: Path) -> str:
    parts = [f"ridgeline train --out {_q(out / 'runs' / name)}"]
    for key, value in fields.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + key.replace("_", "-"))
        else:
            parts.append(f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    if cfg.data:
        parts.append(f"--data {_q(cfg.data)}")
    if cfg.download:
        parts.append("--download")
    if cfg.device != "auto":
        parts.append(f"--device {cfg.device}")
    return " ".join(parts + ["--resume"])


def _train_step(cfg: ReportConfig, name: str, fields: dict, out: Path) -> dict:
    from training import train
    from figures.report import training_curves

    config = _train_config(cfg, name, fields, out)
    try:
        summary = train(config, resume=True)
    except RidgelineError as e:  # the trainer's hint names train's options, which report lacks
        if "--train-size" not in str(e) and "--batch-size" not in str(e):
            raise
        raise RidgelineError(str(e).split("; ")[0] + f"; the {cfg.profile} profile's real run takes "
                             f"{config.train_size} training images in batches of {config.batch_size}: "
                             "give report a --data file with more images (the full CIFAR-10 has "
                             "50,000)") from None
    run_dir = out / "runs" / name
    training_curves(run_dir, run_dir / "training_curves.png")
    return {"run_dir": str(run_dir.relative_to(out)), "summary": summary}


def _validate_step(cfg: ReportConfig, name: str, out: Path) -> dict:
    from dynamics.jobs.validate import ValidateConfig, validate

    run_dir = out / "runs" / name
    result = validate(ValidateConfig(run_dir=str(run_dir), out=str(run_dir / "validation")))
    layers = json.loads(result.layers.to_json(orient="records"))
    return {"folder": str((run_dir / "validation").relative_to(out)), "layers": layers}


def _sweep_extra(cfg: ReportConfig) -> tuple:
    """The report's data and device options, passed to every real slice's sweep."""
    return ((("--data", str(cfg.data)) if cfg.data else ()) + (("--download",) if cfg.download else ())
            + (("--device", cfg.device) if cfg.device != "auto" else ()))


def _sweep_step(cfg: ReportConfig, spec, out: Path) -> dict:
    from training.search.sweep import run_sweep

    folder = out / "real-slices" / spec.name
    result = run_sweep(spec.sweep_config(str(folder), _sweep_extra(cfg)))
    return {"folder": str(folder.relative_to(out)), "runs": len(result.records), "total": result.total}


def _slice_dirs(cfg: ReportConfig, out: Path) -> list[Path]:
    """The real slices' sweep directories: run by the report (full) or given (--slices)."""
    if cfg.real_slices:
        return [out / "real-slices" / spec.name for spec in cfg.real_slices]
    return [Path(d) for d in cfg.slices]


def _real_slices_step(cfg: ReportConfig, out: Path) -> dict:
    from dynamics.util.io import ensure_dir
    from training.report.settling import settling, settling_markdown
    from training.report.slices import markdown, rows_markdown, slices_figure, summarise

    summaries = [summarise(d) for d in _slice_dirs(cfg, out)]
    folder = ensure_dir(out / "real-slices")
    toy = out / "slices" if (out / "slices" / "ridge.json").is_file() else None
    slices_figure(summaries, toy, folder / "slices.png")
    rows = "\n".join(rows_markdown(s) + "\n" + settling_markdown(s, settling(s)) for s in summaries)
    from training.report.flatness import estimators_markdown

    return {"figure": "real-slices/slices.png", "table": markdown(summaries, commands=False), "rows": rows,
            "estimators": estimators_markdown(summaries), "summaries": [s.to_dict() for s in summaries]}


def _mtime(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.is_file() else None


def _record_count(folder: Path) -> int:
    records = folder / "records"
    return len(list(records.glob("*.json"))) if records.is_dir() else 0


def find_data(cfg: ReportConfig) -> tuple[bool, str]:
    """(found, what was found or why not) for CIFAR-10, the way the trainer looks."""
    from training.config import TrainConfig
    from training.data import load_arrays

    try:
        arrays = load_arrays(cfg.data, TrainConfig.cache_dir, cfg.download)
    except RidgelineError as e:
        return False, str(e)
    return True, arrays.source


def shown_config(cfg: ReportConfig, previous: Optional[dict] = None) -> ReportConfig:
    """The configuration the reproduce commands show: the data path the report used
    (``--data`` or ``$RIDGELINE_DATA``, so a command works without the variable) and
    ``--download`` if this run or an earlier one of the same report was given it (a
    rerun without it found the downloaded copy; a fresh start still needs it)."""
    import os

    download = cfg.download or bool((previous or {}).get("download"))
    return dataclasses.replace(cfg, data=cfg.data or os.environ.get("RIDGELINE_DATA") or None,
                               download=download)


def in_repository(out: Path) -> bool:
    """True when ``out`` lies inside the git checkout this package runs from."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return False
    try:
        out.resolve().relative_to(root)
    except ValueError:
        return False
    return True


def plan(cfg: ReportConfig, out: Path, shown: Optional[ReportConfig] = None) -> list[Step]:
    """Every step of the report, with its command and parameters. ``shown``: the
    configuration the commands are written for (default ``cfg``, see :func:`shown_config`);
    the parameters and the work always follow ``cfg``."""
    shown = shown or cfg
    base = f"ridgeline derive --format json --at {','.join(f'{k}={v}' for k, v in SEED_POINT.items())}"
    steps = [Step("derive", "Derivations", base + "; ridgeline derive --format latex",
                  {"rules": list(cfg.derive_rules), "point": SEED_POINT},
                  lambda: _derive_step(cfg, out), spinner=True)]
    for rule in cfg.sim_rules:
        c = _sim_config(cfg, rule, "constant")
        steps.append(Step(f"simulate-{rule}", f"Noise loss, {rule}", _sim_command(cfg, rule, "constant", out),
                          dataclasses.asdict(c), lambda rule=rule: _simulate_step(cfg, out, rule)))
    steps.append(Step("relaxation", "Relaxation after a 10x drop", _sim_command(cfg, "nesterov", "step", out),
                      dataclasses.asdict(_sim_config(cfg, "nesterov", "step")),
                      lambda: _simulate_step(cfg, out, "nesterov", "step")))
    steps.append(Step("slices", "Page's three slices on the quadratic toy",
                      f"ridgeline simulate slices --out {_q(out / 'slices')} --points {cfg.slice_points} "
                      f"--rows {cfg.slice_rows} --repeats {cfg.slice_repeats} --steps {cfg.slice_steps}",
                      {k: getattr(cfg, k) for k in ("slice_points", "slice_rows", "slice_repeats", "slice_steps")},
                      lambda: _slices_step(cfg, out)))
    for spec in cfg.real_slices:
        steps.append(Step(f"sweep-{spec.name}", f"Real slice {spec.name} at Page's scale",
                          spec.command(_q(out / "real-slices" / spec.name), _sweep_extra(shown)),
                          dataclasses.asdict(spec) | {"extra": list(_sweep_extra(cfg))},
                          lambda spec=spec: _sweep_step(cfg, spec, out)))
    dirs = _slice_dirs(cfg, out)
    summary = " ".join(["python examples/slices_summary.py", *(_q(d) for d in dirs), "--toy",
                        _q(out / "slices"), "--figure", _q(out / "real-slices" / "slices.png")])
    steps.append(Step("real-slices", "Page's three slices on the real ResNet-9", summary,
                      {"dirs": [str(d) for d in dirs], "records": [_record_count(d) for d in dirs],
                       "toy": _mtime(out / "slices" / "ridge.json")},  # redrawn when either changes
                      lambda: _real_slices_step(cfg, out), spinner=True,
                      needs=tuple(f"sweep-{spec.name}" for spec in cfg.real_slices),
                      skip="" if dirs else "no sweep directories given (--slices DIR)"))
    for name, fields in cfg.runs:
        steps.append(Step(f"train-{name}", f"Training run '{name}'", _train_command(shown, name, fields, out),
                          {"fields": fields}, lambda name=name, fields=fields: _train_step(cfg, name, fields, out)))
        steps.append(Step(f"validate-{name}", f"Validation of run '{name}'",
                          f"ridgeline validate {_q(out / 'runs' / name)} --out {_q(out / 'runs' / name / 'validation')}",
                          {"run": name}, lambda name=name: _validate_step(cfg, name, out),
                          needs=(f"train-{name}",), spinner=True))
    return steps


# ------------------------------------------------------------------------- the runner
def _record_path(out: Path, name: str) -> Path:
    return out / ".steps" / f"{name}.json"


def _run_step(step: Step, out: Path, console, fresh: set[str]) -> None:
    from dynamics.util.io import write_json, write_text

    path = _record_path(out, step.name)
    params = json.loads(json.dumps(step.params, default=str))
    if path.exists() and not (set(step.needs) & fresh):
        record = json.loads(path.read_text())
        if record.get("status") == "done" and record.get("params") == params:
            step.status, step.seconds, step.result = "done earlier", record["seconds"], record["result"]
            console.print(f"[dim]{step.title}: done earlier, not recomputed[/]")
            return
    start = time.perf_counter()
    try:
        if step.spinner:
            with console.status(f"{step.title}…"):
                step.result = step.work()
        else:
            step.result = step.work()
        step.status = "done"
        fresh.add(step.name)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # a failed step is reported; the others still run
        step.status = "failed"
        step.message = f"{type(e).__name__}: {e}".splitlines()[0] if not isinstance(e, RidgelineError) else str(e)
        write_text(out / ".steps" / f"{step.name}.log", traceback.format_exc())
        console.print(f"[red]{step.title} failed[/]: {step.message} "
                      f"(traceback in {out / '.steps' / (step.name + '.log')})")
    step.seconds = time.perf_counter() - start
    write_json(path, {"status": step.status, "params": params, "seconds": step.seconds,
                      "message": step.message, "result": step.result})


def report(cfg: ReportConfig, console=None) -> dict:
    """Run (or resume) every step and write report.md and report.html; returns a summary.
    The report directory is locked while it is written (one report at a time)."""
    from dynamics.util.io import DirectoryLock, ensure_dir

    from rich.console import Console

    if cfg.profile not in PROFILES:
        raise RidgelineError(f"unknown profile {cfg.profile!r}: choose quick or full")
    console = console or Console()
    if cfg.slices and cfg.real_slices:
        raise RidgelineError("--slices shows sweeps run elsewhere, in the quick profile; "
                             f"the {cfg.profile} profile runs its own slices")
    for folder in cfg.slices:
        if not (Path(folder) / "sweep.json").is_file():
            raise RidgelineError(f"--slices {folder}: not a `ridgeline sweep` directory (no sweep.json)")
    trains = bool(cfg.runs or cfg.real_slices)  # something needs CIFAR-10
    found, data_message = (find_data(cfg) if trains else (False, "no training run configured"))
    if trains and not found and cfg.require_data:  # before anything is written
        raise RidgelineError(f"--require-data: {data_message}")
    if found:  # a run of many hours on a CPU is refused before anything is written
        from training.report.estimate import check_cpu_time

        from training.report.slices import spec_runs

        runs = [(n, _train_config(cfg, n, f, Path(cfg.out))) for n, f in cfg.runs]
        runs += [run for spec in cfg.real_slices for run in spec_runs(spec, _sweep_extra(cfg))]
        check_cpu_time(runs, cfg.device, cfg.profile, console)
    out = ensure_dir(cfg.out)
    with DirectoryLock(out):
        return _report(cfg, out, console, found, data_message)


def _previous_config(out: Path) -> dict:
    """report_config.json of an earlier run of this report ({} if none or unreadable)."""
    try:
        saved = json.loads((out / "report_config.json").read_text())
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _report(cfg: ReportConfig, out: Path, console, found: bool, data_message: str) -> dict:
    from rich.rule import Rule
    from rich.table import Table

    from dynamics.util.io import ensure_dir, write_json, write_text
    from training.report.text import write_report

    ensure_dir(out / ".steps")
    shown = shown_config(cfg, _previous_config(out))
    write_json(out / "report_config.json", {**cfg.to_dict(), "download": shown.download})
    if in_repository(out) and not (out / ".gitignore").exists():  # outputs, not sources
        write_text(out / ".gitignore", "# written by ridgeline report: its outputs are not sources\n*\n")
    console.print(f"[bold]ridgeline report[/] profile={cfg.profile} out={out}")
    steps = plan(cfg, out, shown)
    if cfg.runs or cfg.real_slices:
        console.print(f"CIFAR-10: {data_message}" if found else
                      f"[yellow bold]real-run part skipped[/]: {data_message}", highlight=False)
    fresh: set[str] = set()
    total = time.perf_counter()
    for i, step in enumerate(steps, 1):
        console.print(Rule(f"[{i}/{len(steps)}] {step.title}"))
        console.print(f"[dim]$ {step.command}[/]", highlight=False)
        if step.skip:
            step.status, step.message = "skipped", step.skip
            console.print(f"[yellow]skipped[/]: {step.skip}")
            continue
        if step.name.startswith(("train-", "validate-", "sweep-")) and not found:
            step.status, step.message = "skipped", "no CIFAR-10 found (see the note above)"
            console.print("[yellow]skipped[/]: no CIFAR-10 data (see above)")
            continue
        failed_needs = [n for n in step.needs if next(s for s in steps if s.name == n).status
                        not in ("done", "done earlier")]
        if failed_needs:
            step.status, step.message = "skipped", f"needs {', '.join(failed_needs)}, which did not finish"
            console.print(f"[yellow]skipped[/]: {step.message}")
            continue
        _run_step(step, out, console, fresh)
    seconds = time.perf_counter() - total
    paths = write_report(shown, out, steps, found, data_message, seconds)
    table = Table(title=f"ridgeline report ({cfg.profile}): {out}")
    for col in ("step", "status", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    colour = {"done": "green", "done earlier": "green", "failed": "red", "skipped": "yellow"}
    for s in steps:
        table.add_row(s.name, f"[{colour.get(s.status, 'white')}]{s.status}[/]", f"{s.seconds:.1f}")
    console.print(table)
    console.print(f"wrote {paths[0]} and {paths[1]} ({seconds:.0f} s)")
    failed = [s.name for s in steps if s.status == "failed"]
    if failed:  # the last line says what went wrong; the command exits 3
        console.print(f"[red bold]FAILED[/]: {', '.join(failed)} (tracebacks in {out / '.steps'}); "
                      "fix and rerun the same command", highlight=False, soft_wrap=True)
    elif not found and (cfg.runs or cfg.real_slices):
        console.print("[yellow bold]INCOMPLETE[/]: the real-run part was skipped, no CIFAR-10 found (why: above); "
                      "give --data or set RIDGELINE_DATA and rerun (--require-data makes this an error)",
                      highlight=False, soft_wrap=True)
    return {"steps": {s.name: s.status for s in steps}, "report": str(paths[0]), "seconds": seconds,
            "data_found": found, "failed": failed}
