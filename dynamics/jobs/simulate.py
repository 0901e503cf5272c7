"""``ridgeline simulate``: weight norms settling into their equilibrium, many runs at once.

A *setting* is one (λ, α, ρ, N); each is run ``runs`` times, so the state is a pair of
(R, D) torch tensors (w, v) with R = settings × runs rows, advanced by
:func:`dynamics.sim.engine.integrate` with ``RULES[rule]`` and per-row hyperparameter
columns. Losses (all scale-invariant, L(cw) = L(w)):

- ``noise``: the derivation's own model, g ⟂ w, |g| = G/|w|, independent across
  steps, with G = σ/√N (:func:`dynamics.sim.toys.noise_gradient`);
- ``correlated``: the same, but each gradient carries the filtered past noise
  with weight ``correlation`` (:class:`dynamics.sim.toys.CorrelatedDraw`), and the
  prediction takes its gradient power ratio k (:mod:`dynamics.theory.correlated`);
- ``quadratic``: L = ½ uᵀHu plus minibatch noise σ/√N (:mod:`dynamics.jobs.slices`);
- ``bn-net``: a small batch-norm network trained by torch.optim.SGD
  (:mod:`dynamics.sim.bnnet`); w is its hidden pre-BN weight matrix.

Every ``record_every`` steps the mean over a setting's runs of |w|, the angle of that
step θ_t = ∠(w_t, w_t+1) (:func:`dynamics.sim.geometry.angle`), the effective learning
rate λ_t/|w|², the scale-free gradient norm G = |g||w| and the loss (where defined)
are recorded beside ``predict(rule, λ_t, α, ρ, G)`` at the current λ_t (G exact for
``noise``, the measured RMS otherwise). The summary compares late-time means (last
half of the run) of measured and predicted |w| and θ.

Relaxation (schedule ``step``: λ drops 10x half-way): ``relaxation_steps`` is
−1/ln μ, μ the slowest eigenvalue of the moment map *linearised* at the new fixed
point, so it is the e-folding time of *small* deviations of x = E|w|². After a 10x
drop x falls about 3x, and while the deviation is large the decay is slower (the
noise injected per step, G²/|w|², changes with x: iterating the exact moment map
shows the same). So "settled" is measured where the linearisation holds: the
e-folding time τ of x(t) − x∞ fitted from the first record within 10% of the
plateau to the end of the run (:func:`dynamics.analysis.relaxation.relaxation_time`).
Where μ is a complex pair (momentum rules, λα ≳ (1 − ρ)²/4) x rings under the envelope
|μ|^t and τ = −1/ln|μ| is the envelope's e-folding time; the fit then has a damped cosine.
"""

from __future__ import annotations

import itertools
import math
import dataclasses
from dataclasses import dataclass, fields
from typing import Callable, Sequence

import numpy as np

from dynamics.analysis.relaxation import relaxation_time
from dynamics.registry import LOSSES, SIM_SCHEDULES as SCHEDULES  # noqa: F401  (the CLI's choice lists)
from dynamics.util.errors import RidgelineError
from dynamics.util.output import changed_settings, print_table

Number = float | Sequence[float]


@dataclass(frozen=True)
class SimConfig:
    """One ``ridgeline simulate`` run. Hyperparameters may be lists: one setting per
    position (lists of one value broadcast), or every combination with ``grid``."""

    loss: str = "noise"  # noise | correlated | quadratic | bn-net
    correlation: float = 0.0  # b, correlated loss: weight of the filtered past noise (0 white, <0 anti, >0 persistent)
    rule: str = "heavy-ball"  # sgd | heavy-ball | nesterov | decoupled | adamw | adam-l2 | lion | muon (dynamics.rules)
    lr: Number = 0.1  # λ, peak learning rate, per step
    wd: Number = 5e-3  # α, weight decay, per step (per unit λ)
    momentum: Number = 0.9  # ρ, fraction of the buffer kept per step (β₁ of adamw, adam-l2, lion)
    batch_size: Number = 1  # N, examples per step; gradient noise G = σ/√N
    steps: int = 2000  # steps per run
    runs: int = 16  # independent runs per setting
    dim: int = 256  # D, dimensions of w (bn-net: hidden width, w is D × D)
    schedule: str = "constant"  # constant | piecewise (Page's) | step (10x drop half-way)
    record_every: int = 10  # steps between records
    noise: float = 1.0  # σ, scale-free per-example gradient noise (G = |g||w| = σ/√N)
    init_norm: float = 1.0  # |w₀|; 0 = each setting's predicted equilibrium norm
    grid: bool = False  # True: every combination of the hyperparameter lists
    seed: int = 0  # torch generator seed
    device: str = "cpu"  # torch device; "auto": cuda when present
    dtype: str = "float32"  # float32 | float64
    beta2: float | None = None  # β₂ of adamw, adam-l2, lion; None = the rule's default (0.999, 0.99)
    compile: bool = False  # torch.compile the step (toys): ~3x fewer memory passes, tens of seconds to compile
    shape: str | None = None  # muon: each run's w as this matrix, "AxB" or a conv's "out x in x k x k" (dim = A·B)
    nesterov: bool = True  # muon: Nesterov momentum (torch.optim.Muon's default)
    adjust_lr: str = "original"  # muon: torch's adjust_lr_fn, original | match_rms_adamw


