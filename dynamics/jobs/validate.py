"""Predictions for a logged training run, and their comparison with what was measured.

For every parameter tensor of a run directory (``norms.csv``, docs/run-directory.md) and every
logged step t, with λ_t the learning rate of that step, α the weight decay, ρ the
momentum and τ_t the relaxation time (all from :func:`dynamics.theory.symbolic.predict`); α and
ρ, like λ, are the values of that step in that tensor's own param group, and so is the
rule (:func:`layer_run`; the trajectory takes every step's, :func:`step_hyperparameters`):

    G²_t            = EMA_τ( |g_t|² |w_t|² )             scale-free gradient norm², smoothed
    |w|*_t, θ*_t    = predict(rule, λ_t, α, ρ, G_t)       equilibrium norm and angle per step
    1 − cos θ̄_t     = EMA_τθ( 1 − cos θ_t )              measured angle (τθ: the angle window below)
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

**Prediction and closure.** A *prediction* (:data:`PREDICTIONS`; today white noise)
uses nothing of the run's own weights or buffers but |w₀|, G² and the schedule; the
verdicts (``status_<kind>``, ``trajectory_status_<kind>``) and the summary line count
predictions only. The *closure* feeds the same algebra the run's own gradient power
ratio k (``grad_power_ratio``; AdamW: the update power κ and radial share ξ). Since
g ⟂ w makes the recursion of (|w|², w·v, |v|²) exact, and k measures its one unknown
E[v·g], the closure reproduces |w| and the angle whatever the gradient process is: it
checks scale invariance, the log and the algebra, and has its own columns
(``*_closure``), status (``closure_status``: closes / fails within
``closure_tolerance``, judged on the trajectory where there is one) and, when it fails,
the likely cause (:func:`_closure_cause`: a log gap, skipped steps, or else a tensor that
is not scale-invariant).

**Missing values.** The loader drops rows with a non-finite |w|, |g|, angle or λ
(:func:`dynamics.analysis.runtable.read_norms`) and keeps their steps; those inside the phase
judged fail the layer ("off (N non-finite rows)"). Non-finite predictions inside the
phase are left out of the medians and counted (``nonfinite_<kind>``) in the notes.

**The angle window.** Where λ moves, τ_t |d ln λ/dt| ≥ ε, the angle is averaged over
min(τ_t, ε/|d ln λ/dt|) instead of τ_t: as λ decays to 0, τ grows without bound and an
average over τ would freeze at the angles of long ago. The lag is then ≈ ε of the
angle, alike on both sides, which are averaged by the same window.

Diagnostics, for where the noise model fails (docs/theory.md), each from the data:

- *buffer ratio*: the momentum buffer's |v| against the noise model's for the
  measured |w| and |g| (rows 2-3 of the moment map of
  :func:`dynamics.theory.symbolic.equilibrium`), b = |v|/|v|_noise. b < 1: gradients
  anti-correlated from step to step (the iterate oscillates across a valley), b > 1:
  correlated. The stationary balance of the norm (for heavy-ball exactly: |w|² =
  λ(1+ρ)|v|²/(2α), whatever the correlations) then puts |w| near √b times the
  white prediction. It reads the run's own buffer, so it explains and predicts nothing.
- *drift*: Δ ln|w| over the last relaxation time. While G keeps growing the norm
  grows with it, and a growing norm needs larger steps than the stationary balance:
  :func:`drifting_angle` solves the moment map for moments growing at the measured
  rate and gives the angle of that drifting equilibrium (``angle_ratio_drift``).
- *adaptive rules*: AdamW's closure takes the measured update power κ and the
  normalised gradient's radial share ξ (``update_power_ratio``, ``normalised_grad_radial``;
  training.updatestats, :func:`dynamics.theory.adaptive.power_equilibrium`), each averaged as
  EMA_τ (|w|² is a low-pass of λ²|u|² with time constant τ); the notes split κ into the
  gradients' k and the normalisation ν = κ/k. Adam-L2 and Lion have the white
  prediction only; Adam-L2's τ depends on G, so τ and Ḡ are solved together per layer.
  The trajectory is derived for the SGD rules only.
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

from dynamics.analysis.validation import (NORM_COLUMNS, PREDICTION_TITLES, PREDICTIONS, Run,  # noqa: F401
                                          _ema, _refuse_initial_weights_only, _rule_arguments, _rule_of,
                                          _why_no_schedule, kinds_in, load_run, step_lrs_of)
from dynamics.util.errors import RidgelineError

#: The *closure*: the same moment algebra fed the run's own gradient power ratio k (AdamW:
#: update power κ and radial share ξ). With them the moment map reproduces |w| and the angle
#: whatever the gradient process is, so it predicts nothing: it is an accounting check of
#: scale invariance, the log and the algebra, with columns and a status of its own.
CLOSURE = "closure"


@dataclass(frozen=True)
class ValidateConfig:
    """What ``ridgeline validate`` compares, and where it writes."""

    run_dir: str  # a directory written by `ridgeline train`
    out: str | None = None  # output directory; None: RUN_DIR/validation
    adiabatic: float = 0.1  # ε: largest τ·|d ln λ/dt| (dimensionless) for a quasi-static step
    settle: float = 3.0  # n: relaxation times since the last fast change before a step counts
    tolerance: float = 0.10  # |median ratio − 1| above which a prediction is reported "off"
    closure_tolerance: float = 0.03  # |median ratio − 1| above which the closure "fails"
    figures: bool = True  # draw the PNG figures
    all_layers: bool = False  # figures: every tensor, not only the scale-invariant ones
    statistics_from: str | None = None  # a pilot run: prediction (a) with its k (κ, ξ), dynamics.jobs.forecast
    forecast: str | None = None  # a `ridgeline forecast` directory: prediction (b), dynamics.jobs.forecast
    mapping: str = "progress"  # how the pilot's profiles map onto this run: progress, epoch or loss

    def check(self) -> None:
        """Raise a one-line RidgelineError for a criterion that cannot be used."""
        for name in ("adiabatic", "tolerance", "closure_tolerance"):
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise RidgelineError(f"{name} must be a number > 0, got {getattr(self, name)}")
        if not (np.isfinite(self.settle) and self.settle >= 0):
            raise RidgelineError(f"settle must be a number >= 0 (relaxation times), got {self.settle}")

    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path(self.run_dir) / "validation"


@dataclass(frozen=True)
class Validation:
    """The per-step comparison and the per-layer summary."""

    run: Run
    steps: "pandas.DataFrame"  # noqa: F821 - one row per (layer, logged step)
    layers: "pandas.DataFrame"  # noqa: F821 - one row per layer (validation.csv)
    config: ValidateConfig


# ------------------------------------------------------------------------ prediction
@lru_cache(maxsize=None)
def _moment_map(rule: str):
    """(M, h) of the moment map (|w|², w·v, |v|²)' = M (…) + h |g|², as nested lists of numpy functions."""
    import sympy as sp

    from dynamics.theory import symbolic as S

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
    from dynamics.theory.trajectory import overlap_form

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
    """The per-step table: predictions, the closure, smoothed measurements, ratios, phase flags."""
    import pandas as pd

    frames = [_layer_steps(layer_run(run, layer, df.sort_values("step")), df, cfg)  # each tensor its own
              for layer, df in run.norms.groupby("layer", sort=False)]         # rule and per-step α, ρ
    return add_ratios(_with_trajectories(run, pd.concat(frames, ignore_index=True)))


