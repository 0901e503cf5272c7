"""The README's Muon row and table: simulated over derived |w| and angle per matrix shape
(square 64x64, wide 32x128, tall 128x32, conv 16x8x3x3 = 16x72), two settings, the noise
loss and the quadratic toy; with the Newton–Schulz statistics of each shape (P, the spread
of O's singular values, F(0.5)) and the share of the update along w, simulated and derived.
16 runs per setting, 2,000 steps from the prediction, float64, late-time means over the
second half. Run: python examples/muon_table.py (a few CPU-minutes)."""
import numpy as np
import torch

from dynamics.theory import muon as M
from dynamics.rules import initial_state, stepper
from dynamics.jobs.simulate import SimConfig, simulate, with_matrix
from dynamics.sim.toys import tangent_noise

SHAPES = ("64x64", "32x128", "128x32", "16x8x3x3")
SETTINGS = ((0.05, 0.1, 0.95, True), (0.1, 0.2, 0.9, False))  # λ, α, ρ, nesterov


def radial_simulated(shape, lr, wd, rho, nesterov, steps=2000, runs=16, seed=0):
    """Mean cos(w_t, O_t+1) over the second half on the noise loss, from the rule itself."""
    A, B = M.parse_shape(shape)
    gen = torch.Generator().manual_seed(seed)
    norm = M.predict(lr, wd, rho, (A, B), nesterov)[0]
    w = torch.randn(runs, A * B, generator=gen, dtype=torch.float64)
    w = w / w.norm(dim=1, keepdim=True) * float(norm)
    v = initial_state("muon", w)
    step = stepper("muon", shape=(A, B), nesterov=nesterov, ns_dtype=None)
    cos = []
    for t in range(steps):
        g = tangent_noise(w, torch.tensor(1.0, dtype=torch.float64), torch.randn(runs, A * B, generator=gen, dtype=torch.float64))
        w1, v = step(w, v, g, lr, wd, rho)
        O = (1 - lr * wd) * w - w1  # η O
        if t >= steps // 2:
            cos.append(((w * O).sum(1) / (w.norm(dim=1) * O.norm(dim=1))).mean().item())
        w = w1
    return float(np.mean(cos))


print("| shape | matrix | P/min(A,B) | singular values of O | F(0.5) |")
print("|---|---|---|---|---|")
for shape in SHAPES:
    A, B = M.parse_shape(shape)
    st = M.ns_statistics(A, B)
    print(f"| {shape} | {A}x{B} | {st.power_per_singular:.3f} | {st.singular_min:.2f}–{st.singular_max:.2f} "
          f"(mean {st.singular_mean:.2f}, sd {st.singular_sd:.2f}) | {np.interp(0.5, st.r, st.F):.3f} |", flush=True)
print()
print("| loss | shape | λ | α | ρ | Nesterov | |w| sim | |w| derived | ratio | θ sim | θ derived | ratio | θ leading | cos(w, O) sim | derived |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for loss in ("noise", "quadratic"):
    for shape in SHAPES:
        for lr, wd, rho, nesterov in SETTINGS:
            config = with_matrix(SimConfig(loss=loss, rule="muon", shape=shape, nesterov=nesterov, lr=[lr], wd=[wd],
                                           momentum=[rho], steps=2000, runs=16, init_norm=0, record_every=10,
                                           dtype="float64"))
            s = simulate(config).summary.iloc[0]
            v = M.values(lr, wd, rho, M.parse_shape(shape), nesterov)
            radial = f"{radial_simulated(shape, lr, wd, rho, nesterov):+.4f}" if loss == "noise" else "–"
            print(f"| {loss} | {shape} | {lr:g} | {wd:g} | {rho:g} | {'yes' if nesterov else 'no'} | "
                  f"{s.weight_norm:.4g} | {s.predicted_weight_norm:.4g} | {s.norm_ratio:.4f} | "
                  f"{s.angular_update:.4g} | {s.predicted_angular_update:.4g} | {s.angle_ratio:.4f} | "
                  f"{v['angular_update_leading']:.4g} | {radial} | {v['update_radial_share']:+.4f} |", flush=True)