def default_batch_size(loss: str) -> int:
    """N when none is given: 1, except for ``bn-net``, whose batch norm needs a batch."""
    return 16 if loss == "bn-net" else 1


def _as_list(value) -> list[float]:
    return [float(v) for v in value] if isinstance(value, (list, tuple)) else [float(value)]


def settings_table(config: SimConfig):
    """One row per setting: lr, wd, momentum, batch_size (zipped or, with grid, crossed)."""
    import pandas as pd

    cols = {k: _as_list(getattr(config, k)) for k in ("lr", "wd", "momentum", "batch_size")}
    if config.grid:
        rows = list(itertools.product(*cols.values()))
    else:
        n = max(len(v) for v in cols.values())
        bad = {k: len(v) for k, v in cols.items() if len(v) not in (1, n)}
        if bad:
            raise RidgelineError(f"hyperparameter lists must have one value or {n}: got "
                                 + ", ".join(f"{k} with {v}" for k, v in bad.items())
                                 + " (or pass --grid for every combination)")
        rows = list(zip(*(v * n if len(v) == 1 else v for v in cols.values())))
    frame = pd.DataFrame(rows, columns=list(cols))
    frame.insert(0, "setting", range(len(frame)))
    return frame


def check_config(config: SimConfig):
    """Raise a one-line RidgelineError for anything outside the simulator's domain."""
    from dynamics.sim.engine import check_schedule
    from dynamics.rules import get_rule
    from dynamics.theory.symbolic import check_hyperparameters

    if config.loss not in LOSSES:
        raise RidgelineError(f"unknown loss {config.loss!r}: choose one of {', '.join(LOSSES)}")
    get_rule(config.rule)
    check_schedule(config.schedule)
    for name in ("steps", "runs", "dim", "record_every"):
        if int(getattr(config, name)) < 1:
            raise RidgelineError(f"{name} must be >= 1, got {getattr(config, name)}")
    if config.dim < 2:
        raise RidgelineError(f"dim must be >= 2, got {config.dim}")
    if config.record_every > config.steps:
        raise RidgelineError(f"record_every ({config.record_every}) must not exceed steps ({config.steps})")
    if config.dtype not in ("float32", "float64"):
        raise RidgelineError(f"dtype must be float32 or float64, got {config.dtype!r}")
    if not math.isfinite(config.correlation) or (config.correlation and config.loss != "correlated"):
        raise RidgelineError(f"correlation must be a finite number, used by --loss correlated only; got {config.correlation}")
    if not (config.noise > 0 and math.isfinite(config.noise)) or config.init_norm < 0:
        raise RidgelineError("noise must be > 0 and init_norm >= 0 (0: start at the predicted equilibrium)")
    table = settings_table(config)
    check_hyperparameters(table.lr.to_numpy(), table.wd.to_numpy(), table.momentum.to_numpy())
    if (table.batch_size < 1).any():
        raise RidgelineError(f"batch_size must be >= 1, got {config.batch_size}")
    if config.loss == "bn-net" and config.compile:
        raise RidgelineError("--compile applies to the toy losses (noise, correlated, quadratic); bn-net is "
                             "trained by torch.optim.SGD, uncompiled: drop --compile")
    if config.loss == "bn-net" and (table.batch_size < 2).any():
        raise RidgelineError("bn-net needs batch_size >= 2 (batch norm normalises over the batch)")
    if config.loss == "bn-net" and config.rule == "decoupled":
        raise RidgelineError("bn-net is trained by torch.optim.SGD, which has no decoupled weight decay; "
                             "use sgd, heavy-ball or nesterov")
    if config.loss == "bn-net" and config.rule not in ("sgd", "heavy-ball", "nesterov"):
        raise RidgelineError(f"bn-net is trained by torch.optim.SGD, which cannot apply {config.rule}; "
                             "use sgd, heavy-ball or nesterov, or the noise or quadratic loss")
    muon_checks(config)
    if config.beta2 is not None and not 0 <= config.beta2 < 1:
        raise RidgelineError(f"beta2 must be in [0, 1), got {config.beta2}")
    from dynamics.rules import ADAPTIVE

    if config.beta2 is not None and config.rule not in ADAPTIVE:
        raise RidgelineError(f"beta2 applies to the rules adamw, adam-l2 and lion, not {config.rule!r}")
    from dynamics.sim.engine import check_device

    check_device(config.device)
    check_size(config, len(table))
    return table