def _layer_steps(run: Run, df, cfg: ValidateConfig):
    """One layer's logged steps with τ, Ḡ, the white prediction, the closure, the measured
    angle, the diagnostics and the phase flags."""
    df = df.sort_values("step").reset_index(drop=True).copy()
    steps, lr = df["step"].to_numpy(float), df["lr"].to_numpy(float)
    extra = _rule_arguments(run, df)  # C and β₂ for the adaptive rules
    df["G2"] = (df["grad_norm"].to_numpy(float) * df["weight_norm"].to_numpy(float)) ** 2
    tau, G2_smoothed = _relaxation(run, steps, lr, df["G2"].to_numpy(), extra)
    df["relaxation_steps"], df["G_smoothed"] = tau, np.sqrt(G2_smoothed)
    white = _predict(run, lr, df["G_smoothed"].to_numpy(), extra)
    df["predicted_norm_white"], df["predicted_angle_white"] = white.weight_norm, white.angular_update
    _closure(run, df, steps, tau, G2_smoothed, extra)
    df["lr_lag"], df["quasi_static"], df["relaxation_clock"], df["equilibrium"] = \
        _phase(steps, schedule_scale(run.rule, lr, run.wd, run.momentum), tau, cfg)
    df["angle_window"] = np.minimum(tau, cfg.adiabatic * tau / np.maximum(df["lr_lag"].to_numpy(float), 1e-300))
    df["measured_angle"] = mean_cosine_angle(df["angular_update"].to_numpy(float), steps,
                                             df["angle_window"].to_numpy())
    _diagnostics(run, df, steps, lr, tau, extra)
    return df


def _predict(run: Run, lr, G, extra, *power, **kw):
    from dynamics.theory.dispatch import predict

    return predict(run.rule, lr, run.wd, run.momentum, G, *power, **kw, **extra)


def _relaxation(run: Run, steps, lr, G2, extra) -> tuple[np.ndarray, np.ndarray]:
    """τ_t and Ḡ²_t = EMA_τ(G²) of one layer.

    τ depends on G only where the rule normalises the decay with the gradient (Adam-L2:
    18.8 steps at G = 1 against 70.9 at G = 10 for C = 36,864, λ 1e-3, α 0.1); there τ
    and Ḡ are solved together, τ = τ(λ, Ḡ), by fixed-point iteration from G = 1.
    """
    G = np.ones_like(lr)
    for _ in range(20):
        tau = _predict(run, lr, G, extra).relaxation_steps
        tau = np.where(np.isfinite(tau), tau, np.inf)
        G2_smoothed = _ema(G2, steps, tau)
        G_next = np.where(np.isfinite(G2_smoothed) & (G2_smoothed > 0), np.sqrt(G2_smoothed), 1.0)
        if np.allclose(G_next, G, rtol=1e-4) or not _tau_depends_on_G(run, extra):
            break
        G = G_next
    return tau, G2_smoothed


def _tau_depends_on_G(run: Run, extra) -> bool:
    a, b = (np.asarray(_predict(run, 0.1, G, extra).relaxation_steps, dtype=float) for G in (1.0, 3.0))
    ok = np.isfinite(a) & np.isfinite(b)
    return bool(np.any(np.abs(a[ok] / b[ok] - 1) > 1e-9))


