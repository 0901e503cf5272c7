"""The ``ridgeline`` command line: thin typer commands, one library call each.

Heavy imports (torch, sympy, seaborn) happen inside the commands, so ``ridgeline
--help`` answers at once. Library code raises :class:`dynamics.util.errors.RidgelineError`;
:func:`_library_call` turns it into one line on stderr and exit code 2.
"""

from __future__ import annotations

import contextlib
import functools
import shlex
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from dynamics.util.errors import RidgelineError
from dynamics.util.parse import number

#: ``ridgeline --help`` lists the commands in the order of the work, the main job first.
WORKFLOW = ("report", "derive", "simulate", "train", "validate", "forecast", "sweep", "tune", "transfer")


class _WorkflowGroup(TyperGroup):
    def list_commands(self, ctx) -> list[str]:
        return sorted(self.commands, key=lambda n: WORKFLOW.index(n) if n in WORKFLOW else len(WORKFLOW))

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Click's usage errors (a bad choice, a missing option) as one line on stderr,
        exit 2, with "did you mean" for a near choice, instead of a boxed panel."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        from typer._click import ClickException  # typer vendors click; its core catches this one

        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ClickException as e:
            typer.echo(f"error: {usage_message(e)}", err=True)
            sys.exit(e.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def usage_message(error) -> str:
    """One line for a click usage error: its message, "did you mean" for a value close
    to one of the option's choices, and where the options are listed."""
    import difflib
    import re

    message = " ".join(error.format_message().replace("Value error, ", "").split())
    ctx = getattr(error, "ctx", None)
    bad = re.search(r"'([^']*)' is not one of (.*)", message)  # the choices, from the message itself
    if bad:
        value, choices = bad.group(1).lower(), re.findall(r"'(.*?)'", bad.group(2))
        near = ([c for c in choices if c.replace("-", "") == value.replace("-", "").replace("_", "")]
                or difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
                or [c for c in choices if value and c.startswith(value)])
        if near:
            message = message.rstrip(".") + f"; did you mean {near[0]}?"
    if ctx is not None:
        message += f" (`{ctx.command_path} --help` lists the options)"
    return message


def _choices(name: str, values) -> type[Enum]:
    """An Enum of the registry ``values``, so ``--help`` lists them and completion offers them."""
    return Enum(name, [(v, v) for v in values], type=str)


# The registries themselves (none imports numpy, torch, sympy, pandas or matplotlib, and
# none imports a command's module): a rule, loss or schedule added to the library appears
# here without touching this file. The commands' modules are imported inside the commands.
from dynamics.registry import (COORDINATES as _COORDINATES, DERIVE_FORMATS as _DERIVE_FORMATS,  # noqa: E402
                               EXECUTORS as _EXECUTORS, KEEPS as _KEEPS, LOSSES as _LOSSES, METHODS as _METHODS,
                               OBJECTIVES as _OBJECTIVES, PARAMETRISATIONS as _PARAMETRISATIONS,
                               REPORT_PROFILES as _PROFILES, SAMPLER_RUNS as _SAMPLER_RUNS,
                               SIM_SCHEDULES as _SIM_SCHEDULES, SLICE_RULES as _SLICE_RULES,
                               TRANSFER_RULES as _TRANSFER_RULES)
from dynamics.rules import RULES as _RULES  # noqa: E402
from training.config import OPTIMIZERS as _OPTIMIZERS, SCHEDULES as _TRAIN_SCHEDULES, WD_ON as _WD_ON  # noqa: E402

Rule = _choices("Rule", _RULES)
DeriveRule = _choices("DeriveRule", [*_RULES, "all"])
SliceRule = _choices("SliceRule", _SLICE_RULES)
DeriveFormat = _choices("DeriveFormat", _DERIVE_FORMATS)
SimFormat = _choices("SimFormat", ("table", "json"))
TableFormat = _choices("TableFormat", ("table", "csv"))
Loss = _choices("Loss", _LOSSES)
SimSchedule = _choices("SimSchedule", _SIM_SCHEDULES)
TrainSchedule = _choices("TrainSchedule", _TRAIN_SCHEDULES)
TrainOptimizer = _choices("TrainOptimizer", _OPTIMIZERS)
WdOn = _choices("WdOn", _WD_ON)
Profile = _choices("Profile", _PROFILES)
Objective = _choices("Objective", _OBJECTIVES)
Executor = _choices("Executor", _EXECUTORS)
Coordinates = _choices("Coordinates", _COORDINATES)
Method = _choices("Method", _METHODS)
TransferRule = _choices("TransferRule", _TRANSFER_RULES)
TransferFormat = _choices("TransferFormat", ("table", "json"))
TransferKeep = _choices("TransferKeep", _KEEPS)
Parametrisation = _choices("Parametrisation", _PARAMETRISATIONS)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ridgeline")
    except PackageNotFoundError:  # run from a checkout without `pip install -e .`
        import tomllib

        return tomllib.loads((Path(__file__).parent / "pyproject.toml").read_text())["project"]["version"]


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"ridgeline {_version()}")
        raise typer.Exit()


