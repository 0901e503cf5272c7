"""``ridgeline transfer``: carry a good setting along Page's flat directions.

David Page, "How to Train Your ResNet 5: Hyperparameters" (Myrtle AI blog), found
almost-flat ridges in which λ/N, λ/(1−ρ) or λα is held fixed (λ lr per step, N batch
size, ρ momentum, α wd per step). :mod:`dynamics.theory.symbolic` derives them from the rules:
λ/(1−ρ) is the total weight of one gradient (``momentum_invariant``), λ/((1−ρ)N) fixes
drift and diffusion per epoch (``linear_scaling``), λα is the exact rescaling symmetry
of scale-invariant weights (``rescaling_symmetry``), and u = λα/(1−ρ) is Page's
rotated coordinate. A move of one hyperparameter is carried by λ alone:

    N → N':  λ' = λ N'/N              keeps λ/N (and ρ, α: everything per epoch)
    ρ → ρ':  λ' = λ (1−ρ')/(1−ρ)      keeps λ/(1−ρ) and u  (α fixed)
    α → α':  λ' = λ α/α'              keeps λα and u       (ρ fixed)

Several moves at once multiply. Only λα is special to the scale-invariant tensors: the
tensors without the symmetry (BN scales and shifts, a classifier) follow λ itself, and
λ/N and λ/(1−ρ) carry them too, but an α move changes their step by α/α'. For an α move
the result therefore also gives the (λ, α) that keeps them where they were, λ_other =
λ (N'/N)((1−ρ')/(1−ρ)) and α_other = α (``ridgeline train --other-lr --other-wd``).
The arithmetic is exact (:class:`fractions.Fraction`
of the floats given), so "kept" means equal, not close.

The run's scale moves differently (:func:`scale_transfer`, docs/transfer.md): to another
data-set size M, run length or width, the relaxation time τ of |w|² in epochs, τN/M, is
kept, the rule of Wang and Aitchison, "How to set AdamW's weight decay as you scale model
and dataset size" (ICML 2025), derived here for each rule (:func:`relaxation_form`):

    M → M':       λ'α' with τ(λ'α') = τ(λα) M'/M   (leading order λ'α' = λα M/M'); α moves
                  (``keep="lr"``, theirs) or λ (``keep="wd"``)
    epochs → T':  nothing (τN/M has no T in it); the run's length in τ changes by T'/T
    width W → W': nothing in the standard parametrisation (no rule covered has the element
                  count C in τ); μP (adaptive rules): λ' = λW/W' and α' = αW'/W keep λα

The relaxation time of |w| (``dynamics.theory.symbolic.predict``, steps; ×N/M for epochs, M
training images) comes before and after, with warnings where the move leaves the
regime in which the invariants were derived:

- *linear scaling*: N' above :data:`LARGEST_CHECKED_BATCH` (Page's slices stop there;
  beyond it curvature limits λ), or momentum's memory 1/(1−ρ) longer than
  a quarter of an epoch (the derivation assumes the gradient changes little within
  it; a heuristic threshold, which Page's own setting, a tenth, passes);
- *relaxation*: longer than a fifth of the run, so |w| spends much of it away from the
  equilibrium that makes λα and u matter;
- *leading order*: the exact relaxation time differs from the leading order in λα,
  (1−ρ)/(4λα), by more than 10%, or there is no stable equilibrium. The expansion is
  in u/(1−ρ) = λα/(1−ρ)²: it fails when u is large, or when momentum's memory
  1/(1−ρ) steps is no longer short next to the relaxation (the two modes mix).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

from dynamics.registry import KEEPS, PARAMETRISATIONS  # --keep; --parametrisation (width: λ as it is, or λ ∝ 1/width)
from dynamics.util.errors import RidgelineError

#: what ``--from`` fills in when a name is left out: Page's setting (lr and wd on the mean loss)
PAGE = {"lr": 0.4, "wd": 5e-4, "momentum": 0.9, "batch_size": 512}
TARGETS = ("batch_size", "momentum", "wd")  # what --to may change; λ follows
RULES = ("nesterov", "heavy-ball", "sgd", "muon")  # coupled weight decay: the invariants above; muon: λα only
LARGEST_CHECKED_BATCH = 512  # Page's lr × N slice spans N up to 512
MEMORY_FRACTION = 0.25  # 1/(1−ρ) steps must stay under this fraction of an epoch (Page's: 0.1)
RELAXATION_FRACTION = 0.2  # relaxation under this fraction of the run
LEADING_ORDER_TOLERANCE = 0.1  # exact vs leading-order relaxation time

#: name -> (formula, value from exact lr, batch_size, momentum (1 − ρ as q), wd)
INVARIANTS = {
    "lr/N": lambda lr, n, q, wd: lr / n,
    "lr/(1-momentum)": lambda lr, n, q, wd: lr / q,
    "lr*wd": lambda lr, n, q, wd: lr * wd,
    "u = lr*wd/(1-momentum)": lambda lr, n, q, wd: lr * wd / q,
    "lr/((1-momentum)N)": lambda lr, n, q, wd: lr / (q * n),
    "lr*wd/N": lambda lr, n, q, wd: lr * wd / n,
    "u/N": lambda lr, n, q, wd: lr * wd / (q * n),
}


@dataclass(frozen=True)
class TransferConfig:
    """One ``ridgeline transfer``."""

    source: dict  # lr, wd, momentum, batch_size (missing: Page's, :data:`PAGE`)
    target: dict  # the new values of some of batch_size, momentum, wd
    rule: str = "nesterov"  # the update rule of dynamics.rules (coupled weight decay)
    train_size: int = 50_000  # M, training images per epoch (steps per epoch = M/N)
    epochs: float = 24  # length of the run, epochs (Page's 24)
    format: str = "table"  # "table" or "json"
    keep: str = "lr"  # --to train_size/epochs/width: the one of lr, wd left as it is (the other keeps τ)
    parametrisation: str = "standard"  # --to width: "standard" (λ as it is) or "mup" (λ ∝ 1/width)


@dataclass(frozen=True)
class Invariant:
    name: str
    before: float
    after: float
    kept: bool  # exactly equal (rational arithmetic)


@dataclass(frozen=True)
class Transfer:
    """The equivalent setting, the invariants, relaxation times and warnings."""

    before: dict  # lr, wd, momentum, batch_size
    after: dict
    invariants: list[Invariant]
    relaxation_steps: tuple[float, float]  # (before, after); NaN: no stable equilibrium
    relaxation_epochs: tuple[float, float]
    warnings: list[str] = field(default_factory=list)
    others: dict | None = None  # α moved: lr, wd keeping the tensors without the symmetry
    scale: dict | None = None  # --to train_size/epochs/width: before, after, moved, notes (scale_transfer)

    def to_dict(self) -> dict:
        nan = lambda x: None if isinstance(x, float) and not math.isfinite(x) else x  # noqa: E731
        return {"before": self.before, "after": self.after,
                "kept": [i.name for i in self.invariants if i.kept],
                "not_kept": {i.name: {"before": i.before, "after": i.after, "ratio": i.after / i.before}
                             for i in self.invariants if not i.kept},
                "relaxation_steps": {"before": nan(self.relaxation_steps[0]),
                                     "after": nan(self.relaxation_steps[1])},
                "relaxation_epochs": {"before": nan(self.relaxation_epochs[0]),
                                      "after": nan(self.relaxation_epochs[1])},
                "warnings": self.warnings, "others": self.others,
                **({"scale": self.scale} if self.scale is not None else {})}


def _check_names(config: TransferConfig) -> None:
    unknown = (set(config.source) - set(PAGE) - {"width"}) | (set(config.target) - set(TARGETS) - set(SCALES))
    if unknown:
        raise RidgelineError(f"unknown name {sorted(unknown)[0]!r}: --from takes lr, wd, momentum, "
                             f"batch_size, width; --to takes {', '.join(TARGETS)} (lr follows) or "
                             f"{', '.join(SCALES)} (the relaxation time in epochs is kept)")


def _check_setting(name: str, p: dict) -> None:
    if not all(sys.float_info.min <= p[k] < math.inf for k in ("lr", "wd")):
        raise RidgelineError(f"{name}: lr and wd must be finite numbers > 0 (normal floats, "
                             f">= {sys.float_info.min:.3g}), got lr={p['lr']:g}, wd={p['wd']:g}")
    if not math.isfinite(p["batch_size"]):
        raise RidgelineError(f"{name}: batch_size must be a whole number >= 1, got {p['batch_size']}")
    if not 0 <= p["momentum"] < 1:
        raise RidgelineError(f"{name}: momentum must be in [0, 1), got {p['momentum']}")
    if p["batch_size"] < 1 or p["batch_size"] != int(p["batch_size"]):
        raise RidgelineError(f"{name}: batch_size must be a whole number >= 1, got {p['batch_size']}")


def _check(config: TransferConfig) -> tuple[dict, dict]:
    if config.rule not in RULES:
        raise RidgelineError(f"--rule {config.rule!r}: transfer covers coupled weight decay; use {', '.join(RULES)}")
    _check_names(config)
    source = PAGE | {k: v for k, v in config.source.items() if k in PAGE}  # width: for --to width only
    target = source | config.target
    for name, p in (("--from", source), ("--to", target)):
        _check_setting(name, p)
    if all(target[k] == source[k] for k in config.target):
        raise RidgelineError(f"--to {','.join(f'{k}={v:g}' for k, v in config.target.items())} "
                             "changes nothing; give a new batch_size, momentum or wd")
    moved = [k for k in ("batch_size", "momentum") if target[k] != source[k]]
    if config.rule == "muon" and moved:  # dynamics.theory.muon: (w, λ, α) → (rw, rλ, α/r) is its one exact symmetry
        raise RidgelineError(f"--rule muon: only lr*wd is derived invariant (NS(u) fixes the update's size, so "
                             f"neither lr/N nor lr/(1-momentum) carries over); --to may change wd, not {moved[0]}")
    if config.rule == "sgd" and (source["momentum"] or target["momentum"]):
        raise RidgelineError("--rule sgd has no momentum; give momentum=0 or use nesterov or heavy-ball")
    if not (config.train_size >= 1 and config.epochs > 0 and math.isfinite(config.epochs)):
        raise RidgelineError("--train-size must be >= 1 and --epochs a finite number > 0")
    for name, p in (("--from", source), ("--to", target)):
        if p["batch_size"] > config.train_size:
            raise RidgelineError(f"{name}: batch_size={p['batch_size']:g} is larger than the training set "
                                 f"(--train-size {config.train_size}); give a batch that fits in it")
    return source, target


def _float(value: Fraction, what: str) -> float:
    """``value`` as a normal float, or a one-line error: values this far from Page's
    overflow (past 1.8e308) or lose their digits (below 2.2e-308)."""
    try:
        out = float(value)
    except OverflowError:
        out = math.inf
    if value and not sys.float_info.min <= abs(out) < math.inf:
        raise RidgelineError(f"{what} = {'%.3g' % out if out else 'about 1e' + str(_log10(value))} is out of "
                             "the range of floats (2.2e-308 to 1.8e308); give values nearer Page's")
    return out


def _log10(value: Fraction) -> int:
    return round(math.log10(abs(value.numerator)) - math.log10(value.denominator))


def equivalent_lr(source: dict, target: dict) -> Fraction:
    """λ' = λ (N'/N) ((1−ρ')/(1−ρ)) (α/α'), exactly."""
    s, t = ({n: Fraction(p[n]) for n in PAGE} for p in (source, target))
    return (s["lr"] * (t["batch_size"] / s["batch_size"]) * ((1 - t["momentum"]) / (1 - s["momentum"]))
            * (s["wd"] / t["wd"]))


def _relaxation(rule: str, p: dict) -> tuple[float, float]:
    """(exact, leading-order) relaxation time in steps; exact is NaN without equilibrium.
    It depends on λα and ρ alone (the rescaling symmetry λ → cλ, α → α/c), so it is
    evaluated at λ = α = √(λα): a λ and α far apart (1e-304, 1e300) evaluate as well."""
    from dynamics.theory.dispatch import predict

    if rule == "muon":  # |w|² ∝ q^(2t), q = 1 − λα, whatever the matrix (dynamics.theory.muon)
        q = 1 - p["lr"] * p["wd"]
        return (-1 / (2 * math.log(q)) if 0 < q < 1 else math.nan), 1 / (2 * p["lr"] * p["wd"])
    root = math.sqrt(p["lr"] * p["wd"])
    try:
        exact = predict(rule, root, root, p["momentum"]).relaxation_steps
    except RidgelineError:
        exact = math.nan
    return exact, (1 - p["momentum"]) / (4 * p["lr"] * p["wd"])


def transfer(config: TransferConfig) -> Transfer:
    """The setting equivalent to ``config.source`` with ``config.target``'s changes."""
    if set(config.target) & set(SCALES):
        return scale_transfer(config)
    if config.rule in RESCALING_RULES:
        return rescaling_transfer(config)
    source, target = _check(config)
    lr = equivalent_lr(source, target)
    after = target | {"lr": _float(lr, "the equivalent lr"), "batch_size": int(target["batch_size"])}
    before = source | {"batch_size": int(source["batch_size"])}
    exact = [(Fraction(p["lr"]) if p is source else lr, Fraction(p["batch_size"]),
              1 - Fraction(p["momentum"]), Fraction(p["wd"])) for p in (source, target)]
    invariants = []
    for name, f in INVARIANTS.items():
        a, b = f(*exact[0]), f(*exact[1])
        invariants.append(Invariant(name, _float(a, name), _float(b, name), a == b))
    steps, epochs, warnings = [], [], []
    for label, p in (("before", before), ("after", after)):
        t, leading = _relaxation(config.rule, p)
        steps.append(t)
        epochs.append(t * p["batch_size"] / config.train_size)
        if not math.isfinite(t):
            warnings.append(f"{label}: no stable equilibrium for {config.rule} at lr={p['lr']:.4g}, "
                            f"wd={p['wd']:.4g}, momentum={p['momentum']:.4g}: lr*wd = {p['lr'] * p['wd']:.3g} "
                            "is outside the range where the rule has one (or too extreme to evaluate)")
        elif abs(t / leading - 1) > LEADING_ORDER_TOLERANCE:
            u = p["lr"] * p["wd"] / (1 - p["momentum"])
            warnings.append(f"{label}: leading order fails: the exact relaxation time ({t:.4g} steps) is "
                            f"{t / leading - 1:+.0%} off "
                            f"{'1/(2 lr wd)' if config.rule == 'muon' else '(1-momentum)/(4 lr wd)'} = {leading:.4g}; "
                            f"u = lr*wd/(1-momentum) = {u:.3g} is not small next to 1-momentum = "
                            f"{1 - p['momentum']:.3g}, so the invariants hold only approximately")
    warnings += _regime_warnings(config, before, after, epochs[1])
    others = None
    if after["wd"] != before["wd"]:  # λ without the α factor, and the old α
        others = {"lr": float(lr * Fraction(after["wd"]) / Fraction(before["wd"])), "wd": before["wd"]}
    return Transfer(before, after, invariants, tuple(steps), tuple(epochs), warnings, others)


def _regime_warnings(config: TransferConfig, before: dict, after: dict, relax_epochs: float) -> list[str]:
    out = []
    n = after["batch_size"]
    if config.rule == "muon":  # no linear-scaling claim to warn about: only an α move (λα kept)
        n = per_epoch = memory = 0
    if n > before["batch_size"] and n > LARGEST_CHECKED_BATCH:
        out.append(f"linear scaling: batch {n} is above {LARGEST_CHECKED_BATCH}, the largest in Page's "
                   "lr x N slice; at large N curvature limits lr and lr/N stops being flat")
    if config.rule != "muon":
        per_epoch = config.train_size / n
        memory = 1 / (1 - after["momentum"])
    if memory > MEMORY_FRACTION * per_epoch > 0:
        out.append(f"linear scaling: momentum averages over 1/(1-momentum) = {memory:.3g} steps, more than "
                   f"{MEMORY_FRACTION:g} of an epoch ({per_epoch:.3g} steps at batch {n}); the derivation "
                   "assumes the gradient changes little over that memory")
    if relax_epochs > RELAXATION_FRACTION * config.epochs:
        out.append(f"relaxation: {relax_epochs:.3g} epochs is more than {RELAXATION_FRACTION:g} of the "
                   f"{config.epochs:g}-epoch run; |w| is away from its equilibrium for much of it, "
                   "where lr*wd and u do not yet set the step size")
    return out


def render(result: Transfer, fmt: str, rule: str) -> str:
    """The result as a text table or JSON."""
    if fmt == "json":
        import json

        return json.dumps(result.to_dict(), indent=2) + "\n"
    if fmt != "table":
        raise RidgelineError(f"unknown format {fmt!r}: choose table or json")
    b, a = result.before, result.after
    sc = result.scale or {"before": {}, "after": {}}
    lines = [f"transfer ({rule}): "
             + ", ".join(f"{k}={v:.6g}" for k, v in ({k: b[k] for k in PAGE} | sc["before"]).items()) + "  ->  "
             + ", ".join(f"{k}={v:.6g}" for k, v in ({k: a[k] for k in PAGE} | sc["after"]).items()), "",
             f"{'invariant':<24}{'before':>12}{'after':>12}  kept"]
    for i in result.invariants:
        kept = "yes" if i.kept else f"no (x{i.after / i.before:.4g})"
        lines.append(f"{i.name:<24}{i.before:>12.5g}{i.after:>12.5g}  {kept}")
    (s0, s1), (e0, e1) = result.relaxation_steps, result.relaxation_epochs
    lines += ["", f"relaxation time: {s0:.4g} steps ({e0:.3g} epochs) -> {s1:.4g} steps ({e1:.3g} epochs)"
              if math.isfinite(s0) or math.isfinite(s1) else "relaxation time: not known before the run (see below)"]
    if result.scale is not None:
        lines += _render_scale(result)
    if result.others is not None:
        o = result.others
        lines += ["", f"tensors without the symmetry (BN, classifier): lr*wd is not their invariant; to keep them "
                      f"as they were, train with --other-lr {o['lr']:.6g} --other-wd {o['wd']:.6g}"]
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines) + "\n"


