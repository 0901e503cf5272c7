"""Page's three slices on the real network: what finished or partial sweeps show.

David Page ("How to Train Your ResNet 5: Hyperparameters", Myrtle AI blog) reads three
flat directions off heatmaps of test accuracy: λ/N, λ/(1−ρ) and λα held fixed, i.e. a
ridge of slope d log y / d log λ = +1 for y = N, +1 for y = 1−ρ and −1 for y = α
(:data:`dynamics.jobs.slices.SLICES`). :func:`summarise` reads a ``ridgeline sweep
--objective train`` directory (``sweep.json``, ``sweep_config.json``, ``records/``;
finished or still running) and measures, as ``ridgeline simulate slices`` does on the toy:

- the ridge of the mean score over seeds, fitted by :func:`dynamics.analysis.ridge.fit_ridge`;
- the error of its slope across seeds, from the ridge of each seed alone
  (:func:`dynamics.analysis.ridge.seed_slopes`), and z = (slope − claimed)/error;
- the length of the runs along the ridge in relaxation times τ of the weight norm,
  τ(λ) = (1−ρ)/(4λα) for Nesterov at leading order (derived by
  :func:`dynamics.theory.symbolic.equilibrium` from the rule's code), two ways: at the peak,
  T/τ(λ) for T steps, and integrated over the run's own schedule, Σ_t 1/τ(λ_t) with
  λ_t from :func:`training.config.lr_at` (Page's schedule spends about half a run's
  steps well below the peak λ, so the integral is about half the peak count).

:func:`markdown` renders the summaries as one table; :func:`slices_figure` draws the
real heatmaps above the toy's.
"""

from __future__ import annotations

import math
import shlex
import statistics
from dataclasses import dataclass
from pathlib import Path

from dynamics.util.errors import RidgelineError
from training.relaxation import CIFAR_TRAIN, equilibrium_numeric, run_lengths  # noqa: F401  (re-exported)
from training.relaxation import relaxation_rate as _relaxation_rate


@dataclass(frozen=True)
class SliceSpec:
    """One real slice as a ``ridgeline sweep --objective train`` command."""

    name: str  # the sweep directory's name, e.g. "lr_wd"
    x: str  # --x, NAME=LO:HI:POINTS (lr)
    y: str  # --y (batch_size, one_minus_momentum or wd)
    repeats: int = 3  # seeds per grid point (Page: three runs per point)
    options: tuple = ()  # the other options, passed through to ridgeline train

    def command(self, out: str, extra: tuple = ()) -> str:
        words = ["ridgeline sweep --objective train", f"--repeats {self.repeats}", *self.options, *extra,
                 f"--x {self.x}", f"--y {self.y}", f"--out {out}"]
        return " ".join(shlex.quote(w) if " " not in w else w for w in words)

    def sweep_config(self, out: str, extra: tuple = ()):
        """The :class:`training.search.sweep.SweepConfig` of :meth:`command`."""
        from training.search.sweep import SweepConfig, parse_axis

        return SweepConfig(objective="train", x=parse_axis(self.x, "--x"), y=parse_axis(self.y, "--y"),
                           out=out, repeats=self.repeats, options=tuple(self.options) + tuple(extra))


def spec_runs(spec: SliceSpec, extra: tuple = ()) -> list:
    """Every run of ``spec``'s sweep as (key, TrainConfig), for time estimates."""
    from training.config import TrainConfig
    from training.search.objectives import make_objective
    from training.search.sweep import grid_trials

    config = spec.sweep_config("unused", extra)
    objective = make_objective("train", list(config.options))
    return [(t.key, TrainConfig(**t.config)) for t in grid_trials(config, objective)]


#: the CPU slices (width 1/8, 3,000 training images scored on 2,000 held-out ones, 10 epochs
#: of Page's schedule with Nesterov momentum): about 2-3 hours on two cores in all
_CPU = ("--width", "0.125", "--train-size", "3000", "--holdout", "2000", "--epochs", "10",
        "--device", "cpu", "--log-every", "20")
