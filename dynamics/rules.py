"""The update rules, written once.

Every rule is a pure function ``rule(w, v, g, lr, wd, momentum) -> (w', v')`` of the
parameter ``w``, the momentum buffer ``v``, the loss gradient ``g`` (without weight
decay) and the hyperparameters: learning rate ``lr`` (λ), weight decay ``wd`` (α),
momentum ``momentum`` (ρ). They use nothing but ``+``, ``-`` and ``*``, so the same
function advances sympy symbols (the derivations in :mod:`dynamics.symbolic`), numpy
arrays, and torch tensors (the simulator, the tests), and broadcasting lets one call
advance many runs with different hyperparameters at once.

Conventions are PyTorch's (``torch.optim.SGD``, dampening 0): weight decay is added to
the gradient before momentum unless the rule is "decoupled", and the buffer starts at
zero, which reproduces torch's "first step copies d into the buffer".

Every rule, including plain SGD, returns a buffer so that all four share one state
``(w, v)``: for plain SGD ``v'`` is the step direction ``g + α w``, which is heavy-ball
with ρ = 0.

The adaptive rules (``adamw``, ``adam-l2``, ``lion``) keep more than one buffer: their
``v`` is a state tuple, ``(m, s, k)`` (first moment, second moment, steps taken) for
the Adam rules and ``(m,)`` for Lion, made by :func:`initial_state`; ``momentum`` is
their β₁, and β₂ (``beta2``) and ε (``eps``) are keywords with torch's defaults, bound
once by :func:`stepper`. They add ``**``, ``/`` and a sign to the arithmetic, which
numpy, torch and sympy all have.
"""

from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")


def sgd(w: T, v: T, g: T, lr, wd, momentum=0) -> tuple[T, T]:
    """Plain SGD with coupled weight decay (``momentum`` is ignored).

        v' = g + α w
        w' = w − λ v'

    Reference: torch.optim.SGD with momentum=0.
    """
    v_new = g + wd * w
    return w - lr * v_new, v_new


def heavy_ball(w: T, v: T, g: T, lr, wd, momentum) -> tuple[T, T]:
    """Heavy-ball momentum with coupled weight decay.

        v' = ρ v + g + α w
        w' = w − λ v'

    Reference: torch.optim.SGD(momentum=ρ, weight_decay=α, nesterov=False);
    Polyak (1964).
    """
    v_new = momentum * v + g + wd * w
    return w - lr * v_new, v_new


def nesterov(w: T, v: T, g: T, lr, wd, momentum) -> tuple[T, T]:
    """Nesterov momentum as torch.optim.SGD implements it.

        d  = g + α w
        v' = ρ v + d
        w' = w − λ (d + ρ v')

    Reference: torch.optim.SGD(momentum=ρ, weight_decay=α, nesterov=True);
    Sutskever et al. (2013).
    """
    d = g + wd * w
    v_new = momentum * v + d
    return w - lr * (d + momentum * v_new), v_new


def decoupled(w: T, v: T, g: T, lr, wd, momentum) -> tuple[T, T]:
    """Heavy-ball momentum with decoupled weight decay (SGDW).

        v' = ρ v + g
        w' = (1 − λ α) w − λ v'

    Reference: Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization",
    with the decay scaled by the learning rate as in torch.optim.AdamW.
    """
    v_new = momentum * v + g
    return (1 - lr * wd) * w - lr * v_new, v_new


def adamw(w: T, v: tuple, g: T, lr, wd, momentum, beta2=0.999, eps=1e-8) -> tuple[T, tuple]:
    """Adam with decoupled weight decay, as torch.optim.AdamW implements it.

        k' = k + 1
        m' = β₁ m + (1 − β₁) g
        s' = β₂ s + (1 − β₂) g²
        w' = (1 − λ α) w − λ/(1 − β₁^k') · m' / (√(s'/(1 − β₂^k')) + ε)

    with β₁ = ``momentum``, state ``v = (m, s, k)``. Reference: Loshchilov & Hutter
    (2019), "Decoupled Weight Decay Regularization"; torch.optim.AdamW (amsgrad off).
    """
    m, s, k = v
    k = k + 1
    m = momentum * m + (1 - momentum) * g
    s = beta2 * s + (1 - beta2) * g * g
    w_new = (1 - lr * wd) * w - lr / (1 - momentum**k) * m / ((s / (1 - beta2**k)) ** 0.5 + eps)
    return w_new, (m, s, k)