def matrix_shape(config: SimConfig) -> tuple[int, int] | None:
    """Muon's (A, B) for each run's w, or None for the other rules."""
    from dynamics.theory.muon import parse_shape

    return parse_shape(config.shape) if config.rule == "muon" else None


def with_matrix(config: SimConfig) -> SimConfig:
    """``config`` with dim = A·B for muon's --shape (unchanged for the other rules)."""
    shape = matrix_shape(config) if config.shape is not None else None
    return dataclasses.replace(config, dim=shape[0] * shape[1]) if shape else config


def muon_checks(config: SimConfig) -> None:
    """Muon needs --shape (dim = A·B); the Muon options belong to muon only."""
    from dynamics.rules import ADJUST_LR

    if config.rule != "muon":
        if config.shape is not None or config.adjust_lr != "original" or not config.nesterov:
            raise RidgelineError(f"--shape, --adjust-lr and --no-nesterov apply to --rule muon, not {config.rule!r}")
        return
    if config.shape is None:
        raise RidgelineError("--rule muon needs --shape, the matrix each run's w is (e.g. 64x64, 32x128, "
                             "128x32, or a conv's 16x8x3x3)")
    A, B = matrix_shape(config)
    if config.dim != A * B:
        raise RidgelineError(f"--dim {config.dim} is not the {A}x{B} matrix's {A * B} elements; leave --dim out "
                             "with --shape")
    if config.adjust_lr not in ADJUST_LR:
        raise RidgelineError(f"unknown --adjust-lr {config.adjust_lr!r}: choose one of {', '.join(ADJUST_LR)}")
    if config.loss not in ("noise", "quadratic"):
        raise RidgelineError(f"--rule muon runs on the noise and quadratic losses, not {config.loss!r}")


def rule_options(config: SimConfig) -> dict:
    """Muon's options for :func:`dynamics.rules.stepper`: its matrix, Nesterov, adjust_lr, and
    Newton–Schulz in the working precision (torch's bfloat16 only adds rounding noise)."""
    if config.rule != "muon":
        return {}
    return dict(shape=matrix_shape(config), nesterov=config.nesterov, adjust_lr=config.adjust_lr, ns_dtype=None)


#: bytes the Recorder keeps per record besides its arrays: one dict and 7 numpy array headers
RECORD_OVERHEAD = 360 + 7 * 112
#: bytes per (record, setting): 7 float64 recorded means, then the trajectories frame's
#: ~20 float64 columns, built through about 3 copies (concat, merge)
RECORD_PER_SETTING = 7 * 8 + 3 * 20 * 8