CPU_SLICES = (
    SliceSpec("lr_batch", "lr=0.05:1.6:6", "batch_size=32:256:4", 3, _CPU + ("--momentum", "0.9", "--wd", "2e-3")),
    SliceSpec("lr_mom", "lr=0.025:0.8:6", "one_minus_momentum=0.025:0.2:4", 3,
              _CPU + ("--batch-size", "64", "--wd", "2e-3")),
    SliceSpec("lr_wd", "lr=0.025:0.8:6", "wd=1e-3:8e-3:4", 3, _CPU + ("--batch-size", "64", "--momentum", "0.9")),
)

#: Page's own scale: the full-width ResNet-9 on all 50,000 training images for 24 epochs,
#: scored on the test set, around Page's defaults (N 512, ρ 0.9, α 5e-4, λ 0.4): λ a factor
#: 2 apart over 0.025-6.4 and the other hyperparameter over the toy's ranges (N 128-2048,
#: 1−ρ 0.025-0.4, α 1.25e-4-2e-3; dynamics.jobs.slices.SLICES), three seeds per point
_PAGE = ("--log-every", "50")
PAGE_SLICES = (
    SliceSpec("lr_batch", "lr=0.025:6.4:9", "batch_size=128:2048:5", 3, _PAGE),
    SliceSpec("lr_mom", "lr=0.025:6.4:9", "one_minus_momentum=0.025:0.4:5", 3, _PAGE),
    SliceSpec("lr_wd", "lr=0.025:6.4:9", "wd=1.25e-4:2e-3:5", 3, _PAGE),
)


@dataclass
class SliceSummary:
    """One real slice: the claim, the measured ridge and the run lengths along it."""

    path: str  # the sweep directory
    name: str  # lr_x_<y>, the key of dynamics.jobs.slices.SLICES
    x: str  # "lr"
    y: str  # batch_size, one_minus_momentum or wd
    claim: str  # Page's flat direction, e.g. "lr*wd"
    expected: float  # its slope d log y / d log λ
    slope: float  # fitted to the mean over seeds (NaN: no ridge inside the grid yet)
    fit_err: float  # the line fit's own error
    seed_err: float  # seed-to-seed error of the slope (NaN with fewer than 2 seeds' slopes)
    per_seed: list  # the slope of the ridge of each seed alone
    grid: str  # e.g. "λ 0.025–0.8 (6) × α 0.001–0.008 (4)"
    runs_done: int  # finished runs
    runs_total: int  # runs in the sweep
    seeds_done: int  # seeds with every grid point finished
    repeats: int  # seeds asked for
    steps: list  # steps per run at each ridge point (one per grid row)
    relax_peak: list  # steps / τ(peak λ) at each ridge point
    relax_integrated: list  # Σ_t 1/τ(λ_t) at each ridge point
    row_seeds: list  # per grid row, the best λ of each complete seed alone (NaN: none inside the grid)
    command: str  # the ridgeline sweep command that produced (or continues) it
    fit: object = None  # dynamics.analysis.ridge.RidgeFit of the mean, for the figure
    means: object = None  # pandas DataFrame: the mean score per grid point
    score: str = "val_acc"  # the score column of ``means``
    maximize: bool = True
    r2: tuple = (float("nan"), float("nan"))  # score variance explained along the claim, along the other diagonal
    r2_seeds: list = None  # the same for each complete seed alone
    p_t: float = float("nan")  # two-sided p of z as Student's t with (seeds with a slope − 1) degrees of freedom
    p_null: float = float("nan")  # share of slopes as far from the claim on the exactly flat null landscape
    noise_sd: float = float("nan")  # run-to-run sd of the score about its grid point's mean
    seeds: list = None  # the numbers of every complete seed, in the order of per_seed
    seed_mean: tuple = (float("nan"), float("nan"))  # the mean of per_seed and its standard error
    p_t_seed_mean: float = float("nan")  # two-sided p of the mean of per_seed against the claim (t, n − 1 dof)
    profile: object = None  # dynamics.analysis.ridge.DiagonalProfile through the ridge, or None
    frame: object = None  # pandas DataFrame: one row per finished run of the complete seeds (x, y, score, seed)

    @property
    def z(self) -> float:
        """(slope − claimed) / seed-to-seed error (NaN without both)."""
        if not (math.isfinite(self.slope) and math.isfinite(self.seed_err) and self.seed_err > 0):
            return float("nan")
        return (self.slope - self.expected) / self.seed_err

    def to_dict(self) -> dict:
        """JSON-able: every field but the fit and the means, with z; NaN becomes None."""
        def clean(v):
            if isinstance(v, float):
                return v if math.isfinite(v) else None
            return [clean(u) for u in v] if isinstance(v, (list, tuple)) else v

        out = {k: clean(v) for k, v in self.__dict__.items() if k not in ("fit", "means", "frame", "profile")}
        return out | {"z": clean(self.z), "profile": self.profile.to_dict() if self.profile else None}


