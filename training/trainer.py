"""``train(config)``: one run of Page's ResNet-9, its run directory, its summary.

Order of work: check the config (before touching data), check the run directory
(resume or refuse), load the data onto the device, build model and optimiser, then
per epoch: a shuffled, augmented pass with per-step learning rate and norm logging,
evaluation on the test set (and the held-out set), and an atomic write of the
tables and the checkpoint. A non-finite loss stops the run cleanly with
``diverged: true``. Randomness per epoch comes from a generator seeded by
(seed, epoch), so a resumed run repeats an uninterrupted one exactly on CPU.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Callable, Optional

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn
from rich.table import Table

from dynamics.util.errors import RidgelineError
from dynamics.util.io import remove_empty_dir
from dynamics.util.output import changed_settings
from training.config import TrainConfig, check
from training.data import load
from training.loop import build, evaluate, resolve_device, train_epoch
from training.model import weight_count
from training.monitor import Monitor
from training.rundir import METRIC_COLUMNS, RunDir, environment, rng_state, set_rng_state


#: fewer logged steps than this and `ridgeline validate` has too little to compare
MIN_LOGGED_STEPS = 20


def saved_config(out: str) -> Optional[dict]:
    """The configuration of the run in ``out`` (config.json, else the checkpoint's), or
    None when ``out`` holds no run: what ``ridgeline train --resume`` starts from."""
    from dynamics.analysis.runtable import read_config
    from dynamics.util.io import claim_kind

    run = RunDir(out)
    claim_kind(run.path, "train")  # another command's config.json is not a run's settings
    if run.file("config.json").is_file():
        return read_config(run.file("config.json"), hint="restore it, or choose another --out")
    if run.file("checkpoint.pt").is_file():
        return run.load_checkpoint()["config"]
    return None


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the generator for shuffling and augmentation in ``epoch`` (from 1)."""
    return (seed * 1_000_003 + epoch) % (2**63)


def train(config: TrainConfig, *, resume: bool = False, verbose: bool = True,
          on_step: Optional[Callable] = None) -> dict:
    """Train, write ``config.out`` (unless None) and return the summary dict.

    ``resume``: continue the unfinished run in ``config.out`` from its last finished
    epoch (or return its summary if it finished). ``verbose``: config line, progress
    bar and final table on the console. ``on_step(step, model, optimizer)`` is
    called after every optimiser step (tests use it to snapshot weights).
    """
    check(config)
    if config.tensorboard:
        from training.tensorboard import require

        require()
        if not config.out:
            raise RidgelineError("tensorboard needs a run directory: set out")
    device = resolve_device(config.device)
    console = Console(quiet=not verbose)
    run = RunDir(config.out) if config.out is not None else None
    created = run is not None and not run.path.exists()
    try:
        with run.lock() if run else contextlib.nullcontext():
            return _train(config, run, resume, device, console, on_step)
    except BaseException:
        if created:  # refused before writing anything: leave no empty --out behind
            remove_empty_dir(run.path)
        raise


def _train(config: TrainConfig, run: Optional[RunDir], resume: bool, device, console: Console,
           on_step: Optional[Callable]) -> dict:
    """:func:`train` once the run directory (if any) is locked."""
    finished, ckpt = run.prepare(config, resume) if run else (None, None)
    if finished is not None:
        console.print(f"{run.path} already finished; its summary:")
        _print_summary(console, finished)
        return finished

    train_set, val_set, test_set, data = load(config, device)
    if run is not None:
        run.check_data(data, ckpt)
    console.print(f"[bold]ridgeline train[/] {changed_settings(config)} (all settings: config.json)",
                  highlight=False, soft_wrap=True)
    setup = build(config, device)
    monitor = Monitor(setup.model, setup.optimizer, every=config.log_every, per_channel=config.per_channel)
    steps_per_epoch = len(train_set) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    _warn_few_logs(console, config, total_steps)

    start_epoch, step, elapsed, metrics, tables = _start_state(config, run, ckpt, setup, monitor, console)
    if run is not None and ckpt is None:
        run.write_start(config, {**environment(device, data["source"]),
                                 "data_fingerprint": data["fingerprint"]})
    board = None
    if config.tensorboard:
        from training.tensorboard import Board

        board = Board(run.path, config.to_dict(), after_step=step)

    console.print(f"{len(train_set)} training images, {steps_per_epoch} steps/epoch, "
                  f"{weight_count(setup.model) / 1e6:.3f} M weights, device {device}")
    t0 = time.perf_counter() - elapsed
    step, diverged = _epochs(config, run, device, (train_set, val_set, test_set), data, setup, monitor,
                             board, on_step, console, (start_epoch, step, metrics, tables), t0)

    monitor.close()
    if board is not None:
        board.close()
    summary = _summary(config, metrics, step, total_steps, diverged, time.perf_counter() - t0,
                       len(train_set), len(test_set), str(device))
    if run is not None:
        run.write_summary(summary)
    _print_summary(console, summary)
    return summary


def _warn_few_logs(console: Console, config: TrainConfig, total_steps: int) -> None:
    """Warn when ``total_steps // log_every`` is under :data:`MIN_LOGGED_STEPS`."""
    logged = total_steps // config.log_every
    if logged < MIN_LOGGED_STEPS:
        console.print(f"[yellow bold]warning[/]: {total_steps} steps at --log-every {config.log_every} "
                      f"log the norms {logged} times; `ridgeline validate` needs about "
                      f"{MIN_LOGGED_STEPS} or more: use --log-every "
                      f"{max(1, total_steps // MIN_LOGGED_STEPS)} or train longer", highlight=False)


def _start_state(config: TrainConfig, run: Optional[RunDir], ckpt: Optional[dict], setup, monitor: Monitor,
                 console: Console) -> tuple:
    """``(start_epoch, step, elapsed, metrics, [norms, channels])``: empty for a new run, else
    restored from the checkpoint (model, optimiser, random state and monitor with it)."""
    import pandas as pd

    if ckpt is None:
        return 0, 0, 0.0, [], [pd.DataFrame(), (pd.DataFrame() if config.per_channel else None)]
    setup.model.load_state_dict(ckpt["model"])
    setup.optimizer.load_state_dict(ckpt["optimizer"])
    set_rng_state(ckpt["rng"])
    start_epoch, step, elapsed, metrics = ckpt["epoch"], ckpt["step"], ckpt["seconds"], ckpt["metrics"]
    norms, channels = run.tables  # read and checked by run.prepare, before the data
    # the monitor counts on from the checkpoint's step (so logs no step 0) and its
    # gradient statistic's filter state is restored (None in older checkpoints)
    monitor.resume(step, ckpt.get("gradient_memory"))
    console.print(f"resuming {run.path} after epoch {start_epoch} (step {step})")
    return start_epoch, step, elapsed, metrics, [norms, channels]


def _epochs(config: TrainConfig, run: Optional[RunDir], device, sets: tuple, data: dict, setup,
            monitor: Monitor, board, on_step: Optional[Callable], console: Console, state: tuple,
            t0: float) -> tuple:
    """Epochs ``start_epoch + 1 .. config.epochs`` under a progress bar, each one trained,
    evaluated, appended to ``metrics`` and the tables ``[norms, channels]`` (in place) and
    written; stops after a diverged epoch. Returns ``(step, diverged)``."""
    train_set, val_set, test_set = sets
    start_epoch, step, metrics, tables = state
    steps_per_epoch = len(train_set) // config.batch_size
    diverged = False
    columns = (TextColumn("[bold]epoch {task.fields[epoch]}/" + str(config.epochs)), BarColumn(bar_width=20),
               MofNCompleteColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("train", total=steps_per_epoch * config.epochs, completed=step,
                            epoch=start_epoch + 1, status=_status(metrics[-1] if metrics else None))
        for epoch in range(start_epoch + 1, config.epochs + 1):
            generator = torch.Generator(device=device).manual_seed(epoch_seed(config.seed, epoch))
            batches = train_set.train_batches(config.batch_size, generator, config.cutout)
            bar.update(task, epoch=epoch)
            result = train_epoch(setup, config, batches, epoch, step, steps_per_epoch, monitor, on_step,
                                 progress=lambda s, loss: bar.update(task, completed=s,
                                                                     status=f"loss {loss:.3f}"))
            step, diverged = result.step, result.diverged
            row = _epoch_row(setup, result, epoch, test_set, val_set, t0)
            metrics.append(row)
            _grow_tables(tables, monitor, config.per_channel)
            if board is not None:
                board.add(tables[0])
            bar.update(task, completed=step, status=_status(row))
            if run is not None:
                _write_epoch(run, config, setup, monitor, data, metrics, tables, diverged)
            if diverged:
                console.print(f"[red]diverged[/]: non-finite loss by step {step} (epoch {epoch}); stopping")
                break
    return step, diverged


def _epoch_row(setup, result, epoch: int, test_set, val_set, t0: float) -> dict:
    """The metrics row of one finished epoch: mean train loss and accuracy over its
    images, test (and held-out) loss and accuracy, seconds since ``t0``."""
    row = {"epoch": epoch, "step": result.step, "lr": setup.optimizer.param_groups[0]["lr"],
           "train_loss": result.loss_sum / max(result.images, 1),
           "train_acc": result.correct / max(result.images, 1)}
    row["test_loss"], row["test_acc"] = evaluate(setup, test_set)
    if val_set is not None:
        row["val_loss"], row["val_acc"] = evaluate(setup, val_set)
    row["seconds"] = time.perf_counter() - t0
    return row


def _grow_tables(tables: list, monitor: Monitor, per_channel: bool) -> None:
    """Append the monitor's new norm (and per-channel) rows to ``tables = [norms, channels]``."""
    import pandas as pd

    norms, channels = tables
    new_norms, new_channels = (_complete(t) for t in monitor.fetch())
    tables[0] = pd.concat([norms, new_norms], ignore_index=True) if len(norms) else new_norms
    if per_channel:
        tables[1] = pd.concat([channels, new_channels], ignore_index=True) if len(channels) else new_channels


def _write_epoch(run: RunDir, config: TrainConfig, setup, monitor: Monitor, data: dict, metrics: list,
                 tables: list, diverged: bool) -> None:
    """Write the tables after the last epoch in ``metrics``, and its checkpoint unless it diverged."""
    import pandas as pd

    row = metrics[-1]
    checkpoint = None if diverged else {
        "model": setup.model.state_dict(), "optimizer": setup.optimizer.state_dict(),
        "rng": rng_state(), "gradient_memory": monitor.gradstats.memory,
        "epoch": row["epoch"], "step": row["step"], "seconds": row["seconds"],
        "metrics": metrics, "config": config.to_dict(), "data": data}
    columns_order = METRIC_COLUMNS + [c for c in row if c not in METRIC_COLUMNS]
    run.write_epoch(pd.DataFrame(metrics)[columns_order], tables[0], tables[1], checkpoint)


def _complete(frame):
    """A norm table of the measured columns: an epoch that logged step 0 alone (the
    initial weights, no step taken) has no gradient or angle yet, which are NaN there,
    so the file it leaves reads back (a resume) like any other."""
    if frame is None or not len(frame):
        return frame
    import numpy as np

    from dynamics.analysis.runtable import NORM_KINDS

    missing = [c for c, kind in NORM_KINDS.items() if kind == "float" and c not in frame]
    return frame.assign(**{c: np.float32(np.nan) for c in missing}) if missing else frame


def _status(row: Optional[dict]) -> str:
    if row is None:
        return ""
    text = f"loss {row['train_loss']:.3f} acc {row['train_acc']:.1%} | test {row['test_acc']:.1%}"
    return text + (f" val {row['val_acc']:.1%}" if "val_acc" in row else "")


def _finite(x: Optional[float]) -> Optional[float]:
    return x if x is not None and math.isfinite(x) else None


def _summary(config: TrainConfig, metrics: list[dict], step: int, total_steps: int, diverged: bool,
             seconds: float, n_train: int, n_test: int, device: str) -> dict:
    last = metrics[-1] if metrics else {}
    acc = last.get("test_acc")
    return {
        "test_acc": acc,
        "test_acc_se": math.sqrt(acc * (1 - acc) / n_test) if acc is not None else None,
        "test_loss": _finite(last.get("test_loss")),
        "val_acc": last.get("val_acc"), "val_loss": _finite(last.get("val_loss")),
        "train_acc": last.get("train_acc"), "train_loss": _finite(last.get("train_loss")),
        "diverged": diverged, "steps": step, "planned_steps": total_steps,
        "epochs": last.get("epoch", 0), "seconds": seconds,
        "images_per_second": step * config.batch_size / seconds if seconds > 0 else None,
        "rule": config.rule, "lr": config.lr, "wd": config.wd, "momentum": config.momentum,
        "lr_wd_over_1_minus_momentum": config.lr * config.wd / (1 - config.momentum),
        "batch_size": config.batch_size, "width": config.width, "schedule": config.schedule,
        "train_images": n_train, "test_images": n_test, "device": device, "seed": config.seed,
        **_timescale(config, n_train // config.batch_size),
    }


def _timescale(config: TrainConfig, steps_per_epoch: int) -> dict:
    """The scale-invariant tensors' relaxation time at the peak λ, derived for the run's rule
    (:func:`dynamics.jobs.transfer.timescale`): in steps, in epochs, and the run in relaxation times."""
    from dynamics.jobs.transfer import Timescale, timescale

    if steps_per_epoch < 1:
        return Timescale(math.nan, math.nan, math.nan).to_dict()
    try:
        t = timescale(config.rule, config.lr, config.wd, config.momentum, steps_per_epoch, config.epochs,
                      warmup=config.warmup, schedule=config.schedule, beta2=config.beta2)
    except RidgelineError as e:  # a rule whose relaxation time needs the gradient (adam-l2)
        return {**Timescale(math.nan, math.nan, math.nan).to_dict(), "timescale_note": str(e)}
    return t.to_dict()


def _print_summary(console: Console, summary: dict) -> None:
    table = Table(title="ridgeline train", show_header=False)
    acc, se = summary.get("test_acc"), summary.get("test_acc_se")
    table.add_row("test accuracy", f"{acc:.2%} ± {se:.2%} ({summary['test_images']} images)"
                  if acc is not None else "-")
    if summary.get("val_acc") is not None:
        table.add_row("held-out accuracy", f"{summary['val_acc']:.2%}")
    table.add_row("diverged", "[red]yes[/]" if summary["diverged"] else "no")
    epochs = summary["epochs"]
    table.add_row("steps", f"{summary['steps']} of {summary['planned_steps']} "
                           f"({epochs} epoch{'' if epochs == 1 else 's'})")
    table.add_row("time", f"{summary['seconds']:.1f} s ({summary['images_per_second'] or 0:.0f} images/s)")
    table.add_row("rule", f"{summary['rule']}  lr={summary['lr']} wd={summary['wd']} "
                          f"momentum={summary['momentum']}  batch={summary['batch_size']}")
    if "relaxation_steps" in summary:  # summaries written before it have no timescale
        from dynamics.jobs.transfer import Timescale

        t = Timescale.from_dict(summary)
        table.add_row("relaxation time", t.line() if t else summary.get("timescale_note")
                      or "none: no stable equilibrium at the peak lr")
    console.print(table)
