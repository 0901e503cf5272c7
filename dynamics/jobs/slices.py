"""Page's three hyperparameter slices in toy form: final loss of the quadratic toy.

The toy (:func:`dynamics.sim.toys.quadratic_gradient`) is L(w) = ½ uᵀHu + L_b(b), u = w/|w|, with
H = diag(0 … 0, h₁ … h_{D/2}): a flat half (L = 0 there) and a curved half with h
log-spaced from ``curvature_min`` to ``curvature_max``, plus minibatch noise of
scale-free size σ/√N. Training starts from the same direction u₀ = (1, …, 1)/√D for
every setting and must drain the curved half against the noise: too small a learning
rate does not get there in time, too large a one leaves the weights hot when the
schedule ends. The final loss is a sum over D/2 directions, so it averages itself
(about 12% seed-to-seed at D = 256). Lower is better.

**The head.** Beside the scale-invariant weights w, the toy has D_b = ``head``
parameters b without the symmetry (:func:`dynamics.sim.toys.head_gradient`: a quadratic
½ Σ κ_j (b_j − b*)² with its own minibatch noise), the counterpart of the network's
final layer and batch-norm scales and biases. Weight decay pulls b off its optimum, by
α/(κ + α), and b's noise grows with its raw step λ/(1 − ρ) = u/α at fixed
u = λα/(1 − ρ), so the loss has an optimum in α along the ridge: Page's "weakly
affected for the few layers without scaling symmetry", and what the rotated
coordinate descent of ``ridgeline tune`` exploits. The defaults (κ ∈ [0.03, 0.3],
b* = 0.03, σ_b = 0.2) put that optimum near α = 2.5e-3: the best loss over u at
α = 0.01 (Page's start), 0.005, 0.00125 and 3.1e-4 is 12%, 2%, 0.6% and 4.5%
higher (ρ 0.5 or 0.9, mean of seeds 0-2), while a factor 2 in u either way costs
9-14%: a naive move of α alone (λ held) leaves the ridge.
``head=0`` leaves the purely scale-invariant toy, exactly flat along α at fixed λα.

**Steps and batch size.** Every setting sees the same number of training examples,
``steps`` × 512 (``steps`` is the run length at the reference batch size 512, Page's
default), so a setting with batch size N runs T = round(steps · 512/N)
steps. Per epoch of examples, drift
and diffusion then depend on (λ, N) only through λ/N (the linear scaling rule, see
:func:`dynamics.theory.symbolic.linear_scaling`) as long as the gradient noise dominates
the gradient (N below the toy's critical batch size) and momentum's delay,
1/(1 − ρ) steps, is short next to the weight-norm relaxation time.

**Initial norm.** By default each setting starts at its own predicted equilibrium
norm |w|* (``predict`` with G = σ/√N at the peak λ): Page's "settling-in period"
is skipped, so the exact rescaling symmetry (w, λ, α) → (r w, r²λ, α/r²) carries
through the whole run for w, and λα is flat up to the head. ``init_norm`` > 0 starts every
setting at that fixed |w₀| instead, which breaks the symmetry by the initial
transient (Page's caveat "if we're lucky").

Common random numbers: all settings of one call see the same noise stream z_t (one
draw of D normals per step, seeded by ``seed``), so differences between settings are
not masked by sampling luck; repeats differ by seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dynamics.registry import SLICE_RULES  # the rules the slices take (the CLI's choice list)
from dynamics.util.errors import RidgelineError

REFERENCE_BATCH = 512  # examples per step at which ``steps`` is counted

#: Page's defaults (batch 512, Nesterov momentum 0.9, weight decay 5e-4, peak
#: lr 0.4). Instead of rescaling them, the toy is scaled to them: with 700 steps at
#: batch 512, noise σ = 0.7 and h ∈ [1e-3, 1e-2], the best lr at the other defaults
#: is 0.24-0.48 over seeds 0-5 (steps of 2^(1/4)), so the defaults sit on the ridge.
TOY_DEFAULTS = {"lr": 0.4, "batch_size": 512, "momentum": 0.9, "wd": 5e-4}


def steps_for_batch(steps: int, batch_size) -> np.ndarray:
    """T = round(steps · 512/N): the run length that keeps the examples seen fixed."""
    return np.maximum(1, np.rint(steps * REFERENCE_BATCH / np.asarray(batch_size, dtype=float))).astype(int)


def quadratic_final_loss(lr, batch_size, momentum, wd, seed: int = 0, steps: int = 700,
                         rule: str = "nesterov", schedule: str = "piecewise", dim: int = 256,
                         noise: float = 0.7, curvature_min: float = 1e-3,
                         curvature_max: float = 1e-2, init_norm: float = 0.0, head: int = 32,
                         head_curvature_min: float = 0.03, head_curvature_max: float = 0.3,
                         head_target: float = 0.03, head_noise: float = 0.2,
                         device: str = "cpu") -> np.ndarray:
    """Final loss of the quadratic toy for every setting, in one vectorised call.

    ``lr`` λ (peak, per step), ``batch_size`` N (examples per step), ``momentum`` ρ,
    ``wd`` α: numbers or arrays, broadcast together; the result has their broadcast
    shape. ``steps``: run length at batch size 512 (others run steps·512/N steps, the
    same number of examples); ``dim`` D; ``noise`` σ, the scale-free per-example
    gradient noise (minibatch noise σ/√N); ``init_norm`` |w₀| (0: each setting's
    predicted equilibrium norm); ``head`` D_b, the head's dimensions (0: none), with
    curvatures log-spaced over [``head_curvature_min``, ``head_curvature_max``], optimum
    ``head_target`` and per-example noise ``head_noise``. NaN where a run left the
    representable range.
    """
    import torch

    from dynamics.sim.engine import SplitGradient, integrate
    from dynamics.rules import initial_state
    from dynamics.sim.toys import curvatures, head_gradient, head_loss, quadratic_gradient, quadratic_loss

    check_toy(rule=rule, schedule=schedule, steps=steps, dim=dim, noise=noise, curvature_min=curvature_min,
              curvature_max=curvature_max, init_norm=init_norm, head=head, head_curvature_min=head_curvature_min,
              head_curvature_max=head_curvature_max, head_noise=head_noise, device=device)
    shape, (lr_, n_, rho_, wd_) = _flat_settings(lr, batch_size, momentum, wd)
    noise_std = noise / np.sqrt(n_)
    w0 = _initial_norms(rule, lr_, wd_, rho_, noise_std, init_norm, dim)

    dtype, dev = torch.float32, torch.device(device)
    col = lambda a: torch.as_tensor(np.asarray(a, dtype=float), dtype=dtype, device=dev)[:, None]  # noqa: E731
    h = curvatures(dim, curvature_min, curvature_max, dtype=dtype, device=dev)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    s = col(noise_std)

    kappa = torch.logspace(math.log10(head_curvature_min), math.log10(head_curvature_max), head,
                           dtype=dtype, device=dev) if head else None
    s_b = col(head_noise / np.sqrt(n_))

    def apply(w, z):  # columns [0, D): the scale-invariant weights; [D, D + D_b): the head b
        g = quadratic_gradient(w[:, :dim], h, s, z[:, :dim])
        return torch.cat([g, head_gradient(w[:, dim:], kappa, head_target, s_b, z[:, dim:])], -1) if head else g

    draw = lambda t: torch.randn(1, dim + head, generator=gen, dtype=dtype, device=dev)  # noqa: E731, common to all rows
    w = col(w0) * torch.full((len(lr_), dim), 1 / math.sqrt(dim), dtype=dtype, device=dev)
    w = torch.cat([w, torch.zeros(len(lr_), head, dtype=dtype, device=dev)], -1)  # b₀ = 0
    options = dict(shape=toy_matrix(dim), ns_dtype=None) if rule == "muon" else None
    with torch.no_grad():
        w, _ = integrate(SplitGradient(draw, apply), rule, w, initial_state(rule, w), lr=col(lr_), wd=col(wd_),
                         momentum=col(rho_), steps=col(steps_for_batch(steps, n_)), schedule=schedule,
                         options=options)
        loss = quadratic_loss(w[:, :dim], h)
        if head:
            loss = loss + head_loss(w[:, dim:], kappa, head_target)
        loss = loss.double().cpu().numpy()
    return np.where(np.isfinite(loss), loss, np.nan).reshape(shape)


def _flat_settings(lr, batch_size, momentum, wd) -> tuple:
    """``(shape, (λ, N, ρ, α))``: the settings broadcast together, as flat arrays, and
    their broadcast shape; checked (N ≥ 1 and finite)."""
    from dynamics.theory.symbolic import check_hyperparameters

    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (lr, batch_size, momentum, wd)))
    lr_, n_, rho_, wd_ = (a.reshape(-1) for a in arrays)
    check_hyperparameters(lr_, wd_, rho_)
    if np.any(n_ < 1) or not np.all(np.isfinite(n_)):
        raise RidgelineError(f"batch_size must be >= 1, got {batch_size}")
    return arrays[0].shape, (lr_, n_, rho_, wd_)


def _initial_norms(rule: str, lr_, wd_, rho_, noise_std, init_norm: float, dim: int) -> np.ndarray:
    """|w₀| per setting: ``init_norm`` when > 0, else the predicted equilibrium norm |w|*
    with G = σ/√N (1 where there is none, e.g. α = 0)."""
    from dynamics.theory.dispatch import predict

    if init_norm > 0:
        return np.full(lr_.shape, float(init_norm))
    w0 = np.asarray(predict(rule, lr_, wd_, rho_, noise_std, **_rule_arguments(rule, dim)).weight_norm,
                    dtype=float)
    return np.where(np.isfinite(w0), w0, 1.0)  # no equilibrium (e.g. wd = 0): start at 1


def _rule_arguments(rule: str, dim: int) -> dict:
    """C = D elements for the adaptive rules' predictions, muon's matrix, nothing for the SGD rules."""
    from dynamics.rules import ADAPTIVE

    if rule == "muon":
        return {"shape": toy_matrix(dim)}
    return {"elements": dim} if rule in ADAPTIVE else {}


def toy_matrix(dim: int) -> tuple[int, int]:
    """Muon's view of the toy's D weights: the most nearly square A × B = D, A ≤ B (16 × 16 for 256)."""
    A = max(a for a in range(1, math.isqrt(dim) + 1) if dim % a == 0)
    return A, dim // A


def toy_options() -> dict:
    """The toy's own options, name → default: every keyword of :func:`quadratic_final_loss`
    after the four hyperparameters (seed, steps, rule, …, device)."""
    import inspect

    return {p.name: p.default for p in inspect.signature(quadratic_final_loss).parameters.values()
            if p.default is not inspect.Parameter.empty}


def check_toy(**options) -> None:
    """One-line errors for the toy's own options of :func:`quadratic_final_loss` (any
    subset; the rest at their defaults), before anything runs or is written."""
    from dynamics.sim.engine import check_device, check_schedule
    from dynamics.rules import get_rule

    o = toy_options() | options
    get_rule(o["rule"])
    check_schedule(o["schedule"])
    if o["steps"] < 1 or o["dim"] < 2 or o["head"] < 0:
        raise RidgelineError(f"steps must be >= 1, dim >= 2 and head >= 0, "
                             f"got steps={o['steps']}, dim={o['dim']}, head={o['head']}")
    if not (o["noise"] > 0 and math.isfinite(o["noise"])) or not (0 <= o["head_noise"] < math.inf):
        raise RidgelineError(f"noise must be > 0 and head_noise >= 0, got {o['noise']}, {o['head_noise']}")
    if not 0 < o["curvature_min"] <= o["curvature_max"] < math.inf:
        raise RidgelineError("curvatures must satisfy 0 < curvature_min <= curvature_max, "
                             f"got {o['curvature_min']}, {o['curvature_max']}")
    if o["head"] and not 0 < o["head_curvature_min"] <= o["head_curvature_max"] < math.inf:
        raise RidgelineError("head curvatures must satisfy 0 < head_curvature_min <= head_curvature_max, "
                             f"got {o['head_curvature_min']}, {o['head_curvature_max']}")
    if not 0 <= o["init_norm"] < math.inf:
        raise RidgelineError(f"init_norm must be >= 0 (0: each setting's equilibrium norm), got {o['init_norm']}")
    if o["rule"] == "muon" and (o["head"] or min(toy_matrix(o["dim"])) < 2):
        raise RidgelineError(f"muon's toy is the D = {o['dim']} weights as a matrix with both sides >= 2, without "
                             "the head (no matrix: Muon does not take it); use head=0 and a D like 256")
    check_device(o["device"])


def z_score(slope, expected: float, seeds_err) -> float | None:
    """(fitted − expected slope) / the standard error across seeds of the slope: the one
    error that measures the fit's real uncertainty here (the toy's grid points share a
    noise stream, so the fit's own error understates it; :mod:`dynamics.analysis.ridge`).
    None when there is no slope or fewer than two seeds."""
    if slope is None or seeds_err is None or not (np.isfinite(slope) and np.isfinite(seeds_err)) or seeds_err <= 0:
        return None
    return float((slope - expected) / seeds_err)


def no_slope_reason(fit) -> str | None:
    """Why ``fit`` has no slope, in words (None when it has one)."""
    if np.isfinite(fit.slope):
        return None
    inside = sum(fit.interior)
    if inside < 2 and len(fit.points) >= 2 and inside < len(fit.points):
        return (f"the best lr is on the grid's edge in {len(fit.points) - inside} of {len(fit.points)} "
                "rows; widen --points")
    return f"fewer than 2 rows with a best lr ({len(fit.points)}); add --rows"


# --------------------------------------------------------- ridgeline simulate slices
#: The three slices: name → (y column, how a y value sets the hyperparameters, the
#: Page's flat direction, the ridge slope it implies in d log y / d log lr, y grid).
SLICES = {
    "lr_x_batch_size": ("batch_size", lambda y: {"batch_size": y}, "lr/N", 1.0, (128, 2048)),
    "lr_x_one_minus_momentum": ("one_minus_momentum", lambda y: {"momentum": 1 - y}, "lr/(1-momentum)", 1.0,
                                (0.025, 0.4)),
    "lr_x_wd": ("wd", lambda y: {"wd": y}, "lr*wd", -1.0, (1.25e-4, 2e-3)),
}


#: the claims in Page's symbols, for the figures
CLAIM_SYMBOLS = {"lr/N": "λ/N", "lr/(1-momentum)": "λ/(1−ρ)", "lr*wd": "λα", "lr**2*wd": "λ²α"}

ADAPTIVE_DEFAULTS = {"lr": 0.03, "batch_size": 512, "momentum": 0.9, "wd": 0.05}


def slice_defaults(rule: str) -> dict:
    """The toy's centre (lr, N, ρ or β₁, α) for ``rule``."""
    from dynamics.rules import ADAPTIVE, ORTHOGONAL

    return ADAPTIVE_DEFAULTS if rule in ADAPTIVE + ORTHOGONAL else TOY_DEFAULTS