def _render_scale(result: Transfer) -> list[str]:
    """The timescale block of a train_size/epochs/width move: what moved, τ, the run in τ."""
    sc = result.scale
    (s0, s1), (e0, e1) = result.relaxation_steps, result.relaxation_epochs
    r0, r1 = sc["run_relaxation_times"]["before"], sc["run_relaxation_times"]["after"]
    fixed = sc["keep"]
    moved = ", ".join(f"{k} x{v:.4g}" for k, v in sc["moved"].items()) or "nothing"
    name, lead = next(iter(sc["moved_leading_order"].items()))
    if not math.isclose(sc["moved"].get(name, 1), lead, rel_tol=1e-3):
        moved += f" (x{lead:.4g} at leading order, {name} ~ 1/tau)"
    kept = "yes" if math.isclose(e0, e1, rel_tol=1e-9) else f"no (x{e1 / e0:.4g})"
    if fixed == "lr" and "lr" in sc["moved"]:
        moved += " (lr by muP, wd to keep lr*wd)"
    lines = ["", f"moves {moved} to keep the relaxation time in epochs (--keep {fixed})",
             f"relaxation time of |w|^2 derived for the rule: {sc['relaxation_form']} steps "
             "(leading order in lr*wd for the SGD rules; exact values above)",
             f"{'timescale':<28}{'before':>12}{'after':>12}  kept",
             f"{'relaxation time, epochs':<28}{e0:>12.5g}{e1:>12.5g}  {kept}",
             f"{'relaxation time, steps':<28}{s0:>12.5g}{s1:>12.5g}  "
             + ("yes" if math.isclose(s0, s1, rel_tol=1e-9) else f"no (x{s1 / s0:.4g})"),
             f"{'run, in relaxation times':<28}{r0:>12.5g}{r1:>12.5g}  "
             + ("yes" if math.isclose(r0, r1, rel_tol=1e-9) else f"no (x{r1 / r0:.4g})")]
    return lines + [f"note: {n}" for n in sc["notes"]]


