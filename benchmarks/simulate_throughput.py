"""Simulator throughput: parameter updates per second, vectorised vs a loop of optimisers.

    python benchmarks/simulate_throughput.py [--runs 1024] [--dim 1024] [--threads 0]

The work: R settings of a D-dimensional scale-invariant parameter, each with its own
(λ, α, ρ), one step = the noise-model gradient (g ⟂ w, |g| = G/|w|, from one normal
draw per step shared by the settings, as the simulator does) and heavy-ball with
coupled weight decay. Three ways:

- ``vectorised``: the simulator's default path, one (R, D) state, heavy-ball with
  (R, 1) hyperparameter columns, as fused in-place ops built from the rule's derived
  coefficients, the noise gradient g = a w + k z folded in without being written
  (:mod:`dynamics.sim.fused`; :func:`dynamics.jobs.simulate.toy_gradient`,
  :func:`dynamics.sim.engine.integrate`);
- ``unfused``: the same with ``RULES["heavy-ball"]`` called as written (new tensors
  every step), the default before :mod:`dynamics.sim.fused`;
- ``vectorised, rule only``: the same update with a fixed gradient tensor (what the
  update itself costs, without drawing the noise);
- the same two with ``compile=True`` (:func:`dynamics.sim.engine.integrate` fuses the
  gradient's arithmetic and the rule with torch.compile; compilation time excluded,
  printed);
- ``loop of torch.optim.SGD``: the plain way, R separate D-vectors with R optimisers,
  each step a Python loop setting ``.grad`` (the same noise gradient from the same
  draw, row by row) and calling ``step()``.

Ceiling: a large plain tensor copy (``dst.copy_(src)``, 256 MiB, read + write counted)
measures the memory bandwidth. The fraction reported for a method is its updates/s
times 16 bytes (float32 w and v each read and written once: the least any step
must move) over that bandwidth. The 256 MiB copy measures main memory; the
simulator's working set (w, v, g: 12 MiB at R = D = 1024) partly stays in cache, so
a fused step can pass 100% (a copy of one (R, D) tensor is printed for comparison).
Timings are wall-clock medians of repeats; on a shared machine they are noisy, so
rerun when the machine is quiet.

Threads: ``integrate`` runs its eager steps on at most the idle cores
(:func:`dynamics.sim.fused.idle_threads`: cores − 1-minute load + 1), so on a busy machine
``--threads 2`` runs the eager rows on one thread (printed), and ``--compile`` lowers
torch's threads to the idle cores for the rest of the process (the rows after it
included); ``--pin-threads`` turns both off, to measure at exactly ``--threads``
whatever the load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch


def timed(fn, repeats: int) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def vectorised(R: int, D: int, steps: int, device, rule_only: bool = False, compile: bool = False,
               fused: bool = True):
    """The simulator's path: R settings × 1 run, its noise-loss gradient, integrate()."""
    import numpy as np

    from dynamics.sim.engine import integrate
    from dynamics.jobs.simulate import SimConfig, settings_table, toy_gradient

    lr, wd, mom = np.linspace(0.05, 0.5, R), np.linspace(1e-3, 1e-2, R), np.linspace(0.0, 0.9, R)
    config = SimConfig(lr=list(lr), wd=list(wd), momentum=list(mom), runs=1, dim=D, steps=steps)
    gen = torch.Generator(device=device).manual_seed(0)
    gradient, _ = toy_gradient(config, settings_table(config), torch.float32, device, gen)
    w = torch.randn(R, D, generator=gen, device=device)
    col = lambda a: torch.tensor(a, dtype=torch.float32, device=device)[:, None]  # noqa: E731
    fixed = gradient(w, 0)
    grad = (lambda w, t: fixed) if rule_only else gradient
    if rule_only and compile:
        from dynamics.sim.engine import SplitGradient

        grad = SplitGradient(lambda t: fixed, lambda w, z: z)

    def run():
        import dynamics.sim.fused

        linear, dynamics.sim.fused.LINEAR = dynamics.sim.fused.LINEAR, dynamics.sim.fused.LINEAR if fused else ()
        with torch.no_grad():
            integrate(grad, "heavy-ball", w, torch.zeros_like(w), lr=col(lr), wd=col(wd), momentum=col(mom),
                      steps=torch.full((R, 1), float(steps), device=device), schedule="constant",
                      compile=compile)
        dynamics.sim.fused.LINEAR = linear
        if device.type == "cuda":
            torch.cuda.synchronize()

    return run