app = typer.Typer(
    name="ridgeline",
    cls=_WorkflowGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """The geometry of hyperparameter space for SGD with momentum and weight decay on
    batch-norm networks, after David Page, "How to Train Your ResNet 5: Hyperparameters"
    (Myrtle AI blog). Start with `ridgeline report --out report`; the other commands are
    its parts, in the order of the work. Theory: docs/theory.md."""


def _str(path: Optional[Path]) -> Optional[str]:
    return None if path is None else str(path)


#: what Ctrl-C leaves, per command (the function's name): true for each one
_INTERRUPTED = {
    "train": "finished epochs are saved; continue with `ridgeline train --out DIR --resume` (its settings are read from DIR)",
    "sweep": "finished runs are saved; rerun the same command, or `ridgeline sweep --out DIR --resume`, to continue",
    "tune": "finished runs are saved; rerun the same command, or `ridgeline tune --out DIR --resume`, to continue",
    "report": "finished steps are saved; rerun the same command, or `ridgeline report --out DIR --resume`, to continue",
    "simulate_slices": "finished slices are saved; rerun the same command to continue",
    "simulate": "simulate cannot resume (it writes its results at the end, summary.json last); "
                "rerun it to start again",
}


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler's stop), handled as Ctrl-C is."""


def _terminate(signum, frame):
    raise _Terminated()


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While a command runs, SIGTERM unwinds it like Ctrl-C (files closed, locks released)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _library_call(command: Callable) -> Callable:
    """Run a command; a RidgelineError becomes ``error: …`` and exit code 2; Ctrl-C
    (exit 130) and SIGTERM (exit 143, 128 + 15) say what the command kept."""
    interrupted = _INTERRUPTED.get(command.__name__, "nothing was saved; rerun the command")

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with _sigterm_as_interrupt():
                return command(*args, **kwargs)
        except RidgelineError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt as e:
            terminated = isinstance(e, _Terminated)
            where = kwargs.get("out")
            said = interrupted.replace("DIR", shlex.quote(str(where))) if where else interrupted
            typer.echo(f"{'terminated' if terminated else 'interrupted'}: {said}", err=True)
            raise typer.Exit(143 if terminated else 130) from None

    return wrapper


def _given(ctx: typer.Context, values: dict) -> dict:
    """The entries of ``values`` whose option was typed (or set by its environment
    variable), not left at its default: what ``--resume`` keeps over the saved run's."""
    typed = ("COMMANDLINE", "ENVIRONMENT")  # by name: typer vendors its own click
    return {k: v for k, v in values.items() if getattr(ctx.get_parameter_source(k), "name", None) in typed}


def _with_saved(ctx: typer.Context, values: dict, saved_file: Path, sets: Optional[dict] = None,
                typed_extra: tuple[str, ...] = ()) -> dict:
    """For ``--resume``: ``values`` (config field → value) with the field of every option
    left out taken from ``saved_file`` (the JSON the command saved); an option typed
    keeps its value, and the command's own check refuses it where it differs from the
    saved one. ``sets``: option → the fields it sets, where not one field of its name;
    ``typed_extra``: fields given another way (e.g. pass-through options)."""
    import json

    try:
        saved = json.loads(saved_file.read_text())
        if not isinstance(saved, dict):
            raise ValueError
    except FileNotFoundError:
        raise RidgelineError(f"--resume: {saved_file.parent} holds no {saved_file.name}, nothing to resume; "
                             "drop --resume to start there, or choose the --out of an earlier run") from None
    except (OSError, ValueError):
        raise RidgelineError(f"--resume: cannot read {saved_file} as a JSON object; restore it, or drop "
                             "--resume and give every option") from None
    typed = {f for name in _given(ctx, dict(ctx.params)) for f in (sets or {}).get(name, (name,))}
    typed |= set(typed_extra)
    return {k: v if k in typed or k not in saved else saved[k] for k, v in values.items()}


def _required(values: dict, names: tuple[str, ...], what: str) -> None:
    """One line naming the options a command needs, unless --resume supplied them."""
    missing = [f"--{n.replace('_', '-')}" for n in names if values.get(n) is None]
    if missing:
        raise RidgelineError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required "
                             f"(or --resume with the --out of an earlier {what})")


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
            values[name] = number(value)
        except ValueError as why:
            raise RidgelineError(f"{option}: {name}={value.strip()!r} {why}") from None
    if not values:
        raise RidgelineError(f"{option}: give NAME=VALUE pairs, e.g. {allowed[0]}=0.1")
    return values


#: --resume of report, sweep and tune (train has its own wording)
_ResumeOpt = Annotated[bool, typer.Option(
    "--resume", help="Continue the one in --out with its own settings (saved there): options left out "
                     "take its values, one given must equal it.")]


# -------------------------------------------------------------------------- report
@app.command()
@_library_call
def report(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Report directory: report.md, report.html and one folder per step.")],
    profile: Annotated[Profile, typer.Option(
        help="quick: CPU-sized (a small ResNet-9 on 8,000 images); full: Page's 24-epoch runs, for a GPU "
             "(on a CPU only with an explicit --device cpu, after a time estimate).")] = Profile["quick"],
    data: Annotated[Optional[Path], typer.Option(
        help="CIFAR-10 .npz file or torchvision folder (default: $RIDGELINE_DATA). Without it the "
             "real-run part is skipped and the report says so.")] = None,
    download: Annotated[bool, typer.Option(help="Let torchvision download CIFAR-10 (170 MB) if it is not found.")] = False,
    require_data: Annotated[bool, typer.Option(
        "--require-data", help="Stop with exit code 2 before any work when CIFAR-10 is not found, "
                               "instead of skipping the real-run part (for automation).")] = False,
    device: Annotated[str, typer.Option(help="Training device: auto, cpu, cuda or cuda:N.")] = "auto",
    slices: Annotated[Optional[list[Path]], typer.Option(
        "--slices", metavar="<path>", help="A `ridgeline sweep --objective train` directory of one of Page's slices on the real "
                         "network (repeatable; finished or partial): summarised and drawn, never rerun. "
                         "The full profile runs its own.")] = None,
    resume: _ResumeOpt = False,
) -> None:
    """The main job, end to end: derivations, simulations, Page's slices, a real run and its validation.

    Writes report.md and report.html with the command that reproduces every table and
    figure. Resumable: rerunning the same command recomputes no finished step. Exit
    codes: 0 every step finished (the final line says when the real-run part was
    skipped for lack of data), 2 bad input or --require-data without data, 3 a step failed.

    Example: ridgeline report --out report --download
    """
    from training.report.steps import ReportConfig, report as run_report

    values = dict(profile=profile.value, data=_str(data), download=download, device=device,
                  require_data=require_data, slices=tuple(str(p) for p in slices or ()))
    if resume:
        values = _with_saved(ctx, values, out / "report_config.json")
        values["slices"] = tuple(values["slices"])
    summary = run_report(ReportConfig.for_profile(values.pop("profile"), str(out), **values))
    if summary["failed"]:
        raise typer.Exit(3)