def _read_json(path: Path, what: str) -> dict:
    from dynamics.analysis.runtable import read_json_object

    return read_json_object(path, what, "is this a `ridgeline sweep` directory?")


def sweep_command(path: Path) -> str:
    """The ``ridgeline sweep`` command of a sweep directory, from its sweep_config.json."""
    cfg = _read_json(path / "sweep_config.json", "sweep configuration")
    axis = lambda a: f"{a['name']}={a['lo']:g}:{a['hi']:g}:{a['points']}"  # noqa: E731
    parts = ["ridgeline sweep", f"--objective {cfg['objective']}", f"--repeats {cfg['repeats']}",
             *(shlex.quote(o) for o in cfg.get("options", ())), f"--x {axis(cfg['x'])}", f"--y {axis(cfg['y'])}",
             f"--out {shlex.quote(path.name)}"]
    return " ".join(parts)


def summarise(path, null_draws: int = 500) -> SliceSummary:
    """The :class:`SliceSummary` of one ``ridgeline sweep --objective train`` directory;
    ``null_draws`` noisy copies of the exactly flat landscape give ``p_null``
    (:func:`dynamics.analysis.ridge.flat_null`)."""
    from dynamics.analysis.ridge import diagonal_profile, seed_mean_slope, student_t_p

    path = Path(path)
    sweep, name, claim, expected = _slice_sweep(path)
    x, y = sweep["x"]["name"], sweep["y"]["name"]
    score, maximize = sweep["score"], sweep["maximize"]
    points, repeats = sweep["x"]["points"] * sweep["y"]["points"], sweep["repeats"]
    records, frame, complete, runs_done = _finished_frame(path, points)
    fit, slope, fit_err, per_seed, seed_err, means = _ridge_fits(frame, complete, x, y, score, maximize)
    r2, r2_seeds = _flatness(frame, complete, sweep, expected)
    p_t, p_null, noise_sd = _seed_tests(frame, complete, sweep, slope, per_seed, seed_err, expected, null_draws)
    seed_mean = seed_mean_slope(per_seed)
    n_slopes = sum(math.isfinite(v) for v in per_seed)
    p_t_seed_mean = (student_t_p((seed_mean[0] - expected) / seed_mean[1], n_slopes - 1)
                     if n_slopes > 1 and seed_mean[1] > 0 else float("nan"))
    profile = (diagonal_profile(frame, x, y, "score", expected, maximize)
               if complete and sweep["y"]["points"] > 1 else None)
    row_seeds = _row_seeds(frame, x, y, maximize, fit) if fit is not None and complete else []
    lengths = _ridge_lengths(sweep, records, fit)
    return SliceSummary(
        path=str(path), name=name, x=x, y=y, claim=claim, expected=expected, slope=slope, fit_err=fit_err,
        seed_err=seed_err, per_seed=per_seed, grid=_grid_text(sweep), runs_done=runs_done,
        runs_total=points * repeats, seeds_done=len(complete), repeats=repeats, steps=[s for s, _, _ in lengths],
        relax_peak=[p for _, p, _ in lengths], relax_integrated=[i for _, _, i in lengths], row_seeds=row_seeds,
        r2=r2, r2_seeds=r2_seeds, p_t=p_t, p_null=p_null, noise_sd=noise_sd,
        command=sweep_command(path), fit=fit, means=means, score=score, maximize=maximize,
        seeds=sorted(complete), seed_mean=seed_mean, p_t_seed_mean=p_t_seed_mean, profile=profile,
        frame=frame if complete else None)


