"""How long a training run is in relaxation times τ of the weight norm |w|, for the sweeps
and the report alike.

τ(λ, α, ρ) is derived from the update rule's code at leading order
(:func:`dynamics.theory.symbolic.equilibrium`; (1−ρ)/(4λα) for Nesterov), and a run of T
steps spans T/τ(λ) at the peak λ and Σ_t 1/τ(λ_t) over its own schedule
(λ_t from :func:`training.config.lr_at`).
"""

from __future__ import annotations

CIFAR_TRAIN = 50_000  # training images of CIFAR-10 (train_size None: all left after the holdout)


def equilibrium_numeric(rule: str, expression):
    """``expression(equilibrium)`` of ``rule``'s derived equilibrium (:func:`dynamics.theory.symbolic.equilibrium`)
    as a numpy function of (λ, α, ρ), e.g. the relaxation rate or the angle per step."""
    import sympy as sp

    from dynamics.theory.symbolic import alpha, equilibrium, lam, rho

    return sp.lambdify((lam, alpha, rho), expression(equilibrium(rule)), "numpy")


def relaxation_rate(rule: str):
    """1/τ(λ, α, ρ) at leading order, derived from the rule (dynamics.theory.symbolic)."""
    return equilibrium_numeric(rule, lambda e: 1 / e.relaxation_steps_leading)


def run_lengths(config, rate, images: int | None = None) -> tuple[int, float, float]:
    """(steps, steps/τ at the peak λ, Σ_t 1/τ(λ_t)) of one run of ``config`` (a TrainConfig)
    on ``images`` training images (None: train_size, or CIFAR-10's less the holdout)."""
    from training.config import lr_at

    images = images or config.train_size or CIFAR_TRAIN - config.holdout
    per_epoch = images // config.batch_size
    steps = per_epoch * config.epochs
    peak = steps * float(rate(config.lr, config.wd, config.momentum))
    integrated = sum(float(rate(lr_at(config, (s - 0.5) / per_epoch), config.wd, config.momentum))
                     for s in range(1, steps + 1))
    return steps, peak, integrated