def memory_estimate(config: SimConfig, settings: int) -> tuple[int, int]:
    """(bytes on the device for the state, bytes on the host for the records): the state
    is w, v, the gradient and about 5 temporaries of R × D (bn-net: R × D × D weights and
    their SGD buffers), R = settings × runs; records are steps / record_every rows."""
    item = 4 if config.dtype == "float32" else 8
    rows = settings * config.runs
    state = rows * config.dim * config.dim * item * 6 if config.loss == "bn-net" else rows * config.dim * item * 8
    records = (config.steps // config.record_every) * (RECORD_OVERHEAD + settings * RECORD_PER_SETTING)
    return state, records


def check_size(config: SimConfig, settings: int) -> None:
    """Refuse, before anything is allocated or written, a run that cannot fit in memory."""
    state, records = memory_estimate(config, settings)
    from dynamics.util.io import available_memory, check_memory

    host = available_memory()
    fix = "lower --steps, raise --record-every, or use fewer --runs, settings or --dim"
    if config.device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            free = torch.cuda.mem_get_info(torch.device(config.device))[0]
            check_memory(state, f"the state of {settings * config.runs} runs × dim {config.dim}", fix,
                         free, "GPU memory")
        check_memory(records, f"{config.steps // config.record_every} records × {settings} settings",
                     fix, host)
    else:
        check_memory(state + records, f"{settings * config.runs} runs × dim {config.dim} for "
                     f"{config.steps} steps (state {_size(state)}, records {_size(records)})", fix, host)


def _size(n: float) -> str:
    from dynamics.util.io import size_text

    return size_text(n)


class Recorder:
    """Per-setting means over runs of what one step did, every ``record_every`` steps."""

    def __init__(self, settings: int, runs: int):
        self.S, self.runs, self.rows = settings, runs, []

    def add(self, step: int, lr_t, weight_norm, angle, grad_norm, loss=None) -> None:
        mean = lambda x: x.detach().double().reshape(self.S, self.runs).mean(1).cpu().numpy()  # noqa: E731
        g2 = (grad_norm.detach().double() ** 2).reshape(self.S, self.runs).mean(1).sqrt().cpu().numpy()
        self.rows.append({"step": step, "lr": np.asarray(lr_t, dtype=float).reshape(self.S),
                          "weight_norm": mean(weight_norm), "weight_norm_sq": mean(weight_norm**2),
                          "angular_update": mean(angle), "grad_norm": g2,
                          "loss": mean(loss) if loss is not None else np.full(self.S, np.nan)})

    def frame(self, settings, config: SimConfig, exact_grad_norm=None, power=None):
        """The trajectories: one row per (setting, record), with predictions."""
        import pandas as pd

        from dynamics.theory.dispatch import predict

        cols = {k: np.stack([r[k] for r in self.rows]) for k in self.rows[0] if k != "step"}
        steps = np.array([r["step"] for r in self.rows])
        G = cols["grad_norm"] if exact_grad_norm is None else np.broadcast_to(exact_grad_norm, cols["lr"].shape)
        wd, rho = (np.broadcast_to(settings[k].to_numpy(float), cols["lr"].shape) for k in ("wd", "momentum"))
        k = None if power is None else np.broadcast_to(power, cols["lr"].shape)
        p = predict(config.rule, cols["lr"], wd, rho, G, k, **rule_arguments(config))
        out = []
        for s in range(len(settings)):
            part = {"setting": s, "step": steps}
            part |= {k: cols[k][:, s] for k in ("lr", "weight_norm", "weight_norm_sq", "angular_update",
                                                 "grad_norm", "loss")}
            part["effective_lr"] = cols["lr"][:, s] / cols["weight_norm_sq"][:, s]
            part |= {"predicted_weight_norm": p.weight_norm[:, s], "predicted_angular_update": p.angular_update[:, s],
                     "predicted_effective_lr": p.effective_lr[:, s], "predicted_relaxation_steps": p.relaxation_steps[:, s]}
            out.append(pd.DataFrame(part))
        frame = pd.concat(out, ignore_index=True)
        return frame.merge(settings[["setting", "wd", "momentum", "batch_size"]], on="setting")


@dataclass(frozen=True)
class SimResult:
    config: SimConfig
    settings: "object"  # pandas DataFrame, one row per setting
    trajectories: "object"  # pandas DataFrame, one row per (setting, record)
    summary: "object"  # pandas DataFrame, one row per setting: measured vs predicted


def toy_gradient(config: SimConfig, settings, dtype, dev, gen):
    """g(w, t) for the noise and quadratic toys, and the loss function (None for noise).

    Rows are ordered (setting, run). Each step draws one standard normal z per run,
    (runs, D), shared by all settings (common random numbers: every row follows the
    noise model exactly, and differences between settings are not sampling luck);
    the (R, D) state is viewed as (settings, runs, D) so z broadcasts without a copy.
    """
    import torch

    from dynamics.sim.engine import SplitGradient
    from dynamics.sim.toys import curvatures, quadratic_gradient, quadratic_loss, tangent_noise, tangent_noise_terms

    S, runs, D = len(settings), config.runs, config.dim
    n = torch.tensor(settings.batch_size.to_numpy(float), dtype=dtype, device=dev)
    s = (config.noise / n.sqrt()).view(S, 1, 1)  # G = σ/√N per setting
    z_buf = torch.empty(runs, D, dtype=dtype, device=dev)
    draw = lambda t: z_buf.normal_(generator=gen)  # noqa: E731  in place; the numbers of torch.randn(runs, D)
    if config.loss == "correlated":
        from dynamics.sim.toys import CorrelatedDraw

        draw = CorrelatedDraw((runs, D), config.correlation, gen, dtype, dev)
    if config.loss in ("noise", "correlated"):
        def terms(w, z):  # g = a w + k z, z shared by the settings: k stays (S, runs, 1)
            a, k = tangent_noise_terms(w.view(S, runs, D), s, z)
            return a.reshape(S * runs, 1), [(k, z)]

        return SplitGradient(draw, lambda w, z: tangent_noise(w.view(S, runs, D), s, z).view(S * runs, D),
                             terms), None
    h = curvatures(D, 1e-3, 1e-2, dtype=dtype, device=dev)
    return (SplitGradient(draw, lambda w, z: quadratic_gradient(w.view(S, runs, D), h, s, z).view(S * runs, D)),
            lambda w: quadratic_loss(w, h))


def rule_arguments(config: SimConfig) -> dict:
    """The extra arguments of ``predict`` for the adaptive rules: C = dim elements, β₂; for
    muon its matrix shape, Nesterov and adjust_lr."""
    from dynamics.rules import ADAPTIVE

    if config.rule == "muon":
        return dict(shape=matrix_shape(config), nesterov=config.nesterov, adjust_lr=config.adjust_lr)
    return dict(elements=config.dim, beta2=config.beta2) if config.rule in ADAPTIVE else {}


def _initial_norm(config: SimConfig, settings) -> np.ndarray:
    from dynamics.theory.dispatch import predict

    if config.init_norm > 0:
        return np.full(len(settings), config.init_norm)
    G = config.noise / np.sqrt(settings.batch_size.to_numpy(float))
    w0 = np.asarray(predict(config.rule, settings.lr.to_numpy(float), settings.wd.to_numpy(float),
                            settings.momentum.to_numpy(float), G, **rule_arguments(config)).weight_norm, dtype=float)
    return np.where(np.isfinite(w0), w0, 1.0)


def simulate(config: SimConfig, progress: Callable[[int], None] | None = None) -> SimResult:
    """Run every setting ``config.runs`` times; trajectories and measured-vs-predicted summary."""
    import torch

    from dynamics.sim.engine import integrate
    from dynamics.sim.geometry import angle
    from dynamics.rules import initial_state

    settings = check_config(config)
    S, runs = len(settings), config.runs
    w0 = _initial_norm(config, settings)
    recorder = Recorder(S, runs)
    if config.loss == "bn-net":
        from dynamics.sim.bnnet import train_bn_nets

        train_bn_nets(config, settings, w0, recorder, progress)
        exact = None
    else:
        dtype, dev = getattr(torch, config.dtype), torch.device(config.device)
        gen = torch.Generator(device=dev).manual_seed(config.seed)
        col = lambda k: torch.tensor(settings[k].to_numpy(float), dtype=dtype, device=dev).repeat_interleave(runs)[:, None]  # noqa: E731
        gradient, loss = toy_gradient(config, settings, dtype, dev, gen)
        if config.loss in ("noise", "correlated"):
            w = torch.randn(S * runs, config.dim, generator=gen, dtype=dtype, device=dev)
        else:
            w = torch.ones(S * runs, config.dim, dtype=dtype, device=dev)
        w = w / w.norm(dim=1, keepdim=True) * torch.as_tensor(w0, dtype=dtype, device=dev).repeat_interleave(runs)[:, None]

        def observe(t, w_old, w_new, v_new, g, lr_t):
            recorder.add(t, lr_t[::runs, 0].cpu().numpy(), w_new.norm(dim=1), angle(w_old, w_new),
                         g.norm(dim=1) * w_old.norm(dim=1), loss(w_new) if loss else None)

        with torch.no_grad():
            integrate(gradient, config.rule, w, initial_state(config.rule, w), lr=col("lr"), wd=col("wd"),
                      momentum=col("momentum"), steps=torch.full_like(col("lr"), config.steps),
                      schedule=config.schedule, every=config.record_every, observe=observe,
                      progress=progress, compile=config.compile, beta2=config.beta2,
                      options=rule_options(config))
        exact = (config.noise / np.sqrt(settings.batch_size.to_numpy(float))
                 if config.loss in ("noise", "correlated") else None)
    power = None
    if config.loss == "correlated":
        from dynamics.sim.toys import correlated_power

        power = correlated_power(config.correlation, settings.momentum.to_numpy(float))
    trajectories = recorder.frame(settings, config, exact, power)
    return SimResult(config, settings, trajectories, summarize(trajectories, settings, config))


# ----------------------------------------------------------------- summary, relaxation
def late_start(config: SimConfig) -> float:
    """Late time starts half-way through the last constant-λ stretch: the second half of
    the run (constant, piecewise), the last quarter (step: after the drop at half-way)."""
    return config.steps * (0.75 if config.schedule == "step" else 0.5)


#: relaxation times of |w| a run needs before its late-time window for the late-time
#: means to be the equilibrium's (a gap e^-3 = 5% of the start's is left)
MIN_RELAXATION_TIMES = 3.0


def relaxation_times(trajectories, before: float):
    """Relaxation times of |w| each setting ran before step ``before``: Σ Δt/τ(λ_t) over
    the records, τ the derived relaxation time at each record's λ (``predict``)."""
    import pandas as pd

    def one(part):
        part = part[part.step <= before].sort_values("step")
        tau = part.predicted_relaxation_steps.to_numpy(float)[1:]
        dt = np.diff(part.step.to_numpy(float))
        ok = np.isfinite(tau) & (tau > 0)
        return float(np.sum(dt[ok] / tau[ok])) if ok.any() else float("nan")

    return pd.Series({s: one(part) for s, part in trajectories.groupby("setting")})


def short_run_warnings(result: "SimResult") -> list[str]:
    """One line per setting whose run is shorter than :data:`MIN_RELAXATION_TIMES`
    relaxation times before its late-time window (none when every run starts at its
    equilibrium under a constant λ: there is nothing to relax)."""
    config = result.config
    if config.init_norm == 0 and config.schedule == "constant":
        return []
    start = late_start(config)
    times, total = relaxation_times(result.trajectories, start), relaxation_times(result.trajectories, math.inf)
    lines = []
    for _, row in result.settings.iterrows():
        n = times.get(row.setting, float("nan"))
        if not (np.isfinite(n) and n < MIN_RELAXATION_TIMES):
            continue
        tau = result.trajectories.loc[result.trajectories.setting == row.setting, "predicted_relaxation_steps"].median()
        need = int(math.ceil(config.steps * MIN_RELAXATION_TIMES / max(n, 1e-12) / 100) * 100)
        lines.append(f"lr={row.lr:g} wd={row.wd:g} momentum={row.momentum:g} ran {total[row.setting]:.2g} "
                     f"relaxation times of |w| (τ ≈ {tau:,.0f} steps; {n:.2g} before the late-time means start "
                     f"at step {start:,.0f}, where {MIN_RELAXATION_TIMES:g} are needed): |w| is still on its way "
                     "to its equilibrium, so the ratios above do not test it; "
                     f"use --steps {need:,} or more" + ("" if config.init_norm == 0 else
                                                        ", or --init-norm 0 to start at the equilibrium"))
    return lines


def summarize(trajectories, settings, config: SimConfig):
    """Late-time means of measured and predicted |w| and θ per setting (see
    :func:`late_start`); for the ``step`` schedule also the measured and predicted
    relaxation time after the drop."""
    late = trajectories[trajectories.step > late_start(config)]
    agg = late.groupby("setting")[["weight_norm", "predicted_weight_norm", "angular_update",
                                   "predicted_angular_update", "effective_lr", "predicted_effective_lr",
                                   "grad_norm", "loss"]].mean()
    summary = settings.set_index("setting").join(agg)
    summary["norm_ratio"] = summary.weight_norm / summary.predicted_weight_norm
    summary["angle_ratio"] = summary.angular_update / summary.predicted_angular_update
    if config.schedule == "step":
        rel = [relaxation_time(trajectories[trajectories.setting == s], config.steps) for s in settings.setting]
        summary["relaxation_measured"] = [r[0] for r in rel]
        summary["relaxation_predicted"] = [r[1] for r in rel]
        summary["relaxation_ratio"] = summary.relaxation_measured / summary.relaxation_predicted
        summary["relaxation_expected"] = [relaxation_expected(trajectories[trajectories.setting == s], config.rule,
                                                              config.steps) for s in settings.setting]
    return summary.reset_index()


def relaxation_expected(traj, rule: str, steps: int, drop_at: float = 0.5) -> float:
    """What :func:`relaxation_time` gives on the exact moment map of (|w|², w·v, |v|²)
    iterated without noise through the same drop (the fixed point before it, G² the run's
    late-time E|g|²|w|², the records at the run's own steps): the derived dynamics seen
    through the same fit and window. Where the measured τ is far from this, the
    difference is the fit's on noisy data, not the derivation's; where this is far from
    −1/ln|μ|, it is the fit's too (the same map, linearised, gives −1/ln|μ|)."""
    from dynamics.jobs.validate import _moment_map

    M_f, h_f = _moment_map(rule)
    t = traj.step.to_numpy(float)
    lrs, wd, rho = traj.lr.to_numpy(float), float(traj.wd.iloc[0]), float(traj.momentum.iloc[0])
    G2 = float(np.mean((traj.grad_norm * traj.weight_norm).to_numpy(float)[t > 0.8 * steps] ** 2))
    maps = {lr: (np.array(M_f(lr, wd, rho), float), np.array(h_f(lr, wd, rho), float).ravel())
            for lr in (lrs[0], lrs[-1])}
    M, h = maps[lrs[0]]
    m = np.array([1.0, 0.0, 0.0])
    for _ in range(200_000):  # the fixed point before the drop
        m_next = M @ m + h * G2 / m[0]
        if np.allclose(m_next, m, rtol=1e-13, atol=0):
            break
        m = m_next
    x = np.empty(int(t.max()) + 1)
    for step in range(len(x)):
        x[step] = m[0]
        M, h = maps[lrs[-1] if step >= drop_at * steps else lrs[0]]
        m = M @ m + h * G2 / m[0]
    return relaxation_time(traj.assign(weight_norm_sq=x[t.astype(int)]), steps, drop_at)[0]


def summary_json(result: SimResult) -> dict:
    """The summary as JSON: per setting its hyperparameters, ``measured`` and ``predicted``."""
    def clean(v):
        return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v

    out = []
    for row in result.summary.itertuples(index=False):
        r = row._asdict()
        item = {k: clean(float(r[k])) for k in ("lr", "wd", "momentum", "batch_size")}
        item = {"setting": int(r["setting"])} | item
        item["measured"] = {"weight_norm": clean(float(r["weight_norm"])),
                            "angular_update": clean(float(r["angular_update"]))}
        item["predicted"] = {"weight_norm": clean(float(r["predicted_weight_norm"])),
                             "angular_update": clean(float(r["predicted_angular_update"]))}
        if "relaxation_measured" in r:
            item["measured"]["relaxation_steps"] = clean(float(r["relaxation_measured"]))
            item["predicted"]["relaxation_steps"] = clean(float(r["relaxation_predicted"]))
            item["predicted"]["relaxation_steps_fitted"] = clean(float(r["relaxation_expected"]))
        out.append(item)
    return {"loss": result.config.loss, "rule": result.config.rule, "steps": result.config.steps,
            "runs": result.config.runs,
            "late_time": f"mean over steps after {late_start(result.config):g} of {result.config.steps}",
            "settings": out}


def config_dict(config: SimConfig) -> dict:
    return {f.name: getattr(config, f.name) for f in fields(config)} | {"_units": _UNITS}


_UNITS = {"lr": "per step", "wd": "per step, per unit lr", "momentum": "fraction kept per step",
          "batch_size": "examples per step", "steps": "steps per run", "record_every": "steps",
          "noise": "scale-free gradient noise per example (G = noise/sqrt(batch_size))"}


# -------------------------------------------------------------------------- the command
def run(config: SimConfig, out, as_json: bool = False) -> SimResult:
    """``ridgeline simulate``: check, print the config, simulate with a progress bar,
    write config.json, trajectories.csv, summary.csv, trajectories.png and (last, so
    its presence means the run finished) summary.json under ``out``; print the table
    (or, with ``as_json``, the summary as JSON on stdout and everything else on stderr)."""
    from pathlib import Path

    from dynamics.sim.engine import resolve_device
    from dynamics.util.io import DirectoryLock, claim_kind, ensure_dir, remove_empty_dir

    config = dataclasses.replace(config, device=resolve_device(config.device))
    check_config(config)
    claim_kind(out, "simulate")  # a train run or a sweep is never written over
    created = not Path(out).exists()
    out = ensure_dir(out)
    with DirectoryLock(out):
        # the old "finished" marker goes first: a kill from here on leaves no summary.json
        # beside a config.json it does not belong to
        (out / "summary.json").unlink(missing_ok=True)
        try:
            result = _simulate_with_progress(config, as_json)
        except BaseException:
            if created:  # nothing was written: leave no empty --out behind
                remove_empty_dir(out)
            raise
        return _write(config, result, out, as_json)


def _simulate_with_progress(config: SimConfig, as_json: bool) -> SimResult:
    """:func:`simulate` under a progress bar; running out of memory is a one-line error."""
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from dynamics.sim.engine import tune_allocator

    tune_allocator()
    console = Console(stderr=as_json)
    console.print(f"[bold]ridgeline simulate[/] {changed_settings(config)}",
                  highlight=False, soft_wrap=True)
    if config.compile:
        console.print("compiling the step with torch.compile (tens of seconds, once)")
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} steps"),
                      TimeRemainingColumn(), console=console, transient=as_json) as bar:
            task = bar.add_task(f"{config.loss} × {config.rule}", total=config.steps)
            return simulate(config, progress=lambda n: bar.update(task, completed=n))
    except (MemoryError, torch.OutOfMemoryError) as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise RidgelineError(f"out of memory while simulating ({first}); lower --steps, --runs, "
                             "--dim or the number of settings") from None


