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
τ-kept one (that wd / 4), their accuracy ± standard error over seeds; and at 20
epochs the τ-kept transfer (the same wd) against keeping τ as a fixed fraction of the
run (that wd / 2). ``--csv PATH`` writes every finished run's scores (docs/data/).

    python examples/transfer_scale_summary.py OUT_DIR [--csv PATH]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
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
    extensions ``<part>low`` below the grid and ``<part>high`` above it, where they were run)."""
    out: dict = {}
    files = [*part_dir.glob("records/*.json"),
             *(f for end in ("low", "high") for f in part_dir.with_name(part_dir.name + end).glob("records/*.json"))]
    for f in sorted(files):
        r = json.loads(f.read_text())
        s = r.get("summary") or {}
        if s.get("val_acc") is None or r.get("diverged"):
            continue
        out.setdefault(r["params"]["wd"], {})[r["params"]["seed"]] = (s["val_acc"], s.get("seconds", math.nan))
    return out


def write_csv(out: str, path: Path) -> int:
    """Every finished run of every sweep, one row each: the scores and the run's timescale."""
    keys = ("val_acc", "test_acc", "train_loss", "seconds", "steps", "relaxation_steps", "relaxation_epochs",
            "run_relaxation_times", "schedule_relaxation_times")
    rows = []
    for part_dir in sorted(p for p in Path(out).iterdir() if (p / "records").is_dir()):
        for f in sorted((part_dir / "records").glob("*.json")):
            r = json.loads(f.read_text())
            s = r.get("summary") or {}
            if s.get("val_acc") is None:
                continue
            rows.append({"sweep": part_dir.name, "train_size": s["train_images"], "epochs": s["epochs"],
                         "width": s["width"], **{k: r["params"][k] for k in ("lr", "wd", "momentum", "batch_size", "seed")},
                         "diverged": bool(r.get("diverged")), **{k: s.get(k) for k in keys}})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["sweep"])
        w.writeheader()
        w.writerows(rows)
    return len(rows)


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


#: accuracy below the best of a seed at which the wd is past the good range ("edge")
DROP = 0.03


def edge_log2_wd(points: dict, drop: float = DROP) -> float | None:
    """log₂ of the wd above the best where the accuracy of one seed has fallen ``drop`` below its
    best, interpolated linearly in log₂ wd; None when it never falls that far on the grid.
    Where accuracy is flat over most of the grid and falls off a cliff at large wd, this
    is the grid's one sharp feature, and the rule predicts it moves as the best wd does."""
    wds = sorted(points)
    y = np.array([points[w] for w in wds])
    top = int(np.argmax(y))
    for i in range(top + 1, len(wds)):
        if y[i] < y[top] - drop:
            x0, x1, y0, y1 = math.log2(wds[i - 1]), math.log2(wds[i]), y[i - 1], y[i]
            return float(x0 + (y[top] - drop - y0) / (y1 - y0) * (x1 - x0))
    return None


def best(data: dict) -> dict | None:
    seeds = sorted({s for by in data.values() for s in by})
    per_seed = {s: {w: data[w][s][0] for w in data if s in data[w]} for s in seeds}
    per_seed = {s: p for s, p in per_seed.items() if len(p) == len(data) and len(p) >= 3}
    if not per_seed:
        return None
    fits = {s: best_log2_wd(p) for s, p in per_seed.items()}
    m, se = mean_se(v for v, _ in fits.values())
    cliffs = [edge_log2_wd(p) for p in per_seed.values()]
    cliff = mean_se(c for c in cliffs if c is not None) if None not in cliffs else (math.nan, math.nan)
    return {"log2": m, "se": se, "seeds": len(fits), "edge": sum(e for _, e in fits.values()),
            "per_seed": {s: 2 ** v for s, (v, _) in fits.items()}, "cliff": cliff,
            "cliff_per_seed": [None if c is None else 2 ** c for c in cliffs]}


