"""Predictions for a logged training run, and their comparison with what was measured.

For every parameter tensor of a run directory (``norms.csv``, docs/run-directory.md) and every
logged step t, with λ_t the learning rate of that step, α the weight decay, ρ the
momentum and τ_t the relaxation time (all from :func:`dynamics.symbolic.predict`); α and
ρ, like λ, are the values of that step in that tensor's own param group, and so is the
rule (:func:`layer_run`; the trajectory takes every step's, :func:`step_hyperparameters`):

    G²_t            = EMA_τ( |g_t|² |w_t|² )             scale-free gradient norm², smoothed
    |w|*_t, θ*_t    = predict(rule, λ_t, α, ρ, G_t)       equilibrium norm and angle per step
    1 − cos θ̄_t     = EMA_τ( 1 − cos θ_t )               measured angle, smoothed the same way
    norm ratio      = |w_t| / |w|*_t,      angle ratio = θ̄_t / θ*_t

**Why an exponential average of G² with time constant τ.** ``predict`` assumes a
stationary G; in a real network G drifts as the loss falls. To first order in λα the
plain-SGD norm obeys u' = (1 − 4λα) u + 2λ²G² for u = |w|⁴: the norm is a first-order
low-pass filter of G² whose time constant is the relaxation time τ = 1/(4λα) (for the
momentum rules the slow mode plays the same part, with τ from ``predict``). So the
equilibrium the norm should sit at is the one for G² filtered through that same causal
kernel. The moment recursion is linear in |g|², so it is the mean of G², not of G, that
enters.

**Why the angle of the mean cosine.** ``predict`` gives θ* = arccos(E[w·w']/E|w|²): the
moment model predicts the *mean cosine* of the per-step angle, i.e. θ* ≈ the RMS angle,
not the mean angle (a per-step angle that fluctuates, as it does when |g| varies from
step to step, has mean θ below arccos of its mean cosine, by Jensen). So the measured
side is averaged as 1 − cos θ, with the same kernel. Both sides are the full angle
between w_t and w_t+1, weight-decay component included.

**The equilibrium phase.** A logged step counts when both hold:

1. *quasi-static*: τ_t |d ln s/dt| < ε, s = λ/(α(1 − ρ)) the scale the equilibrium moves
   with (:func:`schedule_scale`; λ/α for the adaptive rules; λ times a constant while α
   and ρ stay fixed, so a cycled momentum counts like a moving λ). The target |w|* ∝ λ^{1/4} then moves by
   ε/4 per relaxation time, and a first-order system lags a target moving at a
   steady log-rate r by r τ: the norm lags by ≈ ε/4 and the angle (θ ∝ λG/|w|²) by
   ≈ ε/2. ε = 0.1 bounds these at 2.5% and 5%.
2. *settled*: at least n relaxation times, Σ Δt/τ_t, have passed since the last step
   that was not quasi-static (or since the start), so that a gap left by the
   initialisation or by a fast change of λ has decayed by e^{-n}; n = 3 leaves 5% of
   it in |w|², 2.5% in |w|.

Diagnostics, for where the noise model fails (docs/theory.md), each from the data:

- *gradient correlation*: the momentum buffer's |v| against the noise model's for the
  measured |w| and |g| (rows 2-3 of the moment map of
  :func:`dynamics.symbolic.equilibrium`), k = |v|/|v|_noise. k < 1: gradients
  anti-correlated from step to step (the iterate oscillates across a valley), k > 1:
  correlated. The stationary balance of the norm (for heavy-ball exactly: |w|² =
  λ(1+ρ)|v|²/(2α), whatever the correlations) then puts |w| at √k times the
  prediction; the table shows √k beside the measured |w| ratio.
- *drift*: Δ ln|w| over the last relaxation time. While G keeps growing the norm
  grows with it, and a growing norm needs larger steps than the stationary balance:
  :func:`drifting_angle` solves the moment map for moments growing at the measured
  rate and gives the angle of that drifting equilibrium (``angle_ratio_drift``).
- *adaptive rules*: AdamW's prediction takes the measured update power κ and the
  normalised gradient's radial share ξ (``update_power_ratio``, ``normalised_grad_radial``;
  training.updatestats, :func:`dynamics.adaptive.power_equilibrium`), each averaged as
  EMA_τ (|w|² is a low-pass of λ²|u|² with time constant τ); the notes split κ into the
  gradients' k and the normalisation ν = κ/k. Adam-L2 and Lion are predicted white. The
  trajectory is derived for the SGD rules only.
- *weights per filter*: BN normalises each output channel, so each filter is its own
  scale-invariant vector; few weights per filter (the first conv has 27) mean a
  strongly curved, signal-dominated landscape per filter.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from dynamics.util.errors import RidgelineError

NORM_COLUMNS = ("step", "layer", "scale_invariant", "weight_norm", "grad_norm",
                "angular_update", "lr")


@dataclass(frozen=True)
class ValidateConfig:
    """What ``ridgeline validate`` compares, and where it writes."""

    run_dir: str  # a directory written by `ridgeline train`
    out: str | None = None  # output directory; None: RUN_DIR/validation
    adiabatic: float = 0.1  # ε: largest τ·|d ln λ/dt| (dimensionless) for a quasi-static step
    settle: float = 3.0  # n: relaxation times since the last fast change before a step counts
    tolerance: float = 0.10  # |median ratio − 1| above which a layer is reported "off"
    figures: bool = True  # draw the PNG figures
    all_layers: bool = False  # figures: every tensor, not only the scale-invariant ones
    statistics_from: str | None = None  # a pilot run: prediction (a) with its k (κ, ξ), dynamics.forecast
    forecast: str | None = None  # a `ridgeline forecast` directory: prediction (b), dynamics.forecast
    mapping: str = "progress"  # how the pilot's profiles map onto this run: progress, epoch or loss

    def check(self) -> None:
        """Raise a one-line RidgelineError for a criterion that cannot be used."""
        for name in ("adiabatic", "tolerance"):
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise RidgelineError(f"{name} must be a number > 0, got {getattr(self, name)}")
        if not (np.isfinite(self.settle) and self.settle >= 0):
            raise RidgelineError(f"settle must be a number >= 0 (relaxation times), got {self.settle}")

    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path(self.run_dir) / "validation"


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


@dataclass(frozen=True)
class Validation:
    """The per-step comparison and the per-layer summary."""

    run: Run
    steps: "pandas.DataFrame"  # noqa: F821 - one row per (layer, logged step)
    layers: "pandas.DataFrame"  # noqa: F821 - one row per layer (validation.csv)
    config: ValidateConfig


# ---------------------------------------------------------------------------- loading
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
    (from the ``shape`` column) and the run's β₂; {} for the SGD rules."""
    from dynamics.rules import ADAPTIVE

    if run.rule not in ADAPTIVE:
        return {}
    return dict(elements=float(np.prod([int(n) for n in str(df["shape"].iloc[0]).split("x")])),
                beta2=run.config.get("beta2"))


