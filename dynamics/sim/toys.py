"""Scale-invariant toy losses: gradients for many runs at once.

Every loss here satisfies L(c w) = L(w), hence g(c w) = g(w)/c and g ⟂ w. Weights are
torch tensors of shape (R, D): R runs (settings) of D dimensions each. The one
exception is the *head* (:func:`head_gradient`), a plain quadratic standing in for the
network's few parameters without the symmetry.
"""

from __future__ import annotations

import math

import torch


def tangent(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The part of ``x`` orthogonal to ``w``, row by row: x − (x·ŵ) ŵ."""
    w_hat = w / w.norm(dim=-1, keepdim=True)
    return x - (x * w_hat).sum(-1, keepdim=True) * w_hat


def noise_gradient(w: torch.Tensor, grad_norm, generator: torch.Generator | None = None) -> torch.Tensor:
    """The derivation's noise model: a random direction in the tangent space of w,

        g ⟂ w,   |g| = G/|w|,   independent across steps,

    with ``grad_norm`` G (a number or a tensor broadcastable to (R, 1)): a fresh
    standard normal z for every row, then :func:`tangent_noise`.
    """
    z = torch.randn(w.shape, generator=generator, dtype=w.dtype, device=w.device)
    return tangent_noise(w, grad_norm, z, out=z)


def tangent_noise(w: torch.Tensor, grad_norm, z: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """g = G P⊥z / (|P⊥z| |w|), P⊥ = I − ŵŵᵀ: the noise model's gradient from a given
    draw ``z`` (broadcastable to w: one draw may serve many rows, the simulator's
    common random numbers across settings). Every row gets g ⟂ w and |g| = G/|w|;
    E[g] = 0 and g is independent of the past whenever z is. ``out`` (z itself, when
    it is a fresh draw of w's shape) saves the one (R, D) allocation. The arithmetic
    is :func:`tangent_noise_terms`': g = a w + k z.
    """
    a, k = tangent_noise_terms(w, grad_norm, z)
    g = out.mul_(k) if out is not None else torch.mul(z, k).expand_as(w).contiguous()
    return g.addcmul_(w, a)


def tangent_noise_terms(w: torch.Tensor, grad_norm, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, k), columns of shape (..., 1), with :func:`tangent_noise`'s g = a w + k z:

        c = z·w/|w|²,   |P⊥z|² = |z|² − c z·w,   k = G/(|P⊥z| |w|),   a = −k c,

    since P⊥z = z − c w. Two reductions over w (|w| and z·w; z·w is one BLAS
    matrix-vector product when one draw serves every row) and no (R, D) temporary, so
    the simulator's fused step (:mod:`dynamics.sim.fused`) can fold g into the update
    without writing it. |P⊥z|² loses relative precision ε/sin²∠(z, w), negligible for
    a random z in D ≫ 1 dimensions (sin² ≈ 1 − 1/D).
    """
    w_norm = torch.linalg.vector_norm(w, dim=-1, keepdim=True)
    if z.dim() == 1 or z.shape[:-1].numel() == 1:  # one draw for every row
        zw = torch.mv(w.reshape(-1, w.shape[-1]), z.reshape(-1)).view(w_norm.shape)
    elif z.shape == w.shape:
        zw = torch.linalg.vecdot(w, z).unsqueeze(-1)
    else:  # z broadcast over leading rows: einsum multiplies without expanding it
        zw = torch.einsum("...d,...d->...", w, z).unsqueeze(-1)
    c = zw / w_norm.square()
    z_sq = torch.linalg.vecdot(z, z).unsqueeze(-1)  # |z|²: one row per draw, not per setting
    k = grad_norm / ((z_sq - c * zw).sqrt() * w_norm)
    return -k * c, k


# ------------------------------------------------------- correlated gradient noise
CORRELATION_DECAY = 0.8  # ψ: memory of the correlated noise, e-folding ≈ 1/(1 − ψ) = 5 steps


class CorrelatedDraw:
    """Draws z_t with memory, for :func:`tangent_noise` (the ``correlated`` loss):

        z_t = ξ_t + b n_{t−1},     n_t = ψ n_{t−1} + (1 − ψ) ξ_t,

    ξ_t independent standard normal, b = ``correlation`` (0: white; b < 0: each
    gradient partly cancels the last few, lowering the low-frequency power; b > 0:
    they persist), ψ = :data:`CORRELATION_DECAY`. The projection ⟂ w and the scale
    |g| = G/|w| are tangent_noise's, so the gradients stay in the tangent space.
    """

    def __init__(self, shape, correlation: float, generator=None, dtype=torch.float32, device="cpu"):
        self.b, self.generator = float(correlation), generator
        self.memory = torch.zeros(shape, dtype=dtype, device=device)

    def __call__(self, t: int) -> torch.Tensor:
        xi = torch.randn(self.memory.shape, generator=self.generator, dtype=self.memory.dtype,
                         device=self.memory.device)
        z = xi + self.b * self.memory
        self.memory.mul_(CORRELATION_DECAY).add_(xi, alpha=1 - CORRELATION_DECAY)
        return z


def correlated_power(correlation, momentum, decay: float = CORRELATION_DECAY):
    """The statistic k = 1 + 2ρ Σ_{j≥1} ρ^(j−1) γ_j/γ₀ of :class:`CorrelatedDraw`'s process
    (:mod:`dynamics.theory.correlated`), from its autocovariance: with kernel 1, b(1−ψ)ψ^(i−1),

        γ₀ = 1 + b²(1−ψ)/(1+ψ),   γ_j = b(1−ψ)ψ^(j−1) + b²(1−ψ)ψ^j/(1+ψ)   (j ≥ 1),

    so Σ_j ρ^(j−1) γ_j = b(1−ψ)(1 + bψ/(1+ψ))/(1 − ρψ). Numbers or numpy arrays.
    """
    b, rho, psi = correlation, momentum, decay
    gamma0 = 1 + b**2 * (1 - psi) / (1 + psi)
    return 1 + 2 * rho * b * (1 - psi) * (1 + b * psi / (1 + psi)) / ((1 - rho * psi) * gamma0)


# ---------------------------------------------------------------- the quadratic toy
def curvatures(dim: int, curvature_min: float, curvature_max: float, flat: int = 0, *,
               dtype=torch.float32, device="cpu") -> torch.Tensor:
    """The spectrum h of H = diag(h): ``flat`` zeros (default D/2; the flat subspace
    where L = 0), then D − flat values log-spaced from ``curvature_min`` to
    ``curvature_max``."""
    flat = flat or dim // 2
    rest = torch.logspace(math.log10(curvature_min), math.log10(curvature_max), dim - flat,
                          dtype=dtype, device=device)
    return torch.cat([torch.zeros(flat, dtype=dtype, device=device), rest])


def quadratic_loss(w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """L(w) = ½ uᵀ H u with u = w/|w| and H = diag(h), one value per row."""
    u = w / w.norm(dim=-1, keepdim=True)
    return 0.5 * (h * u * u).sum(-1)


def quadratic_gradient(w: torch.Tensor, h: torch.Tensor, noise_std, z: torch.Tensor) -> torch.Tensor:
    """Minibatch gradient of the quadratic toy, row by row:

        g = P⊥ (H u + s ζ) / |w|,   u = w/|w|,   P⊥ = I − u uᵀ,   ζ = z/√D,

    the exact gradient of L(w) = ½ uᵀHu plus sampling noise of scale-free size
    s = σ/√N (``noise_std``, broadcastable to (R, 1)); ``z`` is standard normal,
    (R, D) or broadcastable to it. Both terms are ⟂ w and scale as 1/|w|, so the
    minibatch loss is scale-invariant too and G² = |g|²|w|² ≈ |P⊥Hu|² + s².
    """
    norm = w.norm(dim=-1, keepdim=True)
    u = w / norm
    x = h * u + z * (noise_std / math.sqrt(w.shape[-1]))
    return (x - (x * u).sum(-1, keepdim=True) * u) / norm


# ------------------------------------------------------- the head: no scale symmetry
def head_loss(b: torch.Tensor, kappa: torch.Tensor, target: float) -> torch.Tensor:
    """L_b(b) = ½ Σ_j κ_j (b_j − b*)², one value per row: a quadratic in parameters b
    that batch norm does not make scale-invariant (the final linear layer, batch-norm
    scales and biases), with curvatures κ = ``kappa`` and optimum b* = ``target``."""
    return 0.5 * (kappa * (b - target) ** 2).sum(-1)


def head_gradient(b: torch.Tensor, kappa: torch.Tensor, target: float, noise_std, z: torch.Tensor) -> torch.Tensor:
    """Minibatch gradient of :func:`head_loss`, row by row:

        g_b = κ (b − b*) + s_b ζ,   ζ = z/√D_b,

    with noise of size s_b = σ_b/√N (``noise_std``, broadcastable to (R, 1)). Unlike the
    scale-invariant part, nothing here rescales with |b|: weight decay pulls b off b*
    (to κb*/(κ + α) at rest) and the raw step λ/(1 − ρ) sets its noise, so at fixed
    λα/(1 − ρ) this part still depends on α.
    """
    return kappa * (b - target) + z * (noise_std / math.sqrt(b.shape[-1]))
