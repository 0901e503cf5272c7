"""Predictions that take their statistics from *another* run: transferred correlation and forecast.

The moment map (:mod:`dynamics.theory.trajectory`) needs two inputs per scale-invariant tensor
and step: the scale-free gradient power G² = |g|²|w|² and the gradient power ratio k
(:mod:`training.gradstats`; for AdamW the update power κ and the radial share ξ). A run's
*own* k closes the moment algebra whatever the gradient process is (the closure of
``ridgeline validate``): it checks the bookkeeping, it predicts nothing. Two levels of
prediction that can fail take them from a different run, the *pilot*:

(a) **transferred correlation** (``ridgeline validate RUN --statistics-from PILOT``,
    :func:`transferred`): k (κ, ξ) per layer from the pilot, mapped onto RUN's steps;
    G² and the schedule from RUN itself. It tests whether the correlation is a
    property of the layer and the setting that carries over.
(b) **forecast** (``ridgeline forecast PILOT --to lr=…,wd=…``, :func:`forecast`): a run
    not yet made. G² and k both from the pilot; the planned run's own schedule λ_t, α,
    ρ and initial |w₀| (built from the model, no training). G² is moved with the batch
    size as the gradient noise is, G²(N) = G²_pilot · (N_pilot/N)^β (β = 1: the
    minibatch noise dominates |g|², whose variance falls as 1/N; docs/forecast.md
    measures β and what else moves G²). ``ridgeline validate RUN --forecast DIR``
    compares (:func:`compare_forecast`).

**The profiles.** A pilot's G² and k are noisy per logged step; they enter as smooth
profiles, each a centred box average over a window of ``window`` (default a tenth) of the pilot's run
(k power-weighted, k̄ = 1 + ⟨(k − 1) G²⟩/⟨G²⟩, as validate weighs it). A profile is
read at a target step through a clock shared by both runs:

- ``progress``: s/T, the share of the run done (T the run's total steps);
- ``epoch``: s/steps_per_epoch, passes over the data;
- ``loss``: the training loss reached (metrics.csv), for (a) only, since a planned run
  has no loss yet.

docs/forecast.md measures which clock maps best on real runs.

**Comparison.** The predicted trajectory is sampled at the run's logged steps with
validate's convention (row t: |w| before step t, the angle of step t); the angle is
smoothed as 1 − cos θ with the run's relaxation-time kernel, as the measured angle is,
and ratios are taken over validate's trajectory phase (after the first relaxation time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dynamics.util.errors import RidgelineError

MAPPINGS = ("progress", "epoch", "loss")
#: what ``--to`` may change, and the type of each value
PLAN_KEYS = {"lr": float, "wd": float, "momentum": float, "batch_size": int, "epochs": int,
             "schedule": str, "train_size": int, "warmup_epochs": float, "seed": int,
             "init_scale": float}
SCHEDULES = ("piecewise", "constant")
K_MODELS = ("pilot", "curvature")
#: hyperparameters an empirical G² model may scale with (G² ∝ Π x^e), and how to read x from a config
G2_FACTORS = {"lr": lambda c: float(c["lr"]), "wd": lambda c: float(c["wd"]),
              "train_size": lambda c: float(c.get("train_size") or 50000) - float(c.get("holdout") or 0),
              "one_minus_momentum": lambda c: 1 - float(c.get("momentum", 0.0))}


def g2_scale(pilot_config: dict, plan: dict, batch_exponent: float = 1.0, exponents: dict | None = None) -> float:
    """G²_plan/G²_pilot of the model G² ∝ N^−β Π x^e (β ``batch_exponent``; ``exponents`` x → e)."""
    scale = (float(pilot_config["batch_size"]) / float(plan["batch_size"])) ** batch_exponent
    for name, e in (exponents or {}).items():
        scale *= (G2_FACTORS[name](plan) / G2_FACTORS[name](pilot_config)) ** e
    return scale


# ------------------------------------------------------------------------ clocks
@dataclass(frozen=True)
class Clock:
    """A run's step clock: total steps T, steps per epoch, and its loss curve (if any)."""

    total: int
    steps_per_epoch: int
    loss_steps: np.ndarray | None = None  # mid-epoch steps of metrics.csv's rows
    loss: np.ndarray | None = None  # running minimum of the training loss there

    def coordinate(self, steps, how: str) -> np.ndarray:
        """The shared clock at ``steps``: progress s/T, epoch s/steps_per_epoch, or −loss."""
        steps = np.asarray(steps, dtype=float)
        if how == "progress":
            return steps / self.total
        if how == "epoch":
            return steps / self.steps_per_epoch
        if how == "loss":
            if self.loss is None:
                raise RidgelineError("--map loss needs the run's training loss (metrics.csv); "
                                     "a planned run has none: use --map progress or epoch")
            return -np.interp(steps, self.loss_steps, self.loss)  # rises as the loss falls
        raise RidgelineError(f"unknown mapping {how!r}; use {', '.join(MAPPINGS)}")