def load_run(run_dir: str | Path) -> Run:
    """Read a run directory, or raise a one-line RidgelineError saying what is wrong.

    The files are checked by :mod:`dynamics.runtable`: a damaged config.json or
    summary.json is one line; norms.csv degrades per layer (what was repaired is printed
    as notes on stderr and kept in ``norms.attrs["notes"]``).
    """
    import sys

    from dynamics.runtable import NORM_KINDS, read_config, read_norms, read_summary

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
    if not (path / "norms.csv").is_file():
        raise RidgelineError(f"run {path} has no norm table (norms.csv): rerun "
                             "`ridgeline train` with norm logging on (--log-every K)")
    wd = config.get("wd", config.get("weight_decay"))
    if wd is None or "momentum" not in config and _rule_of(config) != "sgd":
        raise RidgelineError(f"{path / 'config.json'} lacks wd or momentum: not a ridgeline run")
    table = read_norms(path / "norms.csv", strict=False,
                       required={k: v for k, v in NORM_KINDS.items() if k in NORM_COLUMNS})
    for note in table.notes:
        print(f"note: {path / 'norms.csv'}: {note}", file=sys.stderr)
    norms = table.frame
    norms.attrs["notes"] = table.notes
    return Run(path, config, norms, summary, _rule_of(config), float(wd),
               float(config.get("momentum", 0.0)))


# ------------------------------------------------------------------------ prediction
@lru_cache(maxsize=None)
def _moment_map(rule: str):
    """(M, h) of the moment map (|w|², w·v, |v|²)' = M (…) + h |g|², as nested lists of numpy functions."""
    import sympy as sp

    from dynamics import symbolic as S

    eq = S.equilibrium(rule)
    args = (S.lam, S.alpha, S.rho)
    return (sp.lambdify(args, eq.moment_map.tolist(), "numpy"),
            sp.lambdify(args, eq.noise_vector.T.tolist()[0], "numpy"))


def noise_buffer_norm2(rule: str, lr, wd, momentum, weight_norm2, grad_norm2) -> np.ndarray:
    """The noise model's |v|² for the measured |w|² = x and |g|² = s, elementwise.

    With x held at its measured value (it moves on the slow time τ, the buffer on
    1/(1−ρ) steps), rows 2 and 3 of the moment map are a 2×2 linear system for
    (w·v, |v|²) = (y, z):  y = M₂₁x + M₂₂y + M₂₃z + h₂s,  z = M₃₁x + M₃₂y + M₃₃z + h₃s.
    Valid off equilibrium too, so it tells gradient correlation apart from a norm
    that has not settled.
    """
    M_f, h_f = _moment_map(rule)
    lr, x, s = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (lr, weight_norm2, grad_norm2)))
    M = [[np.broadcast_to(np.asarray(e, dtype=float), lr.shape) for e in row]
         for row in M_f(lr, wd, momentum)]
    h = [np.broadcast_to(np.asarray(e, dtype=float), lr.shape) for e in h_f(lr, wd, momentum)]
    with np.errstate(all="ignore"):
        a, b = 1 - M[1][1], -M[1][2]
        c, d = -M[2][1], 1 - M[2][2]
        r2, r3 = M[1][0] * x + h[1] * s, M[2][0] * x + h[2] * s
        return (a * r3 - c * r2) / (a * d - b * c)


def drifting_angle(rule: str, lr, wd, momentum, rate) -> np.ndarray:
    """Angle per step of a *drifting* equilibrium: |w|² growing by a factor (1 + r) per step.

    ``predict`` assumes G stationary. When G drifts slowly the norm tracks it
    (|w|⁴ ∝ G², so |w|² ∝ G) and every moment grows alike: m_t = m₀ (1 + r)^t with
    m = (|w|², w·v, |v|²) and |g|² = G²/|w|² = σ|w|². Put into the moment map,
    (1 + r) m = M m + h σ |w|² is linear in (w·v/|w|², |v|²/|w|², σ); its solution gives
    E[w·w'] and cos θ = E[w·w'] / (|w|² √(1 + r)). At r = 0 this is ``predict``'s angle.
    A growing norm needs larger steps than the stationary balance (the radial growth is
    paid by the perpendicular step), so θ rises with r.
    """
    from dynamics.trajectory import overlap_form

    M_f, h_f = _moment_map(rule)
    lr, wd, momentum, rate = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (lr, wd, momentum, rate)))
    shape = lr.shape
    M = np.stack([np.stack([np.broadcast_to(np.asarray(e, dtype=float), shape) for e in row], -1)
                  for row in M_f(lr, wd, momentum)], -2)  # (..., 3, 3)
    h = np.stack([np.broadcast_to(np.asarray(e, dtype=float), shape) for e in h_f(lr, wd, momentum)], -1)
    c = [np.broadcast_to(np.asarray(e, dtype=float), shape) for e in overlap_form(rule)(lr, wd, momentum)]
    grow = 1 + rate
    A = np.stack([np.stack([M[..., 0, 1], M[..., 0, 2], h[..., 0]], -1),
                  np.stack([M[..., 1, 1] - grow, M[..., 1, 2], h[..., 1]], -1),
                  np.stack([M[..., 2, 1], M[..., 2, 2] - grow, h[..., 2]], -1)], -2)
    b = np.stack([grow - M[..., 0, 0], -M[..., 1, 0], -M[..., 2, 0]], -1)
    out = np.full(shape, np.nan)
    ok = np.isfinite(A).all(axis=(-2, -1)) & np.isfinite(b).all(-1) & (lr > 0)
    if ok.any():
        with np.errstate(all="ignore"):
            y, z, sigma = np.moveaxis(np.linalg.solve(A[ok], b[ok][..., None])[..., 0], -1, 0)
            cos = (c[0][ok] + c[1][ok] * y + c[2][ok] * z) / np.sqrt(grow[ok])
            out[ok] = np.where(sigma > 0, np.arccos(np.clip(cos, -1, 1)), np.nan)
    return out


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


