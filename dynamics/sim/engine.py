"""The vectorised integrator: R runs of D dimensions advanced together.

State is w, an (R, D) torch tensor, and the rule's buffers v (an (R, D) tensor, or the
adaptive rules' state tuple of :func:`dynamics.rules.initial_state`), one row per run, and each run has its
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

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch

from dynamics.util.errors import RidgelineError
from dynamics.rules import get_rule, stepper
from dynamics.sim.fused import idle_threads
from dynamics.registry import SIM_SCHEDULES as SCHEDULES  # the registry lives where the CLI can read it without torch
WARMUP = 5 / 24  # Page's piecewise linear schedule peaks after 5 of 24 epochs
DROP_AT, DROP_FACTOR = 0.5, 0.1  # "step": λ → λ/10 half-way through


def check_schedule(schedule: str) -> None:
    if schedule not in SCHEDULES:
        raise RidgelineError(f"unknown schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")


def resolve_device(name: str) -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; any other name unchanged."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def check_device(name: str) -> None:
    """One-line error unless torch can allocate on device ``name`` here."""
    try:
        torch.empty(0, device=name)
    except (RuntimeError, AssertionError) as e:
        raise RidgelineError(f"device {name!r} is not available here ({str(e).splitlines()[0]}); "
                             "use --device cpu") from None


def schedule_factor(schedule: str, t: int, steps: torch.Tensor) -> torch.Tensor:
    """s(t, T) = λ_t/λ for step t (0-based) of runs of T = ``steps`` steps.

    Evaluated at the middle of the step, f = (t + ½)/T:
    - ``constant``: s = 1;
    - ``piecewise`` (Page's): linear 0 → 1 over f ∈ [0, 5/24], then 1 → 0 at f = 1;
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


@dataclass(frozen=True)
class SplitGradient:
    """A gradient g(w, t) = apply(w, draw(t)) whose randomness is drawn apart.

    ``draw(t)`` makes the step's random numbers (eager: its seeded generator stays
    torch's own); ``apply(w, z)`` is deterministic, so ``integrate(compile=True)`` can
    fuse it with the update rule into one compiled step. ``terms(w, z)``, where given,
    is the same gradient as a linear combination, ``(a, [(c, x), ...])`` with
    g = a w + Σ c x (coefficient columns, shape (..., 1): a's leading shape is w's,
    each c's may view w's rows as (S, runs)), so that the fused eager step
    (:mod:`dynamics.sim.fused`) folds g into the update without writing it.
    """

    draw: Callable[[int], torch.Tensor]
    apply: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    terms: Callable[[torch.Tensor, torch.Tensor], tuple] | None = None

    def __call__(self, w: torch.Tensor, t: int) -> torch.Tensor:
        return self.apply(w, self.draw(t))


def _keep(active, new, old):
    """Rows of ``new`` where ``active``, else of ``old``, through state tuples; the
    adaptive rules' step count (a number) is shared by the active rows."""
    if isinstance(new, tuple):
        return tuple(_keep(active, n, o) for n, o in zip(new, old))
    return torch.where(active, new, old) if torch.is_tensor(new) else new


def _step_function(rule: str, gradient, compiled: bool, beta2=None, eps=None, options=None):
    """(w, v, z, λ_t, α, ρ, active) → (w', v', g): one step of every row, frozen rows kept.

    Eager, for the linear rules: :func:`dynamics.sim.fused.fused_step`, the same rule as
    in-place fused ops from its derived coefficients."""
    from dynamics.sim.fused import LINEAR, fused_step

    if not compiled and rule in LINEAR:
        return fused_step(rule, gradient)
    step = stepper(rule, beta2, eps, **(options or {}))

    def one_step(w, v, z, lr_t, wd, momentum, active):
        g = gradient.apply(w, z)
        w_new, v_new = step(w, v, g, lr_t, wd, momentum)
        if active is not None:
            w_new, v_new = _keep(active, w_new, w), _keep(active, v_new, v)
        return w_new, v_new, g

    if compiled:
        from dynamics.sim.fused import choose_compile_threads

        choose_compile_threads()
    return torch.compile(one_step, dynamic=False) if compiled else one_step


def integrate(gradient: Gradient, rule: str, w: torch.Tensor, v, *,
              lr: torch.Tensor, wd: torch.Tensor, momentum: torch.Tensor, steps: torch.Tensor,
              schedule: str, every: int = 0, observe: Observer | None = None,
              progress: Callable[[int], None] | None = None, compile: bool = False,
              beta2=None, eps=None, options=None) -> tuple[torch.Tensor, object]:
    """Advance every row from step 0 to its own ``steps`` (columns (R, 1)).

    ``gradient(w, t)`` gives the (R, D) loss gradient at step t. Every ``every`` steps
    ``observe(t, w_before, w_after, v_after, g, lr_t)`` sees the step just taken
    (t counts finished steps); ``progress(n)`` is called with the steps done so far.
    ``compile``: fuse gradient and rule with torch.compile (``gradient`` must be a
    :class:`SplitGradient`); the same numbers up to float rounding, several times
    less memory traffic per step, a one-off compilation of tens of seconds.
    The fused step of a gradient with ``terms`` never writes g; an observed step's g
    is then ``apply``'s, computed for the observer alone.
    Eager steps run on at most the idle cores' threads (:func:`dynamics.sim.fused.idle_threads`),
    torch's count restored on return.
    ``v`` is the rule's initial state (:func:`dynamics.rules.initial_state`); ``beta2``
    and ``eps`` go to the adaptive rules, ``options`` (matrix shape, …) to muon
    (:func:`dynamics.rules.stepper`).
    """
    get_rule(rule)
    check_schedule(schedule)
    if compile and not isinstance(gradient, SplitGradient):
        raise RidgelineError("compile needs a SplitGradient (random draw apart from the arithmetic)")
    split = gradient if isinstance(gradient, SplitGradient) else SplitGradient(lambda t: t, gradient)
    one_step = _step_function(rule, split, compile, beta2, eps, options)
    with _threads(torch.get_num_threads() if compile else idle_threads()):
        return _advance(one_step, split, w, v, lr, wd, momentum, steps, schedule, every, observe, progress)


@contextmanager
def _threads(n: int):
    """torch's intra-op threads set to n inside, restored on leaving."""
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _advance(one_step, split, w, v, lr, wd, momentum, steps, schedule, every, observe, progress):
    """integrate's loop over the steps."""
    total = int(steps.max().item())
    ragged = bool((steps != total).any())
    for t in range(total):
        lr_t = lr * schedule_factor(schedule, t, steps)
        z = split.draw(t)
        observed = observe is not None and every and (t + 1) % every == 0
        before = w.clone() if observed else None  # the fused step advances (w, v) in place
        w_new, v_new, g = one_step(w, v, z, lr_t, wd, momentum, (t < steps) if ragged else None)
        if observed:
            observe(t + 1, before, w_new, v_new, split.apply(before, z) if g is None else g, lr_t)
        w, v = w_new, v_new
        if progress is not None and ((t + 1) % 64 == 0 or t + 1 == total):
            progress(t + 1)
    return w, v


def tune_allocator() -> bool:
    """Keep freed large blocks in glibc's heap instead of unmapping them.

    Every rule returns new (R, D) tensors; with glibc's defaults each allocation above
    the mmap threshold gets fresh pages from the kernel, and the page faults cost more
    than the arithmetic (about 3x per step at R = D = 1024 on CPU). Raising
    M_MMAP_THRESHOLD and M_TRIM_THRESHOLD (``mallopt``) makes freed blocks reusable,
    the in-process equivalent of the jemalloc/tcmalloc preload PyTorch's CPU
    performance guide recommends. Process-wide, so called by commands and benchmarks,
    not by library functions. Returns False where glibc is not available.
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 1 << 30)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):
        return False