def optimiser_loop(R: int, D: int, steps: int, device):
    """The plain way: R parameters, R torch.optim.SGD; per step the same draw z (one
    per step, shared by all settings as in the simulator) and, row by row, the same
    noise-model gradient (tangent_noise), then step()."""
    from dynamics.rules import torch_sgd_kwargs
    from dynamics.sim.toys import tangent_noise

    gen = torch.Generator(device=device).manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(D, generator=gen, device=device)) for _ in range(R)]
    opts = [torch.optim.SGD([p], **torch_sgd_kwargs("heavy-ball", 0.05 + 0.45 * r / (R - 1),
                                                     1e-3 + 9e-3 * r / (R - 1), 0.9 * r / (R - 1)))
            for r, p in enumerate(params)]

    def run():
        for _ in range(steps):
            z = torch.randn(D, generator=gen, device=device)
            for p, opt in zip(params, opts):
                p.grad = tangent_noise(p.detach(), 1.0, z)
                opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return run


def copy_bandwidth(device, mib: float = 256) -> float:
    """Bytes per second of a plain tensor copy (read + write)."""
    src = torch.empty(int(mib * 2**20) // 4, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)

    def run():
        dst.copy_(src)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return 2 * src.numel() * 4 / timed(run, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1024, help="R, runs (settings) advanced together")
    parser.add_argument("--dim", type=int, default=1024, help="D, dimensions per run")
    parser.add_argument("--steps", type=int, default=50, help="steps per timed vectorised call")
    parser.add_argument("--loop-steps", type=int, default=3, help="steps per timed loop call (it is slow)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads (0: torch's default, every core; 1 on a shared machine)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument("--allocator", choices=("tuned", "default"), default="tuned",
                        help="tuned: dynamics.sim.engine.tune_allocator() (as ridgeline simulate does)")
    parser.add_argument("--pin-threads", action="store_true",
                        help="every row on exactly --threads, not lowered to the idle cores")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import dynamics.sim.engine

    import dynamics.sim.fused

    if args.pin_threads:
        dynamics.sim.engine.idle_threads = dynamics.sim.fused.choose_compile_threads = torch.get_num_threads
    if args.allocator == "tuned":
        from dynamics.sim.engine import tune_allocator

        tune_allocator()
    device = torch.device(args.device)
    R, D = args.runs, args.dim

    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"R={R} × D={D}, float32, device={device}, torch {torch.__version__}, "
                  f"{torch.get_num_threads()} thread(s), {args.allocator} allocator; eager rows on "
                  f"{dynamics.sim.engine.idle_threads()} thread(s)"
                  f"{' (pinned)' if args.pin_threads else f' (idle cores at load {os.getloadavg()[0]:.1f})'}")
    bandwidth = copy_bandwidth(device)
    state_copy = copy_bandwidth(device, R * D * 4 / 2**20)  # one (R, D) tensor: the simulator's working set
    rows = []
    methods = [("vectorised (simulator, fused)", vectorised(R, D, args.steps, device), args.steps),
               ("vectorised, rule only (fused)", vectorised(R, D, args.steps, device, rule_only=True), args.steps),
               ("vectorised, unfused", vectorised(R, D, args.steps, device, fused=False), args.steps),
               ("vectorised, rule only, unfused",
                vectorised(R, D, args.steps, device, rule_only=True, fused=False), args.steps)]
    if not args.no_compile:
        methods += [("vectorised, --compile", vectorised(R, D, args.steps, device, compile=True), args.steps),
                    ("vectorised, rule only, --compile",
                     vectorised(R, D, args.steps, device, rule_only=True, compile=True), args.steps)]
    methods.append(("loop of R torch.optim.SGD", optimiser_loop(R, D, args.loop_steps, device), args.loop_steps))
    for name, fn, steps in methods:
        t = time.perf_counter()
        fn()  # warm-up (compilation for --compile)
        warm = time.perf_counter() - t
        seconds = timed(fn, args.repeats if "loop" not in name else max(1, args.repeats // 2))
        if "compile" in name:
            console.print(f"{name}: first call (compilation) {warm:.1f} s")
        rows.append((name, R * D * steps / seconds))
    baseline = rows[-1][1]
    table = Table(title="parameter updates per second (heavy-ball on the noise model)")
    for col in ("method", "updates/s", "vs loop", "of copy bandwidth"):
        table.add_column(col, justify="right")
    for name, rate in rows:
        table.add_row(name, f"{rate:.3e}", f"{rate / baseline:.1f}x", f"{rate * 16 / bandwidth:.1%}")
    table.add_row("plain tensor copy, 256 MiB (ceiling)", f"{bandwidth / 16:.3e}", "", "100% "
                  f"({bandwidth / 1e9:.1f} GB/s)")
    table.add_row(f"copy of one {R}×{D} tensor (cache-sized)", f"{state_copy / 16:.3e}", "",
                  f"{state_copy / bandwidth:.0%} ({state_copy / 1e9:.1f} GB/s)")
    console.print(table)


if __name__ == "__main__":
    main()