# ------------------------------------------------------------------ the timescale
# The relaxation time τ of |w|² (e-folding, steps), as derived for each rule:
#   SGD rules (dynamics.theory.symbolic): τ = (1−ρ)/(4λα) at leading order, exactly a function
#     of λα and ρ (the rescaling symmetry), with no element count C: width cannot enter;
#   AdamW, Lion (dynamics.theory.adaptive): τ = −1/(2 ln(1 − λα)), exactly, for any C, β₁, β₂;
#   Adam with L2 decay: τ ∝ G^(2/3) C^(−2/3) α^(−2/3) λ^(−4/3): it needs the gradient.
# In epochs τ_epoch = τ N/M (M training images, N batch). Wang and Aitchison, "How to set
# AdamW's weight decay as you scale model and dataset size" (ICML 2025), find the best
# AdamW runs at a roughly constant τ_epoch of the weights' moving average, their
# τ_iter = 1/(λα) (our τ is the time of |w|², τ_iter/2 at leading order: the same rule).

#: ``--to`` names that change the run's scale rather than the optimiser's setting
SCALES = ("train_size", "epochs", "width")


@lru_cache(maxsize=None)
def relaxation_form(rule: str):
    """The leading-order relaxation time τ (steps) derived for ``rule``, and what it
    depends on: ``(τ, width, gradient, through_product)`` — whether it contains the
    element count C (so the width), the gradient G, and whether λ and α enter only as
    λα (then λ → cλ, α → α/c leaves it unchanged)."""
    import sympy as sp

    from dynamics.theory import symbolic as S
    from dynamics.rules import ADAPTIVE

    if rule in ADAPTIVE:
        from dynamics.theory import adaptive

        tau, size = adaptive.equilibrium(rule).relaxation_steps, adaptive.C
    else:
        tau, size = S.equilibrium(rule).relaxation_steps_leading, None
    c = sp.Symbol("c", positive=True)
    product = sp.simplify(tau.subs({S.lam: c * S.lam, S.alpha: S.alpha / c}, simultaneous=True) - tau) == 0
    return tau, size is not None and size in tau.free_symbols, S.G in tau.free_symbols, product


