"""The update rules, written once.

Every rule is a pure function ``rule(w, v, g, lr, wd, momentum) -> (w', v')`` of the
parameter ``w``, the momentum buffer ``v``, the loss gradient ``g`` (without weight
decay) and the hyperparameters: learning rate ``lr`` (λ), weight decay ``wd`` (α),
momentum ``momentum`` (ρ). They use nothing but ``+``, ``-`` and ``*``, so the same
function advances sympy symbols (the derivations in :mod:`dynamics.theory.symbolic`), numpy
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

``muon`` (torch.optim.Muon) keeps ``(m,)`` like Lion and orthogonalises its update on a
matrix: :func:`newton_schulz`, torch's quintic iteration, with matrix products (``@``,
``addmm``) that numpy and torch have; the sympy derivation (:mod:`dynamics.theory.muon`) passes an
``orthogonalise`` that returns the symbol O, whose moments it states.
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


#: torch.optim.Muon's Newton–Schulz quintic (a, b, c), its step count and the norm floor ε
#: (Keller Jordan's values, torch/optim/_muon.py)
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
NS_EPS = 1e-7
#: torch.optim.Muon's ``adjust_lr_fn`` choices that ridgeline derives (s(A, B) of :func:`muon_lr_scale`)
ADJUST_LR = ("original", "match_rms_adamw")


def muon_lr_scale(shape, adjust_lr: str = "original"):
    """s(A, B), the factor torch.optim.Muon puts on λ for an A × B matrix (A = rows = fan-out):

        original:         s = √max(1, A/B)
        match_rms_adamw:  s = 0.2 √max(A, B)

    Numbers give a float, sympy symbols an expression."""
    from dynamics.util.errors import RidgelineError

    A, B = shape[-2:]
    if isinstance(A, int) and isinstance(B, int):
        import math

        sqrt, top = math.sqrt, max
    else:
        import sympy as sp

        sqrt, top = sp.sqrt, sp.Max
    if adjust_lr == "original":
        return sqrt(top(1, A / B))
    if adjust_lr == "match_rms_adamw":
        return 0.2 * sqrt(top(A, B))
    raise RidgelineError(f"unknown adjust_lr {adjust_lr!r}: choose one of {', '.join(ADJUST_LR)}")


def newton_schulz(u, shape=None, steps: int = NS_STEPS, coefficients=NS_COEFFICIENTS, eps: float = NS_EPS,
                  dtype="bfloat16"):
    """torch.optim.Muon's orthogonalisation of the matrix u (A × B; the last axis viewed as
    ``shape`` when given, the leading axes a batch):

        X₀ = u/max(|u|_F, ε)        (of uᵀ when A > B: the Gram matrix is the smaller one)
        X_{k+1} = a X_k + (b X_kX_kᵀ + c (X_kX_kᵀ)²) X_k,   k < ``steps``

    O = X_steps ≈ U S' Vᵀ for u = U S Vᵀ, each singular value sent through the quintic
    p(σ) = aσ + bσ³ + cσ⁵ five times: S' is spread around 1, not 1 (dynamics.theory.muon measures
    it). torch runs it in bfloat16 (``dtype``; for torch tensors only, as torch does,
    and cast back to u's dtype); ``dtype=None`` keeps u's precision (the simulator).
    """
    a, b, c = coefficients
    torch_ = type(u).__module__.startswith("torch")
    x = u if shape is None else u.reshape(*u.shape[:-1], *shape)
    work = x.bfloat16() if torch_ and dtype == "bfloat16" else x
    tall = x.shape[-2] > x.shape[-1]
    if tall:
        work = work.mT if torch_ else work.swapaxes(-1, -2)
    if torch_:
        import torch

        batched = work.ndim > 2
        norm = torch.linalg.vector_norm(work, dim=(-2, -1), keepdim=True) if batched else work.norm()
        work = work / norm.clamp(min=eps)
        addmm = torch.baddbmm if batched else torch.addmm
        for _ in range(steps):
            gram = work @ work.mT
            work = addmm(work, addmm(gram, gram, gram, beta=b, alpha=c), work, beta=a)
        out = (work.mT if tall else work).to(u.dtype)
    else:
        import numpy as np

        work = work / np.maximum(np.linalg.norm(work, axis=(-2, -1), keepdims=True), eps)
        for _ in range(steps):
            gram = work @ work.swapaxes(-1, -2)
            work = a * work + (b * gram + c * gram @ gram) @ work
        out = work.swapaxes(-1, -2) if tall else work
    return out if shape is None else out.reshape(u.shape)


def muon(w: T, v: tuple, g: T, lr, wd, momentum, nesterov=True, adjust_lr="original", shape=None,
         ns_dtype="bfloat16", orthogonalise=None) -> tuple[T, tuple]:
    """Muon as torch.optim.Muon implements it (torch 2.9+), on an A × B matrix:

        m' = ρ m + (1 − ρ) g
        u  = (1 − ρ) g + ρ m'       (nesterov, torch's default)   or   u = m'
        O  = NS(u)                  (:func:`newton_schulz`, 5 quintic steps)
        w' = (1 − λα) w − λ s(A, B) O,   s(A, B) of :func:`muon_lr_scale`

    with ρ = ``momentum`` (torch's ``buf.lerp_(grad, 1 − ρ)``: the buffer is a mean, not a
    sum) and state ``v = (m,)``. The decay is decoupled and scaled by λ, not by λ s.
    ``shape`` = (A, B) views the last axis of (w, g) as the matrix (the simulator's rows;
    a conv weight is its (out, in·k·k) matrix); without it w is the matrix.
    ``orthogonalise(u, shape)`` replaces NS (the derivation's symbol O). Reference:
    Jordan et al. (2024), "Muon: An optimizer for hidden layers in neural networks".
    """
    (m,) = v
    m = momentum * m + (1 - momentum) * g
    u = (1 - momentum) * g + momentum * m if nesterov else m
    O = orthogonalise(u, shape) if orthogonalise is not None else newton_schulz(u, shape, dtype=ns_dtype)
    scale = muon_lr_scale(shape if shape is not None else tuple(w.shape), adjust_lr)
    return (1 - lr * wd) * w - lr * scale * O, (m,)


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
    "muon": muon,
}

#: the rules whose update is normalised per coordinate (state tuple, β₂, ε)
ADAPTIVE = ("adamw", "adam-l2", "lion")
#: β₂ (and ε) when not given: torch.optim.Adam/AdamW's and the Lion paper's defaults
DEFAULT_BETA2 = {"adamw": 0.999, "adam-l2": 0.999, "lion": 0.99}
DEFAULT_EPS = 1e-8
#: the rules whose update is orthogonalised on a matrix (state (m,), a matrix shape, no β₂, ε)
ORTHOGONAL = ("muon",)


def initial_state(rule: str, w):
    """The zero state of ``rule`` for parameters like ``w``: v = 0, (m, s, k) = (0, 0, 0)
    or (m,) = (0,)."""
    get_rule(rule)
    zero = w * 0
    if rule in ("adamw", "adam-l2"):
        return (zero, w * 0, 0)
    if rule in ("lion", "muon"):
        return (zero,)
    return zero


def stepper(rule: str, beta2=None, eps=None, **options) -> Callable:
    """``step(w, v, g, λ, α, ρ) -> (w', v')`` for ``rule``, with β₂ and ε bound for the
    adaptive rules (None: :data:`DEFAULT_BETA2`, :data:`DEFAULT_EPS`), and Muon's
    ``options`` (nesterov, adjust_lr, shape, ns_dtype) bound for ``muon``."""
    step = get_rule(rule)
    if rule in ORTHOGONAL:
        import functools

        return functools.partial(step, **options)
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