def run_clock(run) -> Clock:
    """The clock of a loaded run (:class:`dynamics.jobs.validate.Run`) from metrics.csv and norms.csv."""
    import pandas as pd

    total = int(run.norms["step"].max())
    try:
        metrics = pd.read_csv(run.path / "metrics.csv")
        per_epoch = int(metrics["step"].iloc[0])
        if run.config.get("epochs") is not None:
            total = max(total, per_epoch * int(float(run.config["epochs"])))
        loss = metrics["train_loss"].to_numpy(float)
        ok = np.isfinite(loss)
        mid = metrics["step"].to_numpy(float) - per_epoch / 2
        loss_steps, loss = (mid[ok], np.minimum.accumulate(loss[ok])) if ok.any() else (None, None)
    except (OSError, KeyError, ValueError, IndexError, pd.errors.ParserError):
        per_epoch, loss_steps, loss = max(total, 1), None, None
    return Clock(max(total, 1), max(per_epoch, 1), loss_steps, loss)


# ---------------------------------------------------------------------- profiles
@dataclass(frozen=True)
class Profiles:
    """A pilot's smoothed per-layer statistics on its logged steps (> 0)."""

    layers: list[str]
    steps: np.ndarray  # (S,)
    G2: np.ndarray  # (S, L) ⟨G²⟩
    power: np.ndarray  # (S, L) k̄ (SGD rules) or κ̄ (adamw); NaN where not logged
    radial: np.ndarray  # (S, L) ξ̄ (adamw), else NaN
    weight_norm0: dict  # layer -> the pilot's logged step-0 |w| (NaN if none)
    clock: Clock
    rule: str
    config: dict

    def at(self, quantity: str, clock: Clock, steps, how: str) -> np.ndarray:
        """``quantity`` ("G2", "power", "radial") of every layer at ``steps`` of a run with
        ``clock``, read through the shared coordinate ``how``: (len(steps), L)."""
        mine = self.clock.coordinate(self.steps, how)
        theirs = clock.coordinate(steps, how)
        values = getattr(self, quantity)
        out = np.full((len(theirs), len(self.layers)), np.nan)
        for j in range(len(self.layers)):
            ok = np.isfinite(values[:, j]) & np.isfinite(mine)
            if ok.any():
                order = np.argsort(mine[ok], kind="stable")
                out[:, j] = np.interp(theirs, mine[ok][order], values[ok, j][order])
        return out


def box(values: np.ndarray, steps: np.ndarray, half: float) -> np.ndarray:
    """Centred average of ``values`` over logged steps within ±``half`` steps (NaN skipped)."""
    ok = np.isfinite(values)
    v = np.where(ok, values, 0.0)
    csum, ccount = np.concatenate([[0], np.cumsum(v)]), np.concatenate([[0], np.cumsum(ok)])
    lo = np.searchsorted(steps, steps - half, side="left")
    hi = np.searchsorted(steps, steps + half, side="right")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ccount[hi] > ccount[lo], (csum[hi] - csum[lo]) / (ccount[hi] - ccount[lo]), np.nan)


def profiles(run, window: float = 0.1) -> Profiles:
    """The smoothed G², k̄ (or κ̄, ξ̄) profiles of a loaded run, per layer, in norms.csv's order."""
    if not 0 < window <= 1:
        raise RidgelineError(f"window must be a share of the run in (0, 1], got {window}")
    clock = run_clock(run)
    norms = run.norms
    layers = list(dict.fromkeys(norms["layer"]))
    steps = np.array(sorted(set(norms.loc[norms["step"] > 0, "step"].astype(int))), dtype=float)
    L, S = len(layers), len(steps)
    G2, power, radial = (np.full((S, L), np.nan) for _ in range(3))
    w0 = {}
    half = window * clock.total / 2
    adamw = run.rule == "adamw"
    for j, layer in enumerate(layers):
        df = norms[norms["layer"] == layer].sort_values("step")
        first = df[df["step"] == 0]["weight_norm"]
        w0[layer] = float(first.iloc[0]) if len(first) else np.nan
        df = df[df["step"] > 0]
        idx = np.searchsorted(steps, df["step"].to_numpy(float))
        g2 = np.full(S, np.nan)
        g2[idx] = (df["grad_norm"].to_numpy(float) * df["weight_norm"].to_numpy(float)) ** 2
        mean_g2 = box(g2, steps, half)
        G2[:, j] = mean_g2
        column = "update_power_ratio" if adamw else "grad_power_ratio"
        if column in df and df[column].notna().any():
            k = np.full(S, np.nan)
            k[idx] = df[column].to_numpy(float)
            power[:, j] = box(k, steps, half) if adamw else 1 + box((k - 1) * g2, steps, half) / mean_g2
            power[:, j] = np.maximum(power[:, j], 0.0)  # a power: E|m|² ≥ 0 means k ≥ 0 (a short window may not)
        if adamw and "normalised_grad_radial" in df:
            xi = np.full(S, np.nan)
            xi[idx] = df["normalised_grad_radial"].to_numpy(float)
            radial[:, j] = box(xi, steps, half)
    return Profiles(layers, steps, G2, power, radial, w0, clock, run.rule, dict(run.config))