def _check_timescale_rule(rule: str) -> None:
    try:
        _, _, gradient, product = relaxation_form(rule)
    except Exception:  # a rule without the derivation (a new one): say so, never crash a run's summary
        raise RidgelineError(f"rule {rule!r}: no relaxation time is derived for it") from None
    if gradient or not product:
        raise RidgelineError(f"rule {rule!r}: its relaxation time depends on the gradient and the tensor's "
                             "size, not on lr*wd alone, so it is not known before the run; "
                             "`ridgeline validate` gives it along a run")


def relaxation_steps(rule: str, lr, wd, momentum=0.0, beta2=None):
    """Exact relaxation time of |w|² in steps (−1/ln μ of the moment map, :func:`dynamics.theory.symbolic.predict`)
    for a rule whose τ depends on λα (and ρ, β₂) only; NaN where there is no stable equilibrium."""
    import numpy as np

    from dynamics.rules import ADAPTIVE
    from dynamics.theory.dispatch import predict

    _check_timescale_rule(rule)
    extra = dict(elements=np.ones_like(np.asarray(lr, dtype=float)), beta2=beta2) if rule in ADAPTIVE else {}
    lr, wd, momentum = (np.asarray(a, dtype=float) for a in (lr, wd, momentum))
    tau = predict(rule, np.atleast_1d(lr), wd, momentum, np.ones(np.shape(np.atleast_1d(lr))), **extra).relaxation_steps
    return float(tau[0]) if lr.ndim == 0 else tau


