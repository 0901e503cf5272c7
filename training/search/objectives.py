"""What a sweep or a tune evaluates: the ``quadratic`` toy or the real ``train``er.

An objective turns hyperparameters (λ ``lr`` per step, N ``batch_size`` examples per
step, ρ ``momentum``, α ``wd``, and a ``seed``) into a :class:`~training.search.records.Trial`
— the full configuration and its key — and evaluates a list of trials into results
``{"score", "diverged", "summary"}``:

- ``quadratic``: the final loss of the quadratic toy, scale-invariant weights plus a
  small head without the symmetry (:func:`dynamics.jobs.slices.quadratic_final_loss`),
  lower is better; *vectorised*: a whole list of settings is one simulator call per seed;
- ``train``: the test accuracy of :func:`training.train` on a
  :class:`training.config.TrainConfig`, higher is better; one trial at a time, each
  writing its run directory under ``<work dir>/runs/<key>``.

Objectives are small frozen dataclasses, so executors can ship them to worker
processes or Ray tasks.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynamics.registry import OBJECTIVES  # the CLI's choice list: quadratic, train
from dynamics.util.errors import RidgelineError
from training.search.options import dataclass_types, parse_options
from training.search.records import HYPERPARAMETERS, Trial, canonical, trial_key

#: elements of one (settings, D + D_b) simulator tensor per call: a task's settings are
#: simulated in chunks of at most this many elements (1 MB per float32 buffer), so its
#: memory stays bounded and small next to the sweep's per-run bookkeeping
CHUNK_ELEMENTS = 2**18
#: (settings, D + D_b) float32 tensors alive at the simulator's peak: w, v, g and the
#: update's temporaries. The added peak resident memory of a call over S (D + D_b) 4
#: bytes varies with the allocator: 6.6 at 1 step, 9.5 to 10 at 50 (S = 7,281), 14.5 at
#: 50 (S = 1,820); with 1 MB buffers the choice moves the estimate by a few MB
SIMULATOR_BUFFERS = 10

#: fields of TrainConfig a sweep or tune sets itself
_TRAIN_RESERVED = {
    "out": "the sweep or tune sets each trial's run directory (under --out)",
    "resume": "a sweep or tune resumes on its own: rerun the same command",
}


def check_params(params: dict) -> None:
    """One-line errors for hyperparameters outside their domain."""
    for name in ("lr", "wd"):
        if not (params[name] > 0 and math.isfinite(params[name])):
            raise RidgelineError(f"{name} must be a finite number > 0, got {params[name]}")
    if not 0 <= params["momentum"] < 1:
        raise RidgelineError(f"momentum must be in [0, 1), got {params['momentum']}")
    if not 1 <= params["batch_size"] <= 2**62:
        raise RidgelineError(f"batch_size must be from 1 to 2**62, got {params['batch_size']}")


@dataclass(frozen=True)
class QuadraticObjective:
    """The quadratic toy: final loss (lower is better) of ``quadratic_final_loss``."""

    base: dict  # lr (per step), batch_size (examples), momentum, wd, seed: the defaults
    options: dict = field(default_factory=dict)  # other keyword arguments of the simulator
    name: str = "quadratic"
    score_name: str = "final_loss"  # the toy's loss at the end of the run
    maximize: bool = False
    vectorised: bool = True  # one simulator call evaluates many settings
    floor: float | None = None  # no natural floor for a loss

    @classmethod
    def from_options(cls, args: list[str]) -> "QuadraticObjective":
        from dynamics.jobs.slices import TOY_DEFAULTS, check_toy

        fields = _simulator_fields()
        values = parse_options(args, fields, owner="--objective quadratic")
        base = {"lr": float(TOY_DEFAULTS["lr"]), "batch_size": int(TOY_DEFAULTS["batch_size"]),
                "momentum": float(TOY_DEFAULTS["momentum"]), "wd": float(TOY_DEFAULTS["wd"]),
                "seed": 0}
        base |= {k: v for k, v in values.items() if k in HYPERPARAMETERS}
        check_params(base)
        options = {k: v for k, v in values.items() if k not in HYPERPARAMETERS}
        if options.get("rule") == "sgd" and "momentum" in values:
            raise RidgelineError("--momentum: the rule sgd has no momentum; drop --momentum or choose "
                                 "--rule heavy-ball or nesterov")
        unused = [k for k in options if k.startswith("head_")] if options.get("head", 1) == 0 else []
        if unused:
            raise RidgelineError(f"{', '.join('--' + k.replace('_', '-') for k in unused)}: the toy has no head "
                                 f"with --head 0; drop {'it' if len(unused) == 1 else 'them'} or give --head > 0")
        check_toy(**options)
        return cls(base=base, options=options)

    def describe(self) -> dict:
        return canonical({"base": self.base, "options": self.options})

    def trial(self, params: dict) -> Trial:
        params = canonical(self.base | params)
        check_params(params)
        config = params | self.options
        return Trial(trial_key(self.name, config), params, config)

    def _chunk(self) -> int:
        """Settings per simulator call: :data:`CHUNK_ELEMENTS` over the toy's D + D_b."""
        from dynamics.jobs.slices import toy_options

        o = toy_options() | self.options
        return max(1, CHUNK_ELEMENTS // (o["dim"] + o["head"]))

    def working_set(self, settings: int) -> float:
        """Bytes the simulator holds for a task of ``settings`` settings (one chunk)."""
        from dynamics.jobs.slices import toy_options

        o = toy_options() | self.options
        return SIMULATOR_BUFFERS * 4.0 * min(settings, self._chunk()) * (o["dim"] + o["head"])

    def evaluate(self, trials: list[Trial], workdir: str, report=None) -> list[dict]:
        """Vectorised simulator calls per seed for all of ``trials``, in chunks of at
        most :meth:`_chunk` settings (each chunk draws the same noise: a setting's
        result does not depend on the chunk it is in)."""
        results: list[dict | None] = [None] * len(trials)
        chunk = self._chunk()
        for seed in sorted({t.params["seed"] for t in trials}):
            same = [i for i, t in enumerate(trials) if t.params["seed"] == seed]
            for start in range(0, len(same), chunk):
                self._evaluate_chunk(trials, same[start:start + chunk], seed, results)
        return results  # type: ignore[return-value]

    def _evaluate_chunk(self, trials: list[Trial], idx: list[int], seed: int, results: list) -> None:
        import numpy as np

        from dynamics.jobs.slices import quadratic_final_loss

        arrays = {k: np.array([trials[i].params[k] for i in idx], dtype=np.int64 if k == "batch_size" else float)
                  for k in ("lr", "batch_size", "momentum", "wd")}
        loss = np.asarray(quadratic_final_loss(**arrays, seed=seed, **self.options), dtype=float)
        for i, value in zip(idx, loss.reshape(-1)):
            ok = bool(np.isfinite(value))
            results[i] = {"score": float(value) if ok else math.nan, "diverged": not ok,
                          "summary": {"final_loss": float(value) if ok else None}}


def train_fields() -> dict[str, Any]:
    """Option name → type of ``--objective train``: the options of ``ridgeline train``,
    i.e. TrainConfig's fields and ``beta1`` (β₁ of adamw/adam/lion, stored as momentum)."""
    from typing import Optional

    from training.config import TrainConfig

    fields = dataclass_types(TrainConfig)
    at = list(fields).index("momentum") + 1
    items = list(fields.items())
    return dict(items[:at] + [("beta1", Optional[float])] + items[at:]) | {"exact_symmetry": bool}


def with_symmetry_ref(options: tuple[str, ...], lr: float | None, wd: float | None) -> tuple[str, ...]:
    """``options`` plus ``--symmetry-ref`` at (λ₀, α₀) = (``lr``, ``wd``) when they ask for
    ``--init-scale follow`` or ``--exact-symmetry`` and name no reference point; a None
    coordinate is the one the options set, else TrainConfig's (Page's) default.

    This is how a sweep centres the symmetry on its grid, and a tune on its start."""
    from training.config import TrainConfig, format_symmetry_ref

    values = parse_options(list(options), train_fields(), owner="--objective train (the options of ridgeline train)",
                           reserved=_TRAIN_RESERVED)
    wants = values.get("init_scale") == "follow" or values.get("exact_symmetry")
    if not wants or values.get("symmetry_ref") is not None:
        return tuple(options)
    lr = values.get("lr", TrainConfig.lr) if lr is None else lr
    wd = values.get("wd", TrainConfig.wd) if wd is None else wd
    return tuple(options) + ("--symmetry-ref", format_symmetry_ref(canonical(lr), canonical(wd)))


def _simulator_fields() -> dict[str, Any]:
    """Option name → type: the four hyperparameters, seed, and the simulator's keywords."""
    from dynamics.jobs.slices import toy_options

    fields: dict[str, Any] = {"lr": float, "batch_size": int, "momentum": float, "wd": float,
                              "seed": int}
    return fields | {k: type(v) if v is not None else str for k, v in toy_options().items() if k not in fields}


@dataclass(frozen=True)
class TrainObjective:
    """The real network: test accuracy (higher is better) of ``training.train``."""

    base: Any  # training.config.TrainConfig with every option the user gave
    name: str = "train"
    score_name: str = "test_acc"  # fraction of test images right ("val_acc" with a holdout)
    maximize: bool = True
    vectorised: bool = False
    floor: float | None = 0.91  # Page's heatmap floor

    @classmethod
    def from_options(cls, args: list[str]) -> "TrainObjective":
        from training.config import from_options

        values = parse_options(args, train_fields(), owner="--objective train (the options of ridgeline train)",
                               reserved=_TRAIN_RESERVED)
        # as `ridgeline train` does: --beta1 (adamw, adam, lion) is stored as momentum, and
        # a flag of the other optimiser family is a one-line error
        base = from_options(**values)
        check_params({k: getattr(base, k) for k in ("lr", "batch_size", "momentum", "wd")})
        # tune on held-out training images when there are some, not on the test set
        return cls(base=base, score_name="val_acc" if base.holdout > 0 else "test_acc")

    def _config(self, params: dict) -> dict:
        """The trial's TrainConfig fields, less the reserved ones and those at their default
        (the hyperparameters always stay): an option added later with a default that keeps
        the old behaviour leaves every earlier trial's key, and so its record, valid."""
        config = dataclasses.asdict(dataclasses.replace(self.base, **params))
        defaults = {f.name: f.default for f in dataclasses.fields(self.base)}
        return {k: v for k, v in config.items() if k not in _TRAIN_RESERVED and
                (k in HYPERPARAMETERS or v != defaults.get(k, dataclasses.MISSING))}

    def describe(self) -> dict:
        return canonical({"base": self._config({})})

    def trial(self, params: dict) -> Trial:
        params = canonical({k: getattr(self.base, k) for k in HYPERPARAMETERS} | params)
        params["batch_size"] = int(params["batch_size"])
        check_params(params)
        config = canonical(self._config(params))
        return Trial(trial_key(self.name, config), params, config)

    def evaluate(self, trials: list[Trial], workdir: str, report=None) -> list[dict]:
        """Train each trial in turn; its run directory is ``workdir/runs/<key>``.

        A trial killed mid-way left a checkpoint there: ``resume=True`` continues it
        from its last finished epoch (the same result as an uninterrupted run).
        ``report(text)``, when given, receives the step count as training goes.
        """
        from training import train
        from training.config import TrainConfig

        on_step = (lambda step, *_: report(f"step {step}")) if report else None
        results = []
        for t in trials:
            config = TrainConfig(**t.config, out=str(Path(workdir) / "runs" / t.key))
            summary = train(config, resume=True, verbose=False, on_step=on_step)
            score, diverged = summary.get(self.score_name), bool(summary.get("diverged", False))
            # a diverged run scores NaN, the worst value, as a diverged toy run does: its
            # accuracy at the stop (near chance) must not compete with finished runs
            results.append({"score": float(score) if score is not None and not diverged else math.nan,
                            "diverged": diverged, "summary": summary})
        return results


def make_objective(name: str, args: list[str]):
    """The objective called ``name``, configured from pass-through ``args``."""
    if name == "quadratic":
        return QuadraticObjective.from_options(args)
    if name == "train":
        return TrainObjective.from_options(args)
    raise RidgelineError(f"unknown objective {name!r}; use {' or '.join(OBJECTIVES)}")