def _closure(run: Run, df, steps, tau, G2_smoothed, extra) -> None:
    """The closure: the same algebra fed the run's own gradient power ratio k (SGD rules)
    or AdamW's update power κ and radial share ξ. It checks the accounting (scale
    invariance, the log, the moment algebra), not the noise model; NaN without them."""
    lr, G = df["lr"].to_numpy(float), df["G_smoothed"].to_numpy()
    df["power_smoothed"], df["closure_norm"], df["closure_angle"] = np.nan, np.nan, np.nan
    if _has_power(run) and not extra:  # k̄ = 1 + EMA((k − 1) G²)/EMA(G²): the power-weighted mean of k
        excess = (df["grad_power_ratio"].to_numpy(float) - 1) * df["G2"].to_numpy()
        df["power_smoothed"] = 1 + _ema(excess, steps, tau) / G2_smoothed
        p = _predict(run, lr, G, extra, df["power_smoothed"].to_numpy())
    elif _has_update_power(run) and run.rule == "adamw":  # κ̄, ξ̄: |w|² is a low-pass of λ²|u|²
        df["power_smoothed"] = _ema(df["update_power_ratio"].to_numpy(float), steps, tau)
        radial = df["normalised_grad_radial"].to_numpy(float) if "normalised_grad_radial" in df \
            else np.zeros(len(df))
        df["radial_smoothed"] = _ema(radial, steps, tau)
        p = _predict(run, lr, G, extra, df["power_smoothed"].to_numpy(), radial=df["radial_smoothed"].to_numpy())
        df["closure_norm_tangent"] = _predict(run, lr, G, extra, df["power_smoothed"].to_numpy()).weight_norm
        if _has_power(run):  # k̄ of the gradients alone, for the notes: κ = k ν
            excess = (df["grad_power_ratio"].to_numpy(float) - 1) * df["G2"].to_numpy()
            df["grad_power_smoothed"] = 1 + _ema(excess, steps, tau) / G2_smoothed
    else:
        return
    df["closure_norm"], df["closure_angle"] = p.weight_norm, p.angular_update


def mean_cosine_angle(angles: np.ndarray, steps: np.ndarray, window: np.ndarray) -> np.ndarray:
    """θ̄_t = 2 arcsin √EMA_window((1 − cos θ)/2): the angle of the mean cosine (see the module docstring)."""
    return 2 * np.arcsin(np.sqrt(_ema(np.sin(np.asarray(angles, dtype=float) / 2) ** 2, steps, window)))


def _diagnostics(run: Run, df, steps, lr, tau, extra) -> None:
    """The buffer ratio b = |v|/|v|_noise, the drift Δ ln|w| over τ and the drifting angle."""
    w, g = df["weight_norm"].to_numpy(float), df["grad_norm"].to_numpy(float)
    if "momentum_norm" in df and run.rule != "sgd" and not extra:
        z = noise_buffer_norm2(run.rule, lr, run.wd, run.momentum, w**2, g**2)
        v2 = df["momentum_norm"].to_numpy(float) ** 2
        df["buffer_ratio"] = np.sqrt(_ema(v2, steps, tau) / _ema(z, steps, tau))
    else:
        df["buffer_ratio"] = np.nan
    with np.errstate(invalid="ignore"):  # Δ ln|w| over the last relaxation time
        log_w = np.log(np.where(w > 0, w, np.nan))  # a zero-initialised tensor at step 0: none
        back = np.interp(steps - tau, steps, log_w, left=np.nan)
        df["norm_drift"] = np.where(np.isfinite(tau) & (steps - tau >= steps[0]), log_w - back, np.nan)
    rate = 2 * df["norm_drift"].to_numpy(float) / tau  # d ln|w|²/dt, per step
    df["predicted_angle_drift"] = np.nan if extra else drifting_angle(run.rule, lr, run.wd, run.momentum,
                                                                      np.nan_to_num(rate))
    df["angle_ratio_drift"] = df["measured_angle"] / df["predicted_angle_drift"]


def _equilibrium_columns(kind: str) -> tuple[str, str]:
    return ("closure_norm", "closure_angle") if kind == CLOSURE else (f"predicted_norm_{kind}",
                                                                      f"predicted_angle_{kind}")


def add_ratios(table):
    """measured / predicted for every prediction kind and the closure, at equilibrium and
    along the trajectory; the trajectory's angle averaged as the measured one (same window)."""
    for kind in kinds_in(table) + [CLOSURE]:
        norm, angle = _equilibrium_columns(kind)
        if norm in table:
            table[f"norm_ratio_{kind}"] = table["weight_norm"] / table[norm]
            table[f"angle_ratio_{kind}"] = table["measured_angle"] / table[angle]
        if f"trajectory_angle_{kind}" not in table:
            continue
        smoothed = np.full(len(table), np.nan)
        for _, df in table.groupby("layer", sort=False):
            smoothed[df.index] = mean_cosine_angle(df[f"trajectory_angle_{kind}"].to_numpy(float),
                                                   df["step"].to_numpy(float), df["angle_window"].to_numpy(float))
        table[f"trajectory_angle_smoothed_{kind}"] = smoothed
        table[f"trajectory_norm_ratio_{kind}"] = table["weight_norm"] / table[f"trajectory_norm_{kind}"]
        table[f"trajectory_angle_ratio_{kind}"] = table["measured_angle"] / smoothed
    return table


def _has_update_power(run: Run) -> bool:
    """Whether norms.csv has the adaptive rules' update power κ (training.updatestats)."""
    return "update_power_ratio" in run.norms and run.norms["update_power_ratio"].notna().any()


def _has_power(run: Run) -> bool:
    """Whether norms.csv has the gradient power ratio (runs before it was logged do not)."""
    return "grad_power_ratio" in run.norms and run.norms["grad_power_ratio"].notna().any()