def slice_claims(rule: str) -> dict[str, tuple[str | None, float | None]]:
    """Slice name → (flat direction, ridge slope d log y / d log λ) derived for ``rule``;
    (None, None) where nothing is derived flat. The SGD rules: Page's three. The adaptive
    rules: only λ × α, from the exact rescaling symmetry (w, λ, α) → (rw, r^b λ, r^c α),
    whose invariant λ^(−c) α^b gives slope c/b; their normalised update's size does not
    scale with N or with 1 − β₁, so those slices have no derived flat direction."""
    from dynamics.rules import ADAPTIVE, ORTHOGONAL

    if rule not in ADAPTIVE + ORTHOGONAL:
        return {name: (claim, expected) for name, (_, _, claim, expected, _) in SLICES.items()}
    if rule == "muon":  # (w, λ, α) → (rw, rλ, α/r): λα, like AdamW's; Muon's NS(u) ignores N's noise size
        from dynamics.theory.muon import rescaling_symmetry

        sym = rescaling_symmetry()
    else:
        from dynamics.theory.adaptive import rescaling_symmetry

        sym = rescaling_symmetry(rule)
    claim = {-1: "lr*wd", -2: "lr**2*wd"}.get(int(sym["c"] / sym["b"]) if sym["b"] else 0, str(sym["invariant"]))
    return {name: ((claim, float(sym["c"] / sym["b"])) if name == "lr_x_wd" else (None, None)) for name in SLICES}


