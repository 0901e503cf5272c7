"""The statistic of Adam's normalised update that the adaptive equilibrium takes.

AdamW and Adam step by λ u_t with the normalised update

    u_t = m̂_t / (√ŝ_t + ε)                           (dynamics.rules.adamw / adam_l2)

whose size does not depend on |w|. The white noise model of :mod:`dynamics.theory.adaptive`
(independent gradients, every coordinate's second moment settled, ε = 0) gives
E|u_t|² = C P_t with

    P_t = (1 − β₁)(1 + β₁^t) / ((1 + β₁)(1 − β₁^t))   → (1 − β₁)/(1 + β₁) at late times

(C elements, t the optimiser's step count, bias corrections included). On a logged
step this module reports per tensor

    update_power_ratio    κ_t = |u_t|² / (C P_t)
    normalised_grad_power ν_t = |n_t|² / C,        n_t = g_t / (√ŝ_t + ε)
    normalised_grad_radial  ξ_t = ŵ_t·n_t / √C      (ŵ = w/|w|)

1 in the white model; below 1 when successive gradients cancel within the first
moment's memory (the k of training.gradstats), when a coordinate's gradient is heavy
tailed in time (E[m²/s] < E[m²]/E[s]), when ε dominates small gradients or when
coordinates get no gradient at all (dead channels); above 1 when gradients persist or
ŝ lags behind a growing |g|. u_t is computed by the rule itself, applied with λ = 1 to
the optimiser's state before the step: for adamw u = −w' at w = 0, α = 0; for adam-l2
(whose normalised quantity d = g + αw includes the decay) u = w − w'. κ is a property
of the updates the optimiser takes, not of |w|: it is what
:func:`dynamics.theory.adaptive.predict` takes as ``power``. ν and ξ describe the normalised
gradient n_t alone (1 and 0 in the white model): g ⟂ w, but Adam's elementwise
normalisation tilts n off the tangent plane where coordinates differ in scale, and a
radial share ξ of a few 1e−3 moves |w| by several per cent (``radial`` of
:func:`dynamics.theory.adaptive.predict`).
"""

from __future__ import annotations

import torch

from dynamics.rules import get_rule

RULES = ("adamw", "adam-l2", "muon")  # Lion's update sign(c) has |u|² = C: nothing to measure


def white_power(beta1: float, step: int) -> float:
    """P_t: the white model's E|u_t|²/C after ``step`` steps (bias corrections included)."""
    return (1 - beta1) * (1 + beta1**step) / ((1 + beta1) * (1 - beta1**step))


NAMES = ("update_power_ratio", "normalised_grad_power", "normalised_grad_radial")


def _normalised(rule, w, m, s, k, g, wd, beta1, beta2, eps):
    """The rule's step at λ = 1 without its decoupled decay: u = m̂/(√ŝ + ε)."""
    if rule == "adamw":  # u = −w' at w = 0 with no decay
        w1, _ = get_rule(rule)(torch.zeros_like(w), (m, s, k), g, 1.0, 0.0, beta1, beta2=beta2, eps=eps)
        return -w1
    w1, _ = get_rule(rule)(w, (m, s, k), g, 1.0, wd, beta1, beta2=beta2, eps=eps)  # adam-l2: decay inside
    return w - w1


@torch.no_grad()
def update_stats(rule: str, param: torch.Tensor, grad: torch.Tensor, state: dict, wd: float,
                 beta1: float, beta2: float, eps: float) -> torch.Tensor:
    """(κ_t, ν_t, ξ_t) of one tensor for the step about to be taken with loss gradient
    ``grad`` from the optimiser ``state`` (exp_avg, exp_avg_sq, step; empty before the
    first step), float64; NaN for a rule without them. ν_t = |n_t|²/C and
    ξ_t = ŵ_t·n_t/√C are those of the normalised gradient n_t = g_t/(√ŝ_t + ε), the
    same rule with β₁ = 0 (the same ŝ_t)."""
    if rule not in RULES or rule == "muon":  # muon: muon_stats
        return torch.full((3,), float("nan"), dtype=torch.float64, device=param.device)
    w, g = param.detach().double(), grad.double()
    if "exp_avg" in state:
        m, s = state["exp_avg"].double(), state["exp_avg_sq"].double()
        k = int(state["step"])
    else:
        m, s, k = torch.zeros_like(w), torch.zeros_like(w), 0
    u = _normalised(rule, w, m, s, k, g, wd, beta1, beta2, eps).flatten()
    n = _normalised(rule, w, m, s, k, g, wd, 0.0, beta2, eps).flatten()
    wf = w.flatten()
    C = u.numel()
    return torch.stack([torch.vdot(u, u) / (C * white_power(beta1, k + 1)), torch.vdot(n, n) / C,
                        torch.vdot(wf, n) / (wf.norm() * C**0.5)])


@torch.no_grad()
def muon_stats(param: torch.Tensor, grad: torch.Tensor, state: dict, momentum: float, nesterov: bool,
               adjust_lr: str = "original") -> torch.Tensor:
    """Muon's update O = NS(u) for the step about to be taken (the rule at λ = 1, α = 0 and
    w = 0 on the (out, in·k·k) matrix, so w' = −s O), and the two moments of
    :mod:`dynamics.theory.muon`'s model:

        update_power_ratio      κ_t = |O_t|²/P, P the white model's E|O|² for the shape
        normalised_grad_radial  cos(w_t, O_t), the share of the update along w (the model:
                                −S√(1 − q²)/(q√(1 + 2S)) at equilibrium, before the step's sign)

    (the second column, ν, is Adam's and NaN here); float64."""
    from dynamics.theory.muon import ns_statistics
    from dynamics.rules import muon, muon_lr_scale

    matrix = (param.shape[0], param[0].numel())
    w, g = param.detach().reshape(matrix), grad.reshape(matrix)
    m = state["momentum_buffer"].reshape(matrix) if "momentum_buffer" in state else torch.zeros_like(w)
    w1, _ = muon(torch.zeros_like(w), (m,), g, 1.0, 0.0, momentum, nesterov=nesterov, adjust_lr=adjust_lr)
    O = (-w1 / muon_lr_scale(matrix, adjust_lr)).double().flatten()
    wf = w.double().flatten()
    power = ns_statistics(*matrix).power
    return torch.stack([torch.vdot(O, O) / power, torch.tensor(float("nan"), dtype=torch.float64, device=O.device),
                        torch.vdot(wf, O) / (wf.norm() * O.norm())])