def timescale_line(run: Run) -> str:
    """The run's relaxation time at its peak λ in steps and epochs, and the run's length in
    relaxation times (:func:`dynamics.jobs.transfer.timescale`, from config.json and metrics.csv)."""
    import pandas as pd

    from dynamics.jobs.transfer import timescale

    c = run.config
    try:
        per_epoch = int(pd.read_csv(run.path / "metrics.csv")["step"].iloc[0])
        epochs = float(c["epochs"])
        warmup = float(c["warmup_epochs"]) if c.get("warmup_epochs") is not None else epochs * 5 / 24
        t = timescale(run.rule, float(c["lr"]), run.wd, run.momentum, per_epoch, epochs, warmup=warmup,
                      schedule=str(c.get("schedule", "piecewise")), beta2=c.get("beta2"))
    except (OSError, KeyError, ValueError, IndexError, pd.errors.ParserError) as e:
        return f"unknown: {_why_no_schedule(e)}"
    except RidgelineError as e:  # adam-l2: it needs the gradient
        return str(e)
    return t.line()


# ------------------------------------------- per-tensor, per-step hyperparameters
def layer_rule(run: Run, layer: str) -> str:
    """The rule of ``layer``'s own param group (config.json's ``tensors``), else the run's."""
    from dynamics.rules import RULES

    rule = run.config.get("tensors", {}).get(layer, {}).get("rule", run.rule)
    if rule == "muon" and layer not in run.config.get("tensors", {}):  # `ridgeline train --optimizer muon`:
        invariant = run.norms.loc[run.norms["layer"] == layer, "scale_invariant"]  # Nesterov SGD on the rest
        if len(invariant) and not bool(invariant.iloc[0]):
            return "nesterov"
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
        raise RidgelineError(f"{path} is damaged (not a table of step, group, lr, wd and momentum)") from None
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
    """:func:`dynamics.theory.trajectory.trajectory` for layers with different rules: one call per rule."""
    from dynamics.theory.trajectory import Trajectory, trajectory

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
    extra = pd.DataFrame({"layer": names, "scale_invariant": False, "status_white": "not monitored",
                          "trajectory_status_white": "not monitored", "closure_status": "not monitored",
                          "notes": why})
    return pd.concat([layers, extra], ignore_index=True)


def _with_trajectories(run: Run, steps_table: "pandas.DataFrame") -> "pandas.DataFrame":  # noqa: F821
    """Add the predicted trajectories to every row: white noise (a prediction) and the
    closure (the run's own k), as ``trajectory_norm_<kind>``, ``trajectory_angle_<kind>``.

    :func:`dynamics.theory.trajectory.trajectory` over all layers at once; inputs G² and
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

    from dynamics.rules import ADAPTIVE, ORTHOGONAL

    kinds = {"white": None, CLOSURE: None}
    rules = [layer_rule(run, name) for name in layers]
    if any(r in ADAPTIVE + ORTHOGONAL for r in rules):  # the trajectory's moment map is the SGD rules'
        note = "; ".join(filter(None, [note, f"no trajectory prediction for {run.rule} "
                                       "(derived for the SGD rules): judged at equilibrium"]))
    else:
        G2_steps = fill(G2)
        w0 = w.iloc[0].to_numpy(float)
        if int(w.index[0]) != 0:
            note = "; ".join(filter(None, [note, "no step-0 row: trajectory starts at the first logged |w|"]))
        kinds["white"] = trajectories(rules, lam, wd, rho, G2_steps, w0)
        if _has_power(run):  # the closure: the run's own k
            power = 1 + fill(wide("grad_power_ratio").sub(1).mul(G2)) / G2_steps
            kinds[CLOSURE] = trajectories(rules, lam, wd, rho, G2_steps, w0, power)
    rows = table["step"].to_numpy(int)
    col = table["layer"].map({layer: i for i, layer in enumerate(layers)}).to_numpy()
    for kind, pred in kinds.items():
        table[f"trajectory_norm_{kind}"] = np.nan if pred is None else pred.weight_norm[np.clip(rows - 1, 0, T), col]
        angle = np.nan if pred is None else pred.angle[np.clip(rows - 1, 0, T - 1), col]
        table[f"trajectory_angle_{kind}"] = np.where(rows > 0, angle, np.nan)
    table["trajectory_note"] = note
    table["trajectory_clock"] = np.nan
    for _, df in table.groupby("layer", sort=False):
        s, tau = df["step"].to_numpy(float), df["relaxation_steps"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            table.loc[df.index, "trajectory_clock"] = np.concatenate([[0.0], np.cumsum(np.diff(s) / tau[1:])])
    table["trajectory_phase"] = ((table["trajectory_clock"] >= 1.0) & (table["step"] > 0)
                                 & table["trajectory_norm_white"].notna())
    return table


# --------------------------------------------------------------------------- summary
def _fan_in(shape) -> int | None:
    """Weights per output filter: the product of a tensor's shape after the first axis."""
    try:
        dims = [int(x) for x in str(shape).strip("()[] ").replace("x", ",").split(",") if x.strip()]
    except ValueError:
        return None
    return int(np.prod(dims[1:])) if len(dims) > 1 else None


def _too_short(have: float, need: float, what: str) -> str:
    return (f"too short for {what} verdict: {have:.1f} relaxation times logged, "
            f"the verdict needs {need:g}")


def _phase_notes(row: dict, cfg: ValidateConfig) -> list[str]:
    """Why a layer has no equilibrium (or trajectory) phase, one clause each."""
    notes = []
    if row["equilibrium_steps"] == 0:
        if row["relaxation_times"] < cfg.settle:
            notes.append(_too_short(row["relaxation_times"], cfg.settle, "an equilibrium"))
        elif row["quasi_static_steps"] == 0:
            notes.append(f"no equilibrium phase: the lr never holds still (τ|d ln λ/dt| ≥ {cfg.adiabatic:g} "
                         f"at every logged step, smallest {row['min_lr_lag']:.2g})")
        else:
            notes.append(f"no equilibrium phase: the lr holds still for at most {row['longest_still']:.1f} "
                         f"relaxation times at a stretch, the verdict needs {cfg.settle:g}")
        if row["trajectory_steps"]:
            notes[-1] += ": judged on the trajectory"
    if row["trajectory_steps"] == 0 and row["trajectory_derived"]:
        notes.append(_too_short(row["relaxation_times"], 1, "a trajectory"))
    return notes


