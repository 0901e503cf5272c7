"""The real tuner comparison of examples/tuners_cpu.sh: for each tuner, its best held-out
accuracy after 5, 10, 15 and 25 runs, and the runs it needed to come within 1 point
(0.01) and within 2 points of the best accuracy any tuner found (the target).

    python examples/tuners_summary.py OUT_DIR

One real run per setting (training seed 0), so two settings closer than the held-out
sampling error (about 0.016 at 1,000 images and 50%) are not told apart, and a tuner's
best run is partly luck. The second table is each tuner's best setting retrained with
seeds 1-3 (OUT_DIR/reeval): mean ± standard error over those seeds.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd

TUNERS = ("coordinate_rotated", "tpe_rotated", "tpe_naive")
BUDGETS = (5, 10, 15, 25)


def _runs_to(best_so_far: pd.Series, level: float) -> str:
    hit = best_so_far[best_so_far >= level]
    return str(int(hit.index[0]) + 1) if len(hit) else f">{len(best_so_far)}"


def main(out: str) -> None:
    trials = {}
    for name in TUNERS:
        path = Path(out, name, "trials.csv")
        if path.exists():
            t = pd.read_csv(path).drop_duplicates(["lr", "momentum", "wd"]).reset_index(drop=True)
            trials[name] = t.fillna({"score": 0.0})  # a diverged run scores NaN: the worst
    if not trials:
        sys.exit(f"no trials.csv under {out}: run examples/tuners_cpu.sh {out} first")
    target = max(t["score"].max() for t in trials.values())
    print(f"target: the best held-out accuracy any tuner found, {target:.4f}")
    head = "".join(f"{f'best@{b}':>10}" for b in BUDGETS)
    print(f"{'tuner':<20}{'runs':>6}{head}{'to -0.01':>10}{'to -0.02':>10}  best setting (lr, momentum, wd)")
    for name, t in trials.items():
        best = t["score"].cummax()
        at = "".join(f"{best.iloc[min(b, len(t)) - 1]:>10.4f}" for b in BUDGETS)
        top = t.loc[t["score"].idxmax()]
        print(f"{name:<20}{len(t):>6}{at}{_runs_to(best, target - 0.01):>10}{_runs_to(best, target - 0.02):>10}  "
              f"{top.lr:.4g}, {top.momentum:.4g}, {top.wd:.4g}")
    print(f"\n{'best setting, retrained':<24}{'seeds':>6}{'val_acc':>10}{'± SE':>8}  per seed")
    for name in trials:
        runs = sorted(Path(out, "reeval", name).glob("s*/summary.json"))
        accs = [json.loads(f.read_text())["val_acc"] for f in runs]
        if not accs:
            print(f"{name:<24}{0:>6}  (not run)")
            continue
        mean = sum(accs) / len(accs)
        se = math.sqrt(sum((a - mean) ** 2 for a in accs) / (len(accs) - 1) / len(accs)) if len(accs) > 1 else math.nan
        print(f"{name:<24}{len(accs):>6}{mean:>10.4f}{se:>8.4f}  "
              + " ".join(f"{f.parent.name}={a:.3f}" for f, a in zip(runs, accs)))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