def _write(config: SimConfig, result: SimResult, out, as_json: bool) -> SimResult:
    import json

    from rich.console import Console

    from dynamics.util.io import write_csv, write_json
    from figures.dynamics import trajectory_figure

    console = Console(stderr=as_json)
    write_json(out / "config.json", config_dict(config))
    write_csv(out / "trajectories.csv", result.trajectories)
    write_csv(out / "summary.csv", result.summary)
    trajectory_figure(result.trajectories, result.summary, out / "trajectories.png", config=config)
    payload = summary_json(result)
    write_json(out / "summary.json", payload)
    if as_json:
        print(json.dumps(payload, indent=2))
    else:
        print_table(console, summary_table(result))
        console.print(f"wrote {out}/summary.json, trajectories.csv, trajectories.png")
    for line in short_run_warnings(result):  # on stderr with --format json: stdout holds the JSON
        console.print(f"[yellow bold]warning[/]: too short: {line}", highlight=False, soft_wrap=True)
    return result


def summary_table(result: SimResult):
    """A rich table: per setting, measured vs predicted |w|, θ (and relaxation)."""
    from rich.table import Table

    s = result.summary
    c = result.config
    table = Table(title=f"late-time means (steps > {late_start(c):g} of {c.steps}): {c.loss}, {c.rule}")
    for name in ("lr", "wd", "ρ", "N", "|w|", "|w|*", "ratio", "θ", "θ*", "ratio"):
        table.add_column(name, justify="right")
    relax = "relaxation_measured" in s
    if relax:
        for name in ("τ meas", "τ pred", "ratio"):
            table.add_column(name, justify="right")
    for r in s.itertuples():
        cells = [f"{r.lr:.3g}", f"{r.wd:.3g}", f"{r.momentum:.3g}", f"{r.batch_size:.0f}",
                 f"{r.weight_norm:.4g}", f"{r.predicted_weight_norm:.4g}", f"{r.norm_ratio:.4f}",
                 f"{r.angular_update:.4g}", f"{r.predicted_angular_update:.4g}", f"{r.angle_ratio:.4f}"]
        if relax:
            cells += [f"{r.relaxation_measured:.4g}", f"{r.relaxation_predicted:.4g}", f"{r.relaxation_ratio:.3f}"]
        table.add_row(*cells)
    return table