def _phase(steps: np.ndarray, lr: np.ndarray, tau: np.ndarray, cfg: ValidateConfig):
    """Quasi-static flag, relaxation clock and equilibrium flag along one layer's steps."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lr = np.log(np.where(lr > 0, lr, np.nan))
        rate = (np.abs(np.gradient(log_lr, steps)) if len(steps) > 1
                else np.zeros_like(lr))  # |d ln λ/dt|, per step
        lag = tau * rate
    quasi = np.isfinite(tau) & np.isfinite(lag) & (lag < cfg.adiabatic)
    clock = np.zeros(len(steps))
    for i in range(1, len(steps)):
        clock[i] = clock[i - 1] + (steps[i] - steps[i - 1]) / tau[i] if quasi[i] else 0.0
    return lag, quasi, clock, quasi & (clock >= cfg.settle)


def compare(run: Run, cfg: ValidateConfig) -> "pandas.DataFrame":  # noqa: F821
    """The per-step table: predictions, smoothed measurements, ratios and phase flags."""
    import pandas as pd

    from dynamics.symbolic import predict

    frames = []
    base = run
    for layer, df in base.norms.groupby("layer", sort=False):
        df = df.sort_values("step").reset_index(drop=True).copy()
        run = layer_run(base, layer, df)  # this tensor's own rule and per-step α, ρ
        steps = df["step"].to_numpy(float)
        lr = df["lr"].to_numpy(float)
        w = df["weight_norm"].to_numpy(float)
        g = df["grad_norm"].to_numpy(float)
        extra = _rule_arguments(run, df)  # C and β₂ for the adaptive rules
        tau = predict(run.rule, lr, run.wd, run.momentum, np.ones_like(lr), **extra).relaxation_steps
        tau = np.where(np.isfinite(tau), tau, np.inf)
        df["relaxation_steps"] = tau
        df["G2"] = (g * w) ** 2
        G2_smoothed = _ema(df["G2"].to_numpy(), steps, tau)
        df["G_smoothed"] = np.sqrt(G2_smoothed)
        white = predict(run.rule, lr, run.wd, run.momentum, df["G_smoothed"].to_numpy(), **extra)
        df["predicted_norm_white"], df["predicted_angle_white"] = white.weight_norm, white.angular_update
        if _has_power(run) and not extra:  # k̄ = 1 + EMA((k − 1) G²)/EMA(G²): the power-weighted mean of k
            excess = (df["grad_power_ratio"].to_numpy(float) - 1) * df["G2"].to_numpy()
            df["power_smoothed"] = 1 + _ema(excess, steps, tau) / G2_smoothed
            p = predict(run.rule, lr, run.wd, run.momentum, df["G_smoothed"].to_numpy(),
                        df["power_smoothed"].to_numpy())
        elif _has_update_power(run) and run.rule == "adamw":  # κ̄, ξ̄: |w|² is a low-pass of λ²|u|²
            df["power_smoothed"] = _ema(df["update_power_ratio"].to_numpy(float), steps, tau)
            radial = df["normalised_grad_radial"].to_numpy(float) if "normalised_grad_radial" in df \
                else np.zeros(len(df))
            df["radial_smoothed"] = _ema(radial, steps, tau)
            p = predict(run.rule, lr, run.wd, run.momentum, df["G_smoothed"].to_numpy(),
                        df["power_smoothed"].to_numpy(), radial=df["radial_smoothed"].to_numpy(), **extra)
            df["predicted_norm_tangent"] = predict(run.rule, lr, run.wd, run.momentum, df["G_smoothed"].to_numpy(),
                                                   df["power_smoothed"].to_numpy(), **extra).weight_norm
            if _has_power(run):  # k̄ of the gradients alone, for the notes: κ = k ν
                excess = (df["grad_power_ratio"].to_numpy(float) - 1) * df["G2"].to_numpy()
                df["grad_power_smoothed"] = 1 + _ema(excess, steps, tau) / G2_smoothed
        else:
            df["power_smoothed"], p = np.nan, white
        df["predicted_norm"], df["predicted_angle"] = p.weight_norm, p.angular_update
        half_chord2 = np.sin(df["angular_update"].to_numpy(float) / 2) ** 2  # (1 − cos θ)/2
        df["measured_angle"] = 2 * np.arcsin(np.sqrt(_ema(half_chord2, steps, tau)))
        df["norm_ratio"] = w / df["predicted_norm"]
        df["angle_ratio"] = df["measured_angle"] / df["predicted_angle"]
        df["norm_ratio_white"] = w / df["predicted_norm_white"]
        df["angle_ratio_white"] = df["measured_angle"] / df["predicted_angle_white"]
        df["missing"] = ~np.isfinite(df[["weight_norm", "grad_norm", "angular_update"]].to_numpy(float)).all(1)
        df.loc[df["step"] == 0, "missing"] = False  # step 0: the initial weights, no step taken
        if "momentum_norm" in df and run.rule != "sgd" and not extra:
            z = noise_buffer_norm2(run.rule, lr, run.wd, run.momentum, w**2, g**2)
            v2 = df["momentum_norm"].to_numpy(float) ** 2
            df["momentum_ratio"] = np.sqrt(_ema(v2, steps, tau) / _ema(z, steps, tau))
        else:
            df["momentum_ratio"] = np.nan
        with np.errstate(invalid="ignore"):  # Δ ln|w| over the last relaxation time
            log_w = np.log(np.where(w > 0, w, np.nan))  # a zero-initialised tensor at step 0: none
            back = np.interp(steps - tau, steps, log_w, left=np.nan)
            df["norm_drift"] = np.where(np.isfinite(tau) & (steps - tau >= steps[0]), log_w - back, np.nan)
        rate = 2 * df["norm_drift"].to_numpy(float) / tau  # d ln|w|²/dt, per step
        df["predicted_angle_drift"] = np.nan if extra else drifting_angle(run.rule, lr, run.wd, run.momentum,
                                                                          np.nan_to_num(rate))
        df["angle_ratio_drift"] = df["measured_angle"] / df["predicted_angle_drift"]
        df["lr_lag"], df["quasi_static"], df["relaxation_clock"], df["equilibrium"] = \
            _phase(steps, schedule_scale(run.rule, lr, run.wd, run.momentum), tau, cfg)
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    return _with_trajectories(base, out)


def _has_update_power(run: Run) -> bool:
    """Whether norms.csv has the adaptive rules' update power κ (training.updatestats)."""
    return "update_power_ratio" in run.norms and run.norms["update_power_ratio"].notna().any()