@dataclass(frozen=True)
class SlicesConfig:
    """``ridgeline simulate slices``: Page's three heatmaps on the quadratic toy."""

    out: str  # output directory
    points: int = 9  # lr grid points, a factor 2 apart, centred on the defaults' lr
    rows: int = 5  # y grid points, log-spaced over each slice's range (a factor 16)
    repeats: int = 3  # seeds per grid point, averaged (Page: mean of three runs)
    steps: int = 700  # steps at batch size 512 (fixed examples: steps·512/N at batch N)
    dim: int = 256  # D, dimensions of the toy
    seed: int = 0  # first seed; repeats use seed, seed+1, ...
    device: str = "cpu"  # torch device; "auto": cuda when present
    rule: str = "nesterov"  # update rule (SLICE_RULES); the adaptive ones' momentum is β₁


def slice_frame(name: str, config: SlicesConfig, seed: int):
    """Final losses over one slice's grid for one seed (one vectorised call)."""
    import pandas as pd

    y_col, to_params, _, _, (lo, hi) = SLICES[name]
    centre = slice_defaults(config.rule)
    lr = centre["lr"] * 2.0 ** (np.arange(config.points) - (config.points - 1) / 2)
    if y_col == "wd":  # a factor 16 around the rule's α, as (lo, hi) is around Page's
        lo, hi = (centre["wd"] * v / TOY_DEFAULTS["wd"] for v in (lo, hi))
    ys = np.geomspace(lo, hi, config.rows)
    if y_col == "batch_size":
        ys = np.rint(ys)
    LR, Y = np.meshgrid(lr, ys)
    params = {k: centre[k] for k in ("batch_size", "momentum", "wd")}
    params |= {k: np.asarray(v) for k, v in to_params(Y).items()}
    loss = quadratic_final_loss(LR, params["batch_size"], params["momentum"], params["wd"], seed=seed,
                                steps=config.steps, dim=config.dim, device=config.device, rule=config.rule,
                                **({"head": 0} if config.rule == "muon" else {}))  # Muon takes no head
    full = {k: np.broadcast_to(np.asarray(v, dtype=float), LR.shape).ravel() for k, v in params.items()}
    return pd.DataFrame({"slice": name, "lr": LR.ravel(), "batch_size": full["batch_size"],
                         "momentum": full["momentum"], "one_minus_momentum": 1 - full["momentum"],
                         "wd": full["wd"], "seed": seed, "loss": loss.ravel()})