def _slice_sweep(path: Path) -> tuple:
    """``(sweep, name, claim, expected)``: the sweep.json of a train sweep of one of Page's
    slices (:data:`dynamics.jobs.slices.SLICES`), its name ``x_x_y``, claim and slope."""
    from dynamics.jobs.slices import SLICES

    sweep = _read_json(path / "sweep.json", "sweep description")
    if sweep.get("kind") != "sweep" or sweep.get("objective") != "train":
        raise RidgelineError(f"{path} is not a `ridgeline sweep --objective train` directory")
    x, y = sweep["x"]["name"], sweep["y"]["name"]
    name = f"{x}_x_{y}"
    if name not in SLICES:
        raise RidgelineError(f"{path} sweeps {x} × {y}; Page's slices put lr on --x and batch_size, "
                             "one_minus_momentum or wd on --y")
    _, _, claim, expected, _ = SLICES[name]
    return sweep, name, claim, expected


def _finished_frame(path: Path, points: int) -> tuple:
    """``(records, frame, complete, runs_done)``: the sweep's records, their table (only the
    complete seeds' rows once any seed has all ``points`` grid points), those seeds, and
    the count of finished runs."""
    from training.search.records import RecordStore
    from training.search.sweep import records_frame

    store = RecordStore(path)  # a damaged record is a one-line error naming it
    records = [store.load(p.stem) for p in sorted(store.dir.glob("*.json"))] if store.dir.is_dir() else []
    frame = records_frame(records)
    runs_done = len(frame)
    complete = [seed for seed, n in frame.groupby("seed").size().items() if n >= points] if len(frame) else []
    if complete:  # a seed still running would weigh some grid points and not others
        frame = frame[frame["seed"].isin(complete)]
    return records, frame, complete, runs_done


def _ridge_fits(frame, complete: list, x: str, y: str, score: str, maximize: bool) -> tuple:
    """``(fit, slope, fit_err, per_seed, seed_err, means)``: the ridge line fitted to the mean
    over seeds (inside the grid only), and the slope of each complete seed alone with their spread."""
    from dynamics.analysis.ridge import fit_ridge, interior_only, seed_slopes
    from training.search.sweep import mean_frame

    fit, per_seed, means = None, [], None
    slope = fit_err = seed_err = float("nan")
    if len(frame):
        means = mean_frame(frame, x, y).rename(columns={"score": score})
        try:
            fit = interior_only(fit_ridge(means, x, y, score, maximize))
            slope, fit_err = fit.slope, fit.slope_err
        except RidgelineError:  # nothing finite yet
            fit = None
        if complete:  # the ridge of a seed alone only once it covers the whole grid
            per_seed, seed_err = seed_slopes(frame.rename(columns={"score": score}), x, y, score, maximize)
    return fit, slope, fit_err, per_seed, seed_err, means


def _flatness(frame, complete: list, sweep: dict, expected: float) -> tuple:
    """``(r2, r2_seeds)``: score variance explained along the claim and along the other
    diagonal (:func:`dynamics.analysis.ridge.diagonal_r2`), over the grid and per complete seed."""
    from dynamics.analysis.ridge import diagonal_r2

    x, y = sweep["x"]["name"], sweep["y"]["name"]
    points = sweep["x"]["points"] * sweep["y"]["points"]
    r2, r2_seeds = (float("nan"), float("nan")), []
    if len(frame) and sweep["y"]["points"] > 1:  # every grid point there: Page's flatness over the grid
        if len(frame.groupby([x, y])) == points:
            r2 = diagonal_r2(frame, x, y, "score", expected)
        r2_seeds = [diagonal_r2(part, x, y, "score", expected) for seed, part in frame.groupby("seed")
                    if seed in complete]
    return r2, r2_seeds