# -------------------------------------------------------------------------- derive
@app.command()
@_library_call
def derive(
    rule: Annotated[DeriveRule, typer.Option(help="The update rule, or all of them.")] = DeriveRule["all"],
    format: Annotated[DeriveFormat, typer.Option("--format", help="Output format.")] = DeriveFormat["table"],
    at: Annotated[
        Optional[str],
        typer.Option(help="Evaluate at a point, e.g. lr=0.4,wd=5e-4,momentum=0.9[,grad_norm=1]; the adaptive "
                     "rules also take beta1 (= momentum), beta2, C (elements of the tensor, required for one "
                     "adaptive rule), C_row, G_row."),
    ] = None,
) -> None:
    """Derive the flat directions, the rescaling symmetry and the weight-norm equilibrium.

    Example: ridgeline derive --rule heavy-ball --at lr=0.4,wd=5e-4,momentum=0.9
    """
    from dynamics.jobs.derive import NAMES, render

    point = parse_assignments(at, "--at", NAMES) if at else None
    typer.echo(render(rule.value, format.value, point), nl=False)


# -------------------------------------------------------------------------- simulate
simulate_app = typer.Typer(
    invoke_without_command=True, no_args_is_help=False,
    help="Simulate weight norms settling into their equilibrium on scale-invariant toy losses "
    "(many settings at once); `simulate slices` draws Page's three heatmaps on the toy.\n\n"
    "Example: ridgeline simulate --out sim --lr 0.05,0.1,0.2 --wd 5e-3 --steps 4000")
app.add_typer(simulate_app, name="simulate")


def _floats(text: str, option: str) -> list[float] | float:
    """``0.1`` → 0.1, ``0.1,0.2`` → [0.1, 0.2], naming the option on failure."""
    try:
        values = [number(v) for v in text.split(",") if v.strip()]
    except ValueError as why:
        detail = "" if str(why) == "is not a number" else f" (a value {why})"
        raise RidgelineError(f"{option}: {text!r} is not a number or a comma-separated list of numbers"
                             f"{detail}") from None
    if not values:
        raise RidgelineError(f"{option}: give a number or a comma-separated list")
    return values[0] if len(values) == 1 else values


@simulate_app.callback()
@_library_call
def simulate(
    ctx: typer.Context,
    out: Annotated[Optional[Path], typer.Option(help="Output directory (config.json, trajectories.csv, trajectories.png, summary.csv, summary.json). Required, except before `slices`.")] = None,
    loss: Annotated[Loss, typer.Option(help="noise (the derivation's model), correlated (noise with memory, see --correlation), quadratic (toy with a loss) or bn-net (small batch-norm net, torch.optim.SGD); see docs/theory.md.")] = Loss["noise"],
    correlation: Annotated[float, typer.Option(help="b, --loss correlated only: weight of the filtered past noise in each gradient (0 white; < 0 anti-correlated, less low-frequency power; > 0 persistent, more).")] = 0.0,
    rule: Annotated[Rule, typer.Option(help="The update rule (dynamics/rules.py).")] = Rule["heavy-ball"],
    lr: Annotated[str, typer.Option(help="λ, peak learning rate per step; a comma-separated list gives several settings.")] = "0.1",
    wd: Annotated[str, typer.Option(help="α, weight decay per step (list allowed).")] = "5e-3",
    momentum: Annotated[Optional[str], typer.Option(help="ρ in [0, 1), β₁ for adamw, adam-l2 and lion (list allowed; default 0.9; not with --rule sgd).")] = None,
    beta2: Annotated[Optional[float], typer.Option(help="β₂ of adamw, adam-l2, lion (default 0.999; lion 0.99).")] = None,
    batch_size: Annotated[Optional[str], typer.Option(help="N, examples per step; gradient noise G = noise/√N (list allowed; default 1, bn-net 16).")] = None,
    steps: Annotated[int, typer.Option(help="Steps per run.")] = 2000,
    repeats: Annotated[int, typer.Option(help="Independent runs (seeds) per setting.")] = 16,
    dim: Annotated[Optional[int], typer.Option(help="D, dimensions of w (bn-net: hidden width; default 256, muon A·B of --shape).")] = None,
    shape: Annotated[Optional[str], typer.Option(help="--rule muon: each run's w as a matrix, AxB (64x64, 32x128, 128x32) or a conv's out x in x k x k (16x8x3x3 → 16x72).")] = None,
    nesterov: Annotated[bool, typer.Option("--nesterov/--no-nesterov", help="--rule muon: Nesterov momentum (torch.optim.Muon's default).")] = True,
    adjust_lr: Annotated[str, typer.Option(help="--rule muon: torch's adjust_lr_fn, original (√max(1, A/B)) or match_rms_adamw (0.2√max(A, B)).")] = "original",
    schedule: Annotated[SimSchedule, typer.Option(help="constant, piecewise (Page's 0→λ→0) or step (λ/10 from half-way: relaxation).")] = SimSchedule["constant"],
    record_every: Annotated[int, typer.Option(help="Steps between records.")] = 10,
    noise: Annotated[float, typer.Option(help="σ, scale-free per-example gradient noise.")] = 1.0,
    init_norm: Annotated[float, typer.Option(help="|w₀|; 0 starts each setting at its predicted equilibrium.")] = 1.0,
    grid: Annotated[bool, typer.Option("--grid", help="Every combination of the lists instead of zipping them.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed of the first run.")] = 0,
    device: Annotated[str, typer.Option(help="auto (cuda when present), cpu, cuda or cuda:N.")] = "auto",
    dtype: Annotated[str, typer.Option(help="float32 or float64.")] = "float32",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the step (noise, quadratic): faster long runs, tens of seconds to compile.")] = False,
    format: Annotated[SimFormat, typer.Option("--format", help="Summary on stdout: a table, or JSON (measured and predicted per setting).")] = SimFormat["table"],
) -> None:
    """Simulate many settings at once and compare late-time |w| and angular update with theory."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise RidgelineError("--out DIR is required (where the trajectories and summary go)")
    from dynamics.jobs.simulate import SimConfig, default_batch_size, run, with_matrix

    if momentum is not None and rule.value == "sgd":
        raise RidgelineError("--momentum: the rule sgd has no momentum; drop --momentum or choose "
                             "--rule heavy-ball or nesterov")
    momentum = "0.9" if momentum is None else momentum
    batch = _floats(batch_size, "--batch-size") if batch_size else default_batch_size(loss.value)
    config = SimConfig(loss=loss.value, correlation=correlation, rule=rule.value, lr=_floats(lr, "--lr"), wd=_floats(wd, "--wd"),
                       momentum=_floats(momentum, "--momentum"), batch_size=batch,
                       steps=steps, runs=repeats, dim=256 if dim is None else dim, schedule=schedule.value,
                       record_every=record_every, noise=noise, init_norm=init_norm, grid=grid, seed=seed, device=device,
                       dtype=dtype, compile=compile, beta2=beta2, shape=shape, nesterov=nesterov, adjust_lr=adjust_lr)
    run(with_matrix(config) if dim is None else config, str(out), as_json=format.value == "json")


@simulate_app.command("slices")
@_library_call
def simulate_slices(
    out: Annotated[Path, typer.Option(help="Output directory (per slice CSV and heatmap PNG, ridge.json).")],
    points: Annotated[int, typer.Option(help="lr grid points, a factor 2 apart around the toy's default lr.")] = 9,
    rows: Annotated[int, typer.Option(help="Grid points of the other hyperparameter (a factor 16 range).")] = 5,
    repeats: Annotated[int, typer.Option(help="Seeds averaged per grid point.")] = 3,
    steps: Annotated[int, typer.Option(help="Steps at batch size 512 (every setting sees steps·512 examples).")] = 700,
    dim: Annotated[int, typer.Option(help="D, dimensions of the quadratic toy.")] = 256,
    seed: Annotated[int, typer.Option(help="First seed.")] = 0,
    device: Annotated[str, typer.Option(help="auto (cuda when present), cpu, cuda or cuda:N.")] = "auto",
    rule: Annotated[SliceRule, typer.Option(help="Update rule: Page's nesterov or heavy-ball (lr around 0.4, wd 5e-4), or adamw, adam-l2, lion, muon (lr around 0.03, wd 0.05, β₁ or ρ in the momentum slice; muon's toy is 16x16, no head).")] = SliceRule["nesterov"],
) -> None:
    """Page's three slices (λ × N, λ × (1 − ρ), λ × α) on the quadratic toy, with ridge slopes.

    Example: ridgeline simulate slices --out slices --rule nesterov
    """
    from dynamics.jobs.slices import SlicesConfig, run_slices

    run_slices(SlicesConfig(out=str(out), points=points, rows=rows, repeats=repeats, steps=steps, dim=dim,
                            seed=seed, device=device, rule=rule.value))


# ----------------------------------------------------------------------------- train
from training.config import TrainConfig as _TrainConfig  # noqa: E402  (no torch: cheap)

_T = _TrainConfig()


@app.command()
@_library_call
def train(
    ctx: typer.Context,
    out: Annotated[str, typer.Option(metavar="<path>", help="Run directory (config.json, metrics.csv, norms.csv, summary.json, checkpoint.pt; docs/run-directory.md).")],
    data: Annotated[Optional[Path], typer.Option(help="CIFAR-10 .npz file or torchvision root dir (default: $RIDGELINE_DATA, then --cache-dir).")] = None,
    download: Annotated[bool, typer.Option(help="Download CIFAR-10 with torchvision into --cache-dir (170 MB).")] = _T.download,
    cache_dir: Annotated[Path, typer.Option(help="torchvision CIFAR-10 root used when no --data / RIDGELINE_DATA.")] = Path(_T.cache_dir),
    train_size: Annotated[Optional[int], typer.Option(help="Training images used (class-balanced subset; default: all).")] = None,
    holdout: Annotated[int, typer.Option(help="Training images held out for validation (val_acc); 0 = none.")] = _T.holdout,
    epochs: Annotated[int, typer.Option(help="Passes over the training set.")] = _T.epochs,
    batch_size: Annotated[int, typer.Option(help="N, images per step.")] = _T.batch_size,
    lr: Annotated[float, typer.Option(help="λ, peak learning rate per step, on the mean loss (= Page's 0.4).")] = _T.lr,
    wd: Annotated[float, typer.Option(help="α, weight decay per step, on the mean loss (= Page's 5e-4); coupled for sgd and adam, decoupled (w ← (1 − λα) w) for adamw and lion.")] = _T.wd,
    wd_on: Annotated[WdOn, typer.Option(help="Tensors that get α: all, or scale-invariant (the conv weights before a BatchNorm; 0 on BN scales, shifts and the classifier).")] = WdOn[_T.wd_on],
    other_lr: Annotated[Optional[float], typer.Option(help="Peak λ of the tensors without the scaling symmetry (BN scales and shifts, the classifier), on the same schedule (default: --lr).")] = None,
    other_wd: Annotated[Optional[float], typer.Option(help="α of the tensors without the scaling symmetry (default: --wd; 0 with --wd-on scale-invariant).")] = None,
    init_scale: Annotated[str, typer.Option(help="Multiply the scale-invariant conv weights at initialisation by this: the same network function, |w₀| times this (the weight-norm control loop starts elsewhere); 'follow': by (λ/λ₀)^(1/2) for the SGD rules (the rule's own exponent), λ₀ from --symmetry-ref.")] = str(_T.init_scale),
    symmetry_ref: Annotated[Optional[str], typer.Option(help="Reference point lr=LR,wd=WD of --init-scale follow and --exact-symmetry (sweep: the grid's middle; tune: the start).")] = None,
    exact_symmetry: Annotated[bool, typer.Option("--exact-symmetry", help="The exact-symmetry control: --init-scale follow, and the tensors without the symmetry held at --symmetry-ref's lr and wd, so runs along λα are the same run rescaled.")] = False,
    momentum: Annotated[Optional[float], typer.Option(help=f"ρ, momentum (0 = plain SGD; default {_T.momentum}, muon 0.95). SGD and Muon.")] = None,
    nesterov: Annotated[Optional[bool], typer.Option("--nesterov/--no-nesterov", help=f"Nesterov momentum (torch.optim.SGD/Muon nesterov=True; default {_T.nesterov}). SGD and Muon.")] = None,
    optimizer: Annotated[TrainOptimizer, typer.Option(help="sgd, adamw (decoupled decay), adam (Adam with L2 decay), lion, or muon (Muon on the scale-invariant conv weights, Nesterov SGD at --other-lr on the rest).")] = TrainOptimizer[_T.optimizer],
    adjust_lr: Annotated[Optional[str], typer.Option(help="Muon's lr factor: original (√max(1, A/B), default) or match_rms_adamw (0.2√max(A, B)).")] = None,
    beta1: Annotated[Optional[float], typer.Option(help="β₁ in [0, 1), first-moment coefficient of adamw/adam/lion (default 0.9).")] = None,
    beta2: Annotated[Optional[float], typer.Option(help="β₂ in [0, 1) of adamw/adam/lion (default 0.999; lion 0.99).")] = None,
    eps: Annotated[Optional[float], typer.Option(help="ε > 0 of adamw/adam (default 1e-8).")] = None,
    schedule: Annotated[TrainSchedule, typer.Option(help="piecewise (0→λ→0, Page's) or constant (warm-up, then λ).")] = TrainSchedule[_T.schedule],
    warmup_epochs: Annotated[Optional[float], typer.Option(help="Linear warm-up, epochs (default: 5/24 of --epochs).")] = None,
    width: Annotated[float, typer.Option(help="Channel multiplier (1 = Page's ResNet-9, 0.125 for CPU, as the report's quick runs).")] = _T.width,
    cutout: Annotated[bool, typer.Option(help="8x8 cutout augmentation.")] = _T.cutout,
    device: Annotated[str, typer.Option(help="auto (cuda when present), cpu, cuda or cuda:N.")] = _T.device,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model (CUDA).")] = _T.compile,
    seed: Annotated[int, typer.Option(help="Initialisation, shuffling and augmentation seed.")] = _T.seed,
    log_every: Annotated[int, typer.Option(help="Log per-layer norms every this many steps.")] = _T.log_every,
    per_channel: Annotated[bool, typer.Option("--per-channel", help="Also log every output channel (norms_per_channel.csv).")] = _T.per_channel,
    tensorboard: Annotated[bool, typer.Option("--tensorboard", help="Also write per-layer TensorBoard scalars under OUT/tensorboard (needs ridgeline\\[tensorboard]).")] = _T.tensorboard,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the unfinished run in --out from its last epoch, with its own settings (config.json): options left out take the run's values, one given must equal it.")] = False,
) -> None:
    """Train Page's ResNet-9 on CIFAR-10, logging per-layer weight norms and angular updates.

    Example: ridgeline train --out runs/quick --width 0.125 --train-size 8000 --batch-size 64 --epochs 10
    --lr 0.05 --wd 4e-3 --download; after an interruption: ridgeline train --out runs/quick --resume
    """
    from training import train as run_training
    from training.config import from_options

    options = dict(
        optimizer=optimizer.value, momentum=momentum, nesterov=nesterov, beta1=beta1, beta2=beta2, eps=eps,
        adjust_lr=adjust_lr, data=_str(data), download=download, cache_dir=str(cache_dir), train_size=train_size, holdout=holdout,
        epochs=epochs, batch_size=batch_size, lr=lr, wd=wd, wd_on=wd_on.value, other_lr=other_lr, other_wd=other_wd,
        init_scale=_init_scale(init_scale), symmetry_ref=symmetry_ref, exact_symmetry=exact_symmetry,
        schedule=schedule.value, warmup_epochs=warmup_epochs, width=width, cutout=cutout, device=device,
        compile=compile, seed=seed, log_every=log_every, per_channel=per_channel, tensorboard=tensorboard,
        out=out)  # a str, not a Path: Path("") would turn an empty --out into "."
    if resume:
        options = _resumed_options(ctx, options, out)
    run_training(from_options(**options), resume=resume)


def _resumed_options(ctx: typer.Context, options: dict, out: str) -> dict:
    """``train --resume``: the run's saved settings, with the options given on the command line
    checked against them (none saved in ``out``: ``options`` as they are)."""
    from training.config import resume_options
    from training.trainer import saved_config

    saved = saved_config(out) if out.strip() else None
    return resume_options(saved, _given(ctx, options), out) if saved is not None else options


def _init_scale(text: str):
    """--init-scale: a number, or "follow" (converted as sweep's pass-through converts it)."""
    from training.search.objectives import train_fields
    from training.search.options import convert

    return convert("init_scale", text, train_fields()["init_scale"])


# ------------------------------------------------------------------------ validate
@app.command()
@_library_call
def validate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `ridgeline train`.")],
    out: Annotated[Optional[Path], typer.Option(
        help="Output directory for validation.csv and the figures (default RUN_DIR/validation).")] = None,
    adiabatic: Annotated[float, typer.Option(
        help="ε: a step is quasi-static when relaxation time × |d ln lr/dt| < ε.")] = 0.1,
    settle: Annotated[float, typer.Option(
        help="n: relaxation times a layer needs after the last fast lr change.")] = 3.0,
    tolerance: Annotated[float, typer.Option(
        help="A prediction is 'off' when a median ratio is further than this from 1.")] = 0.10,
    closure_tolerance: Annotated[float, typer.Option(
        help="The closure (the run's own k fed back: an accounting check) 'fails' beyond this.")] = 0.03,
    all_layers: Annotated[bool, typer.Option(
        help="Show every tensor in the table and figures, not only the scale-invariant ones.")] = False,
    statistics_from: Annotated[Optional[Path], typer.Option(
        help="A pilot run: predict with ITS gradient correlation k (AdamW: κ, ξ) and this run's G² "
             "(transferred correlation; docs/forecast.md).")] = None,
    forecast: Annotated[Optional[Path], typer.Option(
        help="A `ridgeline forecast` directory: add forecast_norm_ratio and forecast_angle_ratio per layer.")] = None,
    map_by: Annotated[str, typer.Option(
        "--map", help="How the pilot's profiles map onto this run: progress, epoch or loss.")] = "progress",
) -> None:
    """Compare a run's per-layer |w| and angle with the predicted equilibria and trajectories.

    The prediction (white noise: nothing of the run but |w0|, G² and the schedule) gets
    the verdicts; the closure, fed the run's own gradient statistics, is shown beside it
    as a check of the log. The trajectory follows the run's own learning-rate schedule,
    so every run gets a verdict. Writes validation.csv (one row per layer), validation_steps.csv and
    figures, and prints the per-layer table; docs/theory.md (section "Validation on a
    real run") explains the smoothing, the equilibrium phase and the trajectory.

    Example: ridgeline validate runs/quick
    """
    from dynamics.jobs.validate import ValidateConfig, validate as run_validation

    run_validation(ValidateConfig(run_dir=str(run_dir), out=_str(out), adiabatic=adiabatic,
                                  settle=settle, tolerance=tolerance, closure_tolerance=closure_tolerance,
                                  all_layers=all_layers,
                                  statistics_from=_str(statistics_from), forecast=_str(forecast),
                                  mapping=map_by))


