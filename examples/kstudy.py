"""What sets the gradient power ratio k? A study over logged runs, and a mechanism test.

Usage:

    python examples/kstudy.py RUN_DIR_OR_FOLDER [...] [--out DIR]

**Data.** Every run directory found (norms.csv with grad_power_ratio, SGD with momentum)
gives, per scale-invariant layer and per fifth of the run (skipping the first fifth, the
warm-up's transient, and steps where λ is below 5% of its peak), the power-weighted
k̄ = 1 + Σ(k − 1)G²/ΣG² and the covariates u = λα/(1−ρ), ρ, N, the effective step
η = λ/|w|², the fan-in, the width and the progress.

**Laws**, each fitted on half of the runs (alternate runs in name order) and scored on
the other half by the RMSE and the largest error of k̄ (and of |w| through
|w| ∝ k^{1/4}, :func:`dynamics.theory.correlated.norm_factor_leading` at leading order):

- ``global``: one k for everything;
- ``layer``: one k per layer (k a property of the layer alone);
- ``layer + log η``: k = a_layer + b log(η/(1 − ρ));
- ``curvature``: k = f(η h_layer, ρ), the k of a quadratic valley of curvature h on the
  unit sphere (below), one fitted h per layer.

**Mechanism.** Along a direction of curvature h with minibatch noise ξ, the tangent
coordinate x of u = w/|w| obeys, with η = λ/|w|² and m the gradients' momentum filter,
g_t = h x_t + ξ_t, m_t = ρ m_{t−1} + g_t and x_{t+1} = x_t − η m_t (heavy-ball) or
x_t − η (g_t + ρ m_t) (Nesterov). Its stationary covariance (a discrete Lyapunov
equation) gives k = 1 + 2ρ h E[x_t m_{t−1}]/(h² E x² + σ²) = f(ηh, ρ) < 1: the iterate
that a gradient pushed is pushed back, so the next gradient points against the last.
:func:`toy_k` measures k on the simulator's quadratic toy (dynamics.sim.toys.quadratic_gradient,
the rule of dynamics.rules, weight decay included) at a chosen ηh and compares.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

BINS = 5  # parts of a run: k̄ is averaged over each (the first, the warm-up's transient, is skipped)


from dynamics.analysis.kstudy import mixed_k as curvature_k, toy_k  # noqa: E402 - the mechanism


# ------------------------------------------------------------------------ data
def find_runs(paths) -> list[Path]:
    found = []
    for p in map(Path, paths):
        found += [n.parent for n in ([p / "norms.csv"] if (p / "norms.csv").is_file() else p.rglob("norms.csv"))]
    return sorted(set(found))


def observations(run_dirs) -> pd.DataFrame:
    """One row per (run, scale-invariant layer, fifth of the run): k̄ and its covariates."""
    from dynamics.util.errors import RidgelineError
    from dynamics.jobs.validate import _fan_in, load_run

    rows = []
    for d in run_dirs:
        try:
            run = load_run(d)
        except RidgelineError:
            continue
        if run.rule not in ("nesterov", "heavy-ball") or "grad_power_ratio" not in run.norms:
            continue
        c, norms = run.config, run.norms
        total = max(int(norms["step"].max()), 1)
        peak = float(norms["lr"].max())
        for layer, df in norms[norms["scale_invariant"].astype(bool) & (norms["step"] > 0)].groupby("layer"):
            p = df["step"].to_numpy(float) / total
            G2 = (df["grad_norm"] * df["weight_norm"]).to_numpy(float) ** 2
            k = df["grad_power_ratio"].to_numpy(float)
            lr, w2 = df["lr"].to_numpy(float), df["weight_norm"].to_numpy(float) ** 2
            for b in range(1, BINS):
                sel = (p >= b / BINS) & (p < (b + 1) / BINS) & np.isfinite(k) & (lr > 0.05 * peak)
                if sel.sum() < 5:
                    continue
                lam = float(lr[sel].mean())
                rows.append(dict(run=str(d.name), layer=layer, progress=(b + 0.5) / BINS,
                                 k=1 + float(((k[sel] - 1) * G2[sel]).sum() / G2[sel].sum()),
                                 u=lam * run.wd / (1 - run.momentum), rho=run.momentum,
                                 N=int(c.get("batch_size", 0)), eta=float(np.median(lr[sel] / w2[sel])),
                                 fan_in=_fan_in(df["shape"].iloc[0]) if "shape" in df else None,
                                 width=float(c.get("width", 1.0)), rule=run.rule,
                                 train_size=c.get("train_size"), schedule=c.get("schedule")))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ laws
def _fit_curvature(df: pd.DataFrame) -> dict:
    """Per layer: the h minimising Σ (k − f(η h, ρ))² (dynamics.analysis.kstudy.fit_curvature)."""
    from dynamics.analysis.kstudy import fit_curvature

    rule = df["rule"].iloc[0]
    return {l: fit_curvature(p["k"], p["eta"], p["rho"].to_numpy(), rule) for l, p in df.groupby("layer")}


def _f(eta_h, rho, rule):
    from dynamics.analysis.kstudy import curvature_k as f

    return f(eta_h, rho, rule)


def laws(train: pd.DataFrame):
    """name → function(test frame) → predicted k, each fitted on ``train``."""
    mean_k = train["k"].mean()
    per_layer = train.groupby("layer")["k"].mean()
    x = np.log(train["eta"] / (1 - train["rho"]))
    D = pd.get_dummies(train["layer"]).astype(float)
    coef, *_ = np.linalg.lstsq(np.column_stack([D.to_numpy(), x.to_numpy()]), train["k"].to_numpy(), rcond=None)
    a, b = dict(zip(D.columns, coef[:-1])), coef[-1]
    h = _fit_curvature(train)
    return {
        "global": lambda t: np.full(len(t), mean_k),
        "layer": lambda t: t["layer"].map(per_layer).to_numpy(float),
        "layer + log η": lambda t: t["layer"].map(a).to_numpy(float) + b * np.log(t["eta"] / (1 - t["rho"])).to_numpy(),
        "curvature": lambda t: np.array([float(_f(e * h.get(l, np.nan), r, rule)) for e, r, rule, l in
                                         zip(t["eta"], t["rho"], t["rule"], t["layer"])]),
    }, h


def held_out(obs: pd.DataFrame) -> pd.DataFrame:
    runs = sorted(obs["run"].unique())
    train = obs[obs["run"].isin(runs[0::2])]
    test = obs[obs["run"].isin(runs[1::2])]
    fitted, h = laws(train)
    rows = []
    for name, f in fitted.items():
        for part, df in (("fit half", train), ("held-out half", test)):
            pred = f(df)
            err = df["k"].to_numpy() - pred
            norm_err = (df["k"].to_numpy() / pred) ** 0.25 - 1
            rows.append(dict(law=name, half=part, rmse_k=float(np.sqrt(np.nanmean(err ** 2))),
                             max_k=float(np.nanmax(np.abs(err))),
                             median_norm_error=float(np.nanmedian(np.abs(norm_err))),
                             max_norm_error=float(np.nanmax(np.abs(norm_err)))))
    return pd.DataFrame(rows), h


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--no-toy", action="store_true", help="skip the quadratic toy (about 30 s)")
    args = ap.parse_args()
    import warnings

    warnings.simplefilter("ignore")
    obs = observations(find_runs(args.paths))
    print(f"{obs['run'].nunique()} runs, {len(obs)} observations (run × layer × fifth)")
    print("correlation of k̄ with each covariate (Spearman):")
    for col in ("u", "rho", "N", "eta", "fan_in", "width", "progress"):
        if obs[col].nunique() > 1:
            print(f"  {col:9s} {obs['k'].rank().corr(obs[col].astype(float).rank()):+.2f}")
    table, h = held_out(obs)
    print("all scale-invariant layers:")
    print(table.round(3).to_string(index=False))
    inner, _ = held_out(obs[~obs["layer"].str.startswith("prep.")])
    print("inner convs (without prep, whose per-step k is the noisiest):")
    print(inner.round(3).to_string(index=False))
    table = pd.concat([table.assign(layers="all"), inner.assign(layers="inner")])
    print("fitted curvature h per layer (fit half):", {k: f"{v:.3g}" for k, v in h.items()})
    print("mechanism: k of the quadratic toy against the linear theory f(ηh, ρ = 0.9), Nesterov, half the "
          "directions flat")
    for eh in () if args.no_toy else (0.003, 0.01, 0.03, 0.1):
        k_toy, eh_seen = toy_k(eh)
        print(f"  ηh {eh_seen:.4f}: toy k {k_toy:.3f}, theory {curvature_k(eh_seen, 0.9, curved_share=0.5)[0]:.3f}, "
              f"theory all-curved {curvature_k(eh_seen, 0.9)[0]:.3f}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        obs.to_csv(args.out / "k_observations.csv", index=False)
        table.to_csv(args.out / "k_laws.csv", index=False)


if __name__ == "__main__":
    main()