# --------------------------------------------------------------- trajectories
def _every_step(frame_steps: np.ndarray, values: np.ndarray, T: int) -> np.ndarray:
    """(S, L) values at logged steps → (T, L) at steps 1 … T, linear in between."""
    at = np.arange(1, T + 1, dtype=float)
    out = np.full((T, values.shape[1]), np.nan)
    for j in range(values.shape[1]):
        ok = np.isfinite(values[:, j]) & (frame_steps > 0)
        if ok.any():
            out[:, j] = np.interp(at, frame_steps[ok], values[ok, j])
    return out


def trajectory_rows(traj, layers: list[str]) -> "pandas.DataFrame":  # noqa: F821
    """A :class:`dynamics.theory.trajectory.Trajectory` as rows (step, layer, weight_norm,
    angular_update) for steps 0 … T, with validate's convention: row t has |w| before step
    t (after t − 1 steps; row 0 the initial weights) and the angle of step t."""
    import pandas as pd

    T = traj.angle.shape[0]
    t = np.arange(T + 1)
    norm = traj.weight_norm[np.clip(t - 1, 0, T)]
    angle = np.vstack([np.full((1, len(layers)), np.nan), traj.angle])
    return pd.DataFrame({"step": np.repeat(t, len(layers)), "layer": np.tile(layers, T + 1),
                         "weight_norm": norm.reshape(-1), "angular_update": angle.reshape(-1)})


def _sgd_rule(rule: str, what: str) -> None:
    from dynamics.rules import ADAPTIVE

    if rule in ADAPTIVE:
        raise RidgelineError(f"{what} needs a trajectory, derived for the SGD rules only (this run is "
                             f"{rule}); use `ridgeline validate --statistics-from` for its equilibrium")


# ------------------------------------------------------------- (a) transferred
def transferred(run, pilot, steps_table, mapping: str = "progress", window: float = 0.1):
    """(a): the run's per-step validate table with the pilot's k (κ, ξ) in place of its own.

    Adds ``transferred_power`` (the pilot's k̄ at each logged step), the equilibrium
    prediction ``transferred_predicted_norm``/``_angle`` with the run's own smoothed G
    (``G_smoothed``) and, for the SGD rules, the trajectory ``trajectory_norm_transferred``
    /``_angle`` from the run's |w₀| with its own G² (as validate's white trajectory) and
    the pilot's k. Returns (table, notes).
    """
    from dynamics.theory.dispatch import predict
    from dynamics.theory.trajectory import trajectory
    from dynamics.analysis.validation import _rule_arguments, step_lrs_of

    notes = []
    prof = pilot if isinstance(pilot, Profiles) else profiles(pilot, window)
    if prof.rule != run.rule:
        notes.append(f"the pilot's rule is {prof.rule}, this run's {run.rule}")
    if not np.isfinite(prof.power).any():
        raise RidgelineError("the pilot's norms.csv has no gradient power ratio (grad_power_ratio, or "
                             "update_power_ratio for adamw): rerun the pilot with a current `ridgeline train`")
    table = steps_table.copy()
    layers = [l for l in dict.fromkeys(table["layer"]) if l in prof.layers]
    missing = [l for l in dict.fromkeys(table["layer"]) if l not in prof.layers]
    if missing:
        notes.append(f"{len(missing)} layers not in the pilot ({', '.join(missing[:3])}"
                     f"{', …' if len(missing) > 3 else ''}): no transferred prediction")
    clock = run_clock(run)
    cols = [prof.layers.index(l) for l in layers]
    for name in ("transferred_power", "transferred_radial", "predicted_norm_transferred",
                 "predicted_angle_transferred"):
        table[name] = np.nan
    for layer, j in zip(layers, cols):
        rows = table.index[table["layer"] == layer]
        df = table.loc[rows]
        s = df["step"].to_numpy(float)
        k = prof.at("power", clock, s, mapping)[:, j]
        xi = prof.at("radial", clock, s, mapping)[:, j] if run.rule == "adamw" else None
        extra = _rule_arguments(run, df)
        p = predict(run.rule, df["lr"].to_numpy(float), run.wd, run.momentum, df["G_smoothed"].to_numpy(float),
                    k, radial=None if xi is None else np.nan_to_num(xi), **extra)
        table.loc[rows, "transferred_power"] = k
        if xi is not None:
            table.loc[rows, "transferred_radial"] = xi
        table.loc[rows, "predicted_norm_transferred"] = p.weight_norm
        table.loc[rows, "predicted_angle_transferred"] = p.angular_update
    from dynamics.rules import ADAPTIVE

    if run.rule not in ADAPTIVE and layers:
        wide = table.pivot(index="step", columns="layer", values="G2")[layers]
        lam, _ = step_lrs_of(run, table.drop_duplicates("step").sort_values("step"))
        T = len(lam)
        G2 = _every_step(wide.index.to_numpy(float), wide.to_numpy(float), T)
        k = prof.at("power", clock, np.arange(1, T + 1), mapping)[:, cols]
        w0 = table.pivot(index="step", columns="layer", values="weight_norm")[layers].iloc[0].to_numpy(float)
        traj = trajectory(run.rule, lam, run.wd, run.momentum, G2, w0, np.nan_to_num(k, nan=1.0))
        table = _attach(table, trajectory_rows(traj, layers), "transferred")
    table["norm_ratio_transferred"] = table["weight_norm"] / table["predicted_norm_transferred"]
    table["angle_ratio_transferred"] = table["measured_angle"] / table["predicted_angle_transferred"]
    return table, notes