def nearest(data: dict, b: dict | None) -> float:
    """The grid wd nearest (in log₂) the sweep's best wd, or the best mean where there is none.
    On a curve flat within the noise across seeds the best grid mean is a coin toss between the
    ends of the plateau; the fitted best over seeds is not."""
    if b is None:
        means = {wd: mean_se(a for a, _ in by.values())[0] for wd, by in data.items()}
        return max(means, key=means.get)
    return min(data, key=lambda w: abs(math.log2(w) - b["log2"]))


def compare(data: dict, label: str, pair: tuple) -> None:
    """Accuracy of two named wds of one sweep, mean ± SE over seeds, and their difference."""
    accs = {}
    for name, wd in pair:
        match = [w for w in data if math.isclose(w, wd, rel_tol=1e-6)]
        if not match:
            print(f"  {name:<9} wd {wd:g}: not on the {label} grid")
            continue
        mean, se = mean_se(a for a, _ in data[match[0]].values())
        accs[name] = (mean, se)
        print(f"  {name:<9} wd {wd:g}: val_acc {mean:.4f} ± {se:.4f} ({len(data[match[0]])} seeds)")
    if len(accs) == 2:
        (a, sa), (b, sb) = accs.values()
        print(f"  {pair[1][0]} - {pair[0][0]}: {b - a:+.4f} ± {math.hypot(sa, sb):.4f}")


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
        c = b["cliff"]
        print(f"  edge ({DROP:.0%} below the best of each seed) at wd "
              + (f"{2 ** c[0]:.4g} (x/÷ {2 ** c[1]:.3g})" if np.isfinite(c[0]) else "beyond the grid for a seed") + ": "
              + " ".join("–" if v is None else f"{v:.3g}" for v in b["cliff_per_seed"]))
    print(f"\ntime of the finished runs: {cpu / 3600:.2f} h (the sum of their 'seconds': wall time on one niced core)")
    print(f"\n{'move':<22}{'estimator':>10}{'wd ratio':>10}{'x/÷':>7}{'predicted':>10}{'log2 off':>10}{'± SE':>7}")
    for small, large, move, predicted in PAIRS:
        bs, bl = (results.get(p, (None, None))[1] for p in (small, large))
        if bs is None or bl is None:
            print(f"{move:<22}  (not finished)")
            continue
        for name, (ls, ss), (ll, sl) in (("vertex", (bs["log2"], bs["se"]), (bl["log2"], bl["se"])),
                                         ("edge", bs["cliff"], bl["cliff"])):
            log_ratio, se = ll - ls, math.hypot(ss, sl)
            if not np.isfinite(log_ratio):
                print(f"{move:<22}{name:>10}  (an edge beyond the grid)")
                continue
            print(f"{move:<22}{name:>10}{2 ** log_ratio:>10.3g}{2 ** se:>7.3g}{predicted:>10.3g}"
                  f"{log_ratio - math.log2(predicted):>+10.2f}{se:>7.2f}")
    if "size2500" in results and "size10000" in results:
        data_small, data_large = results["size2500"][0], results["size10000"][0]
        naive = nearest(data_small, results["size2500"][1])
        print(f"\nat 10,000 images: naive = the grid wd at 2,500 nearest its best ({naive:g}); tau-kept = it / 4")
        for wd in (naive, naive / 4):  # off the grid: the naive10000 extension, where it was run
            data_large = data_large | load(Path(out, f"naive10000_{wd:g}"))
        compare(data_large, "10,000-image grid (run `bash examples/transfer_scale_cpu.sh OUT naive10000 '' WD`)",
                (("naive", naive), ("tau-kept", naive / 4)))
    if "size2500" in results and "epochs20" in results:
        kept = nearest(results["size2500"][0], results["size2500"][1])
        print(f"\nat 20 epochs: tau-kept = the grid wd at 10 epochs nearest its best ({kept:g}); "
              "fraction-of-run = it / 2 (tau halved in epochs, the same share of the run)")
        compare(results["epochs20"][0], "20-epoch", (("tau-kept", kept), ("fraction", kept / 2)))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=".")
    ap.add_argument("--csv", type=Path, help="write every finished run's scores here")
    args = ap.parse_args()
    main(args.out)
    if args.csv:
        print(f"\nwrote {write_csv(args.out, args.csv)} runs to {args.csv}")