def _notes(row: dict, cfg: ValidateConfig) -> list[str]:
    """Why a layer may sit off its prediction, read from its diagnostics: one clause each."""
    if not row["scale_invariant"]:
        return ["not scale-invariant: the noise model does not apply"]
    notes = _phase_notes(row, cfg)
    if row["missing_steps"]:
        notes.append(f"{row['missing_steps']} logged step(s) with non-finite values "
                     f"({row['missing_in_phase']} inside the phase judged)"
                     + (": no pass" if row["missing_in_phase"] else ""))
    for kind in PREDICTIONS:
        lost = row.get(f"nonfinite_{kind}", 0)
        if lost:
            notes.append(f"{lost} {kind} prediction(s) inside the phase not finite: left out of the medians")
    if row["closure_status"] == "fails":
        notes.append(f"the closure fails ({row['closure_cause']}): the log does not account for this "
                     f"|w| and the angle within {cfg.closure_tolerance:.0%}")
    b = row["buffer_ratio_median"]
    if np.isfinite(b) and abs(b - 1) > cfg.tolerance / 2:
        kind = "positively correlated" if b > 1 else "anti-correlated"
        notes.append(f"gradients {kind} between steps: buffer |v| {b:.2f}x the noise model's "
                     f"(|w| expected at √{b:.2f} = {np.sqrt(b):.2f}x the white prediction)")
    d = row["norm_drift_median"]
    if np.isfinite(d) and abs(d) > 0.01:
        notes.append(f"|w| {'growing' if d > 0 else 'shrinking'} {abs(d):.1%} per relaxation time"
                     + (": not settled" if abs(d) > cfg.tolerance / 2 else "")
                     + (f"; angle vs the drifting equilibrium {row['angle_ratio_drift_median']:.3f}"
                        if np.isfinite(row["angle_ratio_drift_median"]) else ""))
    kappa, kg = row.get("update_power_median", np.nan), row.get("grad_power_median", np.nan)
    if np.isfinite(kappa) and np.isfinite(kg):
        notes.append(f"update power κ {kappa:.2f} = k·ν with gradient memory k {kg:.2f} and "
                     f"normalisation ν {kappa / kg:.2f}")
    if row["fan_in"] is not None and row["fan_in"] < 64:
        notes.append(f"few weights per filter ({row['fan_in']})")
    return notes


def _status(si: bool, norm_ratio: float, angle_ratio: float, n: int, missing: int,
            tolerance: float, phase: str = "no equilibrium phase") -> str:
    """ok / off / … for one layer; a missing or non-finite value never passes."""
    if not si:
        return "not scale-invariant"
    if not n:
        return phase
    if missing:
        return f"off ({missing} non-finite row{'s' if missing > 1 else ''})"
    if not (np.isfinite(norm_ratio) and np.isfinite(angle_ratio)):
        return "off (missing values)"
    return "ok" if max(abs(norm_ratio - 1), abs(angle_ratio - 1)) <= tolerance else "off"


def _closure_cause(df) -> str:
    """The likely reason a closure fails, from the log itself: a gap in the logged steps,
    logged steps that did not move the weights, or else a tensor that is not scale-invariant."""
    steps = df["step"].to_numpy(int)
    gaps = np.diff(steps[steps > 0])
    if len(gaps) > 2 and gaps.max() > 1.5 * np.median(gaps):
        i = int(np.argmax(gaps))
        return f"log gap: no row between steps {steps[steps > 0][i]} and {steps[steps > 0][i + 1]}"
    still = int(((df["step"] > 0) & (df["angular_update"] == 0)).sum())
    if still:
        return f"steps skipped: {still} logged step(s) did not move the weights"
    return ("not scale-invariant? no gap or skipped step in the log, so the likely cause is a gradient "
            "with a radial part (g not ⟂ w), or statistics that vary faster than they are logged")


def _in_phase(dropped: list, steps: np.ndarray, flags: np.ndarray) -> int:
    """How many dropped (non-finite) steps lie inside a phase: kept rows on both sides flagged."""
    if not len(dropped) or not flags.any():
        return 0
    i = np.searchsorted(steps, np.asarray(dropped, dtype=float))
    before = flags[np.clip(i - 1, 0, len(flags) - 1)] & (i > 0)
    after = np.where(i < len(flags), flags[np.clip(i, 0, len(flags) - 1)], True)
    return int((before & after).sum())


def _quartiles(row: dict, part, name: str) -> int:
    """{name}_median, _iqr, _q25, _q75 over ``part``'s finite values; returns how many were not finite."""
    x = part[name].to_numpy(float) if name in part else np.full(len(part), np.nan)
    finite = x[np.isfinite(x)]
    lo, med, hi = np.percentile(finite, [25, 50, 75]) if len(finite) else (np.nan,) * 3
    row[f"{name}_median"], row[f"{name}_iqr"], row[f"{name}_q25"], row[f"{name}_q75"] = med, hi - lo, lo, hi
    return len(x) - len(finite)


