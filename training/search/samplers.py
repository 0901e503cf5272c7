"""``ridgeline tune --method tpe|random``: Optuna's samplers in either coordinates.

The search space is three log-uniform coordinates, Page's rotated ones or the naive ones:

    rotated: log u, log(1 − ρ), log α     with u = λα/(1 − ρ), λ = u(1 − ρ)/α
    naive:   log λ, log(1 − ρ), log α

(λ ``lr`` per step, ρ ``momentum``, α ``wd``; :func:`dynamics.theory.symbolic.from_rotated`
maps u back to λ). The first trial is the starting point (``enqueue_trial``); then
Optuna's ask-and-tell loop proposes points and :func:`search` scores each one through
the tune's evaluator, so every trial goes through the record store like the
coordinate descent's. The sampler is seeded and told the scores read back from the
records, so a rerun asks for the same points in the same order: the finished ones
come from the records, and a tune stopped by ``--max-runs`` continues where it
stopped without repeating a trial. A diverged trial (NaN) is told the worst score
seen so far (failed, if it is the first): told as failed, TPE would leave divergent
regions out of its model and keep sampling them (in the rotated box, where λ =
u(1−ρ)/α reaches 1e5, half of its trials diverged on the toy).
"""

from __future__ import annotations

import math

from dynamics.registry import METHODS  # the CLI's choice list: coordinate, tpe, random
from dynamics.util.errors import RidgelineError

#: log-uniform range of each coordinate (one_minus_momentum = 1 − ρ; 1 is plain SGD)
DEFAULT_BOUNDS = {"lr": (1e-4, 10.0), "rotated": (1e-6, 0.1), "one_minus_momentum": (1e-3, 1.0),
                  "wd": (1e-6, 0.1)}


def space_names(rotated: bool) -> tuple[str, str, str]:
    return ("rotated" if rotated else "lr", "one_minus_momentum", "wd")


def to_space(point: dict, rotated: bool) -> dict:
    """(λ, ρ, α) -> the search coordinates."""
    from dynamics.theory.symbolic import to_rotated

    first = float(to_rotated(point["lr"], point["momentum"], point["wd"])) if rotated else point["lr"]
    return dict(zip(space_names(rotated), (first, 1.0 - point["momentum"], point["wd"])))


def from_space(values: dict, rotated: bool) -> dict:
    """The search coordinates -> (λ, ρ, α), canonical."""
    from dynamics.theory.symbolic import from_rotated
    from training.search.records import canonical

    momentum = 1.0 - values["one_minus_momentum"]
    momentum = 0.0 if abs(momentum) < 1e-12 else momentum
    lr = (float(from_rotated(values["rotated"], momentum, values["wd"])) if rotated
          else values["lr"])
    return canonical({"lr": lr, "momentum": momentum, "wd": values["wd"]})


def check_bounds(bounds: dict, start: dict, rotated: bool) -> dict:
    """The bounds of this space (defaults filled in), checked to hold ``start``."""
    full = DEFAULT_BOUNDS | bounds
    unknown = set(bounds) - set(DEFAULT_BOUNDS)
    if unknown:
        raise RidgelineError(f"--bounds: unknown name {sorted(unknown)[0]!r}; use {', '.join(DEFAULT_BOUNDS)}")
    for name, (lo, hi) in full.items():
        if not (0 < lo < hi and math.isfinite(hi)):
            raise RidgelineError(f"--bounds {name}={lo:g}:{hi:g}: need 0 < lo < hi")
    if full["one_minus_momentum"][1] > 1:
        raise RidgelineError("--bounds one_minus_momentum: hi must be <= 1 (momentum >= 0)")
    for name, value in to_space(start, rotated).items():
        lo, hi = full[name]
        if not lo <= value <= hi:
            raise RidgelineError(f"the start has {name}={value:.4g}, outside --bounds {name}={lo:g}:{hi:g}; "
                                 "widen the bounds or move the start")
    return {name: full[name] for name in space_names(rotated)}


def make_sampler(method: str, seed: int):
    """Optuna's seeded sampler for ``method`` (tpe or random); names the extra if missing."""
    try:
        import optuna
    except ImportError:
        raise RidgelineError(f"--method {method} needs Optuna: pip install 'ridgeline[optuna]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if method == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise RidgelineError(f"unknown method {method!r}; use {', '.join(METHODS)}")


def improves(score: float, best: float | None, maximize: bool) -> bool:
    """Whether ``score`` beats ``best`` (None: nothing yet); NaN (diverged) never does."""
    if score != score:
        return best is None
    if best is None or best != best:
        return True
    return score > best if maximize else score < best


def search(evaluate, start: dict, maximize: bool, method: str, rotated: bool, *, seed: int,
           bounds: dict, max_asks: int, log=lambda row: None) -> tuple[dict, float, int]:
    """Ask-and-tell until ``evaluate`` stops it (``max_runs``) or after ``max_asks``
    proposals (a guard against a sampler that only repeats finished trials); returns
    the best (point, score, run). ``evaluate(point, label) -> (run, score)``; ``log``
    gets each improvement, as the coordinate descent's does."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState

    study = optuna.create_study(direction="maximize" if maximize else "minimize",
                                sampler=make_sampler(method, seed))
    space = {name: FloatDistribution(lo, hi, log=True) for name, (lo, hi) in bounds.items()}
    study.enqueue_trial(to_space(start, rotated))
    best: tuple[dict, float, int] | None = None
    worst = math.nan  # the worst finite score so far: what a diverged trial is told
    for _ in range(max_asks):  # evaluate raises when the budget is spent
        trial = study.ask(space)
        point = from_space(trial.params, rotated)
        run, score = evaluate(point, "start" if best is None else method)
        if not math.isnan(score):
            worst = score if math.isnan(worst) else (min if maximize else max)(worst, score)
        if math.isnan(score) and math.isnan(worst):
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, worst if math.isnan(score) else score)
        if improves(score, None if best is None else best[1], maximize):
            best = (point, score, run)
            log({"run": run, "coordinate": "start" if run == 0 else method, **point, "score": score})
    return best