def run_slices(config: SlicesConfig) -> dict:
    """Compute (or resume) the three slices, fit their ridges, draw the heatmaps.

    Writes per slice ``<name>.csv`` (every grid point and seed) and ``<name>.png``,
    then ``ridge.json`` (fits, Page's claims) and ``config.json``. A slice whose CSV
    exists from the same configuration is not recomputed. Returns the ridge fits.
    The output directory is locked while it is written.
    """
    import dataclasses

    from dynamics.sim.engine import resolve_device
    from dynamics.util.io import DirectoryLock, claim_kind, ensure_dir

    claim_kind(config.out, "simulate slices")
    config = dataclasses.replace(config, device=resolve_device(config.device))
    if min(config.points, config.rows) < 3 or config.repeats < 1 or config.steps < 1:
        raise RidgelineError("slices need points >= 3, rows >= 3, repeats >= 1 and steps >= 1")
    if config.rule not in SLICE_RULES:
        raise RidgelineError(f"slices take rule {', '.join(SLICE_RULES)}; got {config.rule!r}")
    check_toy(steps=config.steps, dim=config.dim, device=config.device, rule=config.rule,
              **({"head": 0} if config.rule == "muon" else {}))
    with DirectoryLock(ensure_dir(config.out)):
        return _run_slices(config)