def _attach(table, rows, kind: str):
    """Sample a trajectory's rows at the table's logged steps as ``trajectory_norm_<kind>`` and
    ``trajectory_angle_<kind>``, smooth the angle with the kernel validate smooths the measured
    angle with (``angle_window`` where validate has it, else the relaxation time), add ratios."""
    from dynamics.analysis.validation import _ema

    table = table.copy()
    names = {q: f"trajectory_{q}_{kind}" for q in ("norm", "angle", "angle_smoothed", "norm_ratio", "angle_ratio")}
    for name in names.values():
        table[name] = np.nan
    window = "angle_window" if "angle_window" in table else "relaxation_steps"
    for layer, df in table.groupby("layer", sort=False):
        mine = rows[rows["layer"] == layer]
        if not len(mine):
            continue
        s = df["step"].to_numpy(float)
        at = mine["step"].to_numpy(float)
        inside = (s >= at.min()) & (s <= at.max())
        norm = np.where(inside, np.interp(s, at, mine["weight_norm"].to_numpy(float)), np.nan)
        ang = mine["angular_update"].to_numpy(float)
        ok = np.isfinite(ang)
        angle = np.where(inside & (s > 0), np.interp(s, at[ok], ang[ok]), np.nan) if ok.any() else np.nan * s
        smooth = 2 * np.arcsin(np.sqrt(_ema(np.sin(angle / 2) ** 2, s, df[window].to_numpy(float))))
        table.loc[df.index, names["norm"]] = norm
        table.loc[df.index, names["angle"]] = angle
        table.loc[df.index, names["angle_smoothed"]] = smooth
    table[names["norm_ratio"]] = table["weight_norm"] / table[names["norm"]]
    table[names["angle_ratio"]] = table["measured_angle"] / table[names["angle_smoothed"]]
    return table


# ------------------------------------------------------------------ (b) forecast
@dataclass(frozen=True)
class ForecastConfig:
    """What ``ridgeline forecast`` predicts, from which pilot, and where it writes."""

    pilot: str  # a run directory written by `ridgeline train`
    to: dict = field(default_factory=dict)  # the planned run's changes: PLAN_KEYS
    out: str = "forecast"
    mapping: str = "progress"  # clock shared by pilot and plan: progress or epoch
    batch_exponent: float = 1.0  # β of G² ∝ N^−β
    g2_exponents: dict = field(default_factory=dict)  # more of G² ∝ Π x^e: lr, wd, train_size, one_minus_momentum
    window: float = 0.1  # share of the pilot's run each profile averages over
    k_model: str = "pilot"  # pilot: the pilot's k by the clock; curvature: k = f(η h), h per layer from the pilot
    figure: bool = True

    def check(self) -> None:
        if self.k_model not in K_MODELS:
            raise RidgelineError(f"--k-model {self.k_model!r}: use {' or '.join(K_MODELS)}")
        if self.mapping not in ("progress", "epoch"):
            raise RidgelineError(f"--map {self.mapping!r}: a forecast maps by progress or epoch "
                                 "(a planned run has no loss yet)")
        if not np.isfinite(self.batch_exponent):
            raise RidgelineError(f"--batch-exponent must be a number, got {self.batch_exponent}")
        for name, e in self.g2_exponents.items():
            if name not in G2_FACTORS or not np.isfinite(e):
                raise RidgelineError(f"--g2-exponents: {name}={e}; use finite numbers for {', '.join(G2_FACTORS)}")
        if not 0 < self.window <= 1:
            raise RidgelineError(f"--window must be a share of the run in (0, 1], got {self.window}")


def parse_plan(text: str) -> dict:
    """``lr=0.1,wd=2e-3,schedule=constant`` → {name: value}, or a one-line RidgelineError."""
    plan = {}
    for item in filter(None, (p.strip() for p in str(text).split(","))):
        name, sep, value = (x.strip() for x in item.partition("="))
        if not sep or not value:
            raise RidgelineError(f"--to: {item!r} is not NAME=VALUE (e.g. lr=0.1,wd=2e-3)")
        if name not in PLAN_KEYS:
            raise RidgelineError(f"--to: unknown name {name!r}; use {', '.join(PLAN_KEYS)}")
        kind = PLAN_KEYS[name]
        try:
            number = float(value) if kind is not str else None
        except ValueError:
            raise RidgelineError(f"--to: {name}={value!r} is not a number") from None
        if kind is str:
            if value not in SCHEDULES:
                raise RidgelineError(f"--to: schedule={value!r}; use {' or '.join(SCHEDULES)}")
            plan[name] = value
        elif kind is int:
            if not (np.isfinite(number) and number == int(number) and number > 0) and name != "seed":
                raise RidgelineError(f"--to: {name}={value!r} must be a whole number > 0")
            plan[name] = int(number)
        else:
            plan[name] = number
    bad = {n: v for n, v in plan.items() if n in ("lr", "init_scale") and not (np.isfinite(v) and v > 0)}
    bad |= {n: v for n, v in plan.items() if n in ("wd", "warmup_epochs") and not (np.isfinite(v) and v >= 0)}
    if "momentum" in plan and not (0 <= plan["momentum"] < 1):
        bad["momentum"] = plan["momentum"]
    if bad:
        name, v = next(iter(bad.items()))
        rng = "in [0, 1)" if name == "momentum" else ">= 0" if name in ("wd", "warmup_epochs") else "> 0"
        raise RidgelineError(f"--to: {name}={v:g} must be {rng}")
    return plan


