"""The run directory (the contract in docs/run-directory.md), every file written atomically.

    config.json      the TrainConfig fields plus the derived update rule name
    env.json         torch version, device, git commit, start time, data source
    metrics.csv      one row per epoch
    norms.csv        one row per (logged step, parameter tensor)
    norms_per_channel.csv   (with per_channel) one row per output channel
    summary.json     written last, when the run is over: its presence means "finished"
    checkpoint.pt    model, optimiser, RNG state, step and metrics at the last finished epoch

Resuming: a directory with a checkpoint but no summary is an unfinished run;
``resume=True`` continues it if the checkpoint's config (the source of truth) and the
fingerprint of its data match, otherwise the user is told to pass --resume or pick
another --out. Every file is checked before training starts; the directory is locked
(:class:`DirectoryLock`) while a run writes it. The checkpoint is read with
``weights_only=True``: a crafted file cannot run code.
"""

from __future__ import annotations

import datetime
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Optional

import torch

from dynamics.util.errors import RidgelineError
from dynamics.analysis.runtable import NORM_KINDS, read_config, read_norms, read_summary
from dynamics.util.io import (DirectoryLock, atomic_write, claim_kind, ensure_dir, inside, write_csv,
                              write_failure, write_json)
from training.config import TrainConfig
from training.norms import HYPERPARAMETERS