def _layer_row(layer, df, cfg: ValidateConfig, dropped: list) -> dict:
    """One layer's phases, counts, medians (per prediction kind and the closure) and statuses."""
    eq, traj = df[df["equilibrium"]], df[df["trajectory_phase"]]
    judged = eq if len(eq) else traj  # the phase the verdict is on
    si = bool(df["scale_invariant"].iloc[0])
    steps = df["step"].to_numpy(float)
    row = {"layer": layer, "shape": df["shape"].iloc[0] if "shape" in df else "", "scale_invariant": si,
           "fan_in": _fan_in(df["shape"].iloc[0]) if "shape" in df else None,
           "equilibrium_steps": int(len(eq)), "trajectory_steps": int(len(traj)),
           "first_equilibrium_step": int(eq["step"].iloc[0]) if len(eq) else -1,
           "quasi_static_steps": int(df["quasi_static"].sum()),
           "longest_still": float(df["relaxation_clock"].max()),
           "relaxation_steps_median": float(np.median(eq["relaxation_steps"])) if len(eq) else np.nan,
           "min_lr_lag": float(np.nanmin(df["lr_lag"])) if df["lr_lag"].notna().any() else np.nan,
           "relaxation_times": float(np.nansum(np.diff(steps) / df["relaxation_steps"].iloc[1:])),
           "trajectory_derived": bool(df["trajectory_norm_white"].notna().any()),
           "closure_derived": bool(df["closure_norm"].notna().any() or df["trajectory_norm_closure"].notna().any()),
           "missing_steps": len(dropped),
           "missing_in_phase": _in_phase(dropped, steps, (df["equilibrium"] if len(eq) else df["trajectory_phase"])
                                         .to_numpy(bool))}
    k = judged["power_smoothed"]  # k̄ (κ̄ for adamw) over the phase the verdict is on
    row["power_median"] = float(np.nanmedian(k)) if k.notna().any() else np.nan
    if "radial_smoothed" in df:  # adamw: κ̄ (power_smoothed), ξ̄, |w| with κ alone, the gradients' k̄
        row["update_power_median"] = row["power_median"]
        row["radial_median"] = float(np.nanmedian(judged["radial_smoothed"])) if len(judged) else np.nan
        row["closure_norm_ratio_tangent_median"] = float(np.nanmedian(judged["weight_norm"]
                                                                      / judged["closure_norm_tangent"]))
        kg = judged["grad_power_smoothed"] if "grad_power_smoothed" in judged else judged["radial_smoothed"] * np.nan
        row["grad_power_median"] = float(np.nanmedian(kg)) if kg.notna().any() else np.nan
    for kind in kinds_in(df) + [CLOSURE]:
        lost = sum(_quartiles(row, eq, f"{q}_ratio_{kind}") for q in ("norm", "angle"))
        lost_traj = sum(_quartiles(row, traj, f"trajectory_{q}_ratio_{kind}") for q in ("norm", "angle"))
        row[f"nonfinite_{kind}"] = lost if len(eq) else lost_traj
    for q in ("angle_ratio_drift", "buffer_ratio", "norm_drift"):
        _quartiles(row, eq, q)
    for q, col in (("measured_angle", "measured_angle"), ("predicted_angle", "predicted_angle_white"),
                   ("measured_norm", "weight_norm"), ("predicted_norm", "predicted_norm_white")):
        row[f"{q}_median"] = float(np.median(eq[col])) if len(eq) else np.nan
    _statuses(row, cfg)
    return row


def _statuses(row: dict, cfg: ValidateConfig) -> None:
    """status_<kind> and trajectory_status_<kind> per prediction kind; the closure's own status."""
    si, missing = row["scale_invariant"], row["missing_in_phase"]
    kinds = [k for k in PREDICTIONS if f"norm_ratio_{k}_median" in row or f"trajectory_norm_ratio_{k}_median" in row]
    for kind in kinds:
        row[f"status_{kind}"] = _status(si, row.get(f"norm_ratio_{kind}_median", np.nan),
                                        row.get(f"angle_ratio_{kind}_median", np.nan),
                                        row["equilibrium_steps"], missing, cfg.tolerance)
        row[f"trajectory_status_{kind}"] = _status(si, row.get(f"trajectory_norm_ratio_{kind}_median", np.nan),
                                                   row.get(f"trajectory_angle_ratio_{kind}_median", np.nan),
                                                   row["trajectory_steps"], missing, cfg.tolerance,
                                                   phase="no trajectory phase")
    # the closure is judged on the trajectory where there is one: the full recursion, which
    # a drifting norm does not break (the stationary equilibrium is off by the drift)
    prefix = "trajectory_" if row["trajectory_steps"] else ""
    norm = row.get(f"{prefix}norm_ratio_{CLOSURE}_median", np.nan)
    angle = row.get(f"{prefix}angle_ratio_{CLOSURE}_median", np.nan)
    row["closure_norm_ratio"], row["closure_angle_ratio"] = norm, angle
    row["closure_phase"], row["closure_cause"] = prefix.rstrip("_") or "equilibrium", ""
    if not si:
        row["closure_status"] = "not scale-invariant"
    elif not row["closure_derived"]:
        row["closure_status"] = "no statistic"  # no k (κ, ξ) logged, or none derived for the rule
    elif not (row["trajectory_steps"] or row["equilibrium_steps"]):
        row["closure_status"] = "no phase"
    elif not (np.isfinite(norm) or np.isfinite(angle)):
        row["closure_status"] = "fails"
    elif max(abs(np.nan_to_num(norm, nan=1.0) - 1), abs(np.nan_to_num(angle, nan=1.0) - 1)) <= cfg.closure_tolerance:
        row["closure_status"] = "closes"
    else:
        row["closure_status"] = "fails"