def _has_power(run: Run) -> bool:
    """Whether norms.csv has the gradient power ratio (runs before it was logged do not)."""
    return "grad_power_ratio" in run.norms and run.norms["grad_power_ratio"].notna().any()


def timescale_line(run: Run) -> str:
    """The run's relaxation time at its peak λ in steps and epochs, and the run's length in
    relaxation times (:func:`dynamics.transfer.timescale`, from config.json and metrics.csv)."""
    import pandas as pd

    from dynamics.transfer import timescale

    c = run.config
    try:
        per_epoch = int(pd.read_csv(run.path / "metrics.csv")["step"].iloc[0])
        epochs = float(c["epochs"])
        warmup = float(c["warmup_epochs"]) if c.get("warmup_epochs") is not None else epochs * 5 / 24
        t = timescale(run.rule, float(c["lr"]), run.wd, run.momentum, per_epoch, epochs, warmup=warmup,
                      schedule=str(c.get("schedule", "piecewise")), beta2=c.get("beta2"))
    except (OSError, KeyError, ValueError, IndexError, pd.errors.ParserError) as e:
        return f"unknown (no schedule in the run directory: {type(e).__name__})"
    except RidgelineError as e:  # adam-l2: it needs the gradient
        return str(e)
    return t.line()


def step_lrs_of(run: Run, logged: "pandas.DataFrame") -> tuple[np.ndarray, str]:  # noqa: F821
    """λ of every step 1 … T from the run's config (the trainer's schedule), and a note.

    Falls back to the logged λ, interpolated, when the config does not give the schedule
    or its values disagree with the logged ones (then the note says so).
    """
    import pandas as pd

    from dynamics.trajectory import step_lrs

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
        note = f"no schedule in the run directory ({type(e).__name__})"
    keep = steps > 0
    return (np.interp(np.arange(1, total + 1), steps[keep], lrs[keep]),
            note + ": trajectory uses the logged lr, interpolated")


# ------------------------------------------- per-tensor, per-step hyperparameters
def layer_rule(run: Run, layer: str) -> str:
    """The rule of ``layer``'s own param group (config.json's ``tensors``), else the run's."""
    from dynamics.rules import RULES

    rule = run.config.get("tensors", {}).get(layer, {}).get("rule", run.rule)
    return rule if rule in RULES else run.rule


def layer_run(run: Run, layer: str, df) -> Run:
    """``run`` as seen by one tensor: its group's rule, and α and ρ of each of its logged
    steps (norms.csv's ``wd`` and ``momentum`` columns, else the run's constants)."""
    import dataclasses

    def column(name, default):
        if name not in df or not df[name].notna().all():
            return default
        return df[name].to_numpy(float)

    return dataclasses.replace(run, rule=layer_rule(run, layer), wd=column("wd", run.wd),
                               momentum=column("momentum", run.momentum))


def schedule_scale(rule: str, lr, wd, momentum) -> np.ndarray:
    """The scale the equilibrium moves with, for the quasi-static test: λ/(α(1 − ρ)) for
    the SGD rules (|w|*⁴ ∝ λ/(α(1 − ρ)) to leading order), λ/α for the adaptive ones;
    it is λ times a constant when α and ρ stay fixed."""
    from dynamics.rules import ADAPTIVE

    lr, wd, momentum = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (lr, wd, momentum)))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = lr / np.where(wd > 0, wd, 1.0)
        return scale if rule in ADAPTIVE or rule == "sgd" else scale / (1 - momentum)


def read_step_hyperparameters(run: Run):
    """hyperparameters.csv (training.monitor: λ, α, ρ of every group on every step) as
    {column: (T, groups) array} for steps 1 … T, or None when the run has none."""
    import pandas as pd

    path = run.path / "hyperparameters.csv"
    if not path.is_file():
        return None
    try:
        table = pd.read_csv(path)
        wide = {k: table.pivot(index="step", columns="group", values=k).sort_index()
                for k in ("lr", "wd", "momentum")}
    except (OSError, KeyError, ValueError, pd.errors.ParserError) as e:
        raise RidgelineError(f"{path} is damaged ({type(e).__name__})") from None
    steps = wide["lr"].index.to_numpy()
    if len(steps) == 0 or steps[0] != 1 or np.any(np.diff(steps) != 1):
        raise RidgelineError(f"{path} does not list every step from 1 (a resumed loop?)")
    return {k: v.to_numpy(float) for k, v in wide.items()}


