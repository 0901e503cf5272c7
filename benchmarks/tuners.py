"""Tuners on the quadratic toy with its head: coordinate descent against Optuna, rotated and naive.

    python benchmarks/tuners.py [--seeds 20] [--budget 50] [--cache tuners.json]

For every toy seed (its noise stream) and every method × coordinates — Page's
coordinate descent (``ridgeline tune``'s, doubling/halving, then one refinement to a
√2 step), Optuna's TPE and random search (``ridgeline tune --method``, default bounds,
sampler seed 0) — each in the rotated (u = λα/(1−ρ), 1−ρ, α) and the naive (λ, 1−ρ, α)
coordinates, from Page's bad start (λ, ρ, α) = (0.001, 0.5, 0.01), for up to
``--budget`` distinct runs. The target is the best loss of each toy seed on a fine grid (the
grid of ``tests/test_tune.py``: 4,375 settings in the rotated coordinates). Printed:
median and IQR over seeds of the runs needed to come within 1% of it (">B" where
fewer than half of all seeds got there within the budget B), how many seeds got there,
and the median best loss at budgets 15, 25 and 50 relative to the target.

The six tuners of one seed advance in lockstep, each in its own thread: every round
their next points go to the toy in one vectorised simulator call (the same seed, so
the same numbers as one call per point), which is what makes 20 seeds × 6 tuners ×
50 runs take minutes (``--cache``: finished seeds are kept in a JSON file and not
rerun, so an interrupted benchmark continues). Each tuner runs exactly the code ``ridgeline tune`` runs
(:func:`training.search.tune.descend`, :func:`training.search.samplers.search`).
"""

from __future__ import annotations

import argparse
import math
import threading
import time

import numpy as np

START = {"lr": 0.001, "momentum": 0.5, "wd": 0.01}  # Page's bad start
METHODS = ("coordinate", "tpe", "random")
BUDGETS = (15, 25, 50)


class _Budget(Exception):
    pass


class Lockstep:
    """Collect one point from every live tuner thread, evaluate them in one call."""

    def __init__(self, tuners: int, seed: int):
        self.cond = threading.Condition()
        self.live, self.seed = tuners, seed
        self.pending: dict[int, dict] = {}
        self.results: dict[int, float] = {}

    def __call__(self, tid: int, point: dict) -> float:
        with self.cond:
            self.pending[tid] = point
            self._maybe_flush()
            self.cond.wait_for(lambda: tid in self.results)
            return self.results.pop(tid)

    def leave(self) -> None:
        with self.cond:
            self.live -= 1
            self._maybe_flush()

    def _maybe_flush(self) -> None:
        if not self.pending or len(self.pending) < self.live:
            return
        from dynamics.jobs.slices import quadratic_final_loss

        ids = list(self.pending)
        arrays = {k: np.array([self.pending[i][k] for i in ids]) for k in ("lr", "momentum", "wd")}
        loss = quadratic_final_loss(arrays["lr"], 512, arrays["momentum"], arrays["wd"], seed=self.seed)
        for i, value in zip(ids, np.asarray(loss, dtype=float)):
            self.results[i] = float(value) if math.isfinite(value) else math.nan
        self.pending.clear()
        self.cond.notify_all()


def run_tuner(tid: int, method: str, rotated: bool, lockstep: Lockstep, budget: int, out: list):
    """One tuner's scores of its distinct runs, in order, into ``out``."""
    from training.search.records import canonical
    from training.search.samplers import DEFAULT_BOUNDS, search, space_names
    from training.search.tune import descend

    seen: dict[tuple, float] = {}

    def evaluate(point: dict, label: str) -> tuple[int, float]:
        key = tuple(canonical([point["lr"], point["momentum"], point["wd"]]))
        if key not in seen:
            if len(seen) >= budget:
                raise _Budget
            seen[key] = lockstep(tid, point)
            out.append(seen[key])
        return list(seen).index(key), seen[key]

    try:
        if method == "coordinate":
            descend(evaluate, START, False, 2.0, rotated, tolerance=1e-6, refine=1)
        else:
            bounds = {n: DEFAULT_BOUNDS[n] for n in space_names(rotated)}
            search(evaluate, START, False, method, rotated, seed=0, bounds=bounds, max_asks=20 * budget)
    except _Budget:
        pass
    finally:
        lockstep.leave()