def _seed_tests(frame, complete: list, sweep: dict, slope: float, per_seed: list, seed_err: float,
                expected: float, null_draws: int) -> tuple:
    """``(p_t, p_null, noise_sd)``: is the slope's departure from the claim more than seed noise?
    ``p_t`` from t = (slope − expected) / seed_err with n − 1 dof, ``noise_sd`` the score's sd
    about its grid point's mean, ``p_null`` from the flat null landscape with that noise."""
    from dynamics.analysis.ridge import flat_null, student_t_p

    x, y, maximize = sweep["x"]["name"], sweep["y"]["name"], sweep["maximize"]
    points = sweep["x"]["points"] * sweep["y"]["points"]
    p_t = p_null = noise_sd = float("nan")
    if len(complete) > 1 and math.isfinite(slope):
        n = sum(math.isfinite(v) for v in per_seed)
        p_t = student_t_p((slope - expected) / seed_err, n - 1) if seed_err > 0 and n > 1 else float("nan")
        cell = frame.groupby([x, y])["score"].transform("mean")
        noise_sd = math.sqrt(float(((frame["score"] - cell) ** 2).sum()) / max(1, len(frame) - points))
        p_null = flat_null(frame, x, y, "score", maximize, expected, len(complete), noise_sd, slope,
                           draws=null_draws)
    return p_t, p_null, noise_sd


def _row_seeds(frame, x: str, y: str, maximize: bool, fit) -> list:
    """Per grid row of ``fit``, the best λ of each seed alone (NaN: none inside the grid)."""
    from dynamics.analysis.ridge import ridge_points

    per_row = [{yv: lr for (lr, yv), ok in zip(*ridge_points(part, x, y, "score", maximize)) if ok}
               for _, part in frame.groupby("seed", sort=True)]
    return [[seeds.get(yv, float("nan")) for seeds in per_row] for _, yv in fit.points]


def _ridge_lengths(sweep: dict, records: list, fit) -> list:
    """:func:`run_lengths` at each ridge point of ``fit`` on the images the runs really had
    (empty without a fit, or for an optimiser other than SGD, whose τ is not derived)."""
    import dataclasses

    from training.config import TrainConfig

    y = sweep["y"]["name"]
    base = TrainConfig(**{k: v for k, v in sweep.get("base", {}).items()
                          if k in {f.name for f in dataclasses.fields(TrainConfig)}})
    rate = _relaxation_rate(base.rule) if base.optimizer == "sgd" else None  # τ derived for SGD rules only
    images = next((r["summary"]["train_images"] for r in records  # what the runs really had
                   if isinstance(r.get("summary"), dict) and r["summary"].get("train_images")), None)
    lengths = []
    for lr, yv in (fit.points if fit is not None and rate is not None else []):
        hyper = {"lr": lr, **({"momentum": 1 - yv} if y == "one_minus_momentum" else
                              {"batch_size": int(yv)} if y == "batch_size" else {y: yv})}
        lengths.append(run_lengths(dataclasses.replace(base, **hyper), rate, images))
    return lengths


def _grid_text(sweep: dict) -> str:
    """The grid in words, e.g. ``λ 0.025–0.8 (6) × α 0.001–0.008 (4)``."""
    symbol = {"lr": "λ", "batch_size": "N", "one_minus_momentum": "1−ρ", "wd": "α"}
    return " × ".join(f"{symbol[a['name']]} {a['lo']:g}" + (f"–{a['hi']:g}" if a["points"] > 1 else "")
                      + f" ({a['points']})"
                      for a in (sweep["x"], sweep["y"]))


def _range(values, fmt="{:.1f}") -> str:
    if not values:
        return "–"
    lo, hi = min(values), max(values)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}–{fmt.format(hi)}"


def _p_text(s: SliceSummary) -> str:
    fmt = lambda p: f"{p:.2f}" if math.isfinite(p) else "–"  # noqa: E731
    return "–" if not (math.isfinite(s.p_t) or math.isfinite(s.p_null)) else f"{fmt(s.p_t)}; {fmt(s.p_null)}"


def _r2_text(s: SliceSummary) -> str:
    if not math.isfinite(s.r2[0]):
        return "–"
    seeds = [c for c, _ in (s.r2_seeds or []) if math.isfinite(c)]
    return f"{s.r2[0]:.2f} ({s.r2[1]:.2f})" + (f"; seeds alone {_range(seeds, '{:.2f}')}" if len(seeds) > 1 else "")


