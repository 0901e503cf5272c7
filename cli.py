"""The ``ridgeline`` command line: thin typer commands, one library call each.

Heavy imports (torch, sympy, seaborn) happen inside the commands, so ``ridgeline
--help`` answers at once. Library code raises :class:`dynamics.util.errors.RidgelineError`;
:func:`_library_call` turns it into one line on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import sys
from typing import Annotated, Callable, Optional

import typer

from dynamics.util.errors import RidgelineError

app = typer.Typer(
    name="ridgeline",
    help="The geometry of hyperparameter space for SGD with momentum and weight decay "
    "on batch-norm networks: derive, simulate, train, validate, sweep, tune, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """The geometry of hyperparameter space for SGD with momentum and weight decay on
    batch-norm networks: derive, simulate, train, validate, sweep, tune, report."""


def _library_call(command: Callable) -> Callable:
    """Run a command; a RidgelineError becomes ``error: …`` and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RidgelineError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: finished work is saved; rerun the same command to resume "
                       "(ridgeline train: add --resume)", err=True)
            raise typer.Exit(130) from None

    return wrapper


def parse_assignments(text: str, option: str, allowed: tuple[str, ...]) -> dict[str, float]:
    """Parse ``name=value,name=value`` into floats, naming the problem on failure."""
    values: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not value.strip():
            raise RidgelineError(f"{option}: {item!r} is not NAME=VALUE (e.g. {allowed[0]}=0.1)")
        if name not in allowed:
            raise RidgelineError(f"{option}: unknown name {name!r}; use {', '.join(allowed)}")
        try:
            values[name] = float(value)
        except ValueError:
            raise RidgelineError(f"{option}: {name}={value.strip()!r} is not a number") from None
    if not values:
        raise RidgelineError(f"{option}: give NAME=VALUE pairs, e.g. {allowed[0]}=0.1")
    return values


@app.command()
@_library_call
def derive(
    rule: Annotated[str, typer.Option(help="sgd, heavy-ball, nesterov, decoupled or all.")] = "all",
    format: Annotated[str, typer.Option("--format", help="table, latex or json.")] = "table",
    at: Annotated[
        Optional[str],
        typer.Option(help="Evaluate at a point, e.g. lr=0.4,wd=5e-4,momentum=0.9[,grad_norm=1]."),
    ] = None,
) -> None:
    """Derive the flat directions, the rescaling symmetry and the weight-norm equilibrium."""
    from dynamics.derive import render

    point = parse_assignments(at, "--at", ("lr", "wd", "momentum", "grad_norm")) if at else None
    typer.echo(render(rule, format, point), nl=False)


# --------------------------------------------------------------- sweep and tune
_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
_ObjectiveOpt = Annotated[str, typer.Option(
    help="quadratic (the simulator's toy, seconds) or train (the real ResNet-9; every "
         "`ridgeline train` option passes through, e.g. --width 0.25 --epochs 4).")]
_ExecutorOpt = Annotated[str, typer.Option(
    help="local (this process, or one worker per visible GPU) or ray (pip install 'ridgeline\\[ray]').")]
_RayAddressOpt = Annotated[Optional[str], typer.Option(
    help="Address of an existing Ray cluster (e.g. auto or ray://head:10001); default: start a local one.")]
_CpusOpt = Annotated[float, typer.Option(help="CPU cores each trial asks Ray for.")]
_GpusOpt = Annotated[float, typer.Option(help="GPUs (or a fraction) each trial asks Ray for.")]
_WorkersOpt = Annotated[Optional[int], typer.Option(
    help="Local worker processes; default: one per visible GPU for --objective train, else 1.")]


@app.command(context_settings=_PASS_THROUGH)
@_library_call
def sweep(
    ctx: typer.Context,
    objective: _ObjectiveOpt,
    x: Annotated[str, typer.Option("--x", help="Horizontal axis NAME=LO:HI:POINTS, log-spaced; "
                                   "NAME: lr, batch_size, one_minus_momentum or wd.")],
    y: Annotated[str, typer.Option("--y", help="Vertical axis, as --x.")],
    out: Annotated[str, typer.Option(help="Sweep directory (records, records.csv, ridge.json, heatmap.png).")],
    repeats: Annotated[int, typer.Option(help="Runs per grid point, seeds seed, seed+1, ...")] = 1,
    executor: _ExecutorOpt = "local",
    ray_address: _RayAddressOpt = None,
    cpus_per_trial: _CpusOpt = 1.0,
    gpus_per_trial: _GpusOpt = 0.0,
    workers: _WorkersOpt = None,
    max_runs: Annotated[Optional[int], typer.Option(
        help="Stop after this many new runs; rerun the same command to continue.")] = None,
    floor: Annotated[Optional[float], typer.Option(
        help="Floor the heatmap's score here (default 0.91 for accuracy, none for the toy's loss).")] = None,
) -> None:
    """Sweep a 2-D slice of (lr, batch size, 1 - momentum, wd), fit its ridge, draw the heatmap.

    Resumable: rerunning the same command recomputes nothing finished. Other
    hyperparameters stay at Page's defaults (the toy's for quadratic) unless given,
    e.g. --momentum 0.8 or --seed 3; any other option goes to the objective (every
    `ridgeline train` option for train; for quadratic the toy's, e.g. --steps 1400, or
    --head 0 for the purely scale-invariant toy).
    """
    from training.search.sweep import SweepConfig, parse_axis, run_sweep

    run_sweep(SweepConfig(
        objective=objective, x=parse_axis(x, "--x"), y=parse_axis(y, "--y"), out=out,
        repeats=repeats, options=tuple(ctx.args), executor=executor, workers=workers,
        ray_address=ray_address, cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial,
        max_runs=max_runs, floor=floor))