def planned_config(pilot_config: dict, to: dict) -> dict:
    """The planned run's settings: the pilot's config.json with ``to`` applied, checked."""
    c = dict(pilot_config) | dict(to)
    if str(c.get("optimizer", "sgd")) != "sgd":
        raise RidgelineError(f"the pilot uses {c.get('optimizer')}: a forecast needs the trajectory, "
                             "derived for SGD with momentum (use `ridgeline validate --statistics-from`)")
    for name in ("lr", "wd", "batch_size", "epochs"):
        if c.get(name) is None:
            raise RidgelineError(f"the pilot's config.json has no {name}: give it in --to ({name}=…)")
    if c.get("schedule", "piecewise") not in SCHEDULES:
        raise RidgelineError(f"a forecast knows the trainer's schedules ({', '.join(SCHEDULES)}); the pilot's "
                             f"is {c.get('schedule')!r}: give schedule=… in --to")
    images = int(c.get("train_size") or 50000) - int(c.get("holdout") or 0)
    if images < int(c["batch_size"]):
        raise RidgelineError(f"--to: {images} training images make no batch of {c['batch_size']}: "
                             "raise train_size or lower batch_size")
    warm = c.get("warmup_epochs")
    if warm is not None and float(warm) > float(c["epochs"]):
        raise RidgelineError(f"--to: warmup_epochs={warm} exceeds epochs={c['epochs']}")
    return c


def planned_schedule(c: dict) -> tuple[np.ndarray, Clock]:
    """λ of every planned step (the trainer's schedule, :func:`dynamics.theory.trajectory.step_lrs`) and the clock."""
    from dynamics.theory.trajectory import step_lrs

    per_epoch = (int(c.get("train_size") or 50000) - int(c.get("holdout") or 0)) // int(c["batch_size"])
    epochs = float(c["epochs"])
    warmup = float(c["warmup_epochs"]) if c.get("warmup_epochs") is not None else epochs * 5 / 24
    total = int(per_epoch * epochs)
    lam = step_lrs(float(c["lr"]), warmup, epochs, str(c.get("schedule", "piecewise")), per_epoch, total)
    return lam, Clock(total, per_epoch)


def initial_norms(c: dict, layers: list[str]) -> dict | None:
    """|w₀| of each named tensor of the planned ResNet-9 (same width, seed, init_scale), built
    as :func:`training.loop.build` builds it, without training; None if a layer is not in it."""
    import torch

    from training.model import ResNet9, scale_invariant

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(int(c.get("seed", 0)))
        model = ResNet9(float(c.get("width", 1.0)))
    finally:
        torch.random.set_rng_state(state)
    params, flags = dict(model.named_parameters()), scale_invariant(model)
    if not all(l in params for l in layers):
        return None
    scale = float(c.get("init_scale", 1.0))
    return {l: float(params[l].detach().norm()) * (scale if flags[l] else 1.0) for l in layers}


@dataclass(frozen=True)
class Forecast:
    rows: "pandas.DataFrame"  # noqa: F821 - forecast.csv
    plan: dict
    notes: list[str]
    out: Path


