"""The optimiser of a run: one function from (rule, λ, α, ρ or β₁, β₂, ε) to torch.optim.

:func:`make_optimizer` is the one place where a rule of :mod:`dynamics.rules` becomes a
torch optimiser on the MEAN loss: torch.optim.SGD for the SGD rules
(:func:`dynamics.rules.torch_sgd_kwargs`), torch.optim.AdamW and torch.optim.Adam
(``weight_decay`` = α) for ``adamw`` and ``adam-l2``, and :class:`Lion` (torch has
none) for ``lion``, and :class:`Muon` for ``muon``: Muon on the scale-invariant conv weights
(each orthogonalised as its (out, in·k·k) matrix), Nesterov SGD on every other tensor. Every
optimiser keeps its first-moment buffer where :func:`first_moment` finds it
(``momentum_buffer`` or ``exp_avg``).
"""

from __future__ import annotations

import torch

from dynamics.rules import ADJUST_LR, DEFAULT_BETA2, DEFAULT_EPS, RULES, lion, muon, torch_sgd_kwargs
from dynamics.util.errors import RidgelineError



def _closure_loss(closure):
    """torch's step(closure) contract: the closure's loss, evaluated with gradients on (None without one)."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()

class Lion(torch.optim.Optimizer):
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"),
    one step of :func:`dynamics.rules.lion` per parameter:

        c  = β₁ m + (1 − β₁) g,   w ← (1 − λα) w − λ sign(c),   m ← β₂ m + (1 − β₂) g

    The first moment m is ``state[p]["exp_avg"]`` (zero at the start), as in Adam.
    """

    def __init__(self, params, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0):
        if not lr >= 0:
            raise ValueError(f"invalid learning rate {lr}")
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid betas {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "exp_avg" not in state:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                w, (m,) = lion(p, (state["exp_avg"],), p.grad, group["lr"], group["weight_decay"],
                               beta1, beta2)
                p.copy_(w)
                state["exp_avg"].copy_(m)
        return loss


class Muon(torch.optim.Optimizer):
    """torch.optim.Muon for any tensor of two or more dimensions, one step of
    :func:`dynamics.rules.muon` per tensor on its matrix W = w.reshape(out, in·k·k):

        m ← ρ m + (1 − ρ) g,   u = (1 − ρ) g + ρ m (nesterov) or m,
        W ← (1 − λα) W − λ s(out, in·k·k) NS(u)

    (Newton–Schulz in bfloat16, as torch). On a 2-D tensor it is torch.optim.Muon's step;
    on a conv weight it is torch.optim.Muon's step on the reshaped matrix (tests/test_muon.py).
    A param group with ``"sgd": rule`` (``"nesterov"``, ``"heavy-ball"`` or ``"sgd"`` of
    dynamics.rules) gets that SGD rule instead, with coupled decay α: the tensors Muon
    does not take (vectors; here the BN scales and shifts and the classifier). The buffer
    m is ``state[p]["momentum_buffer"]`` in both, as in torch.
    """

    def __init__(self, params, lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
                 nesterov: bool = True, adjust_lr_fn: str = "original"):
        if not lr >= 0 or not weight_decay >= 0 or not 0 <= momentum < 1:
            raise ValueError(f"invalid Muon settings lr={lr}, weight_decay={weight_decay}, momentum={momentum}")
        if adjust_lr_fn not in ADJUST_LR:
            raise RidgelineError(f"unknown adjust_lr {adjust_lr_fn!r}: choose one of {', '.join(ADJUST_LR)}")
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                                      adjust_lr_fn=adjust_lr_fn, sgd=None))
        for group in self.param_groups:
            if group["sgd"] is not None and group["sgd"] not in ("sgd", "heavy-ball", "nesterov"):
                raise RidgelineError(f"a Muon param group's sgd rule must be sgd, heavy-ball or nesterov, "
                                     f"not {group['sgd']!r}")
            for p in group["params"]:
                if group["sgd"] is None and p.ndim < 2:
                    raise RidgelineError(f"Muon orthogonalises matrices, not a {p.ndim}-D tensor of shape "
                                         f"{tuple(p.shape)}; put it in a group with \"sgd\": \"nesterov\"")

    @torch.no_grad()
    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr, wd, rho, sgd = group["lr"], group["weight_decay"], group["momentum"], group["sgd"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                buf = state["momentum_buffer"]
                if sgd is not None:
                    w, v = RULES[sgd](p, buf, p.grad, lr, wd, rho)
                    p.copy_(w)
                    buf.copy_(v)
                    continue
                matrix = (p.shape[0], p[0].numel())
                w, (m,) = muon(p.reshape(matrix), (buf.reshape(matrix),), p.grad.reshape(matrix), lr, wd, rho,
                               nesterov=group["nesterov"], adjust_lr=group["adjust_lr_fn"])
                p.copy_(w.reshape(p.shape))
                buf.copy_(m.reshape(p.shape))
        return loss


def param_groups(model: torch.nn.Module, wd_on: str = "all", other_lr_scale: float = 1.0,
                 other_wd: float | None = None, split: bool = False):
    """The parameters to optimise, grouped by their (λ, α).

    By default ``model.parameters()``: one group, α on every tensor (torch's default).
    Otherwise two groups: the tensors :func:`training.model.scale_invariant` marks (the
    conv weights before a BatchNorm) with the optimiser's λ and α, then every other tensor
    (BN scales and shifts, the classifier), the tensors without the symmetry w → c·w, with
    weight decay ``other_wd`` (0 for ``wd_on="scale-invariant"``, which decays only the
    symmetric tensors) and ``lr_scale`` = λ_other/λ, the factor training.loop applies to
    the scheduled λ of that group at every step. ``split``: the two groups even where
    they would be alike (Muon needs them).
    """
    if wd_on not in ("all", "scale-invariant"):
        raise RidgelineError(f"wd_on must be 'all' or 'scale-invariant', got {wd_on!r}")
    if wd_on == "all" and other_lr_scale == 1.0 and other_wd is None and not split:
        return model.parameters()
    from training.model import scale_invariant

    flags = scale_invariant(model)
    named = list(model.named_parameters())
    other = {"params": [p for n, p in named if not flags[n]]}
    if other_lr_scale != 1.0:
        other["lr_scale"] = other_lr_scale
    if wd_on == "scale-invariant" or other_wd is not None:
        other["weight_decay"] = 0.0 if wd_on == "scale-invariant" else other_wd
    return [{"params": [p for n, p in named if flags[n]]}, other]


def make_optimizer(rule: str, params, lr: float, wd: float, momentum: float,
                   beta2: float | None = None, eps: float | None = None, nesterov: bool = True,
                   adjust_lr: str = "original") -> torch.optim.Optimizer:
    """The torch optimiser applying ``rule`` with λ = ``lr``, α = ``wd`` and ρ (SGD rules)
    or β₁ (adaptive rules) = ``momentum``; β₂ and ε default to
    :data:`dynamics.rules.DEFAULT_BETA2` and :data:`dynamics.rules.DEFAULT_EPS`. For
    ``muon``, ``params`` are :func:`param_groups`' two groups: Muon (``nesterov``,
    ``adjust_lr``) on the first, the scale-invariant conv weights, and Nesterov SGD with
    the same ρ on the second."""
    if rule == "muon":
        groups = list(params)
        if len(groups) != 2 or not all(isinstance(g, dict) for g in groups):
            raise RidgelineError("muon needs two param groups: the scale-invariant tensors, then the others")
        groups[1] = {**groups[1], "sgd": "nesterov"}
        return Muon(groups, lr=lr, weight_decay=wd, momentum=momentum, nesterov=nesterov, adjust_lr_fn=adjust_lr)
    if rule in ("adamw", "adam-l2", "lion"):
        betas = (momentum, DEFAULT_BETA2[rule] if beta2 is None else beta2)
        if rule == "lion":
            return Lion(params, lr=lr, betas=betas, weight_decay=wd)
        cls = torch.optim.AdamW if rule == "adamw" else torch.optim.Adam
        return cls(params, lr=lr, betas=betas, eps=DEFAULT_EPS if eps is None else eps, weight_decay=wd)
    if rule == "decoupled":
        raise RidgelineError("rule 'decoupled' has no torch optimiser here; use sgd, heavy-ball, "
                             "nesterov, adamw, adam-l2 or lion")
    return torch.optim.SGD(params, **torch_sgd_kwargs(rule, lr, wd, momentum))


def first_moment(optimizer: torch.optim.Optimizer, param: torch.Tensor) -> torch.Tensor | None:
    """The optimiser's first-moment buffer of ``param`` (SGD's ``momentum_buffer``, Adam's
    and Lion's ``exp_avg``), or None where it keeps none (plain SGD, before the first step)."""
    state = optimizer.state.get(param, {})
    return state.get("momentum_buffer", state.get("exp_avg"))
