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


RULES: dict[str, Callable] = {
    "sgd": sgd,
    "heavy-ball": heavy_ball,
    "nesterov": nesterov,
    "decoupled": decoupled,
}


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
