"""The default (eager) step of the linear rules, fused from their derived coefficients.

Every rule of the SGD family in :mod:`dynamics.rules` is linear in its state and the
gradient; :func:`dynamics.theory.symbolic.linear_coefficients` reads off

    w' = a w + b v + c g,        v' = d w + e v + f g

from the rule itself. Eliminating the old v with the second equation gives

    w' = A w + B v' + C g,   A = a − b d/e,  B = b/e,  C = c − b f/e

(sympy, cancelled, so ρ = 0 is fine: heavy-ball has A = 1, B = −λ, C = 0; Nesterov
A = 1 − λα, B = −λρ, C = −λ; SGD, with b = 0, A = a, C = c). One step is then

    v ← e v + d w + f g;     w ← A w + B v + C g

in place, one ``mul_`` and one ``addcmul_`` per further term: no (R, D) temporaries,
no allocations, and a coefficient that is identically 0 costs no pass. A gradient
given as a linear combination (:class:`dynamics.sim.engine.SplitGradient`'s ``terms``,
g = a w + Σ c x; the noise model's g = a w + k z, :func:`dynamics.sim.toys.tangent_noise_terms`)
is folded in, f g → (f a) w + Σ (f c) x, so g is never written either (heavy-ball on
the noise model: two reductions over w and four in-place passes, 12 reads and writes
of an (R, D) tensor, where a step must make at least 4). The rule stays the single
source: nothing of it is written here, and :func:`fused_step` checks its coefficients
against the rule symbolically.

The step advances its own copy of (w, v) in place: the caller's tensors are never
written, and ``integrate`` copies w before a step it shows an observer. Rows that
have finished (a ragged ``active`` mask) get the identity coefficients (e = A = 1,
the rest 0).
"""

from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=None)
def coefficients(rule: str) -> dict:
    """name -> (kind, f(λ, α, ρ)) for e, d, f (v') and A, B, C (w'); kind is "0", "1" or
    "lam" (depends on λ: evaluated every step) or "const" (on α, ρ only)."""
    import sympy as sp

    from dynamics.rules import get_rule
    from dynamics.theory.symbolic import alpha, lam, linear_coefficients, rho

    k = linear_coefficients(rule)
    if k["b"] == 0:
        A, B, C = k["a"], sp.Integer(0), k["c"]
    else:
        A, B, C = (sp.cancel(k["a"] - k["b"] * k["d"] / k["e"]), sp.cancel(k["b"] / k["e"]),
                   sp.cancel(k["c"] - k["b"] * k["f"] / k["e"]))
    w, v, g = sp.symbols("w v g")
    w1, v1 = get_rule(rule)(w, v, g, lam, alpha, rho)
    assert sp.expand(A * w + B * v1 + C * g - w1) == 0, f"{rule}: w' = A w + B v' + C g fails"
    out = {}
    for name, expr in (("e", k["e"]), ("d", k["d"]), ("f", k["f"]), ("A", A), ("B", B), ("C", C)):
        assert not sp.denom(sp.together(expr)).free_symbols, f"{rule}: {name} = {expr} is not a polynomial"
        kind = "0" if expr == 0 else "1" if expr == 1 else "lam" if lam in expr.free_symbols else "const"
        out[name] = (kind, sp.lambdify((lam, alpha, rho), expr, modules=[{}]))
    return out


LINEAR = ("sgd", "heavy-ball", "nesterov", "decoupled")  # rules this step covers
_IDENTITY = {"e": 1.0, "A": 1.0}  # a finished row: v' = v, w' = w