def markdown(summaries: list[SliceSummary], commands: bool = True) -> str:
    """The summaries as one Markdown table, a row per slice; the commands below it."""
    from dynamics.jobs.slices import CLAIM_SYMBOLS
    from figures.heatmap import slope_text

    header = ["slice", "flat direction (claimed d log y / d log λ)", "fitted slope ± seed error", "z",
              "p: Student t (seeds − 1 dof); flat null", "fit error",
              "score variance explained along the claim (along the other diagonal)",
              "grid", "seeds done (runs)", "steps per run", "run length in τ at the peak λ",
              "run length in τ, Σ over λ_t"]
    rows = []
    for s in summaries:
        inside = sum(s.fit.interior) if s.fit is not None else 0
        rows_seen = len(s.fit.points) if s.fit is not None else 0
        fitted = (slope_text(s.slope, s.seed_err) if math.isfinite(s.slope) else
                  f"one row, no slope: best λ {s.fit.points[0][0]:.3g}" if rows_seen == 1 else
                  f"none yet: the best λ is inside the grid in {inside} of {rows_seen} rows")
        rows.append([s.name, f"{CLAIM_SYMBOLS.get(s.claim, s.claim)} ({s.expected:+.0f})", fitted,
                     f"{s.z:+.1f}" if math.isfinite(s.z) else "–", _p_text(s),
                     f"{s.fit_err:.2f}" if math.isfinite(s.fit_err) else "–", _r2_text(s), s.grid,
                     f"{s.seeds_done} of {s.repeats} ({s.runs_done}/{s.runs_total})",
                     _range(s.steps, "{:.0f}"), _range(s.relax_peak), _range(s.relax_integrated)])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    seeds = [f"{s.name} " + ", ".join("–" if not math.isfinite(v) else f"{v:+.2f}" for v in s.per_seed)
             for s in summaries if s.per_seed]
    if seeds:
        text += "\nThe slope of each complete seed alone: " + "; ".join(seeds) + ".\n"
    if commands:
        text += "\nCommands (rerun one to continue an unfinished sweep):\n\n```\n"
        text += "\n".join(s.command for s in summaries) + "\n```\n"
    return text