@dataclass(frozen=True)
class Timescale:
    """A run's weight-norm timescale at its peak λ: τ in steps and epochs, the run in τ."""

    relaxation_steps: float  # τ at the peak λ, steps (NaN: no stable equilibrium)
    relaxation_epochs: float  # τ × N / M = τ / (steps per epoch)
    run_relaxation_times: float  # run length / τ at the peak λ
    schedule_relaxation_times: float | None = None  # Σ over steps of 1/τ(λ_t): the run along its schedule

    def to_dict(self) -> dict:
        clean = lambda x: x if x is not None and math.isfinite(x) else None  # noqa: E731
        return {"relaxation_steps": clean(self.relaxation_steps), "relaxation_epochs": clean(self.relaxation_epochs),
                "run_relaxation_times": clean(self.run_relaxation_times),
                "schedule_relaxation_times": clean(self.schedule_relaxation_times)}

    @classmethod
    def from_dict(cls, d: dict) -> "Timescale | None":
        """The timescale saved by :meth:`to_dict` (in a run's summary.json); None if absent."""
        if d.get("relaxation_steps") is None:
            return None
        return cls(d["relaxation_steps"], d["relaxation_epochs"], d["run_relaxation_times"],
                   d.get("schedule_relaxation_times"))

    def line(self) -> str:
        """One line for a table: ``τ = 94.7 steps = 2.43 epochs; run = 4.1 τ (2.1 along the schedule)``."""
        if not math.isfinite(self.relaxation_steps):
            return "no stable equilibrium at the peak lr"
        text = (f"{self.relaxation_steps:.4g} steps = {self.relaxation_epochs:.3g} epochs; "
                f"run = {self.run_relaxation_times:.3g} relaxation times")
        if self.schedule_relaxation_times is not None:
            text += f" at the peak lr, {self.schedule_relaxation_times:.3g} along the schedule"
        return text


def timescale(rule: str, lr: float, wd: float, momentum: float, steps_per_epoch: float, epochs: float, *,
              warmup: float | None = None, schedule: str | None = None, beta2=None) -> Timescale:
    """The timescale of a run of ``epochs`` × ``steps_per_epoch`` steps at peak λ = ``lr``.

    With ``schedule`` (and ``warmup``, epochs) the trainer's λ_t of every step
    (:func:`dynamics.theory.trajectory.step_lrs`) adds the run along its schedule, Σ_t 1/τ(λ_t).
    Raises RidgelineError for a rule whose τ needs the gradient (adam-l2).
    """
    import numpy as np

    tau = relaxation_steps(rule, lr, wd, momentum, beta2)
    steps = steps_per_epoch * epochs
    along = None
    if schedule is not None:
        from dynamics.theory.trajectory import step_lrs

        lrs = step_lrs(lr, warmup, epochs, schedule, int(steps_per_epoch), int(round(steps)))
        taus = relaxation_steps(rule, lrs, wd, momentum, beta2)  # NaN at λ = 0 (and where unstable)
        along = float(np.nansum(1 / taus))  # those steps count no relaxation
    return Timescale(tau, tau / steps_per_epoch, steps / tau, along)