def step_hyperparameters(run: Run, table, layers: list[str]):
    """λ_t, α_t, ρ_t of every step 1 … T for every layer, each (T, L), and a note.

    From hyperparameters.csv when the monitor wrote one (each tensor its own group's values,
    every step as torch used it); else λ from :func:`step_lrs_of` (the trainer's schedule)
    and α, ρ of each layer's logged steps, interpolated (the note says so when they vary).
    """
    total = int(table["step"].max())
    try:
        recorded, unread = read_step_hyperparameters(run), ""
    except RidgelineError as e:
        recorded, unread = None, f"{e}: not used"
    tensors = run.config.get("tensors", {})
    if recorded is not None and len(recorded["lr"]) >= total:
        groups = [int(tensors.get(name, {}).get("group", 0)) for name in layers]
        return tuple(recorded[k][:total][:, groups] for k in ("lr", "wd", "momentum")) + ("",)
    if recorded is not None:
        unread = f"hyperparameters.csv ends at step {len(recorded['lr'])} before norms.csv ({total}): not used"
    lam, note = step_lrs_of(run, table.drop_duplicates("step").sort_values("step"))
    note = "; ".join(filter(None, [unread, note]))
    at = np.arange(1, total + 1)
    out, varies = [], []
    for key, default in (("wd", run.wd), ("momentum", run.momentum)):
        cols = []
        for name in layers:
            df = table[(table["layer"] == name) & (table["step"] > 0)]
            if key in df and df[key].notna().all() and len(df):
                cols.append(np.interp(at, df["step"].to_numpy(float), df[key].to_numpy(float)))
                if np.ptp(df[key].to_numpy(float)) > 0:
                    varies.append(key)
            else:
                cols.append(np.full(total, default))
        out.append(np.stack(cols, 1))
    if varies:
        note = "; ".join(filter(None, [note, f"{' and '.join(dict.fromkeys(varies))} change during the run "
                                       "and the run directory has no hyperparameters.csv: interpolated "
                                       "between logged steps"]))
    return np.broadcast_to(np.asarray(lam)[:, None], (total, len(layers))), out[0], out[1], note


def trajectories(rules: list[str], lr, wd, momentum, grad_norm2, weight_norm0, power=None):
    """:func:`dynamics.trajectory.trajectory` for layers with different rules: one call per rule."""
    from dynamics.trajectory import Trajectory, trajectory

    T, L = grad_norm2.shape
    norm, angle = np.full((T + 1, L), np.nan), np.full((T, L), np.nan)
    for rule in dict.fromkeys(rules):
        i = [j for j, r in enumerate(rules) if r == rule]
        pred = trajectory(rule, lr[:, i], wd[:, i], momentum[:, i], grad_norm2[:, i],
                          np.asarray(weight_norm0)[i], None if power is None else power[:, i])
        norm[:, i], angle[:, i] = pred.weight_norm, pred.angle
    return Trajectory(norm, angle)


def monitor_notes(run: Run) -> tuple[list[str], list[str]]:
    """What the monitor saw and could not follow (monitor_notes.json, summary.json's
    ``notes``), and the tensors it could not monitor (a param group added later)."""
    import json

    path = run.path / "monitor_notes.json"
    try:
        saved = json.loads(path.read_text()) if path.is_file() else {}
        notes, unmonitored = dict(saved.get("notes", {})), list(saved.get("unmonitored", []))
    except (OSError, ValueError, TypeError, AttributeError):
        return [f"{path} is damaged: what the monitor could not follow is unknown"], []
    summary = (run.summary or {}).get("notes", [])
    return list(dict.fromkeys([*map(str, notes.values()), *map(str, summary)])), unmonitored


def hyperparameter_ranges(run: Run) -> str:
    """``rule=… wd=… momentum=…`` of the run, each a range lo–hi where it varies over the
    steps or the param groups (hyperparameters.csv, else norms.csv's columns)."""
    rules = sorted({layer_rule(run, name) for name in dict.fromkeys(run.norms["layer"])})
    try:
        recorded = read_step_hyperparameters(run)
    except RidgelineError:
        recorded = None
    parts = [f"rule={'/'.join(rules)}"]
    for key, value in (("wd", run.wd), ("momentum", run.momentum)):
        values = recorded[key] if recorded is not None else (
            run.norms[key].to_numpy(float) if key in run.norms else np.array([value]))
        values = values[np.isfinite(values)]
        lo, hi = (values.min(), values.max()) if len(values) else (value, value)
        parts.append(f"{key}={lo:.4g}" if lo == hi else f"{key}={lo:.4g}–{hi:.4g} (per step and group)")
    return " ".join(parts)


def unmonitored_rows(layers, names: list[str], why: str):
    """validation.csv rows, status "not monitored", for tensors the monitor never measured."""
    import pandas as pd

    if not names:
        return layers
    extra = pd.DataFrame({"layer": names, "scale_invariant": False, "status": "not monitored",
                          "trajectory_status": "not monitored", "notes": why})
    return pd.concat([layers, extra], ignore_index=True)