def fused_step(rule: str, gradient):
    """(w, v, z, λ_t, α, ρ, active) -> (w', v', g) like ``engine._step_function``'s, fused."""
    co = coefficients(rule)
    state: list[torch.Tensor] = []  # (w, v): advanced in place
    const: dict = {}

    def value(name, lr_t, wd, momentum, active):
        kind, f = co[name]
        if kind == "lam":
            x = f(lr_t, wd, momentum)
        elif kind == "const":
            key = (name, id(wd), id(momentum))
            if key not in const:
                const.clear() if len(const) > 16 else None
                const[key] = f(lr_t, wd, momentum) * torch.ones_like(lr_t)
            x = const[key]
        else:
            x = float(kind)
        if active is None:
            return x
        x = x * torch.ones_like(lr_t) if not torch.is_tensor(x) else x
        return torch.where(active, x, torch.full_like(x, _IDENTITY.get(name, 0.0)))

    def combine(out, c_out, terms, active):
        """out ← c_out·out + Σ c·x in place, in as few passes as possible: zero terms
        skipped (when no row is frozen; out is then written without being read if c_out
        is 0), terms whose coefficient views the rows as (S, runs) (a shared draw) on
        that view. No x may share memory with out."""
        zero = lambda c: isinstance(c, float) and c == 0.0  # noqa: E731
        one = lambda c: isinstance(c, float) and c == 1.0  # noqa: E731
        if active is None:
            terms = [(c, x) for c, x in terms if not zero(c)]
            if zero(c_out):
                terms.sort(key=lambda t: _viewed(t[0], out))  # stable: a full-shape term first
                (c0, x0), terms = terms[0], terms[1:]
                out.copy_(x0) if one(c0) else torch.mul(x0, c0, out=_view(out, c0))
        if not (active is None and zero(c_out)) and not one(c_out):
            out.mul_(c_out)
        for c, x in terms:
            out.add_(x) if one(c) else _view(out, c).addcmul_(x, c)

    def step(w, v, z, lr_t, wd, momentum, active):
        if gradient.terms is None:
            g = gradient.apply(w, z)
            gw, extra = 0.0, [(1.0, g)]  # g = 0·w + 1·g
        else:
            g = None  # g = gw·w + Σ c·x, folded into the update below
            gw, extra = gradient.terms(w, z)
        if not state or state[0] is not w:  # the caller's tensors: never written
            state[:] = [w.clone(), v.clone()]
        w, v = state
        c = {n: value(n, lr_t, wd, momentum, active) for n in co}
        combine(v, c["e"], [(_plus(c["d"], _times(c["f"], gw)), w)]
                + [(_times(c["f"], cx), x) for cx, x in extra], active)
        combine(w, _plus(c["A"], _times(c["C"], gw)), [(c["B"], v)]
                + [(_times(c["C"], cx), x) for cx, x in extra], active)
        return w, v, g

    return step


def _times(f, c):
    """f·c for coefficients: numbers or columns; f (R, 1) takes c's (S, runs, 1) view."""
    if isinstance(f, float):
        return 0.0 if f == 0.0 else c if f == 1.0 else f * c
    return f * c if not torch.is_tensor(c) or c.dim() == f.dim() else f.reshape(c.shape) * c


def _plus(x, y):
    return y if isinstance(x, float) and x == 0.0 else x if isinstance(y, float) and y == 0.0 else x + y


def _viewed(c, out) -> bool:
    """Whether coefficient c views out's rows differently (as (S, runs), for a shared draw)."""
    return torch.is_tensor(c) and c.dim() != out.dim()


def _view(out, c):
    return out.view(*c.shape[:-1], out.shape[-1]) if _viewed(c, out) else out


def idle_threads() -> int:
    """torch's intra-op thread count capped at the idle cores, cores − load + 1 (the
    1-minute load average; this process counts itself once), at least 1.

    A memory-bound step's threads wait on each other at every parallel region; when
    other processes hold the cores one of them is often descheduled and the step
    collapses (2 threads on a loaded 2-core machine: eager 18x, compiled 5x slower than
    1 thread, issue 13), so the simulator runs on no more threads than there are idle
    cores. On an idle machine this is torch's own count.
    """
    import math
    import os

    threads = torch.get_num_threads()
    if hasattr(os, "getloadavg"):
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        threads = min(threads, max(1, math.floor(cores - os.getloadavg()[0] + 1)))
    return threads


def choose_compile_threads() -> int:
    """Set torch's intra-op threads for a compiled step to :func:`idle_threads`, for the
    rest of the process (inductor's kernels keep the count they were compiled with);
    ``integrate``'s eager steps lower it only while they run. Returns the count."""
    threads = idle_threads()
    if threads < torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads
