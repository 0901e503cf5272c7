"""The default (eager) step of the linear rules, fused from their derived coefficients.

Every rule of the SGD family in :mod:`dynamics.rules` is linear in its state and the
gradient; :func:`dynamics.symbolic.linear_coefficients` reads off

    w' = a w + b v + c g,        v' = d w + e v + f g

from the rule itself. Eliminating the old v with the second equation gives

    w' = A w + B v' + C g,   A = a − b d/e,  B = b/e,  C = c − b f/e

(sympy, cancelled, so ρ = 0 is fine: heavy-ball has A = 1, B = −λ, C = 0; Nesterov
A = 1 − λα, B = −λρ, C = −λ; SGD, with b = 0, A = a, C = c). One step is then

    v' ← e v + d w + f g;     w' ← A w + B v' + C g

with one ``addcmul``/``mul`` (``out=``) and one ``addcmul_`` per further term, into
preallocated buffers: no (R, D) temporaries, no allocations, and a coefficient that
is identically 0 costs no pass (heavy-ball: 3 passes, 9 tensor reads and writes).
The rule stays the single source: nothing of it is written here, and
:func:`fused_step` checks its coefficients against the rule symbolically.

Output alternates between two buffer pairs, never the caller's tensors, so the step
before stays intact for an observer (``integrate``'s ``observe`` sees w before and
after) and the caller's (w, v) are never overwritten. Rows that have finished (a
ragged ``active`` mask) get the identity coefficients (e = A = 1, the rest 0).
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
    from dynamics.symbolic import alpha, lam, linear_coefficients, rho

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
    buffers: list[tuple[torch.Tensor, torch.Tensor]] = []
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

    def combine(out, terms, active):
        """out = Σ coef · tensor in as few passes as possible: zero terms skipped (when
        no row is frozen), a unit term first so that two terms are one addcmul."""
        one = lambda c: isinstance(c, float) and c == 1.0  # noqa: E731
        if active is None:
            terms = [(c, x) for c, x in terms if not (isinstance(c, float) and c == 0.0)]
        terms.sort(key=lambda t: not one(t[0]))  # stable: a unit coefficient first
        (c0, x0), rest = terms[0], terms[1:]
        if one(c0) and rest:
            (c1, x1), rest = rest[0], rest[1:]
            torch.add(x0, x1, out=out) if one(c1) else torch.addcmul(x0, x1, c1, out=out)
        elif one(c0):
            out.copy_(x0)
        else:
            torch.mul(x0, c0, out=out)
        for c, x in rest:
            out.add_(x) if one(c) else out.addcmul_(x, c)

    def step(w, v, z, lr_t, wd, momentum, active):
        g = gradient.apply(w, z)
        if not buffers:
            buffers.extend((torch.empty_like(w), torch.empty_like(v)) for _ in range(2))
        w_new, v_new = buffers[1] if buffers[0][0] is w else buffers[0]
        c = {n: value(n, lr_t, wd, momentum, active) for n in co}
        combine(v_new, [(c["e"], v), (c["d"], w), (c["f"], g)], active)
        combine(w_new, [(c["A"], w), (c["B"], v_new), (c["C"], g)], active)
        return w_new, v_new, g

    return step


def choose_compile_threads() -> int:
    """Set torch's intra-op threads for a compiled step to at most the idle cores.

    A compiled (inductor, OpenMP) step is memory-bound; when other processes hold the
    cores its threads wait on each other at every parallel region and the step
    collapses (5x slower at 2 threads on a loaded 2-core machine, issue 13). So
    ``integrate(compile=True)`` lowers torch's threads to cores − load + 1 (the
    1-minute load average; this process counts itself once) when that is fewer.
    Process-wide, like ``torch.set_num_threads``; returns the thread count.
    """
    import math
    import os

    threads = torch.get_num_threads()
    if hasattr(os, "getloadavg"):
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        idle = max(1, math.floor(cores - os.getloadavg()[0] + 1))
        if idle < threads:
            torch.set_num_threads(idle)
            threads = idle
    return threads