def rows_markdown(s: SliceSummary) -> str:
    """One slice row by row: the best λ of the mean score (ridge point) with its error
    across seeds, as a factor (10 to the standard error of log₁₀ λ* over all seeds
    whose best λ is inside the grid), the best mean score, and the run length there."""
    from dynamics.jobs.slices import CLAIM_SYMBOLS

    symbol = {"batch_size": "N", "one_minus_momentum": "1−ρ", "wd": "α"}[s.y]
    header = [symbol, "best λ (mean over seeds)", "× error across seeds", "best λ inside the grid",
              f"best mean {s.score}", "steps", "run length in τ at the best λ", "τ, Σ over λ_t"]
    lines = [f"{s.name}: the ridge row by row (claim: {CLAIM_SYMBOLS.get(s.claim, s.claim)} flat)\n",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    if s.fit is None:
        return "\n".join(lines) + "\n"
    lengths = list(zip(s.steps, s.relax_peak, s.relax_integrated)) or [None] * len(s.fit.points)
    seeds = s.row_seeds or [[]] * len(s.fit.points)
    for (lr, yv), inside, length, per_seed in zip(s.fit.points, s.fit.interior, lengths, seeds):
        logs = [math.log10(v) for v in per_seed if math.isfinite(v)]
        err = (f"×÷ {10 ** (statistics.stdev(logs) / math.sqrt(len(logs))):.2f} ({len(logs)} seeds)"
               if len(logs) > 1 else "–")
        row = s.means[s.means[s.y] == yv][s.score]
        best = row.max() if s.maximize else row.min()
        steps, peak, summed = (f"{length[0]}", f"{length[1]:.1f}", f"{length[2]:.1f}") if length else ("–",) * 3
        lines.append(f"| {yv:g} | {lr:.3g} | {err} | {'yes' if inside else 'no (edge)'} | {best:.4g} | "
                     f"{steps} | {peak} | {summed} |")
    return "\n".join(lines) + "\n"


def _toy_panel(toy_dir: Path, name: str) -> dict | None:
    """The toy's slice ``name`` from a ``ridgeline simulate slices`` directory, refitted."""
    import pandas as pd

    from dynamics.analysis.ridge import diagonal_r2, fit_ridge, interior_only, seed_slopes
    from dynamics.jobs.slices import CLAIM_SYMBOLS, SLICES

    csv = toy_dir / f"{name}.csv"
    if not csv.is_file():
        return None
    y, _, claim, expected, _ = SLICES[name]
    frame = pd.read_csv(csv)
    means = frame.groupby(["lr", y], as_index=False)["loss"].agg(lambda v: v.mean(skipna=False))
    _, err = seed_slopes(frame, "lr", y, "loss", maximize=False)
    r2 = diagonal_r2(frame, "lr", y, "loss", expected)
    return dict(frame=means, x="lr", y=y, score="loss", maximize=False, floor=float(4 * means["loss"].min()),
                fit=interior_only(fit_ridge(means, "lr", y, "loss", maximize=False)),
                slope_err=err if math.isfinite(err) else None,
                title=f"toy: final loss, mean of {frame['seed'].nunique()} seed(s); "
                      f"claim {CLAIM_SYMBOLS[claim]} flat (slope {expected:+.0f}){_r2_title(r2)}")


def _r2_title(r2) -> str:
    return (f"\nvariance along the claim R² {r2[0]:.2f} (along the other diagonal {r2[1]:.2f})"
            if math.isfinite(r2[0]) else "")


def _real_panel(s: SliceSummary) -> dict:
    from dynamics.jobs.slices import CLAIM_SYMBOLS

    if s.means is None:
        return dict(frame=None, title=f"{s.name}: no finished run yet")
    finite = s.means[s.score].dropna()
    done = (f"{s.seeds_done} seed(s)" if s.runs_done == s.runs_total else
            f"{s.seeds_done} complete seed(s), {s.runs_done}/{s.runs_total} runs" if s.seeds_done else
            f"{s.runs_done}/{s.runs_total} runs, no seed complete")
    return dict(frame=s.means, x=s.x, y=s.y, score=s.score, maximize=s.maximize,
                floor=float(finite.quantile(0.25)) if len(finite) else None,  # display: the upper 3/4 keep the colours
                fit=s.fit, slope_err=s.seed_err if math.isfinite(s.seed_err) else None,
                title=f"ResNet-9: mean {s.score} of {done}; claim {CLAIM_SYMBOLS[s.claim]} flat "
                      f"(slope {s.expected:+.0f}){_r2_title(s.r2)}{_profile_title(s.profile)}")


def _profile_title(profile) -> str:
    if profile is None or not math.isfinite(profile.range_along[0]):
        return ""
    err = lambda v: f" ± {v[1]:.3f}" if math.isfinite(v[1]) else ""  # noqa: E731
    return (f"\nscore range along the claim {profile.range_along[0]:.3f}{err(profile.range_along)}, "
            f"across {profile.range_across[0]:.3f}{err(profile.range_across)}")


def slices_figure(summaries: list[SliceSummary], toy_dir, path) -> Path:
    """The real slices (top row) above the toy's (bottom row, from ``toy_dir``, the output
    of ``ridgeline simulate slices``; None: no toy row), in the order λ × N, λ × (1−ρ), λ × α.
    Of several summaries of one slice (e.g. a departure experiment), the last is drawn."""
    from dynamics.jobs.slices import SLICES
    from figures.heatmap import panel_grid

    from dynamics.util.io import ensure_dir

    ensure_dir(Path(path).parent)  # --figure may name a folder not made yet
    real = {s.name: s for s in summaries}
    top = [_real_panel(real[n]) if n in real else dict(frame=None, title=f"{n}: not given") for n in SLICES]
    rows = [top]
    if toy_dir is not None:
        rows.append([_toy_panel(Path(toy_dir), n) or dict(frame=None, title=f"toy {n}: not found")
                     for n in SLICES])
    return panel_grid(rows, path, "Page's three slices, the real ResNet-9" + (" (top) and the quadratic toy "
                      "(bottom)" if toy_dir is not None else "") + "; after David Page, \"How to Train "
                      "Your ResNet 5: Hyperparameters\" (Myrtle AI blog)")