def forecast(cfg: ForecastConfig, console=None) -> Forecast:
    """(b): predict |w| and angle of every scale-invariant layer of a planned run; write
    OUT/forecast.csv (step, layer, lr, G2, power, weight_norm, angular_update,
    weight_norm_white, angular_update_white), OUT/forecast.json and OUT/forecast.png."""
    from dynamics.theory.trajectory import trajectory
    from dynamics.util.io import ensure_dir, write_csv, write_json
    from dynamics.analysis.validation import load_run

    cfg.check()
    pilot = load_run(cfg.pilot)
    _sgd_rule(pilot.rule, "a forecast")
    plan = planned_config(pilot.config, cfg.to)
    rule = _planned_rule(pilot.rule, plan)
    prof = profiles(pilot, cfg.window)
    layers, notes = _forecast_layers(pilot, prof)
    lam, clock = planned_schedule(plan)
    if clock.total < 1:
        raise RidgelineError("the planned run has no steps: raise epochs or train_size")
    cols = [prof.layers.index(l) for l in layers]
    steps = np.arange(1, clock.total + 1)
    scale = g2_scale(pilot.config, plan, cfg.batch_exponent, cfg.g2_exponents)
    G2 = prof.at("G2", clock, steps, cfg.mapping)[:, cols] * scale
    k = np.nan_to_num(prof.at("power", clock, steps, cfg.mapping)[:, cols], nan=1.0)
    w0 = _planned_start(plan, pilot, prof, layers, notes)
    if not np.isfinite(w0).all() or not np.isfinite(G2).all():
        raise RidgelineError(f"the pilot {pilot.path} lacks |w₀| or G² for some layer: its norms.csv "
                             "must log step 0 and every scale-invariant layer")
    wd, rho = float(plan["wd"]), float(plan.get("momentum", 0.0))
    corr = trajectory(rule, lam, wd, rho, G2, w0, k)
    if cfg.k_model == "curvature" and rule != "sgd":
        k, corr, h = _curvature_k(pilot, layers, rule, lam, wd, rho, G2, w0, corr)
        notes.append("k = f(η h) of the quadratic valley, h per layer fitted on the pilot: "
                     + ", ".join(f"{l.split('.')[0]}{'' if l.startswith('prep') else '…'} {v:.3g}"
                                 for l, v in list(h.items())[:3]) + ", …")
    rows = _forecast_rows(corr, trajectory(rule, lam, wd, rho, G2, w0), layers, lam, G2, k)
    out = ensure_dir(cfg.out)
    meta = {"pilot": str(pilot.path), "to": dict(cfg.to), "mapping": cfg.mapping,
            "batch_exponent": cfg.batch_exponent, "g2_exponents": dict(cfg.g2_exponents), "g2_scale": scale,
            "window": cfg.window, "k_model": cfg.k_model, "rule": rule,
            "plan": {n: plan.get(n) for n in PLAN_KEYS | {"width": 0, "holdout": 0}},
            "total_steps": clock.total, "steps_per_epoch": clock.steps_per_epoch, "notes": notes}
    write_csv(out / "forecast.csv", rows)
    if cfg.figure:
        from figures.forecast import plot_forecast

        plot_forecast(rows, pilot.norms[pilot.norms["layer"].isin(layers)], out / "forecast.png",
                      title=f"forecast from {pilot.path.name}: " + (", ".join(f"{n}={v}" for n, v in cfg.to.items())
                                                                    or "the pilot's settings"))
    write_json(out / "forecast.json", meta)  # last: its presence means the forecast is complete
    if console is not None:
        _print_forecast(console, rows, meta)
    return Forecast(rows, plan, notes, out)


def _planned_rule(pilot_rule: str, plan: dict) -> str:
    """The planned run's update rule: plain SGD at ρ = 0, else the pilot's momentum rule
    (or the plan's ``nesterov`` choice when the pilot had none)."""
    if float(plan.get("momentum", 0.0)) == 0:
        return "sgd"
    if pilot_rule in ("nesterov", "heavy-ball"):
        return pilot_rule
    return "nesterov" if plan.get("nesterov", True) else "heavy-ball"


def _forecast_layers(pilot, prof: Profiles) -> tuple[list[str], list[str]]:
    """``(layers, notes)``: the pilot's scale-invariant layers (an error without any) and a
    note when none has a grad_power_ratio (the forecast is then white, k = 1)."""
    si = set(pilot.norms.loc[pilot.norms["scale_invariant"].astype(bool), "layer"])
    layers = [l for l in prof.layers if l in si]
    if not layers:
        raise RidgelineError(f"the pilot {pilot.path} logs no scale-invariant layer: nothing to forecast")
    notes = []
    if not np.isfinite(prof.power[:, [prof.layers.index(l) for l in layers]]).any():
        notes.append("the pilot has no grad_power_ratio: the forecast is white (k = 1)")
    return layers, notes


def _planned_start(plan: dict, pilot, prof: Profiles, layers: list[str], notes: list[str]) -> np.ndarray:
    """|w₀| per layer of the planned run: built from Page's ResNet-9 when the layers are its,
    else the pilot's step-0 |w| times init_scale(plan)/init_scale(pilot); appends to ``notes``."""
    built = initial_norms(plan, layers)
    if built is None:
        notes.append("the pilot's layers are not Page's ResNet-9's: |w₀| from the pilot's step-0 row")
        return np.array([prof.weight_norm0[l] for l in layers]) * float(plan.get("init_scale", 1.0)) \
            / float(pilot.config.get("init_scale", 1.0))
    w0 = np.array([built[l] for l in layers])
    same = all(plan.get(n) == pilot.config.get(n) for n in ("seed", "width", "init_scale"))
    logged = np.array([prof.weight_norm0[l] for l in layers])
    if same and np.isfinite(logged).all() and np.max(np.abs(w0 / logged - 1)) > 1e-4:
        notes.append(f"the built |w₀| differs from the pilot's step-0 |w| by up to "
                     f"{np.max(np.abs(w0 / logged - 1)):.1%} (model changed since the pilot?)")
    return w0


def _forecast_rows(corr, white, layers: list[str], lam: np.ndarray, G2: np.ndarray, k: np.ndarray):
    """The forecast.csv table: the corrected trajectory's rows with the white one's |w| and
    angle beside them, and the lr, G² and k per step (row 0, the start: lr 0, no G² or k)."""
    rows = trajectory_rows(corr, layers)
    w = trajectory_rows(white, layers)
    rows["weight_norm_white"], rows["angular_update_white"] = w["weight_norm"], w["angular_update"]
    pad = lambda a: np.vstack([np.full((1, a.shape[1]), np.nan), a]).reshape(-1)  # noqa: E731 - row 0: none
    rows.insert(2, "lr", np.concatenate([[0.0], lam]).repeat(len(layers)))
    rows.insert(3, "G2", pad(G2))
    rows.insert(4, "power", pad(k))
    return rows