@app.command(context_settings=_PASS_THROUGH)
@_library_call
def tune(
    ctx: typer.Context,
    objective: _ObjectiveOpt,
    out: Annotated[str, typer.Option(help="Tune directory (records, tune.csv, trials.csv).")],
    start: Annotated[Optional[str], typer.Option(
        help="Starting point, e.g. lr=0.001,momentum=0.5,wd=0.01 (missing names: the defaults).")] = None,
    coordinates: Annotated[str, typer.Option(
        help="rotated: descend in (lr wd/(1-momentum), momentum, wd), Page's way; naive: in (lr, momentum, wd).")] = "rotated",
    factor: Annotated[float, typer.Option(help="Line-search step: multiply or divide by this.")] = 2.0,
    refine: Annotated[int, typer.Option(
        help="After convergence, refine the step (factor -> sqrt(factor)) this many times.")] = 0,
    tolerance: Annotated[float, typer.Option(
        help="Relative improvement a move must make to count as better.")] = 1e-6,
    max_runs: Annotated[int, typer.Option(help="Stop after this many distinct runs.")] = 100,
    executor: _ExecutorOpt = "local",
    ray_address: _RayAddressOpt = None,
    cpus_per_trial: _CpusOpt = 1.0,
    gpus_per_trial: _GpusOpt = 0.0,
) -> None:
    """Tune (lr, momentum, wd) by Page's cyclical coordinate descent, doubling or halving.

    Resumable: every run is recorded, and rerunning the same command replays the
    descent without recomputing a finished run. Any other option goes to the objective
    (every `ridgeline train` option for train; the toy's for quadratic, e.g. --head 0),
    e.g. --batch-size 256.
    """
    from training.search.tune import TuneConfig, run_tune

    point = parse_assignments(start, "--start", ("lr", "momentum", "wd")) if start else {}
    run_tune(TuneConfig(
        objective=objective, out=out, **point, coordinates=coordinates, factor=factor,
        refine=refine, tolerance=tolerance, max_runs=max_runs, options=tuple(ctx.args),
        executor=executor, ray_address=ray_address, cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial))


# ------------------------------------------------------------------------ validate
@app.command()
@_library_call
def validate(
    run_dir: Annotated[str, typer.Argument(help="A run directory written by `ridgeline train`.")],
    out: Annotated[Optional[str], typer.Option(
        help="Output directory for validation.csv and the figures (default RUN_DIR/validation).")] = None,
    adiabatic: Annotated[float, typer.Option(
        help="ε: a step is quasi-static when relaxation time × |d ln lr/dt| < ε.")] = 0.1,
    settle: Annotated[float, typer.Option(
        help="n: relaxation times a layer needs after the last fast lr change.")] = 3.0,
    tolerance: Annotated[float, typer.Option(
        help="A layer is 'off' when a median ratio is further than this from 1.")] = 0.10,
) -> None:
    """Compare a run's per-layer |w| and angular update with the predicted equilibria.

    Writes validation.csv (one row per layer), validation_steps.csv and figures, and
    prints the per-layer table; see dynamics/validate.py for the smoothing and the
    equilibrium-phase criterion.
    """
    from dynamics.validate import ValidateConfig, validate as run_validation

    run_validation(ValidateConfig(run_dir=run_dir, out=out, adiabatic=adiabatic,
                                  settle=settle, tolerance=tolerance))


# ----------------------------------------------------------------------------- train
from training.config import TrainConfig as _TrainConfig  # noqa: E402  (no torch: cheap)

_T = _TrainConfig()