def _with_trajectories(run: Run, steps_table: "pandas.DataFrame") -> "pandas.DataFrame":  # noqa: F821
    """Add the predicted trajectory (white and with the measured power) to every row.

    :func:`dynamics.trajectory.trajectory` over all layers at once; inputs G² and
    (k − 1) G² interpolated between logged steps; start: the step-0 |w| (else the first
    logged one, with a zero buffer). Row of step t ≥ 1 (|w| before step t, the angle of
    step t) ↔ state after t − 1 steps; the step-0 row ↔ the initial state.
    """
    table = steps_table.copy()
    layers = list(dict.fromkeys(table["layer"]))
    wide = lambda col: table.pivot(index="step", columns="layer", values=col)[layers]  # noqa: E731
    G2, w = wide("G2"), wide("weight_norm")
    # λ of every logged step, from whichever layer kept that step's row (a dropped row of
    # one layer must not change another layer's trajectory)
    lam, wd, rho, note = step_hyperparameters(run, table, layers)  # each (T, L)
    T = len(lam)
    at = np.arange(1, T + 1)

    def fill(frame):
        cols = []
        for name in layers:
            col = frame[name]
            col = col[(col.index > 0) & np.isfinite(col.to_numpy(float))]
            cols.append(np.interp(at, col.index.to_numpy(float), col.to_numpy(float))
                        if len(col) else np.full(T, np.nan))
        return np.stack(cols, 1)

    from dynamics.rules import ADAPTIVE

    rules = [layer_rule(run, name) for name in layers]
    if any(r in ADAPTIVE for r in rules):  # the trajectory's moment map is the SGD rules'
        for col in ("trajectory_norm", "trajectory_angle", "trajectory_norm_ratio", "trajectory_angle_ratio",
                    "trajectory_angle_smoothed", "trajectory_clock"):
            for suffix in ("", "_white"):
                table[col + suffix] = np.nan
        table["trajectory_note"] = "; ".join(filter(None, [note, f"no trajectory prediction for {run.rule} "
                                                           "(derived for the SGD rules): judged at equilibrium"]))
        table["trajectory_phase"] = False
        return table
    G2_steps = fill(G2)
    w0 = w.iloc[0].to_numpy(float)
    if int(w.index[0]) != 0:
        note = "; ".join(filter(None, [note, "no step-0 row: trajectory starts at the first logged |w|"]))
    preds = {"white": trajectories(rules, lam, wd, rho, G2_steps, w0)}
    if _has_power(run):
        power = 1 + fill(wide("grad_power_ratio").sub(1).mul(G2)) / G2_steps
        preds["corr"] = trajectories(rules, lam, wd, rho, G2_steps, w0, power)
    else:
        preds["corr"] = preds["white"]
    for key, pred in preds.items():
        suffix = "" if key == "corr" else "_white"
        idx = {layer: i for i, layer in enumerate(layers)}
        rows = table["step"].to_numpy(int)
        state = np.clip(rows - 1, 0, T)
        col = table["layer"].map(idx).to_numpy()
        table["trajectory_norm" + suffix] = pred.weight_norm[state, col]
        angle = pred.angle[np.clip(rows - 1, 0, T - 1), col]
        table["trajectory_angle" + suffix] = np.where(rows > 0, angle, np.nan)
    table["trajectory_note"] = note
    # ratios: |w| directly; the angle, both sides averaged as 1 − cos θ with the same kernel
    for suffix in ("", "_white"):
        table["trajectory_norm_ratio" + suffix] = table["weight_norm"] / table["trajectory_norm" + suffix]
        table["trajectory_angle_smoothed" + suffix] = np.nan
    for layer, df in table.groupby("layer", sort=False):
        s, tau = df["step"].to_numpy(float), df["relaxation_steps"].to_numpy(float)
        for suffix in ("", "_white"):
            pred = np.sin(df["trajectory_angle" + suffix].to_numpy(float) / 2) ** 2
            table.loc[df.index, "trajectory_angle_smoothed" + suffix] = 2 * np.arcsin(np.sqrt(_ema(pred, s, tau)))
        with np.errstate(divide="ignore", invalid="ignore"):
            clock = np.concatenate([[0.0], np.cumsum(np.diff(s) / tau[1:])])
        table.loc[df.index, "trajectory_clock"] = clock
    for suffix in ("", "_white"):
        table["trajectory_angle_ratio" + suffix] = table["measured_angle"] / table["trajectory_angle_smoothed" + suffix]
    table["trajectory_phase"] = (table["trajectory_clock"] >= 1.0) & (table["step"] > 0)
    return table


# --------------------------------------------------------------------------- summary
def _fan_in(shape) -> int | None:
    """Weights per output filter: the product of a tensor's shape after the first axis."""
    try:
        dims = [int(x) for x in str(shape).strip("()[] ").replace("x", ",").split(",") if x.strip()]
    except ValueError:
        return None
    return int(np.prod(dims[1:])) if len(dims) > 1 else None


def _notes(row: dict, cfg: ValidateConfig) -> str:
    """Why a layer may sit off its predicted equilibrium, read from its diagnostics."""
    notes = []
    if not row["scale_invariant"]:
        notes.append("not scale-invariant: the noise model does not apply")
    if row["equilibrium_steps"] == 0:
        notes.append(f"never quasi-static and settled (ε={cfg.adiabatic}, n={cfg.settle}): "
                     f"smallest lag τ|d ln(λ/(α(1−ρ)))/dt| {row['min_lr_lag']:.2g}, "
                     f"{row['relaxation_times']:.1f} relaxation times logged; an equilibrium phase "
                     f"needs {cfg.settle:g} relaxation times at a quasi-static lr: judged on the trajectory")
    if row["missing_steps"]:
        notes.append(f"{row['missing_steps']} logged steps with missing or non-finite values: no pass")
    if row.get("trajectory_steps", 1) == 0 and row.get("trajectory_derived", True):
        notes.append(f"no trajectory phase: the run logged {row['relaxation_times']:.2f} relaxation "
                     "times, the trajectory verdict needs 1")
    k = row["momentum_ratio_median"]
    if np.isfinite(k) and abs(k - 1) > cfg.tolerance / 2:
        kind = "positively correlated" if k > 1 else "anti-correlated"
        notes.append(f"gradients {kind} between steps: |v| {k:.2f}x the noise model's, which "
                     f"puts |w| at √{k:.2f} = {np.sqrt(k):.2f}x the white prediction "
                     f"(measured {row['norm_ratio_white_median']:.2f} of white, "
                     f"{row['norm_ratio_median']:.2f} of the correlated one)")
    d = row["norm_drift_median"]
    if np.isfinite(d) and abs(d) > 0.01:
        notes.append(f"|w| {'growing' if d > 0 else 'shrinking'} {abs(d):.1%} per relaxation time"
                     + (": not settled" if abs(d) > cfg.tolerance / 2 else "")
                     + (f"; angle vs the drifting equilibrium {row['angle_ratio_drift_median']:.3f}"
                        if np.isfinite(row["angle_ratio_drift_median"]) else ""))
    kappa, kg = row.get("update_power_median", np.nan), row.get("grad_power_median", np.nan)
    if np.isfinite(kappa):
        notes.append(f"update power κ {kappa:.2f} puts |w| at √κ = {np.sqrt(kappa):.2f}x the white prediction "
                     f"(measured {row['norm_ratio_white_median']:.2f} of white, {row['norm_ratio_tangent_median']:.2f} "
                     f"with κ alone, {row['norm_ratio_median']:.2f} with the radial share ξ {row['radial_median']:.4f})"
                     + (f"; κ = k·ν with gradient memory k {kg:.2f} and normalisation ν {kappa / kg:.2f}"
                        if np.isfinite(kg) else ""))
    if row["fan_in"] is not None and row["fan_in"] < 64:
        notes.append(f"few weights per filter ({row['fan_in']})")
    return "; ".join(notes)


