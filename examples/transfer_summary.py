"""Held-out accuracy of examples/transfer_cpu.sh's runs: mean ± standard error over
seeds per setting, and each setting's difference from the base with its standard error
(over seeds; "binom" is the sampling error of the held-out images alone,
sqrt(p(1 − p)/(2000 · seeds)), which is all there is with one seed).

    python examples/transfer_summary.py OUT_DIR
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

NAMES = ("base", "batch_transfer", "batch_naive", "momentum_transfer", "momentum_naive",
         "wd_transfer", "wd_naive", "wd_transfer_convs_only", "wd_transfer_others_only")
HOLDOUT = 2000  # held-out images per run (examples/transfer_cpu.sh)


def mean_se(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    return mean, sd / math.sqrt(n)


def main(out: str) -> None:
    accs = {}
    for name in NAMES:
        files = sorted(Path(out, name).glob("s*/summary.json"))
        accs[name] = {f.parent.name: json.loads(f.read_text())["val_acc"] for f in files}
    base_mean, base_se = mean_se(list(accs["base"].values())) if accs["base"] else (math.nan, math.nan)
    print(f"{'setting':<20}{'seeds':>6}{'val_acc':>10}{'± SE':>8}{'binom':>8}{'vs base':>10}{'± SE':>8}  per seed")
    for name, by_seed in accs.items():
        if not by_seed:
            print(f"{name:<20}{0:>6}  (not run)")
            continue
        mean, se = mean_se(list(by_seed.values()))
        diff_se = math.sqrt(se ** 2 + base_se ** 2)
        binom = math.sqrt(mean * (1 - mean) / (HOLDOUT * len(by_seed)))
        print(f"{name:<20}{len(by_seed):>6}{mean:>10.4f}{se:>8.4f}{binom:>8.4f}{mean - base_mean:>+10.4f}{diff_se:>8.4f}  "
              + " ".join(f"{k}={v:.3f}" for k, v in sorted(by_seed.items())))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