@app.command()
@_library_call
def train(
    out: Annotated[str, typer.Option(help="Run directory (config.json, metrics.csv, norms.csv, summary.json, checkpoint.pt).")],
    data: Annotated[Optional[str], typer.Option(help="CIFAR-10 .npz file or torchvision root dir (default: $RIDGELINE_DATA, then --cache-dir).")] = None,
    download: Annotated[bool, typer.Option(help="Download CIFAR-10 with torchvision into --cache-dir (170 MB).")] = _T.download,
    cache_dir: Annotated[str, typer.Option(help="torchvision CIFAR-10 root used when no --data / RIDGELINE_DATA.")] = _T.cache_dir,
    train_size: Annotated[Optional[int], typer.Option(help="Training images used (class-balanced subset; default: all).")] = None,
    holdout: Annotated[int, typer.Option(help="Training images held out for validation (val_acc); 0 = none.")] = _T.holdout,
    epochs: Annotated[int, typer.Option(help="Passes over the training set.")] = _T.epochs,
    batch_size: Annotated[int, typer.Option(help="N, images per step.")] = _T.batch_size,
    lr: Annotated[float, typer.Option(help="λ, peak learning rate per step, on the mean loss (= Page's 0.4).")] = _T.lr,
    wd: Annotated[float, typer.Option(help="α, coupled weight decay per step, on the mean loss (= Page's 5e-4).")] = _T.wd,
    momentum: Annotated[float, typer.Option(help="ρ, momentum (0 = plain SGD).")] = _T.momentum,
    nesterov: Annotated[bool, typer.Option(help="Nesterov momentum (torch.optim.SGD nesterov=True).")] = _T.nesterov,
    schedule: Annotated[str, typer.Option(help="piecewise (0→λ→0, Page's) or constant (warm-up, then λ).")] = _T.schedule,
    warmup_epochs: Annotated[Optional[float], typer.Option(help="Linear warm-up, epochs (default: 5/24 of --epochs).")] = None,
    width: Annotated[float, typer.Option(help="Channel multiplier (1 = Page's ResNet-9, 0.25 for CPU).")] = _T.width,
    cutout: Annotated[bool, typer.Option(help="8x8 cutout augmentation.")] = _T.cutout,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = _T.device,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model (CUDA).")] = _T.compile,
    seed: Annotated[int, typer.Option(help="Initialisation, shuffling and augmentation seed.")] = _T.seed,
    log_every: Annotated[int, typer.Option(help="Log per-layer norms every this many steps.")] = _T.log_every,
    per_channel: Annotated[bool, typer.Option("--per-channel", help="Also log every output channel (norms_per_channel.csv).")] = _T.per_channel,
    tensorboard: Annotated[bool, typer.Option("--tensorboard", help="Also write per-layer TensorBoard scalars under OUT/tensorboard (needs ridgeline[tensorboard]).")] = _T.tensorboard,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the unfinished run in --out from its last epoch.")] = False,
) -> None:
    """Train Page's ResNet-9 on CIFAR-10, logging per-layer weight norms and angular updates."""
    from training import train as run_training

    config = _TrainConfig(
        data=data, download=download, cache_dir=cache_dir, train_size=train_size, holdout=holdout,
        epochs=epochs, batch_size=batch_size, lr=lr, wd=wd, momentum=momentum, nesterov=nesterov,
        schedule=schedule, warmup_epochs=warmup_epochs, width=width, cutout=cutout, device=device,
        compile=compile, seed=seed, log_every=log_every, per_channel=per_channel,
        tensorboard=tensorboard, out=out)
    run_training(config, resume=resume)


# -------------------------------------------------------------------------- simulate
simulate_app = typer.Typer(
    invoke_without_command=True, no_args_is_help=False,
    help="Simulate weight norms settling into their equilibrium on scale-invariant toy losses "
    "(many settings at once); `simulate slices` draws Page's three heatmaps on the toy.")
app.add_typer(simulate_app, name="simulate")