@app.command()
@_library_call
def forecast(
    pilot: Annotated[Path, typer.Argument(help="A finished run directory written by `ridgeline train`.")],
    to: Annotated[str, typer.Option(
        help="The planned run's changes, NAME=VALUE,…: lr, wd, momentum, batch_size, epochs, schedule, "
             "train_size, warmup_epochs, seed, init_scale.")],
    out: Annotated[Path, typer.Option(help="Output directory (forecast.csv, forecast.json, forecast.png).")],
    map_by: Annotated[str, typer.Option(
        "--map", help="How the pilot's G² and k profiles map onto the plan: progress or epoch.")] = "progress",
    batch_exponent: Annotated[float, typer.Option(
        help="β of the gradient-noise model G² ∝ N^−β (docs/forecast.md).")] = 1.0,
    g2_exponents: Annotated[Optional[str], typer.Option(
        help="An empirical G² model, G² ∝ Π x^e: NAME=e,… for lr, wd, train_size, one_minus_momentum "
             "(docs/forecast.md fits one).")] = None,
    k_model: Annotated[str, typer.Option(
        help="pilot: the pilot's k, mapped; curvature: k = f(λ/|w|² · h) of a quadratic valley, h per "
             "layer fitted on the pilot (docs/forecast.md).")] = "pilot",
    figure: Annotated[bool, typer.Option(help="Draw forecast.png.")] = True,
) -> None:
    """Forecast |w| and the angle per step of every scale-invariant layer of a run not yet made.

    Uses the pilot's G² and gradient correlation k, mapped onto the planned
    run, with the plan's own schedule, α, ρ and initial |w| (docs/forecast.md).
    Check it after the run with `ridgeline validate RUN --forecast OUT`.

    Example: ridgeline forecast runs/quick --to lr=0.1,wd=2e-3 --out forecast
    """
    from rich.console import Console

    from dynamics.jobs.forecast import G2_FACTORS, ForecastConfig, forecast as run_forecast, parse_plan

    names = tuple(G2_FACTORS)

    run_forecast(ForecastConfig(pilot=str(pilot), to=parse_plan(to), out=str(out), mapping=map_by,
                                batch_exponent=batch_exponent, k_model=k_model, figure=figure,
                                g2_exponents=parse_assignments(g2_exponents, "--g2-exponents", names)
                                if g2_exponents else {}),
                 console=Console() if sys.stdout.isatty() else Console(width=160))