def _run_slices(config: SlicesConfig) -> dict:
    """:func:`run_slices` once the output directory is locked."""
    from rich.console import Console
    from rich.progress import Progress

    from dynamics.sim.engine import tune_allocator
    from dynamics.util.io import ensure_dir, write_json
    from dynamics.util.output import changed_settings

    out = ensure_dir(config.out)
    tune_allocator()
    console = Console()
    console.print(f"[bold]ridgeline simulate slices[/] {changed_settings(config)}",
                  highlight=False, soft_wrap=True)
    same = _same_settings(config, out)
    fits = {}
    with Progress(console=console) as bar:
        task = bar.add_task("slices", total=len(SLICES) * config.repeats)
        claims = slice_claims(config.rule)
        for name, (y_col, _, _, _, _) in SLICES.items():
            frame = _slice_data(name, config, out, same, lambda n=1: bar.advance(task, n))
            fits[name] = _fit_slice(name, y_col, frame, config, out, *claims[name])
    write_json(out / "ridge.json", fits)
    _print_fits(console, config, fits)
    console.print(f"wrote {out}/ridge.json and the heatmaps")
    return fits


def _same_settings(config: SlicesConfig, out) -> bool:
    """Whether ``out/config.json`` holds these settings; if not, the slices and fits from
    other settings are removed (they must not survive an interrupted rerun). Writes the
    new config.json either way."""
    import dataclasses
    import json

    from dynamics.util.io import write_json

    settings = dataclasses.asdict(config) | {"toy_defaults": slice_defaults(config.rule), "toy": toy_options()}
    settings.pop("out")
    previous = out / "config.json"
    try:  # a damaged config.json counts as other settings: recompute
        same = previous.exists() and json.loads(previous.read_text()).get("settings") == json.loads(json.dumps(settings))
    except (OSError, ValueError, AttributeError):
        same = False
    if not same:  # slices from other settings must not survive an interrupted rerun
        for name in SLICES:
            (out / f"{name}.csv").unlink(missing_ok=True)
        (out / "ridge.json").unlink(missing_ok=True)  # fitted on them
    write_json(previous, {"settings": settings})
    return same