def summarise(steps: "pandas.DataFrame", cfg: ValidateConfig,  # noqa: F821
              non_finite: dict | None = None) -> "pandas.DataFrame":  # noqa: F821
    """One row per layer (validation.csv): phase medians and IQRs of measured / predicted per
    prediction kind and of the closure, their statuses, and the notes.

    ``non_finite``: layer → the steps whose rows the loader dropped as not finite
    (:func:`dynamics.analysis.runtable.read_norms`); inside the phase judged they fail the layer.
    """
    import pandas as pd

    rows = []
    for layer, df in steps.groupby("layer", sort=False):
        row = _layer_row(layer, df, cfg, (non_finite or {}).get(layer, []))
        if row["closure_status"] == "fails":
            row["closure_cause"] = _closure_cause(df)
        row["notes"] = "; ".join(_notes(row, cfg))
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ entry point
def validate(cfg: ValidateConfig, console=None) -> Validation:
    """Compare a run's logged norms with the predictions; write CSVs, figures, table."""
    from dynamics.util.io import claim_kind, ensure_dir, inside, write_csv, write_json
    from dynamics.util.output import changed_settings, thin_steps

    console = console or _console()
    cfg.check()
    run = load_run(cfg.run_dir)
    if not cfg.out:  # RUN/validation: never a symlink that leads out of the run
        inside(cfg.run_dir, cfg.out_dir())
    claim_kind(cfg.out_dir(), "validate")  # --out never writes over another run's files
    out = ensure_dir(cfg.out_dir())
    console.print(f"[bold]validate[/bold] {run.path}  {hyperparameter_ranges(run)}  "
                  f"settings: {changed_settings(cfg, skip=('run_dir',))}", highlight=False, soft_wrap=True)
    console.print(f"relaxation time at the peak lr ({run.rule}, derived): {timescale_line(run)}", highlight=False)
    steps, layers, unmonitored = _compared(run, cfg, console)
    write_json(out / "config.json", asdict(cfg) | {"rule": run.rule, "wd": run.wd,
                                                     "momentum": run.momentum})
    written, every = thin_steps(steps, run.path / "norms.csv")  # no larger than norms.csv
    if every > 1:
        console.print(f"[yellow]note[/]: validation_steps.csv keeps every {every}th logged step, so it is "
                      "no larger than norms.csv; validation.csv and the figures use every step", highlight=False)
    write_csv(out / "validation_steps.csv", written)
    write_csv(out / "validation.csv", layers)
    result = Validation(run, steps, layers, cfg)
    if cfg.figures:
        _figures(cfg, steps, out)
    shared, own = _split_notes(layers)
    for note in _run_notes(run, steps) + shared:
        console.print(f"[yellow]note[/]: {note}", highlight=False)
    console.print(table(result))
    if cfg.statistics_from or cfg.forecast:
        from dynamics.jobs.forecast import table as other_run_table

        console.print(other_run_table(layers, bool(cfg.statistics_from), bool(cfg.forecast)))
    for layer, notes in own.items():
        console.print(f"[bold]{layer}[/]: {'; '.join(notes)}", highlight=False)
    console.print(summary_line(result) + f"; wrote {out}/validation.csv and figures", highlight=False)
    if unmonitored:
        console.print(f"{len(unmonitored)} tensors not monitored (status \"not monitored\"): "
                      f"{', '.join(unmonitored)}", highlight=False)
    return result


def _compared(run, cfg: ValidateConfig, console) -> tuple:
    """``(steps, layers, unmonitored)``: the per-step comparison and per-layer summary (with a
    row per unmonitored tensor, and the other run's predictions when asked), NaN/inf silenced
    here as they are handled and reported."""
    import warnings

    with warnings.catch_warnings(), np.errstate(all="ignore"):  # NaN/inf are handled, and reported below
        warnings.simplefilter("ignore", RuntimeWarning)
        steps = compare(run, cfg)
        layers = summarise(steps, cfg, run.norms.attrs.get("non_finite", {}))
    monitored, unmonitored = monitor_notes(run)
    layers = unmonitored_rows(layers, unmonitored, "; ".join(monitored))
    if cfg.statistics_from or cfg.forecast:  # predictions from another run (dynamics.jobs.forecast)
        from dynamics.jobs.forecast import extend_validation

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            steps, layers = extend_validation(run, steps, layers, cfg.statistics_from, cfg.forecast,
                                              cfg.mapping, console)
    return steps, layers, unmonitored


def _figures(cfg: ValidateConfig, steps, out) -> None:
    """validation_norms.png, validation_angles.png and validation_ratios.png of the shown layers
    (the scale-invariant ones unless ``all_layers``)."""
    from figures.validation import plot_layers, plot_ratios

    shown = steps if cfg.all_layers else steps[steps["scale_invariant"]]
    if len(shown):
        plot_layers(shown, out / "validation_norms.png", quantity="norm")
        plot_layers(shown, out / "validation_angles.png", quantity="angle")
        plot_ratios(shown, out / "validation_ratios.png", tolerance=cfg.tolerance)


def _console():
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=160)  # a pipe or a file: room for the table