def _floats(text: str, option: str) -> list[float] | float:
    """``0.1`` → 0.1, ``0.1,0.2`` → [0.1, 0.2], naming the option on failure."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise RidgelineError(f"{option}: {text!r} is not a number or a comma-separated list of numbers") from None
    if not values:
        raise RidgelineError(f"{option}: give a number or a comma-separated list")
    return values[0] if len(values) == 1 else values


@simulate_app.callback()
@_library_call
def simulate(
    ctx: typer.Context,
    out: Annotated[Optional[str], typer.Option(help="Output directory (config.json, trajectories.csv, trajectories.png, summary.csv, summary.json). Required.")] = None,
    loss: Annotated[str, typer.Option(help="noise (the derivation's model), quadratic (toy with a loss) or bn-net (small batch-norm net, torch.optim.SGD).")] = "noise",
    rule: Annotated[str, typer.Option(help="sgd, heavy-ball, nesterov or decoupled.")] = "heavy-ball",
    lr: Annotated[str, typer.Option(help="λ, peak learning rate per step; a comma-separated list gives several settings.")] = "0.1",
    wd: Annotated[str, typer.Option(help="α, weight decay per step (list allowed).")] = "5e-3",
    momentum: Annotated[str, typer.Option(help="ρ in [0, 1) (list allowed).")] = "0.9",
    batch_size: Annotated[str, typer.Option(help="N, examples per step; gradient noise G = noise/√N (list allowed).")] = "1",
    steps: Annotated[int, typer.Option(help="Steps per run.")] = 2000,
    runs: Annotated[int, typer.Option(help="Independent runs per setting.")] = 16,
    dim: Annotated[int, typer.Option(help="D, dimensions of w (bn-net: hidden width).")] = 256,
    schedule: Annotated[str, typer.Option(help="constant, piecewise (Page's 0→λ→0) or step (λ/10 from half-way: relaxation).")] = "constant",
    record_every: Annotated[int, typer.Option(help="Steps between records.")] = 10,
    noise: Annotated[float, typer.Option(help="σ, scale-free per-example gradient noise.")] = 1.0,
    init_norm: Annotated[float, typer.Option(help="|w₀|; 0 starts each setting at its predicted equilibrium.")] = 1.0,
    grid: Annotated[bool, typer.Option("--grid", help="Every combination of the lists instead of zipping them.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    dtype: Annotated[str, typer.Option(help="float32 or float64.")] = "float32",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the step (noise, quadratic): faster long runs, tens of seconds to compile.")] = False,
    json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON (measured and predicted per setting).")] = False,
) -> None:
    """Simulate many settings at once and compare late-time |w| and angular update with theory."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise RidgelineError("--out DIR is required (where the trajectories and summary go)")
    from dynamics.simulate import SimConfig, run

    run(SimConfig(loss=loss, rule=rule, lr=_floats(lr, "--lr"), wd=_floats(wd, "--wd"),
                  momentum=_floats(momentum, "--momentum"), batch_size=_floats(batch_size, "--batch-size"),
                  steps=steps, runs=runs, dim=dim, schedule=schedule, record_every=record_every,
                  noise=noise, init_norm=init_norm, grid=grid, seed=seed, device=device, dtype=dtype,
                  compile=compile),
        out, as_json=json)


@simulate_app.command("slices")
@_library_call
def simulate_slices(
    out: Annotated[str, typer.Option(help="Output directory (per slice CSV and heatmap PNG, ridge.json).")],
    points: Annotated[int, typer.Option(help="lr grid points, a factor 2 apart around the toy's default lr.")] = 9,
    rows: Annotated[int, typer.Option(help="Grid points of the other hyperparameter (a factor 16 range).")] = 5,
    repeats: Annotated[int, typer.Option(help="Seeds averaged per grid point.")] = 3,
    steps: Annotated[int, typer.Option(help="Steps at batch size 512 (every setting sees steps·512 examples).")] = 700,
    dim: Annotated[int, typer.Option(help="D, dimensions of the quadratic toy.")] = 256,
    seed: Annotated[int, typer.Option(help="First seed.")] = 0,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:
    """Page's three slices (lr × N, lr × (1 − momentum), lr × wd) on the quadratic toy, with ridge slopes."""
    from dynamics.slices import SlicesConfig, run_slices

    run_slices(SlicesConfig(out=out, points=points, rows=rows, repeats=repeats, steps=steps, dim=dim,
                            seed=seed, device=device))


# -------------------------------------------------------------------------- report
@app.command()
@_library_call
def report(
    out: Annotated[str, typer.Option(help="Report directory: report.md, report.html and one folder per step.")],
    profile: Annotated[str, typer.Option(
        help="quick: CPU-sized (a small ResNet-9 on 8,000 images); full: Page's 24-epoch runs, for a GPU.")] = "quick",
    data: Annotated[Optional[str], typer.Option(
        help="CIFAR-10 .npz file or torchvision folder (default: $RIDGELINE_DATA). Without it the "
             "real-run part is skipped and the report says so.")] = None,
    download: Annotated[bool, typer.Option(help="Let torchvision download CIFAR-10 (170 MB) if it is not found.")] = False,
    device: Annotated[str, typer.Option(help="Training device: auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """The main job end to end: derivations, the simulator against them, Page's slices in
    toy form, a real training run and its layer-by-layer validation, in report.md/.html.

    Resumable: rerunning the same command recomputes no finished step.
    """
    from training.report.steps import ReportConfig, report as run_report

    run_report(ReportConfig.for_profile(profile, out, data=data, download=download, device=device))


def main() -> None:  # pragma: no cover - for `python -m cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