def pilot_curvatures(pilot, layers: list[str]) -> dict:
    """h per layer: the curvature whose valley k = f(ηh, ρ) (:mod:`dynamics.analysis.kstudy`) best fits the
    pilot's logged k at its effective step η = λ/|w|², weighted by G², after the first tenth of
    the run and where λ is above 5% of its peak."""
    from dynamics.analysis.kstudy import fit_curvature

    norms = pilot.norms
    total, peak = float(norms["step"].max()), float(norms["lr"].max())
    out = {}
    for layer in layers:
        df = norms[(norms["layer"] == layer) & (norms["step"] > 0.1 * total) & (norms["lr"] > 0.05 * peak)]
        G2 = (df["grad_norm"] * df["weight_norm"]).to_numpy(float) ** 2
        out[layer] = fit_curvature(df["grad_power_ratio"] if "grad_power_ratio" in df else np.full(len(df), np.nan),
                                   (df["lr"] / df["weight_norm"] ** 2).to_numpy(float), pilot.momentum, pilot.rule, G2)
    return out


def _curvature_k(pilot, layers, rule, lam, wd, rho, G2, w0, first, iterations: int = 4):
    """k_t = f(η_t h) along the forecast's own η_t = λ_t/|w_t|², iterated with the trajectory."""
    from dynamics.analysis.kstudy import curvature_k
    from dynamics.theory.trajectory import trajectory

    h = pilot_curvatures(pilot, layers)
    if not np.isfinite(list(h.values())).all():
        raise RidgelineError("--k-model curvature needs the pilot's grad_power_ratio for every scale-invariant "
                             "layer; use --k-model pilot")
    hs, traj = np.array([h[l] for l in layers]), first
    for _ in range(iterations):
        eta = lam[:, None] / traj.weight_norm[:-1] ** 2
        k = np.nan_to_num(curvature_k(eta * hs, rho, rule), nan=1.0)
        traj = trajectory(rule, lam, wd, rho, G2, w0, k)
    return k, traj, h


def _print_forecast(console, rows, meta) -> None:
    from rich.table import Table

    console.print(f"[bold]forecast[/bold] from {meta['pilot']} to "
                  f"{', '.join(f'{n}={v}' for n, v in meta['to'].items()) or 'the same settings'} "
                  f"(rule {meta['rule']}, {meta['total_steps']} steps, mapped by {meta['mapping']})",
                  highlight=False, soft_wrap=True)
    for note in meta["notes"]:
        console.print(f"[yellow]note[/]: {note}", highlight=False)
    t = Table(title="at the end of warm-up and at the last step", title_justify="left")
    for col in ("layer", "|w| warm-up", "angle warm-up", "|w| last", "angle last", "last (white)"):
        t.add_column(col, justify="left" if col == "layer" else "right")
    peak = int(rows.loc[rows["lr"].idxmax(), "step"])
    last = int(rows["step"].max())
    for layer, df in rows.groupby("layer", sort=False):
        a, b = df[df["step"] == peak].iloc[0], df[df["step"] == last].iloc[0]
        t.add_row(layer, f"{a['weight_norm']:.4g}", f"{a['angular_update']:.3g}", f"{b['weight_norm']:.4g}",
                  f"{b['angular_update']:.3g}", f"{b['weight_norm_white']:.4g}, {b['angular_update_white']:.3g}")
    console.print(t)


def read_forecast(path) -> tuple["pandas.DataFrame", dict]:  # noqa: F821
    """A forecast directory's (forecast.csv, forecast.json), or a one-line RidgelineError."""
    import pandas as pd

    from dynamics.analysis.runtable import read_json_object

    path = Path(path)
    hint = "give a directory written by `ridgeline forecast PILOT --out DIR`"
    if not (path / "forecast.json").is_file():
        raise RidgelineError(f"{str(path)!r} is not a finished forecast (no forecast.json): {hint}")
    meta = read_json_object(path / "forecast.json", "forecast.json", hint)
    try:
        rows = pd.read_csv(path / "forecast.csv")
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise RidgelineError(f"{path / 'forecast.csv'} cannot be read ({type(e).__name__}): {hint}") from None
    need = {"step", "layer", "weight_norm", "angular_update", "weight_norm_white", "angular_update_white"}
    if not need <= set(rows.columns):
        raise RidgelineError(f"{path / 'forecast.csv'} lacks {', '.join(sorted(need - set(rows.columns)))}: {hint}")
    return rows, meta


