"""The derived equilibria against the rules run directly under the noise model.

For each rule, 3 settings × 32 independent runs of 500 dimensions advance together
(hyperparameters broadcast per row), started at |w| = 1, off equilibrium, and run for
over ten relaxation times. The late-time means (last half) of |w| and of the per-step
angle must be within 0.2% of ``predict`` (the exact expressions): over seeds 0–3 the
largest miss of any rule and setting is 0.045% (|w|, decoupled) and 0.045% (θ), so an
error of order λα (0.2%–2% here) fails. The leading-order forms in λα are off by up to
4.2% at λα = 0.02, ρ = 0.9 (decoupled |w|; Nesterov 3.2%), so they get 5%.
"""

import pytest
import torch

from dynamics.sim.geometry import angle
from dynamics.rules import ADAPTIVE, ORTHOGONAL, RULES
from dynamics.theory.dispatch import predict
from dynamics.theory.symbolic import equilibrium, lam, alpha, rho, G
from dynamics.sim.toys import noise_gradient

SETTINGS = [  # (lr, wd, momentum): lr·wd from 2e-3 to 2e-2, momentum 0, 0.5, 0.9
    (0.1, 2e-2, 0.0),
    (0.2, 2.5e-2, 0.5),
    (0.4, 5e-2, 0.9),
]
RUNS, DIM, STEPS = 32, 500, 3000


def run_noise_model(rule, settings, runs=RUNS, dim=DIM, steps=STEPS, G=1.0, seed=0):
    """Late-time mean |w| and angle per setting, running ``rule`` on the noise model."""
    gen = torch.Generator().manual_seed(seed)
    lr, wd, momentum = (torch.tensor(col, dtype=torch.float64).repeat_interleave(runs)[:, None]
                        for col in zip(*settings))
    w = torch.randn(len(settings) * runs, dim, generator=gen, dtype=torch.float64)
    w /= w.norm(dim=1, keepdim=True)
    v = torch.zeros_like(w)
    norms = torch.zeros(len(w), dtype=torch.float64)
    angles = torch.zeros_like(norms)
    for t in range(steps):
        w_new, v = RULES[rule](w, v, noise_gradient(w, G, gen), lr, wd, momentum)
        if t >= steps // 2:
            norms += w_new.norm(dim=1)
            angles += angle(w, w_new)
        w = w_new
    late = steps - steps // 2
    return (norms / late).view(len(settings), runs).mean(1), (angles / late).view(len(settings), runs).mean(1)


@pytest.mark.parametrize("rule", [r for r in RULES if r not in ADAPTIVE + ORTHOGONAL])
def test_noise_model_lands_on_predicted_equilibrium(rule):
    norms, angles = run_noise_model(rule, SETTINGS)
    for (lr, wd, momentum), norm, ang in zip(SETTINGS, norms, angles):
        p = predict(rule, lr, wd, momentum, grad_norm=1.0)
        assert p.relaxation_steps < STEPS / 20, "the setting must relax well within the run"
        assert norm.item() == pytest.approx(p.weight_norm, rel=2e-3), (lr, wd, momentum)
        assert ang.item() == pytest.approx(p.angular_update, rel=2e-3), (lr, wd, momentum)
        eq, point = equilibrium(rule), {lam: lr, alpha: wd, rho: momentum, G: 1.0}
        assert norm.item() == pytest.approx(float(eq.weight_norm4_leading.subs(point)) ** 0.25, rel=0.05)
        assert ang.item() == pytest.approx(float(eq.angular_update_leading.subs(point)), rel=0.05)
