"""The README's rule table, last columns: simulated |w| and angle per rule on the noise loss
over ridgeline's exact equilibrium and over the leading-order form (Kosson et al.'s, "Rotational
Equilibrium", where they give one). One setting per rule, λα = 1e-2, ρ = β₁ = 0.9, 16 runs of
C = 256, 4,000 steps started at the prediction. Run: python examples/rule_table.py (a few minutes)."""
import numpy as np
from dynamics.jobs.simulate import SimConfig, simulate
from dynamics.jobs.derive import evaluate

SET = {"sgd": (0.5, 0.02), "heavy-ball": (0.5, 0.02), "nesterov": (0.5, 0.02), "decoupled": (0.5, 0.02),
       "adamw": (1e-2, 1.0), "adam-l2": (1e-2, 1.0), "lion": (1e-2, 1.0)}
for rule, (lr, wd) in SET.items():
    res = simulate(SimConfig(loss="noise", rule=rule, lr=[lr], wd=[wd], momentum=[0.9], steps=4000, runs=16,
                             dim=256, init_norm=0, record_every=10, dtype="float64"))
    s = res.summary.iloc[0]
    point = {"lr": lr, "wd": wd, "momentum": 0.9, "grad_norm": 1.0}
    if rule in ("adamw", "adam-l2", "lion"):
        point["C"] = 256
    v = evaluate(rule, point)
    if rule in ("adamw", "adam-l2", "lion"):
        lead_w, lead_t = v.get("paper_weight_norm") or v["weight_norm_leading"], v.get("paper_angular_update") or v["angular_update_leading"]
        which = ("paper" if v.get("paper_weight_norm") else "ours-leading", "paper" if v.get("paper_angular_update") else "ours-leading")
    else:
        lead_w, lead_t = v["weight_norm4_leading"] ** 0.25, v["angular_update_leading"]
        which = ("leading", "leading")
    print(f"{rule:10s} lr={lr} wd={wd} |w| sim/exact {s.norm_ratio:.4f} sim/{which[0]} {s.weight_norm / lead_w:.4f} "
          f"angle sim/exact {s.angle_ratio:.4f} sim/{which[1]} {s.angular_update / lead_t:.4f}", flush=True)