def _slice_data(name: str, config: SlicesConfig, out, same: bool, advance):
    """One slice's final losses over every seed: read from ``<name>.csv`` when it is from the
    same settings, else computed (one :func:`slice_frame` per seed) and written;
    ``advance(n)`` moves the progress bar on by n seeds."""
    import pandas as pd

    from dynamics.util.io import write_csv

    csv = out / f"{name}.csv"
    if same and csv.exists():
        advance(config.repeats)
        return pd.read_csv(csv)
    parts = []
    for k in range(config.repeats):
        parts.append(slice_frame(name, config, config.seed + k))
        advance()
    frame = pd.concat(parts, ignore_index=True)
    write_csv(csv, frame)
    return frame


def _fit_slice(name: str, y_col: str, frame, config: SlicesConfig, out, claim, expected) -> dict:
    """The ridge of one slice (fit to every seed, slope d log y / d log λ, its seed-to-seed
    error and z against ``expected``), with its heatmap ``<name>.png``: its ridge.json entry."""
    from dynamics.analysis.ridge import fit_ridge, interior_only, seed_slopes
    from figures.heatmap import slice_heatmap

    fit = interior_only(fit_ridge(frame, "lr", y_col, "loss", maximize=False))
    # Within one seed every setting sees the same noise stream, so the ridge points'
    # errors are correlated and the fit's covariance understates the uncertainty;
    # the spread of the per-seed slopes measures it.
    per_seed, seeds_err = seed_slopes(frame, "lr", y_col, "loss", maximize=False)
    means = frame.groupby(["lr", y_col], as_index=False)["loss"].agg(lambda v: v.mean(skipna=False))
    slice_heatmap(means, "lr", y_col, "loss", out / f"{name}.png", maximize=False,
                  floor=float(4 * means.loss.min()), fit=fit, slope_err=seeds_err,
                  title=f"quadratic toy, {config.rule}: final loss, mean of {config.repeats} seeds; "
                        + (f"derived flat: {CLAIM_SYMBOLS.get(claim, claim)}" if claim else
                           "no flat direction derived") + "; ± seed-to-seed error")
    return fit.to_dict() | {"claim": claim, "expected_slope": expected,
                            "per_seed_slopes": per_seed,
                            "slope_err_seeds": seeds_err if np.isfinite(seeds_err) else None,
                            "z": None if expected is None else z_score(fit.slope, expected, seeds_err),
                            "no_slope": no_slope_reason(fit)}


def _print_fits(console, config: SlicesConfig, fits: dict) -> None:
    """The table of fitted ridge slopes against the flat directions derived for the rule."""
    from rich.table import Table

    from dynamics.rules import ADAPTIVE
    from dynamics.util.output import print_table

    table = Table(title="ridge slopes d log y / d log lr vs " + (
        f"the flat directions derived for {config.rule}" if config.rule in ADAPTIVE + ("muon",) else "Page's flat directions"))
    for col in ("y", "flat", "expect", "fitted ± fit err", "± seed err", "z (seed err)"):
        table.add_column(col, justify="right")
    for name, f in fits.items():
        slope, err, serr = f["slope"], f["slope_err"], f["slope_err_seeds"]
        fitted = (f"{slope:+.3f}" + (f" ± {err:.3f}" if err is not None else " (2 points: no fit err)")
                  if slope is not None else f"none: {f['no_slope']}")
        table.add_row(SLICES[name][0], f["claim"] or "none derived",
                      f"{f['expected_slope']:+.0f}" if f["expected_slope"] is not None else "–", fitted,
                      f"{serr:.3f}" if serr is not None else "n/a",
                      f"{f['z']:+.1f}" if f["z"] is not None else "n/a")
    print_table(console, table)