# ------------------------------------------------ moves of the run's scale, keeping τ
#: rules the scale moves cover: their τ is a function of λα (and ρ, β₁, β₂), derived
TIMESCALE_RULES = ("nesterov", "heavy-ball", "sgd", "adamw", "lion")
#: the Adam family and Lion: their one derived flat direction is the rescaling invariant
#: λ^(−c) α^b of :func:`dynamics.theory.adaptive.rescaling_symmetry` (λα for AdamW and Lion, λ²α for
#: Adam with L2), which carries a wd move (:func:`rescaling_transfer`)
RESCALING_RULES = ("adamw", "adam-l2", "lion")
CHOICES = tuple(dict.fromkeys(RULES + TIMESCALE_RULES + RESCALING_RULES))  # every --rule transfer takes
#: AdamW's and Lion's exact rescaling invariant is λα (dynamics.theory.adaptive), and λ/N, λα/N per epoch;
#: ρ's λ/(1−ρ) and u are the SGD rules' (shown for those)
ADAPTIVE_INVARIANTS = ("lr/N", "lr*wd", "lr*wd/N")


def _check_scale(config: TransferConfig) -> tuple[dict, dict, dict]:
    """(setting, scale before, scale after) of a move of train_size, epochs or width."""
    _check_names(config)
    mixed = sorted(set(config.target) - set(SCALES))
    if mixed:
        raise RidgelineError(f"--to mixes {mixed[0]} with {', '.join(sorted(set(config.target) & set(SCALES)))}: "
                             "move Page's directions (batch_size, momentum, wd) and the run's scale "
                             "(train_size, epochs, width) in two calls")
    if config.rule not in TIMESCALE_RULES:
        _check_timescale_rule(config.rule)  # the reason, where the derivation gives one
        raise RidgelineError(f"--rule {config.rule!r}: moves of train_size, epochs and width cover "
                             f"{', '.join(TIMESCALE_RULES)}")
    if config.keep not in KEEPS:
        raise RidgelineError(f"--keep {config.keep!r}: choose lr or wd (the other one moves)")
    if config.parametrisation not in PARAMETRISATIONS:
        raise RidgelineError(f"--parametrisation {config.parametrisation!r}: choose standard or mup")
    setting = PAGE | {k: v for k, v in config.source.items() if k in PAGE}
    _check_setting("--from", setting)
    if config.rule == "sgd" and setting["momentum"]:
        raise RidgelineError("--rule sgd has no momentum; give momentum=0 or use nesterov or heavy-ball")
    before = {"train_size": config.train_size, "epochs": config.epochs, "width": config.source.get("width", 1.0)}
    after = before | config.target
    for name, p in (("--train-size/--epochs/--from width", before), ("--to", after)):
        if not (p["train_size"] >= 1 and p["train_size"] == int(p["train_size"])):
            raise RidgelineError(f"{name}: train_size must be a whole number >= 1, got {p['train_size']:g}")
        if not all(math.isfinite(p[k]) and p[k] > 0 for k in ("epochs", "width")):
            raise RidgelineError(f"{name}: epochs and width must be finite numbers > 0")
    if after == before:
        raise RidgelineError(f"--to {','.join(f'{k}={v:g}' for k, v in config.target.items())} changes "
                             "nothing; give a new train_size, epochs or width")
    before["train_size"], after["train_size"] = int(before["train_size"]), int(after["train_size"])
    return setting, before, after


def _solve(tau, target: float, guess: float) -> float:
    """x > 0 with τ(x) = ``target``, τ falling through it near ``guess`` (the leading order's
    answer): secant steps on (ln x, ln τ), where τ ∝ 1/x nearly; bisection on ln x if they fail."""
    def f(x):
        t = tau(x)
        return math.log(t / target) if math.isfinite(t) and t > 0 else math.nan

    if not sys.float_info.min <= guess < math.inf:  # e.g. --to train_size=1e308
        raise RidgelineError(f"the move needs lr or wd near {guess:.3g}, outside the range of floats "
                             "(2.2e-308 to 1.8e308); choose a smaller move")
    a, b = math.log(guess), math.log(guess) + 0.01
    fa, fb = f(guess), f(math.exp(b))
    for _ in range(30):
        if not (math.isfinite(fa) and math.isfinite(fb)) or fa == fb:
            break
        a, b = b, b - fb * (b - a) / (fb - fa)
        fa, fb = fb, f(math.exp(b))
        if abs(fb) < 1e-15 or abs(b - a) < 1e-15:
            return math.exp(b)
    return _bisect(tau, target, guess)