def grid_best(seed: int) -> float:
    """The toy's best loss on tests/test_tune.py's fine grid (u × (1 − ρ) × α)."""
    from dynamics.jobs.slices import quadratic_final_loss

    u = 2e-3 * 2.0 ** (np.arange(-12, 13)[:, None, None] / 4)
    omm = 2.0 ** -np.arange(7)[None, :, None]
    wd = 10 ** (np.arange(-36, -11)[None, None, :] / 8)
    return float(np.nanmin(quadratic_final_loss(u * omm / wd, 512, 1 - omm, wd, seed=seed)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="toy seeds 0 .. seeds-1")
    parser.add_argument("--budget", type=int, default=50, help="distinct runs per tuner")
    parser.add_argument("--cache", action="append", help="JSON file keeping finished seeds "
                        "(resumable); with --report-only it may be given several times")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. seeds-1")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: the table over every seed the cache(s) hold complete")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of "
                        + ", ".join(METHODS))
    args = parser.parse_args()
    import json
    from pathlib import Path

    import torch

    from dynamics.util.io import write_json
    from rich.console import Console
    from rich.table import Table

    torch.set_num_threads(1)
    console = Console(width=130)
    tuners = [(m, c) for m in args.methods.split(",") for c in ("rotated", "naive")]
    scores = {t: [] for t in tuners}  # per tuner: one list of scores per seed
    targets, t0 = [], time.perf_counter()
    cache: dict = {}
    for path in args.cache or []:
        for key, entry in (json.loads(Path(path).read_text()) if Path(path).is_file() else {}).items():
            cache.setdefault(key, {}).update(entry)
    used = []
    for seed in range(args.first_seed, args.seeds):
        entry = cache.setdefault(f"{seed}/{args.budget}", {})
        todo = [t for t in tuners if "/".join(t) not in entry]
        if args.report_only:
            if todo:
                continue
        elif todo and args.cache and len(args.cache) > 1:
            parser.error("give one --cache unless --report-only")
        if todo:
            entry.setdefault("target", 1.01 * grid_best(seed))
            lockstep, outs = Lockstep(len(todo), seed), [[] for _ in todo]
            threads = [threading.Thread(target=run_tuner, args=(i, m, c == "rotated", lockstep, args.budget, outs[i]))
                       for i, (m, c) in enumerate(todo)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            entry |= {"/".join(t): out for t, out in zip(todo, outs)}
            if args.cache:
                write_json(args.cache[0], cache)
            console.print(f"seed {seed}: {time.perf_counter() - t0:.0f} s")
        used.append(seed)
        targets.append(entry["target"])
        for t in tuners:
            scores[t].append([math.nan if x is None else x for x in entry["/".join(t)]])

    table = Table(title=f"tuners on the quadratic toy with its head, {len(used)} seeds "
                        f"({', '.join(map(str, used))}), budget {args.budget} runs")
    for col in ("method", "coordinates", "runs to 1% (median)", "IQR", "seeds reached",
                *(f"best/target at {b}" for b in BUDGETS if b <= args.budget)):
        table.add_column(col, justify="right")
    for (method, coords), per_seed in scores.items():
        runs = []
        for out, target in zip(per_seed, targets):
            hits = [i for i, s in enumerate(out) if s <= target]
            runs.append(hits[0] + 1 if hits else math.inf)
        q1, med, q3 = np.percentile(runs, [25, 50, 75])
        show = lambda x: f"{x:.0f}" if math.isfinite(x) else f">{args.budget}"  # noqa: E731
        best = [np.median([np.nanmin(out[:b]) * 1.01 / target for out, target in zip(per_seed, targets)])
                for b in BUDGETS if b <= args.budget]
        table.add_row(method, coords, show(med), f"{show(q1)}-{show(q3)}",
                      f"{sum(math.isfinite(r) for r in runs)}/{len(runs)}", *(f"{x:.4f}" for x in best))
    console.print(table)
    console.print("best/target: the best loss within the budget over the fine grid's best (median over "
                  "seeds; 1 = the grid's best, 1.01 = the 1% target)")


if __name__ == "__main__":
    main()