def _status(si: bool, norm_ratio: float, angle_ratio: float, n: int, missing: int,
            cfg: ValidateConfig, phase: str = "no equilibrium phase") -> str:
    """ok / off / … for one layer; a missing or non-finite value never passes."""
    if not si:
        return "not scale-invariant"
    if not n:
        return phase
    if missing or not (np.isfinite(norm_ratio) and np.isfinite(angle_ratio)):
        return "off (missing values)"
    return "ok" if max(abs(norm_ratio - 1), abs(angle_ratio - 1)) <= cfg.tolerance else "off"


def summarise(steps: "pandas.DataFrame", cfg: ValidateConfig) -> "pandas.DataFrame":  # noqa: F821
    """One row per layer: equilibrium-phase medians and IQRs of the ratios, a status, notes."""
    import pandas as pd

    rows = []
    for layer, df in steps.groupby("layer", sort=False):
        eq = df[df["equilibrium"]]
        si = bool(df["scale_invariant"].iloc[0])
        row = {"layer": layer, "shape": df["shape"].iloc[0] if "shape" in df else "",
               "scale_invariant": si, "fan_in": _fan_in(df["shape"].iloc[0]) if "shape" in df else None,
               "equilibrium_steps": int(len(eq)),
               "first_equilibrium_step": int(eq["step"].iloc[0]) if len(eq) else -1,
               "relaxation_steps_median": float(np.median(eq["relaxation_steps"])) if len(eq) else np.nan,
               "min_lr_lag": float(np.nanmin(df["lr_lag"])) if df["lr_lag"].notna().any() else np.nan,
               "relaxation_times": float(np.nansum(np.diff(df["step"]) / df["relaxation_steps"].iloc[1:]))}
        traj = df[df["trajectory_phase"]]
        row["trajectory_steps"] = int(len(traj))
        row["trajectory_derived"] = bool(df["trajectory_norm"].notna().any())
        row["missing_steps"] = int(df["missing"].sum())
        k = (eq if len(eq) else traj)["power_smoothed"]  # k̄ over the phase the verdict is on
        row["power_median"] = float(np.nanmedian(k)) if k.notna().any() else np.nan
        if "radial_smoothed" in df:  # adamw: κ̄ (power_smoothed), ξ̄, |w| with κ alone, the gradients' k̄
            part = eq if len(eq) else traj
            row["update_power_median"] = row["power_median"]
            row["radial_median"] = float(np.nanmedian(part["radial_smoothed"]))
            row["norm_ratio_tangent_median"] = float(np.nanmedian(part["weight_norm"] / part["predicted_norm_tangent"]))
            kg = part["grad_power_smoothed"] if "grad_power_smoothed" in part else part["radial_smoothed"] * np.nan
            row["grad_power_median"] = float(np.nanmedian(kg)) if kg.notna().any() else np.nan
        quantities = [(eq, q) for q in ("norm_ratio", "angle_ratio", "norm_ratio_white", "angle_ratio_white",
                                        "angle_ratio_drift", "momentum_ratio", "norm_drift")]
        quantities += [(traj, "trajectory_" + q) for q in ("norm_ratio", "angle_ratio", "norm_ratio_white",
                                                           "angle_ratio_white")]
        for part, q in quantities:
            x = part[q].to_numpy(float)
            x = x[np.isfinite(x)]
            lo, med, hi = np.percentile(x, [25, 50, 75]) if len(x) else (np.nan,) * 3
            row[f"{q}_median"], row[f"{q}_iqr"] = med, hi - lo
            row[f"{q}_q25"], row[f"{q}_q75"] = lo, hi
        row["measured_angle_median"] = float(np.median(eq["measured_angle"])) if len(eq) else np.nan
        row["predicted_angle_median"] = float(np.median(eq["predicted_angle"])) if len(eq) else np.nan
        row["measured_norm_median"] = float(np.median(eq["weight_norm"])) if len(eq) else np.nan
        row["predicted_norm_median"] = float(np.median(eq["predicted_norm"])) if len(eq) else np.nan
        row["status"] = _status(si, row["norm_ratio_median"], row["angle_ratio_median"],
                                len(eq), row["missing_steps"], cfg)
        row["trajectory_status"] = _status(si, row["trajectory_norm_ratio_median"],
                                           row["trajectory_angle_ratio_median"], len(traj),
                                           row["missing_steps"], cfg, phase="no trajectory phase")
        row["notes"] = _notes(row, cfg)
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ entry point
def validate(cfg: ValidateConfig, console=None) -> Validation:
    """Compare a run's logged norms with the predictions; write CSVs, figures, table."""
    from rich.console import Console

    from dynamics.util.io import ensure_dir, write_csv, write_json
    from dynamics.util.output import changed_settings

    if console is None:
        console = Console()
        if not console.is_terminal:  # a pipe or a file: room for the notes column
            console = Console(width=160)
    cfg.check()
    run = load_run(cfg.run_dir)
    out = ensure_dir(cfg.out_dir())
    console.print(f"[bold]validate[/bold] {run.path}  {hyperparameter_ranges(run)}  "
                  f"settings: {changed_settings(cfg, skip=('run_dir',))}", highlight=False, soft_wrap=True)
    if run.summary is None:
        console.print("[yellow]note[/]: no summary.json yet (the run is unfinished): "
                      "validating the steps logged so far")
    console.print(f"relaxation time at the peak lr ({run.rule}, derived): {timescale_line(run)}", highlight=False)
    import warnings

    with warnings.catch_warnings(), np.errstate(all="ignore"):  # NaN/inf are handled, and reported below
        warnings.simplefilter("ignore", RuntimeWarning)
        steps = compare(run, cfg)
        layers = summarise(steps, cfg)
    from dynamics.rules import ADAPTIVE

    if run.rule == "adamw" and not _has_update_power(run):
        console.print("[yellow]note[/]: norms.csv has no update_power_ratio column (a run logged before "
                      "it existed): white-noise predictions only")
    elif run.rule in ADAPTIVE and run.rule != "adamw":
        console.print(f"[yellow]note[/]: {run.rule} is predicted with white noise (the update-power "
                      "correction is derived for adamw)")
    elif not _has_power(run):
        console.print("[yellow]note[/]: norms.csv has no grad_power_ratio column (a run logged before "
                      "it existed): white-noise predictions only")
    note = steps["trajectory_note"].iloc[0]
    if note:
        console.print(f"[yellow]note[/]: {note}", highlight=False)
    notes, unmonitored = monitor_notes(run)
    for text in notes:
        console.print(f"[yellow]note[/]: {text}", highlight=False)
    layers = unmonitored_rows(layers, unmonitored, "; ".join(notes))
    if cfg.statistics_from or cfg.forecast:  # predictions from another run (dynamics.forecast)
        from dynamics.forecast import extend_validation

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            steps, layers = extend_validation(run, steps, layers, cfg.statistics_from, cfg.forecast,
                                              cfg.mapping, console)
    write_json(out / "config.json", asdict(cfg) | {"rule": run.rule, "wd": run.wd,
                                                     "momentum": run.momentum})
    write_csv(out / "validation_steps.csv", steps)
    write_csv(out / "validation.csv", layers)
    result = Validation(run, steps, layers, cfg)
    if cfg.figures:
        from figures.validation import plot_layers, plot_ratios

        shown = steps if cfg.all_layers else steps[steps["scale_invariant"]]
        if len(shown):
            plot_layers(shown, out / "validation_norms.png", quantity="norm")
            plot_layers(shown, out / "validation_angles.png", quantity="angle")
            plot_ratios(shown, out / "validation_ratios.png")
    console.print(table(result))
    if cfg.statistics_from or cfg.forecast:
        from dynamics.forecast import table as other_run_table

        console.print(other_run_table(layers, bool(cfg.statistics_from), bool(cfg.forecast)))
    for r in layers[layers["scale_invariant"] & (layers["notes"] != "")].to_dict("records"):
        console.print(f"[bold]{r['layer']}[/]: {r['notes']}", highlight=False)
    si = layers[layers["scale_invariant"]]
    corr = ("with the measured update power" if run.rule == "adamw" and _has_update_power(run) else
            "with the measured gradient correlation" if _has_power(run) and run.rule not in ADAPTIVE else
            "white noise")
    console.print(f"{(si['status'] == 'ok').sum()}/{len(si)} scale-invariant layers within "
                  f"{cfg.tolerance:.0%} of the equilibrium prediction in their equilibrium phase, "
                  f"{(si['trajectory_status'] == 'ok').sum()}/{len(si)} of the trajectory after the first "
                  f"relaxation time ({corr}); wrote {out}/validation.csv and figures")
    if unmonitored:
        console.print(f"{len(unmonitored)} tensors not monitored (status \"not monitored\"): "
                      f"{', '.join(unmonitored)}", highlight=False)
    return result