def _bisect(tau, target: float, guess: float) -> float:
    lo, hi = guess / 2, guess * 2
    for _ in range(40):  # widen until the bracket holds the crossing
        t_lo, t_hi = tau(lo), tau(hi)
        if not math.isfinite(t_hi):
            raise RidgelineError(f"no stable equilibrium has a relaxation time of {target:.4g} steps near "
                                 f"{guess:.4g}: the move needs lr*wd beyond the rule's stable range")
        if t_lo > target > t_hi:
            break
        lo, hi = (lo / 2, hi) if t_lo <= target else (lo, hi * 2)
    else:
        raise RidgelineError(f"no setting found with a relaxation time of {target:.4g} steps")
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if tau(mid) > target else (lo, mid)
    return math.sqrt(lo * hi)


def scale_transfer(config: TransferConfig) -> Transfer:
    """The setting that keeps the relaxation time τ of |w|² in epochs, τ N/M, when the run
    moves to another train_size M', epochs or width (Wang and Aitchison's rule, derived for
    the rule through :func:`relaxation_form`).

    τ depends on λ and α only through λα (and on ρ), so keeping τ N/M at M' images moves λα
    to the value whose exact τ is τ M'/M steps (leading order λ'α' = λα M/M'): α moves
    with ``keep="lr"`` (Wang and Aitchison's choice), λ with ``keep="wd"``. The epochs
    leave τ N/M alone: nothing moves; the run's length in τ changes. Width: no rule covered
    has the element count C in τ, so with the standard parametrisation nothing moves; with
    μP (adaptive rules) λ' = λ W/W', and α' = α W'/W keeps λα, hence τ.
    """
    setting, before, after = _check_scale(config)
    rule, n, mom = config.rule, setting["batch_size"], setting["momentum"]
    lr, wd, notes = setting["lr"], setting["wd"], []
    form = relaxation_form(rule)[0]
    if after["width"] != before["width"]:
        lr = _width_lr(config, before["width"] / after["width"], lr, form, notes)
    if after["epochs"] != before["epochs"]:
        notes.append(f"epochs x{after['epochs'] / before['epochs']:.4g}: the relaxation time in epochs does not "
                     "depend on the run's length, so the epochs move nothing; the run is "
                     "longer or shorter in relaxation times")
    tau0 = relaxation_steps(rule, setting["lr"], setting["wd"], mom)
    if not math.isfinite(tau0):
        raise RidgelineError(f"--from: no stable equilibrium for {rule} at lr={setting['lr']:g}, wd={setting['wd']:g}")
    target = tau0 * after["train_size"] / before["train_size"]  # τ N/M = τ' N/M': τ' = τ M'/M steps
    moved = "lr" if config.keep == "wd" else "wd"
    value, leading = _move_to_tau(rule, setting, lr, wd, mom, config.keep, tau0, target)
    new = setting | {"lr": lr, "wd": wd, moved: value, "batch_size": int(n)}
    old = setting | {"batch_size": int(n)}
    invariants = _invariants(rule, old, new)
    taus = (tau0, relaxation_steps(rule, new["lr"], new["wd"], mom))
    epochs = tuple(t * n / s["train_size"] for t, s in zip(taus, (before, after)))
    runs = tuple(s["epochs"] / e for s, e in zip((before, after), epochs))
    factors = {k: new[k] / old[k] for k in ("lr", "wd") if new[k] != old[k]}
    warnings = _regime_warnings(dataclasses.replace(config, train_size=after["train_size"], epochs=after["epochs"]),
                                old, new, epochs[1])
    scale = {"before": before, "after": after, "keep": config.keep, "parametrisation": config.parametrisation,
             "moved": factors, "moved_leading_order": {moved: leading / old[moved]}, "relaxation_form": str(form), "run_relaxation_times": {"before": runs[0], "after": runs[1]},
             "notes": notes}
    return Transfer(old, new, invariants, taus, epochs, warnings, None, scale)


def _width_lr(config: TransferConfig, ratio: float, lr: float, form, notes: list) -> float:
    """λ after a width move W → W', ``ratio`` = W/W': λ' = λ W/W' under μP (adaptive rules,
    with wd keeping λα), λ unchanged under the standard parametrisation; appends a note."""
    from dynamics.rules import ADAPTIVE

    rule = config.rule
    if config.parametrisation == "mup":
        if rule not in ADAPTIVE:
            raise RidgelineError(f"--parametrisation mup (lr ~ 1/width) is stated for the adaptive rules "
                                 f"(adamw, lion); {rule}'s relaxation time {form} has no width in it: "
                                 "use --parametrisation standard")
        if config.keep == "wd":
            raise RidgelineError("--parametrisation mup moves lr ~ 1/width itself, so wd must keep the "
                                 "relaxation time: use --keep lr")
        lr *= ratio
        notes.append(f"width x{1 / ratio:.4g} under muP: lr ~ 1/width, so lr x{ratio:.4g}; wd keeps lr*wd")
    else:
        notes.append(f"width: the relaxation time derived for {rule}, {form} steps, has no element count "
                     "in it: it does not depend on width at a fixed lr*wd, and the standard "
                     "parametrisation keeps lr, so width moves nothing")
    return lr