# --------------------------------------------------------------- sweep and tune
_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


@functools.lru_cache(maxsize=None)
def _pass_through_epilog() -> str:
    """The options sweep and tune hand to the objective, from the configs themselves."""
    from dynamics.jobs.slices import toy_options
    from training.search.objectives import train_fields

    reserved = {"out", "resume"}
    train = ", ".join("--" + f.replace("_", "-") for f in train_fields() if f not in reserved)
    toy = ", ".join("--" + f.replace("_", "-") for f in toy_options())
    return (f"Options passed through to --objective train (as in `ridgeline train --help`): {train}.\n\n"
            f"Options passed through to --objective quadratic (the toy's): {toy}.")


class _PassThroughCommand(TyperCommand):
    """sweep and tune: their epilog lists the pass-through options, read from the toy's and
    the trainer's configs when the help is shown, so that ``import cli`` loads neither."""

    @property
    def epilog(self) -> str:
        return _pass_through_epilog()

    @epilog.setter
    def epilog(self, value) -> None:  # click's __init__ sets it; the property computes it
        pass


_ExecutorOpt = Annotated[Executor, typer.Option(
    help="local (this process, or one worker per visible GPU) or ray (pip install 'ridgeline\\[ray]').")]
_RayAddressOpt = Annotated[Optional[str], typer.Option(
    help="Address of an existing Ray cluster (e.g. auto or ray://head:10001); default: start a local one.")]