def adam_l2(w: T, v: tuple, g: T, lr, wd, momentum, beta2=0.999, eps=1e-8) -> tuple[T, tuple]:
    """Adam with L2 weight decay: the decay enters the gradient, so it is normalised too.

        d  = g + α w
        k' = k + 1
        m' = β₁ m + (1 − β₁) d
        s' = β₂ s + (1 − β₂) d²
        w' = w − λ/(1 − β₁^k') · m' / (√(s'/(1 − β₂^k')) + ε)

    with β₁ = ``momentum``, state ``v = (m, s, k)``. Reference: Kingma & Ba (2015),
    "Adam"; torch.optim.Adam(weight_decay=α) (amsgrad off).
    """
    m, s, k = v
    d = g + wd * w
    k = k + 1
    m = momentum * m + (1 - momentum) * d
    s = beta2 * s + (1 - beta2) * d * d
    return w - lr / (1 - momentum**k) * m / ((s / (1 - beta2**k)) ** 0.5 + eps), (m, s, k)


def lion(w: T, v: tuple, g: T, lr, wd, momentum, beta2=0.99, eps=None) -> tuple[T, tuple]:
    """Lion (EvoLved Sign Momentum) with decoupled weight decay.

        c  = β₁ m + (1 − β₁) g
        w' = (1 − λ α) w − λ sign(c)
        m' = β₂ m + (1 − β₂) g

    with β₁ = ``momentum``, state ``v = (m,)``; ``eps`` is unused (no division).
    Reference: Chen et al. (2023), "Symbolic Discovery of Optimization Algorithms",
    Program 1.
    """
    (m,) = v
    c = momentum * m + (1 - momentum) * g
    return (1 - lr * wd) * w - lr * _sign(c), (beta2 * m + (1 - beta2) * g,)


def _sign(x):
    """sign(x) for torch tensors, sympy expressions and numpy arrays or numbers."""
    module = type(x).__module__
    if module.startswith("torch"):
        return x.sign()
    if module.startswith("sympy"):
        import sympy as sp

        return sp.sign(x)
    import numpy as np

    return np.sign(x)


RULES: dict[str, Callable] = {
    "sgd": sgd,
    "heavy-ball": heavy_ball,
    "nesterov": nesterov,
    "decoupled": decoupled,
    "adamw": adamw,
    "adam-l2": adam_l2,
    "lion": lion,
}

#: the rules whose update is normalised per coordinate (state tuple, β₂, ε)
ADAPTIVE = ("adamw", "adam-l2", "lion")
#: β₂ (and ε) when not given: torch.optim.Adam/AdamW's and the Lion paper's defaults
DEFAULT_BETA2 = {"adamw": 0.999, "adam-l2": 0.999, "lion": 0.99}
DEFAULT_EPS = 1e-8


def initial_state(rule: str, w):
    """The zero state of ``rule`` for parameters like ``w``: v = 0, (m, s, k) = (0, 0, 0)
    or (m,) = (0,)."""
    get_rule(rule)
    zero = w * 0
    if rule in ("adamw", "adam-l2"):
        return (zero, w * 0, 0)
    if rule == "lion":
        return (zero,)
    return zero


def stepper(rule: str, beta2=None, eps=None) -> Callable:
    """``step(w, v, g, λ, α, ρ) -> (w', v')`` for ``rule``, with β₂ and ε bound for the
    adaptive rules (None: :data:`DEFAULT_BETA2`, :data:`DEFAULT_EPS`)."""
    step = get_rule(rule)
    if rule not in ADAPTIVE:
        return step
    import functools

    beta2 = DEFAULT_BETA2[rule] if beta2 is None else beta2
    return functools.partial(step, beta2=beta2, eps=DEFAULT_EPS if eps is None else eps)


def get_rule(name: str) -> Callable:
    """The rule called ``name``; raises :class:`RidgelineError` naming the choices."""
    from dynamics.util.errors import RidgelineError

    try:
        return RULES[name]
    except KeyError:
        raise RidgelineError(
            f"unknown rule {name!r}: choose one of {', '.join(RULES)}"
        ) from None


def torch_sgd_kwargs(rule: str, lr: float, wd: float, momentum: float) -> dict:
    """The torch.optim.SGD arguments that implement a coupled ``rule``.

    ``decoupled`` has no torch.optim.SGD equivalent and raises.
    """
    from dynamics.util.errors import RidgelineError

    if rule == "sgd":
        return dict(lr=lr, weight_decay=wd, momentum=0.0)
    if rule in ("heavy-ball", "nesterov"):
        return dict(lr=lr, weight_decay=wd, momentum=momentum, nesterov=rule == "nesterov")
    raise RidgelineError(f"rule {rule!r} has no torch.optim.SGD equivalent")