def compare_forecast(run, steps_table, forecast_dir, kind: str = "forecast") -> tuple["pandas.DataFrame", list[str]]:  # noqa: F821,E501
    """The per-step validate table with the forecast (and its white variant) attached:
    columns trajectory_norm_forecast, trajectory_angle_smoothed_forecast, trajectory_norm_ratio_forecast,
    trajectory_angle_ratio_forecast and the same for the kind forecast_white. Notes name every planned setting the run does not have."""
    rows, meta = read_forecast(forecast_dir)
    notes = []
    for name, planned in (meta.get("plan") or {}).items():
        actual = run.config.get(name)
        if planned is None or actual is None:
            continue
        same = planned == actual if isinstance(planned, str) or isinstance(actual, str) \
            else np.isclose(float(planned), float(actual), rtol=1e-9)
        if not same:
            notes.append(f"the forecast was made for {name}={planned}, this run has {actual}")
    table = _attach(steps_table, rows, kind)
    white = rows.drop(columns=["weight_norm", "angular_update"]).rename(
        columns={"weight_norm_white": "weight_norm", "angular_update_white": "angular_update"})
    table = _attach(table, white, kind + "_white")
    return table, notes


# ------------------------------------------------------------------- validate hook
#: per-layer summary columns added to validation.csv: (name, per-step ratio, phase)
SUMMARY = (("norm_ratio_transferred", "norm_ratio_transferred", "equilibrium"),
           ("angle_ratio_transferred", "angle_ratio_transferred", "equilibrium"),
           ("trajectory_norm_ratio_transferred", "trajectory_norm_ratio_transferred", "trajectory_phase"),
           ("trajectory_angle_ratio_transferred", "trajectory_angle_ratio_transferred", "trajectory_phase"),
           ("forecast_norm_ratio", "trajectory_norm_ratio_forecast", "trajectory_phase"),
           ("forecast_angle_ratio", "trajectory_angle_ratio_forecast", "trajectory_phase"),
           ("forecast_white_norm_ratio", "trajectory_norm_ratio_forecast_white", "trajectory_phase"),
           ("forecast_white_angle_ratio", "trajectory_angle_ratio_forecast_white", "trajectory_phase"))


def summarise(steps_table, layers_table):
    """Add ``<ratio>_median`` and ``<ratio>_iqr`` per layer for every ratio present."""
    layers_table = layers_table.copy()
    for name, col, phase in SUMMARY:
        if col not in steps_table:
            continue
        med, iqr = [], []
        for layer in layers_table["layer"]:
            part = steps_table[(steps_table["layer"] == layer) & steps_table[phase].astype(bool)]
            x = part[col].to_numpy(float)
            x = x[np.isfinite(x)]
            lo, m, hi = np.percentile(x, [25, 50, 75]) if len(x) else (np.nan,) * 3
            med.append(m)
            iqr.append(hi - lo)
        layers_table[name + "_median"], layers_table[name + "_iqr"] = med, iqr
    return layers_table


def extend_validation(run, steps_table, layers_table, statistics_from=None, forecast_dir=None,
                      mapping: str = "progress", console=None):
    """validate's hook: add (a) with ``statistics_from`` and (b) with ``forecast_dir``."""
    from dynamics.analysis.validation import load_run

    if mapping not in MAPPINGS:
        raise RidgelineError(f"--map {mapping!r}: use {', '.join(MAPPINGS)}")
    notes = []
    if statistics_from:
        pilot = load_run(statistics_from)
        if Path(pilot.path).resolve() == Path(run.path).resolve():
            raise RidgelineError("--statistics-from names the run itself: that is the closure, not a "
                                 "prediction; give a different run")
        steps_table, more = transferred(run, pilot, steps_table, mapping)
        notes += more
    if forecast_dir:
        steps_table, more = compare_forecast(run, steps_table, forecast_dir)
        notes += more
    layers_table = summarise(steps_table, layers_table)
    if console is not None:
        for note in notes:
            console.print(f"[yellow]note[/]: {note}", highlight=False)
    return steps_table, layers_table


def table(layers_table, transferred_: bool, forecast_: bool):
    """Per scale-invariant layer: the medians (IQR) of (a) and (b)."""
    from rich.table import Table

    t = Table(title="predictions from another run: measured / predicted, median (IQR)", title_justify="left")
    cols = [("layer", None)]
    if transferred_:
        cols += [("(a) eq. |w|", "norm_ratio_transferred"), ("(a) eq. angle", "angle_ratio_transferred"),
                 ("(a) traj. |w|", "trajectory_norm_ratio_transferred"),
                 ("(a) traj. angle", "trajectory_angle_ratio_transferred")]
    if forecast_:
        cols += [("(b) |w|", "forecast_norm_ratio"), ("(b) angle", "forecast_angle_ratio"),
                 ("(b) white |w|", "forecast_white_norm_ratio"), ("(b) white angle", "forecast_white_angle_ratio")]
    for name, _ in cols:
        t.add_column(name, justify="left" if name == "layer" else "right", no_wrap=name == "layer")
    fmt = lambda m, w: "–" if not np.isfinite(m) else f"{m:.3f} ({w:.3f})"  # noqa: E731
    for r in layers_table[layers_table["scale_invariant"]].to_dict("records"):
        t.add_row(str(r["layer"]), *(fmt(r.get(c + "_median", np.nan), r.get(c + "_iqr", np.nan))
                                     for _, c in cols[1:]))
    return t