_CpusOpt = Annotated[float, typer.Option(help="CPU cores each trial asks Ray for.")]
_GpusOpt = Annotated[float, typer.Option(help="GPUs (or a fraction) each trial asks Ray for.")]
_WorkersOpt = Annotated[Optional[int], typer.Option(
    help="Local worker processes; default: one per visible GPU for --objective train, else 1.")]
_ObjectiveOptional = Annotated[Optional[Objective], typer.Option(
    help="quadratic (the simulator's toy, seconds) or train (the real ResNet-9); see the "
         "pass-through options below. Required, except with --resume.")]
_MaxRunsOpt = Annotated[Optional[int], typer.Option(
    help="Stop after this many new runs (default: no limit); rerun the same command to continue.")]
_TableFormatOpt = Annotated[TableFormat, typer.Option(
    "--format", help="Final table on stdout: a table (full values when piped) or CSV.")]


@app.command(cls=_PassThroughCommand, context_settings=_PASS_THROUGH)
@_library_call
def sweep(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Sweep directory (records, records.csv, ridge.json, heatmap.png).")],
    objective: _ObjectiveOptional = None,
    x: Annotated[Optional[str], typer.Option("--x", help="Horizontal axis NAME=LO:HI:POINTS, log-spaced; "
                                             "NAME: lr, batch_size, one_minus_momentum or wd. Required, "
                                             "except with --resume.")] = None,
    y: Annotated[Optional[str], typer.Option("--y", help="Vertical axis, as --x. Required, except with --resume.")] = None,
    repeats: Annotated[int, typer.Option(help="Runs (seeds) per grid point, seeds seed, seed+1, ...; raise it on a finished sweep to add seeds.")] = 1,
    executor: _ExecutorOpt = Executor["local"],
    ray_address: _RayAddressOpt = None,
    cpus_per_trial: _CpusOpt = 1.0,
    gpus_per_trial: _GpusOpt = 0.0,
    workers: _WorkersOpt = None,
    max_runs: _MaxRunsOpt = None,
    floor: Annotated[Optional[float], typer.Option(
        help="Floor the heatmap's score here (default 0.91 for accuracy, none for the toy's loss).")] = None,
    format: _TableFormatOpt = TableFormat["table"],
    resume: _ResumeOpt = False,
) -> None:
    """Sweep a 2-D slice of (λ, N, 1 − ρ, α), fit its ridge, draw the heatmap.

    Resumable: rerunning the same command recomputes nothing finished. Other
    hyperparameters stay at Page's defaults (the toy's for quadratic) unless given,
    e.g. --momentum 0.8 or --seed 3; any other option goes to the objective (listed below).

    Example: ridgeline sweep --objective quadratic --x lr=0.1:3.2:6 --y wd=2.5e-4:1e-3:3 --out lr_wd
    """
    from training.search.sweep import Axis, SweepConfig, parse_axis, run_sweep

    values = dict(objective=None if objective is None else objective.value, x=None if x is None else parse_axis(x, "--x"),
                  y=None if y is None else parse_axis(y, "--y"),
                  repeats=repeats, options=tuple(ctx.args), executor=executor.value, workers=workers,
                  ray_address=ray_address, cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial,
                  max_runs=max_runs, floor=floor, format=format.value)
    if resume:
        values = _with_saved(ctx, values, out / "sweep_config.json", typed_extra=("options",) if ctx.args else ())
        values.update({a: Axis(**values[a]) for a in ("x", "y") if isinstance(values[a], dict)})
        values["options"] = tuple(values["options"])
    _required(values, ("objective", "x", "y"), "sweep")
    run_sweep(SweepConfig(out=str(out), **values))


