"""The tables of docs/transfer.md from examples/transfer_scale_cpu.sh's sweeps.

Per sweep (one data-set size, run length or width): held-out accuracy (2,000 images)
at each wd, mean ± standard error over seeds, and the best wd. The best wd of a seed is
the vertex of a parabola fitted by least squares to its accuracy against log₂ wd over
the whole grid (the grid point with the best accuracy where the parabola opens upward
or its vertex leaves the grid; flagged "edge"); the sweep's best wd is the geometric
mean over seeds, its error the standard error of log₂ wd over seeds. Then each pair:
the measured ratio of best wd against the prediction of keeping the relaxation time in
epochs (`ridgeline transfer`), ± its error (the two standard errors in quadrature), and
at the larger size the naive transfer (the smaller size's best grid wd) against the
τ-kept one (that wd / 4), their accuracy ± standard error over seeds.

    python examples/transfer_scale_summary.py OUT_DIR
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

#: name, train images, epochs, width (examples/transfer_scale_cpu.sh)
PARTS = {"size2500": (2500, 10, 0.125), "size10000": (10_000, 10, 0.125),
         "epochs20": (2500, 20, 0.125), "width4": (2500, 10, 0.25)}
#: (small, large, what changes, the predicted ratio of the best wd, large / small)
PAIRS = [("size2500", "size10000", "train_size x4", 0.25),
         ("size2500", "epochs20", "epochs x2", 1.0),
         ("size2500", "width4", "width x2 (standard)", 1.0)]


def load(part_dir: Path) -> dict:
    """{wd: {seed: (val_acc, seconds)}} of the finished runs of one sweep (with its
    one-point extension ``<part>low`` below the grid, where it was run)."""
    out: dict = {}
    files = [*part_dir.glob("records/*.json"), *part_dir.with_name(part_dir.name + "low").glob("records/*.json")]
    for f in sorted(files):
        r = json.loads(f.read_text())
        s = r.get("summary") or {}
        if s.get("val_acc") is None or r.get("diverged"):
            continue
        out.setdefault(r["params"]["wd"], {})[r["params"]["seed"]] = (s["val_acc"], s.get("seconds", math.nan))
    return out


def mean_se(values) -> tuple[float, float]:
    v = np.asarray(list(values), dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan


def best_log2_wd(points: dict) -> tuple[float, bool]:
    """(log₂ of the best wd, at the edge) from {wd: accuracy} of one seed."""
    wds = sorted(points)
    x, y = np.log2(wds), np.array([points[w] for w in wds])
    top = float(x[int(np.argmax(y))])
    if len(x) < 3:
        return top, True
    a, b, _ = np.polyfit(x, y, 2)
    if a >= 0:
        return top, True
    vertex = -b / (2 * a)
    return (float(vertex), False) if x[0] <= vertex <= x[-1] else (top, True)


def best(data: dict) -> dict | None:
    seeds = sorted({s for by in data.values() for s in by})
    per_seed = {s: {w: data[w][s][0] for w in data if s in data[w]} for s in seeds}
    per_seed = {s: p for s, p in per_seed.items() if len(p) == len(data) and len(p) >= 3}
    if not per_seed:
        return None
    fits = {s: best_log2_wd(p) for s, p in per_seed.items()}
    m, se = mean_se(v for v, _ in fits.values())
    return {"log2": m, "se": se, "seeds": len(fits), "edge": sum(e for _, e in fits.values()),
            "per_seed": {s: 2 ** v for s, (v, _) in fits.items()}}


def main(out: str) -> None:
    results, cpu = {}, 0.0
    for part, (m, e, w) in PARTS.items():
        data = load(Path(out, part))
        print(f"\n{part}: {m} training images, {e} epochs, width {w:g}")
        if not data:
            print("  (no finished runs yet)")
            continue
        print(f"  {'wd':>10}{'seeds':>6}{'val_acc':>9}{'± SE':>8}  per seed")
        for wd in sorted(data):
            by = data[wd]
            mean, se = mean_se(a for a, _ in by.values())
            cpu += sum(t for _, t in by.values())
            print(f"  {wd:>10.6g}{len(by):>6}{mean:>9.4f}{se:>8.4f}  "
                  + " ".join(f"s{s}={a:.3f}" for s, (a, _) in sorted(by.items())))
        b = best(data)
        results[part] = (data, b)
        if b is None:
            print("  best wd: needs every wd of a seed")
            continue
        print(f"  best wd {2 ** b['log2']:.4g} (x/÷ {2 ** b['se']:.3g}, {b['seeds']} seeds"
              + (f", {b['edge']} at the grid's edge" if b["edge"] else "") + "): "
              + " ".join(f"s{s}={v:.3g}" for s, v in sorted(b["per_seed"].items())))
    print(f"\ntime of the finished runs: {cpu / 3600:.2f} h (the sum of their 'seconds': wall time on one niced core)")
    print(f"\n{'move':<22}{'best wd ratio':>14}{'x/÷':>7}{'predicted':>10}{'log2 off':>10}{'± SE':>7}")
    for small, large, move, predicted in PAIRS:
        bs, bl = (results.get(p, (None, None))[1] for p in (small, large))
        if bs is None or bl is None:
            print(f"{move:<22}  (not finished)")
            continue
        log_ratio, se = bl["log2"] - bs["log2"], math.hypot(bs["se"], bl["se"])
        print(f"{move:<22}{2 ** log_ratio:>14.3g}{2 ** se:>7.3g}{predicted:>10.3g}"
              f"{log_ratio - math.log2(predicted):>+10.2f}{se:>7.2f}")
    if "size2500" in results and "size10000" in results:
        data_small, data_large = results["size2500"][0], results["size10000"][0]
        means = {wd: mean_se(a for a, _ in by.values())[0] for wd, by in data_small.items()}
        naive = max(means, key=means.get)
        print(f"\nat 10,000 images: naive = the best grid wd at 2,500 ({naive:g}); tau-kept = it / 4")
        accs = {}
        for name, wd in (("naive", naive), ("tau-kept", naive / 4)):
            match = [w for w in data_large if math.isclose(w, wd, rel_tol=1e-6)]
            extra = load(Path(out, f"naive10000_{wd:g}"))
            if not match and extra:
                data_large, match = data_large | extra, list(extra)
            if not match:
                print(f"  {name:<9} wd {wd:g}: not on the grid; run "
                      f"`bash examples/transfer_scale_cpu.sh OUT naive10000 '' {wd:g}`")
                continue
            mean, se = mean_se(a for a, _ in data_large[match[0]].values())
            accs[name] = (mean, se)
            print(f"  {name:<9} wd {wd:g}: val_acc {mean:.4f} ± {se:.4f} ({len(data_large[match[0]])} seeds)")
        if len(accs) == 2:
            (n, sn), (t, st) = accs["naive"], accs["tau-kept"]
            print(f"  tau-kept - naive: {t - n:+.4f} ± {math.hypot(sn, st):.4f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
