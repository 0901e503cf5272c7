"""``ridgeline transfer``: carry a good setting along Page's flat directions.

David Page, "How to Train Your ResNet 5: Hyperparameters" (Myrtle AI blog), found
almost-flat ridges in which λ/N, λ/(1−ρ) or λα is held fixed (λ lr per step, N batch
size, ρ momentum, α wd per step). :mod:`dynamics.symbolic` derives them from the rules:
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

The relaxation time of |w| (``dynamics.symbolic.predict``, steps; ×N/M for epochs, M
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

import math
from dataclasses import dataclass, field
from fractions import Fraction

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
                "warnings": self.warnings, "others": self.others}


def _check(config: TransferConfig) -> tuple[dict, dict]:
    if config.rule not in RULES:
        raise RidgelineError(f"--rule {config.rule!r}: transfer covers coupled weight decay; use {', '.join(RULES)}")
    unknown = (set(config.source) - set(PAGE)) | (set(config.target) - set(TARGETS))
    if unknown:
        raise RidgelineError(f"unknown name {sorted(unknown)[0]!r}: --from takes lr, wd, momentum, "
                             f"batch_size; --to takes {', '.join(TARGETS)} (lr follows)")
    source = PAGE | config.source
    target = source | config.target
    for name, p in (("--from", source), ("--to", target)):
        if not (p["lr"] > 0 and p["wd"] > 0 and math.isfinite(p["lr"]) and math.isfinite(p["wd"])):
            raise RidgelineError(f"{name}: lr and wd must be finite numbers > 0")
        if not 0 <= p["momentum"] < 1:
            raise RidgelineError(f"{name}: momentum must be in [0, 1), got {p['momentum']}")
        if p["batch_size"] < 1 or p["batch_size"] != int(p["batch_size"]):
            raise RidgelineError(f"{name}: batch_size must be a whole number >= 1, got {p['batch_size']}")
    if all(target[k] == source[k] for k in config.target):
        raise RidgelineError(f"--to {','.join(f'{k}={v:g}' for k, v in config.target.items())} "
                             "changes nothing; give a new batch_size, momentum or wd")
    moved = [k for k in ("batch_size", "momentum") if target[k] != source[k]]
    if config.rule == "muon" and moved:  # dynamics.muon: (w, λ, α) → (rw, rλ, α/r) is its one exact symmetry
        raise RidgelineError(f"--rule muon: only lr*wd is derived invariant (NS(u) fixes the update's size, so "
                             f"neither lr/N nor lr/(1-momentum) carries over); --to may change wd, not {moved[0]}")
    if config.rule == "sgd" and (source["momentum"] or target["momentum"]):
        raise RidgelineError("--rule sgd has no momentum; give momentum=0 or use nesterov or heavy-ball")
    if not (config.train_size >= 1 and config.epochs > 0):
        raise RidgelineError("--train-size must be >= 1 and --epochs > 0")
    return source, target


def equivalent_lr(source: dict, target: dict) -> Fraction:
    """λ' = λ (N'/N) ((1−ρ')/(1−ρ)) (α/α'), exactly."""
    s, t = ({n: Fraction(p[n]) for n in PAGE} for p in (source, target))
    return (s["lr"] * (t["batch_size"] / s["batch_size"]) * ((1 - t["momentum"]) / (1 - s["momentum"]))
            * (s["wd"] / t["wd"]))


def _relaxation(rule: str, p: dict) -> tuple[float, float]:
    """(exact, leading-order) relaxation time in steps; exact is NaN without equilibrium."""
    from dynamics.symbolic import predict

    if rule == "muon":  # |w|² ∝ q^(2t), q = 1 − λα, whatever the matrix (dynamics.muon)
        q = 1 - p["lr"] * p["wd"]
        return (-1 / (2 * math.log(q)) if 0 < q < 1 else math.nan), 1 / (2 * p["lr"] * p["wd"])
    try:
        exact = predict(rule, p["lr"], p["wd"], p["momentum"]).relaxation_steps
    except RidgelineError:
        exact = math.nan
    return exact, (1 - p["momentum"]) / (4 * p["lr"] * p["wd"])


def transfer(config: TransferConfig) -> Transfer:
    """The setting equivalent to ``config.source`` with ``config.target``'s changes."""
    source, target = _check(config)
    lr = equivalent_lr(source, target)
    after = target | {"lr": float(lr), "batch_size": int(target["batch_size"])}
    before = source | {"batch_size": int(source["batch_size"])}
    exact = [(Fraction(p["lr"]) if p is source else lr, Fraction(p["batch_size"]),
              1 - Fraction(p["momentum"]), Fraction(p["wd"])) for p in (source, target)]
    invariants = []
    for name, f in INVARIANTS.items():
        a, b = f(*exact[0]), f(*exact[1])
        invariants.append(Invariant(name, float(a), float(b), a == b))
    steps, epochs, warnings = [], [], []
    for label, p in (("before", before), ("after", after)):
        t, leading = _relaxation(config.rule, p)
        steps.append(t)
        epochs.append(t * p["batch_size"] / config.train_size)
        if not math.isfinite(t):
            warnings.append(f"{label}: no stable equilibrium for {config.rule} at lr={p['lr']:.4g}, "
                            f"wd={p['wd']:.4g}, momentum={p['momentum']:.4g}: lr*wd is too large")
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
    lines = [f"transfer ({rule}): "
             + ", ".join(f"{k}={b[k]:.6g}" for k in PAGE) + "  ->  "
             + ", ".join(f"{k}={a[k]:.6g}" for k in PAGE), "",
             f"{'invariant':<24}{'before':>12}{'after':>12}  kept"]
    for i in result.invariants:
        kept = "yes" if i.kept else f"no (x{i.after / i.before:.4g})"
        lines.append(f"{i.name:<24}{i.before:>12.5g}{i.after:>12.5g}  {kept}")
    (s0, s1), (e0, e1) = result.relaxation_steps, result.relaxation_epochs
    lines += ["", f"relaxation time: {s0:.4g} steps ({e0:.3g} epochs) -> {s1:.4g} steps ({e1:.3g} epochs)"]
    if result.others is not None:
        o = result.others
        lines += ["", f"tensors without the symmetry (BN, classifier): lr*wd is not their invariant; to keep them "
                      f"as they were, train with --other-lr {o['lr']:.6g} --other-wd {o['wd']:.6g}"]
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines) + "\n"