def _move_to_tau(rule: str, setting: dict, lr: float, wd: float, mom: float, keep: str, tau0: float,
                 target: float) -> tuple[float, float]:
    """``(value, leading)``: the moved one of λ, α (the one not kept) whose exact τ is ``target``
    steps, and its leading-order value λ'α' = λα τ₀/τ' (τ ∝ 1/(λα)); unchanged when τ already is."""
    moved = "lr" if keep == "wd" else "wd"
    other = {"lr": lr, "wd": wd}[keep]
    value = {"lr": lr, "wd": wd}[moved]
    leading = value
    if not math.isclose(relaxation_steps(rule, lr, wd, mom), target, rel_tol=1e-14):  # else: τ is kept as it is
        guess = setting["lr"] * setting["wd"] * tau0 / target / other  # leading order: τ ∝ 1/(λα)
        tau_of = lambda x: relaxation_steps(rule, *((x, other) if moved == "lr" else (other, x)), mom)  # noqa: E731
        value = guess if math.isclose(tau_of(guess), target, rel_tol=1e-13) else _solve(tau_of, target, guess)
        leading = guess
    return value, leading


def _invariants(rule: str, old: dict, new: dict) -> list:
    """The rule's own invariants (λ/N, λα, …) before and after, computed exactly in fractions."""
    from dynamics.rules import ADAPTIVE

    exact = [(Fraction(p["lr"]), Fraction(p["batch_size"]), 1 - Fraction(p["momentum"]), Fraction(p["wd"]))
             for p in (old, new)]
    names = INVARIANTS if rule not in ADAPTIVE else ADAPTIVE_INVARIANTS  # the rule's own invariants
    return [Invariant(name, float(INVARIANTS[name](*exact[0])), float(INVARIANTS[name](*exact[1])),
                      INVARIANTS[name](*exact[0]) == INVARIANTS[name](*exact[1])) for name in names]


def rescaling_exponent(rule: str):
    """(e, invariant) for an adaptive rule: the rescaling w → r w, λ → r^b λ, α → r^c α
    derived from its update (:func:`dynamics.theory.adaptive.rescaling_symmetry`) keeps
    λ^(−c) α^b, so a move α → α' is carried by λ' = λ (α/α')^e with e = b/(−c)
    (1 for AdamW and Lion, ½ for Adam with L2). ``invariant``: that product in lr, wd."""
    import sympy as sp

    from dynamics.theory.adaptive import rescaling_symmetry
    from dynamics.theory.symbolic import alpha, lam

    sym = rescaling_symmetry(rule)
    name = str(sym["invariant"].subs({lam: sp.Symbol("lr"), alpha: sp.Symbol("wd")}))
    return sp.Rational(sym["b"]) / -sp.Rational(sym["c"]), name


def rescaling_transfer(config: TransferConfig) -> Transfer:
    """A wd move of AdamW, Adam with L2 or Lion along its derived rescaling invariant.
    β₁ and N have no derived flat direction in these rules, so only wd may move; λ
    follows, the tensors without the symmetry are kept by their old (λ, α)."""
    _check_names(config)
    moved = sorted(set(config.target) - {"wd"})
    if moved:
        raise RidgelineError(f"--rule {config.rule} --to {moved[0]}: the {config.rule} rule's one derived flat "
                             "direction is its rescaling invariant, which carries a wd move (lr follows); "
                             "it has none for batch_size or momentum (beta1)")
    source = PAGE | {k: v for k, v in config.source.items() if k in PAGE}
    target = source | config.target
    for name, p in (("--from", source), ("--to", target)):
        _check_setting(name, p)
    if target["wd"] == source["wd"]:
        raise RidgelineError(f"--to wd={target['wd']:g} changes nothing; give a new wd")
    exponent, name = rescaling_exponent(config.rule)
    ratio = Fraction(source["wd"]) / Fraction(target["wd"])
    lr = Fraction(source["lr"]) * ratio if exponent == 1 else Fraction(source["lr"] * float(ratio) ** float(exponent))
    before = source | {"batch_size": int(source["batch_size"])}
    after = target | {"lr": float(lr), "batch_size": int(target["batch_size"])}
    b, c = float(1 / exponent), 1.0  # the invariant λ^(1/e) α, up to a power: compared exactly where e = 1
    value = lambda lr_, wd: Fraction(lr_) * Fraction(wd) if exponent == 1 else float(lr_) ** b * float(wd) ** c  # noqa: E731
    kept = value(lr, after["wd"]), value(source["lr"], source["wd"])
    invariants = [Invariant(name, float(kept[1]), float(kept[0]), kept[0] == kept[1] if exponent == 1
                            else math.isclose(kept[0], kept[1], rel_tol=1e-12))]
    if name != "lr*wd":
        invariants.append(Invariant("lr*wd", source["lr"] * source["wd"], float(lr) * after["wd"], False))
    warnings, steps = [], []
    for p in (before, after):
        try:
            steps.append(relaxation_steps(config.rule, p["lr"], p["wd"], p["momentum"]))
        except RidgelineError as e:
            steps.append(math.nan)
            if p is before:
                warnings.append(f"relaxation time not shown: {e}")
    epochs = [t * p["batch_size"] / config.train_size for t, p in zip(steps, (before, after))]
    if math.isfinite(epochs[1]) and epochs[1] > RELAXATION_FRACTION * config.epochs:
        warnings.append(f"relaxation: {epochs[1]:.3g} epochs is more than {RELAXATION_FRACTION:g} of the "
                        f"{config.epochs:g}-epoch run; |w| is away from its equilibrium for much of it")
    return Transfer(before, after, invariants, tuple(steps), tuple(epochs), warnings,
                    others={"lr": before["lr"], "wd": before["wd"]})