def table(result: Validation):
    """The per-layer summary as a rich Table."""
    from rich.table import Table

    t = Table(title=f"validation of {result.run.path}", title_justify="left")
    power = "κ" if result.run.rule == "adamw" else "k"  # the update power (adamw) or the gradients'
    for col, just in [("layer", "left"), ("SI", "center"), (power, "right"), ("eq. steps", "right"),
                      ("eq. |w| (white)", "right"), ("eq. angle (white)", "right"), ("equilibrium", "left"),
                      ("traj. steps", "right"), ("traj. |w| (white)", "right"),
                      ("traj. angle (white)", "right"), ("trajectory", "left")]:
        t.add_column(col, justify=just, overflow="fold", no_wrap=col == "layer")
    style = lambda st: {"ok": "green", "not scale-invariant": "dim"}.get(  # noqa: E731
        st, "red" if st.startswith("off") else "yellow")
    short = lambda st: "no phase" if st.startswith("no ") else st  # noqa: E731 - the notes say which
    fmt = lambda m, w=None: "–" if not np.isfinite(m) else (  # noqa: E731
        f"{m:.3f}" if w is None or not np.isfinite(w) else f"{m:.3f} ({w:.3f})")
    for r in result.layers.to_dict("records"):
        if not r["scale_invariant"] and not result.config.all_layers:
            continue
        t.add_row(str(r["layer"]), "yes" if r["scale_invariant"] else "no", fmt(r["power_median"]),
                  str(r["equilibrium_steps"]), fmt(r["norm_ratio_median"], r["norm_ratio_white_median"]),
                  fmt(r["angle_ratio_median"], r["angle_ratio_white_median"]),
                  f"[{style(r['status'])}]{short(r['status'])}[/]", str(r["trajectory_steps"]),
                  fmt(r["trajectory_norm_ratio_median"], r["trajectory_norm_ratio_white_median"]),
                  fmt(r["trajectory_angle_ratio_median"], r["trajectory_angle_ratio_white_median"]),
                  f"[{style(r['trajectory_status'])}]{short(r['trajectory_status'])}[/]")
    return t