FILES = ("config.json", "env.json", "metrics.csv", "norms.csv", "summary.json", "checkpoint.pt")
METRIC_COLUMNS = ["epoch", "step", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"]
# fields that may differ between a run and its resumption: where and how it runs, not what
# (the data are compared by fingerprint, see RunDir.check_data)
NOT_COMPARED = ("out", "device", "compile", "download", "cache_dir", "data", "tensorboard")
CHECKPOINT_KEYS = ("model", "optimizer", "rng", "epoch", "step", "seconds", "metrics", "config")


class RunDir:
    def __init__(self, out: str):
        self.path = Path(out).expanduser()
        self.tables = (None, None)  # (norms, per-channel) checked by prepare() for a resume

    def file(self, name: str) -> Path:
        return self.path / name

    def lock(self) -> DirectoryLock:
        """Create the directory and lock it for this process (one writer at a time);
        a folder another command wrote is refused first, and so is a tensorboard/ link
        that leads out of it."""
        claim_kind(self.path, "train")
        inside(self.path, self.file("tensorboard"))
        ensure_dir(self.path)
        return DirectoryLock(self.path)

    def prepare(self, config: TrainConfig, resume: bool) -> tuple[Optional[dict], Optional[dict]]:
        """(finished summary or None, checkpoint or None) after checking the directory:
        every file a resume reads is read and checked here, before any data or training."""
        has = {name: self.file(name).exists() for name in FILES}
        if not any(has.values()):
            return None, None
        if not resume:
            state = ("a finished run" if has["summary.json"] else
                     "an unfinished run" if has["checkpoint.pt"] else "a started run")
            raise RidgelineError(f"{self.path} already holds {state}; pass --resume to "
                                 f"{'see its summary' if has['summary.json'] else 'continue it'}, "
                                 "or choose another --out")
        hint = "restore it, or choose another --out"
        saved = read_config(self.file("config.json"), hint=hint) if has["config.json"] else None
        if has["summary.json"]:
            if saved is not None:
                self._check_same(config, saved, "config.json")
            return read_summary(self.file("summary.json"), hint="delete it to resume from the "
                                "checkpoint, or choose another --out"), None
        if not has["checkpoint.pt"]:
            if saved is not None:
                self._check_same(config, saved, "config.json")
            return None, None
        ckpt = self.load_checkpoint()
        self._check_same(config, ckpt["config"], "checkpoint.pt")  # the source of truth
        if saved is None:  # deleted: put it back from the checkpoint
            write_json(self.file("config.json"), ckpt["config"])
        self.tables = self.read_tables(ckpt["epoch"], config.per_channel, ckpt["step"], config.log_every)
        return None, ckpt

    def load_checkpoint(self) -> dict:
        """The checkpoint, unpickled with ``weights_only=True``: tensors, numbers, strings,
        lists and dicts only, so a crafted file cannot run code on ``--resume``."""
        path = self.file("checkpoint.pt")
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # UnpicklingError for anything beyond plain data, or damage
            import pickle

            why = ("it holds objects other than tensors, numbers, strings, lists and dicts"
                   if isinstance(e, pickle.UnpicklingError) else f"{type(e).__name__}: damaged or truncated")
            raise RidgelineError(f"cannot read {path} as a ridgeline checkpoint ({why}); "
                                 "delete it to restart the run from scratch") from None
        missing = [k for k in CHECKPOINT_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
        if missing or not isinstance(ckpt["config"], dict) or not isinstance(ckpt["epoch"], int):
            raise RidgelineError(f"{path} is not a ridgeline checkpoint (lacks "
                                 f"{', '.join(missing) or 'a config dict and an epoch'}); "
                                 "delete it to restart the run from scratch")
        return ckpt

    def _check_same(self, config: TrainConfig, saved: dict, where: str) -> None:
        now = config.to_dict()
        # a field missing from an older run's config was added later with a default that
        # keeps the old behaviour (e.g. wd_on="all"): the run used that default
        defaults = TrainConfig().to_dict()
        diff = [f"{k}: {saved.get(k, defaults.get(k))!r} then, {now[k]!r} now" for k in now
                if k not in NOT_COMPARED and saved.get(k, defaults.get(k)) != now[k]]
        if diff:
            raise RidgelineError(f"cannot resume {self.path} with a different configuration ("
                                 f"{'; '.join(diff)}, per its {where}); use the same options or another --out")

    def check_data(self, data: dict, ckpt: Optional[dict]) -> None:
        """Refuse to resume on other data than the run began with (``data``: source and
        fingerprint of the arrays used, from :func:`training.data.load`)."""
        before = (ckpt or {}).get("data")
        if not isinstance(before, dict) or "fingerprint" not in before:
            return  # a new run, or a checkpoint from before fingerprints: nothing to compare
        if before["fingerprint"] != data["fingerprint"]:
            raise RidgelineError(
                f"cannot resume {self.path} on other data: it was trained on {before.get('source')} "
                f"(fingerprint {before['fingerprint']}), now {data['source']} (fingerprint "
                f"{data['fingerprint']}); pass the run's own --data or choose another --out")

    def write_start(self, config: TrainConfig, env: dict) -> None:
        ensure_dir(self.path)
        write_json(self.file("config.json"), config.to_dict())
        write_json(self.file("env.json"), env)

    def write_epoch(self, metrics, norms, channels, checkpoint: Optional[dict]) -> None:
        """Tables first, checkpoint last: a crash in between leaves rows past the
        checkpoint, which :meth:`read_tables` drops on resume."""
        write_csv(self.file("norms.csv"), norms)
        if channels is not None:
            write_csv(self.file("norms_per_channel.csv"), channels)
        write_csv(self.file("metrics.csv"), metrics)
        if checkpoint is not None:
            atomic_write(self.file("checkpoint.pt"), lambda tmp: _save(checkpoint, tmp, self.file("checkpoint.pt")))

    def read_tables(self, epoch: int, per_channel: bool, step: Optional[int] = None, every: Optional[int] = None):
        """The norm tables as saved, up to and including ``epoch`` (for resume), checked:
        a missing, damaged or short table is refused before anything trains. With the
        checkpoint's ``step`` and the log interval ``every``, a table is short when it
        lacks the last logged step, step − step mod every (an epoch may log no step)."""
        hint = "delete checkpoint.pt to restart the run from scratch, or choose another --out"

        def read(name, kinds):
            path = self.file(name)
            frame = read_norms(path, strict=True, required=kinds, hint=hint).frame
            if (frame["step"].max() < step - step % every) if step is not None and every else \
                    frame["epoch"].max() < epoch:
                raise RidgelineError(f"{path} ends at epoch {frame['epoch'].max()} (step {frame['step'].max()}) "
                                     f"but the checkpoint is at epoch {epoch}; {hint}")
            # measured in float32 (training.monitor); read back as such so the rewritten file
            # carries the same digits as an uninterrupted run's; λ, α, ρ stay float64
            measured = [c for c in frame.select_dtypes("float").columns if c not in HYPERPARAMETERS]
            frame = frame.astype({c: "float32" for c in measured})
            return frame[frame["epoch"] <= epoch].reset_index(drop=True)

        kinds = {**NORM_KINDS, "epoch": "int"}
        return (read("norms.csv", kinds),
                read("norms_per_channel.csv", {**kinds, "channel": "int"}) if per_channel else None)

    def write_summary(self, summary: dict) -> None:
        write_json(self.file("summary.json"), summary)


def _save(checkpoint: dict, tmp: str, path: Path) -> None:
    """torch.save, whose failed write (a full disk) is a RuntimeError from its C++ writer:
    one line naming the file instead (the previous checkpoint stays in place)."""
    try:
        torch.save(checkpoint, tmp)
    except RuntimeError as e:
        why = str(e).strip().splitlines()[-1][:200] if str(e).strip() else "write failed"
        raise RidgelineError(write_failure(path, f"{why} (is the disk full?)", rerun=(
            "rerun the same command with --resume (the epochs saved before are kept)"))) from None


def environment(device: torch.device, data_source: str) -> dict:
    """What env.json records: versions, device, git commit, start time."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return {
        "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
        "device": str(device), "device_name": name, "host": socket.gethostname(),
        "git_commit": _git_commit(), "start_time": datetime.datetime.now().astimezone().isoformat(),
        "data": data_source, "pid": os.getpid(),
    }


def _git_commit() -> Optional[str]:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