def _run_notes(run: Run, steps) -> list[str]:
    """The run-wide notes: unfinished, which statistics the closure has, the schedule."""
    from dynamics.rules import ADAPTIVE

    notes = []
    if run.summary is None:
        notes.append("no summary.json (the run has not finished, or its monitor was not closed): "
                     "validating the steps logged so far")
    if run.rule == "adamw" and not _has_update_power(run):
        notes.append("norms.csv has no update_power_ratio column (a run logged before it existed): "
                     "white-noise predictions only, no closure")
    elif run.rule == "muon":
        notes.append("muon is predicted with its white-noise model (P and F of NS measured on Gaussian "
                     "matrices of each layer's shape, dynamics.theory.muon); no closure")
    elif run.rule in ADAPTIVE and run.rule != "adamw":
        notes.append(f"no closure for {run.rule} (the update-power accounting is derived for adamw)")
    elif run.rule not in ADAPTIVE and not _has_power(run):
        notes.append("norms.csv has no grad_power_ratio column (a run logged before it existed): "
                     "white-noise predictions only, no closure")
    if steps["trajectory_note"].iloc[0]:
        notes.append(steps["trajectory_note"].iloc[0])
    return notes + monitor_notes(run)[0]


def _split_notes(layers) -> tuple[list[str], dict[str, list[str]]]:
    """A note that several scale-invariant layers share, said once ("all N layers: …" or
    "N layers (a, b, …): …"), and each layer's own notes."""
    si = layers[layers["scale_invariant"]]
    per_layer = {r["layer"]: [n for n in str(r["notes"]).split("; ") if n] for r in si.to_dict("records")}
    shared, said = [], set()
    for note in dict.fromkeys(sum(per_layer.values(), [])):
        having = [layer for layer, notes in per_layer.items() if note in notes]
        if len(having) > 1:
            who = (f"all {len(having)} layers" if len(having) == len(per_layer)
                   else f"{len(having)} layers ({', '.join(having)})")
            shared.append(f"{who}: {note}")
            said.add(note)
    own = {layer: [n for n in notes if n not in said] for layer, notes in per_layer.items()}
    return shared, {layer: notes for layer, notes in own.items() if notes}


def summary_line(result: Validation) -> str:
    """The verdict in one line: predictions counted, the closure beside them."""
    layers, cfg = result.layers, result.config
    si = layers[layers["scale_invariant"]]
    parts = []
    for kind in [k for k in PREDICTIONS if f"status_{k}" in si]:
        eq, traj = (si[f"status_{kind}"] == "ok").sum(), (si[f"trajectory_status_{kind}"] == "ok").sum()
        parts.append(f"{PREDICTION_TITLES[kind]} prediction: {eq}/{len(si)} scale-invariant layers within "
                     f"{cfg.tolerance:.0%} in their equilibrium phase ({(si['equilibrium_steps'] > 0).sum()} "
                     f"have one), {traj}/{len(si)} on the trajectory after the first relaxation time")
    has = si["closure_status"].isin(["closes", "fails"])
    if has.any():
        parts.append(f"closure (the run's own {'κ, ξ' if result.run.rule == 'adamw' else 'k'}, an "
                     f"accounting check, not a prediction): {(si['closure_status'] == 'closes').sum()}/"
                     f"{has.sum()} within {cfg.closure_tolerance:.0%}")
    return "; ".join(parts)


def table(result: Validation):
    """The per-layer summary as a rich Table: each prediction kind, then the closure."""
    from rich.table import Table

    kinds = [k for k in PREDICTIONS if f"status_{k}" in result.layers]
    t = Table(title=f"validation of {result.run.path}: measured / predicted, "
                    f"{', '.join(PREDICTION_TITLES[k] for k in kinds)} prediction (the verdicts); "
                    "closure: the same algebra fed the run's own statistics (a check of the log)",
              title_justify="left")
    power = "κ" if result.run.rule == "adamw" else "k"  # the update power (adamw) or the gradients'
    columns = [("layer", "left")] + ([("SI", "center")] if result.config.all_layers else [])
    columns += [("eq.\nsteps", "right"), ("traj.\nsteps", "right")]
    for kind in kinds:
        tag = "" if len(kinds) == 1 else f"\n{kind}"
        columns += [(f"eq.\n|w|{tag}", "right"), (f"eq.\nangle{tag}", "right"), (f"eq.\nverdict{tag}", "left"),
                    (f"traj.\n|w|{tag}", "right"), (f"traj.\nangle{tag}", "right"),
                    (f"traj.\nverdict{tag}", "left")]
    columns += [(power, "right"), ("closure\n|w|", "right"), ("closure\nangle", "right"), ("closure", "left")]
    for col, just in columns:
        t.add_column(col, justify=just, no_wrap=True)
    style = lambda st: {"ok": "green", "closes": "green", "not scale-invariant": "dim"}.get(  # noqa: E731
        st, "red" if st.startswith(("off", "fails")) else "yellow")
    short = lambda st: "no phase" if st.startswith("no ") and st != "no statistic" else st  # noqa: E731
    fmt = lambda m: "–" if not np.isfinite(m) else f"{m:.3f}"  # noqa: E731
    cell = lambda st: f"[{style(st)}]{short(st)}[/]"  # noqa: E731
    for r in result.layers.to_dict("records"):
        if not r["scale_invariant"] and not result.config.all_layers:
            continue
        cells = [str(r["layer"])] + (["yes" if r["scale_invariant"] else "no"] if result.config.all_layers else [])
        cells += [str(r["equilibrium_steps"]), str(r["trajectory_steps"])]
        for kind in kinds:
            cells += [fmt(r[f"norm_ratio_{kind}_median"]), fmt(r[f"angle_ratio_{kind}_median"]),
                      cell(r[f"status_{kind}"]), fmt(r[f"trajectory_norm_ratio_{kind}_median"]),
                      fmt(r[f"trajectory_angle_ratio_{kind}_median"]), cell(r[f"trajectory_status_{kind}"])]
        cells += [fmt(r["power_median"]), fmt(r["closure_norm_ratio"]), fmt(r["closure_angle_ratio"]),
                  cell(r["closure_status"])]
        t.add_row(*cells)
    return t
