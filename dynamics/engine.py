"""The vectorised integrator: R runs of D dimensions advanced together.

State is a pair of (R, D) torch tensors (w, v), one row per run, and each run has its
own hyperparameters as (R, 1) columns: peak learning rate λ, weight decay α, momentum
ρ and its own length T (steps). One step of every row is one call of the update rule
from :mod:`dynamics.rules` (never written again here):

    λ_t = λ · s(t, T)                    (schedule factor, per row)
    (w, v) ← RULES[rule](w, v, g(w), λ_t, α, ρ)

Runs shorter than the longest are frozen (w, v unchanged) once t ≥ T, so settings
with different step counts (a fixed number of training examples at different batch
sizes) still share one call.
"""

from __future__ import annotations

from typing import Callable

import torch

from dynamics.errors import RidgelineError
from dynamics.rules import get_rule

SCHEDULES = ("constant", "piecewise", "step")
WARMUP = 5 / 24  # the seed's piecewise linear schedule peaks after 5 of 24 epochs
DROP_AT, DROP_FACTOR = 0.5, 0.1  # "step": λ → λ/10 half-way through


def check_schedule(schedule: str) -> None:
    if schedule not in SCHEDULES:
        raise RidgelineError(f"unknown schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")


def schedule_factor(schedule: str, t: int, steps: torch.Tensor) -> torch.Tensor:
    """s(t, T) = λ_t/λ for step t (0-based) of runs of T = ``steps`` steps.

    Evaluated at the middle of the step, f = (t + ½)/T:
    - ``constant``: s = 1;
    - ``piecewise`` (the seed's): linear 0 → 1 over f ∈ [0, 5/24], then 1 → 0 at f = 1;
    - ``step``: s = 1, then 1/10 from f = ½ on (a 10x drop, for the relaxation time).
    """
    f = (t + 0.5) / steps
    if schedule == "constant":
        return torch.ones_like(f)
    if schedule == "piecewise":
        return torch.clamp(torch.minimum(f / WARMUP, (1 - f) / (1 - WARMUP)), min=0.0)
    if schedule == "step":
        return torch.where(f < DROP_AT, torch.ones_like(f), torch.full_like(f, DROP_FACTOR))
    check_schedule(schedule)
    raise AssertionError


Gradient = Callable[[torch.Tensor, int], torch.Tensor]  # g(w, t)
Observer = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], None]


def integrate(gradient: Gradient, rule: str, w: torch.Tensor, v: torch.Tensor, *,
              lr: torch.Tensor, wd: torch.Tensor, momentum: torch.Tensor, steps: torch.Tensor,
              schedule: str, every: int = 0, observe: Observer | None = None,
              progress: Callable[[int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Advance every row from step 0 to its own ``steps`` (columns (R, 1)).

    ``gradient(w, t)`` gives the (R, D) loss gradient at step t. Every ``every`` steps
    ``observe(t, w_before, w_after, v_after, g, lr_t)`` sees the step just taken
    (t counts finished steps); ``progress(n)`` is called with the steps done so far.
    """
    step = get_rule(rule)
    check_schedule(schedule)
    total = int(steps.max().item())
    ragged = bool((steps != total).any())
    for t in range(total):
        lr_t = lr * schedule_factor(schedule, t, steps)
        g = gradient(w, t)
        w_new, v_new = step(w, v, g, lr_t, wd, momentum)
        if ragged:
            active = t < steps
            w_new, v_new = torch.where(active, w_new, w), torch.where(active, v_new, v)
        if observe is not None and every and (t + 1) % every == 0:
            observe(t + 1, w, w_new, v_new, g, lr_t)
        w, v = w_new, v_new
        if progress is not None and ((t + 1) % 64 == 0 or t + 1 == total):
            progress(t + 1)
    return w, v