@app.command(cls=_PassThroughCommand, context_settings=_PASS_THROUGH)
@_library_call
def tune(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Tune directory (records, tune.csv, trials.csv).")],
    objective: _ObjectiveOptional = None,
    start: Annotated[Optional[str], typer.Option(
        help="Starting point, e.g. lr=0.001,momentum=0.5,wd=0.01 (missing names: the defaults).")] = None,
    method: Annotated[Method, typer.Option(
        help="coordinate: Page's cyclical descent; tpe or random: Optuna's sampler "
             "(pip install 'ridgeline\\[optuna]').")] = Method["coordinate"],
    coordinates: Annotated[Coordinates, typer.Option(
        help="rotated: search in (λα/(1−ρ), 1−ρ, α), Page's way; naive: in (λ, 1−ρ, α).")] = Coordinates["rotated"],
    sampler_seed: Annotated[int, typer.Option(help="Seed of the tpe/random sampler (a rerun is identical).")] = 0,
    bounds: Annotated[str, typer.Option(
        help="tpe/random: log-uniform ranges NAME=LO:HI of rotated, lr, one_minus_momentum, wd "
             "(default rotated=1e-6:0.1, lr=1e-4:10, one_minus_momentum=1e-3:1, wd=1e-6:0.1).")] = "",
    factor: Annotated[float, typer.Option(help="Line-search step: multiply or divide by this.")] = 2.0,
    refine: Annotated[int, typer.Option(
        help="After convergence, refine the step (factor -> sqrt(factor)) this many times.")] = 0,
    tolerance: Annotated[float, typer.Option(
        help="Relative improvement a move must make to count as better.")] = 1e-6,
    max_runs: Annotated[Optional[int], typer.Option(
        help=f"Stop after this many distinct runs (default: coordinate, no limit: it stops when it "
             f"converges; tpe and random, {_SAMPLER_RUNS}: a sampler never converges); rerun with more to continue.")] = None,
    executor: _ExecutorOpt = Executor["local"],
    ray_address: _RayAddressOpt = None,
    cpus_per_trial: _CpusOpt = 1.0,
    gpus_per_trial: _GpusOpt = 0.0,
    format: _TableFormatOpt = TableFormat["table"],
    resume: _ResumeOpt = False,
) -> None:
    """Tune (λ, ρ, α) by Page's coordinate descent, or Optuna's TPE or random search.

    Page's cyclical descent doubles or halves one coordinate at a time; every method
    searches in Page's rotated (λα/(1−ρ), 1−ρ, α) or the naive (λ, 1−ρ, α) coordinates.

    Resumable: every run is recorded, and rerunning the same command replays the
    descent without recomputing a finished run. Any other option goes to the objective
    (listed below), e.g. --batch-size 256.

    Example: ridgeline tune --objective quadratic --out tuned --start lr=0.1,momentum=0.5,wd=1e-3
    """
    from training.search.tune import TuneConfig, run_tune

    point = parse_assignments(start, "--start", ("lr", "momentum", "wd")) if start else {}
    values = dict(objective=None if objective is None else objective.value, **({"lr": None, "momentum": None, "wd": None} | point),
                  coordinates=coordinates.value, method=method.value, sampler_seed=sampler_seed,
                  bounds=parse_bounds(bounds), factor=factor, refine=refine, tolerance=tolerance,
                  max_runs=max_runs, options=tuple(ctx.args), executor=executor.value, ray_address=ray_address,
                  cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, format=format.value)
    if resume:
        values = _with_saved(ctx, values, out / "tune_config.json", sets={"start": ("lr", "momentum", "wd")},
                             typed_extra=("options",) if ctx.args else ())
        values.update(options=tuple(values["options"]), bounds=tuple(tuple(b) for b in values["bounds"]))
    _required(values, ("objective",), "tune")
    run_tune(TuneConfig(out=str(out), **values))


def parse_bounds(text: str) -> tuple[tuple[str, float, float], ...]:
    """``name=lo:hi,...`` -> ((name, lo, hi), ...), naming the problem on failure."""
    out = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, rng = item.partition("=")
        lo, sep, hi = rng.partition(":")
        try:
            if not sep:
                raise ValueError("is not NAME=LO:HI")
            out.append((name.strip(), number(lo), number(hi)))
        except ValueError as why:
            detail = f": a value {why}" if sep else ""
            raise RidgelineError(f"--bounds: {item!r} is not NAME=LO:HI{detail} (e.g. wd=1e-5:1e-2)") from None
        if out[-1][1] > out[-1][2]:
            raise RidgelineError(f"--bounds: {item!r} runs from high to low; give LO first: "
                                 f"{name.strip()}={hi.strip()}:{lo.strip()}")
    return tuple(out)


# -------------------------------------------------------------------------- transfer
@app.command()
@_library_call
def transfer(
    to: Annotated[str, typer.Option("--to", help="New values, e.g. batch_size=128 or momentum=0.97 or wd=2e-3 (lr follows); "
                                                 "or train_size=10000, epochs=48, width=0.5 (the relaxation time in epochs is kept).")],
    from_: Annotated[str, typer.Option("--from", help="The good setting, e.g. lr=0.4,wd=5e-4,momentum=0.9,batch_size=512 (missing names: Page's); "
                                                      "width=0.125 for a --to width move (default 1).")] = "",
    rule: Annotated[TransferRule, typer.Option(help="The update rule (ridgeline train's is nesterov); adamw, adam-l2 and lion: --to wd along their derived rescaling invariant (lr*wd, lr**2*wd for adam-l2), and adamw, lion --to train_size, epochs, width.")] = TransferRule["nesterov"],
    train_size: Annotated[int, typer.Option(help="M, training images per epoch (steps per epoch = M/N).")] = 50_000,
    epochs: Annotated[float, typer.Option(help="Length of the run, epochs (for the relaxation warning).")] = 24,
    keep: Annotated[TransferKeep, typer.Option(help="--to train_size/epochs/width: leave this one as it is; the other moves to keep the relaxation time.")] = TransferKeep["lr"],
    parametrisation: Annotated[Parametrisation, typer.Option(help="--to width: standard (lr as it is) or mup (lr ~ 1/width; adamw, lion).")] = Parametrisation["standard"],
    format: Annotated[TransferFormat, typer.Option("--format", help="Output format.")] = TransferFormat["table"],
) -> None:
    """Carry a setting to another batch size, momentum or wd along Page's flat directions,
    or to another data-set size, run length or width keeping the relaxation time in epochs.

    Example: ridgeline transfer --from lr=0.4,batch_size=512 --to batch_size=128
    """
    from dynamics.jobs.transfer import PAGE, SCALES, TARGETS, TransferConfig, render, transfer as run_transfer

    source = parse_assignments(from_, "--from", (*PAGE, "width")) if from_.strip() else {}
    target = parse_assignments(to, "--to", (*TARGETS, *SCALES))
    config = TransferConfig(source=source, target=target, rule=rule.value, train_size=train_size,
                            epochs=epochs, format=format.value, keep=keep.value,
                            parametrisation=parametrisation.value)
    typer.echo(render(run_transfer(config), config.format, config.rule), nl=False)


def main() -> None:  # pragma: no cover - for `python -m cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
