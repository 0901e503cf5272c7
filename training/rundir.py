"""The run directory (DESIGN.md's contract), every file written atomically.

    config.json      the TrainConfig fields plus the derived update rule name
    env.json         torch version, device, git commit, start time, data source
    metrics.csv      one row per epoch
    norms.csv        one row per (logged step, parameter tensor)
    norms_per_channel.csv   (with per_channel) one row per output channel
    summary.json     written last, when the run is over: its presence means "finished"
    checkpoint.pt    model, optimiser, RNG state, step and metrics at the last finished epoch

Resuming: a directory with a checkpoint but no summary is an unfinished run;
``resume=True`` continues it if its config matches, otherwise the user is told to
pass --resume or pick another --out.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Optional

import torch

from dynamics.util.errors import RidgelineError
from dynamics.util.io import atomic_write, ensure_dir, write_csv, write_json
from training.config import TrainConfig
from training.norms import HYPERPARAMETERS

FILES = ("config.json", "env.json", "metrics.csv", "norms.csv", "summary.json", "checkpoint.pt")
METRIC_COLUMNS = ["epoch", "step", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"]
# fields that may differ between a run and its resumption: where and how it runs, not what
NOT_COMPARED = ("out", "device", "compile", "download", "cache_dir", "data", "tensorboard")


class RunDir:
    def __init__(self, out: str):
        self.path = Path(out).expanduser()

    def file(self, name: str) -> Path:
        return self.path / name

    def prepare(self, config: TrainConfig, resume: bool) -> tuple[Optional[dict], Optional[dict]]:
        """(finished summary or None, checkpoint or None) after checking the directory."""
        has = {name: self.file(name).exists() for name in FILES}
        if not any(has.values()):
            return None, None
        if not resume:
            state = ("a finished run" if has["summary.json"] else
                     "an unfinished run" if has["checkpoint.pt"] else "a started run")
            raise RidgelineError(f"{self.path} already holds {state}; pass --resume to "
                                 f"{'see its summary' if has['summary.json'] else 'continue it'}, "
                                 "or choose another --out")
        if has["config.json"]:
            self._check_same(config)
        if has["summary.json"]:
            return json.loads(self.file("summary.json").read_text()), None
        if has["checkpoint.pt"]:
            try:
                ckpt = torch.load(self.file("checkpoint.pt"), map_location="cpu", weights_only=False)
            except Exception as e:
                raise RidgelineError(f"cannot read {self.file('checkpoint.pt')} ({type(e).__name__}); "
                                     "delete it to restart the run from scratch") from None
            return None, ckpt
        return None, None

    def _check_same(self, config: TrainConfig) -> None:
        try:
            saved = json.loads(self.file("config.json").read_text())
        except (OSError, ValueError) as e:
            raise RidgelineError(f"cannot read {self.file('config.json')} ({e}); choose another --out") from None
        now = config.to_dict()
        diff = [f"{k}: {saved.get(k)!r} then, {now[k]!r} now" for k in now
                if k not in NOT_COMPARED and saved.get(k) != now[k]]
        if diff:
            raise RidgelineError(f"cannot resume {self.path} with a different configuration ("
                                 f"{'; '.join(diff)}); use the same options or another --out")

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
            atomic_write(self.file("checkpoint.pt"), lambda tmp: torch.save(checkpoint, tmp))

    def read_tables(self, epoch: int, per_channel: bool):
        """The norm tables as saved, up to and including ``epoch`` (for resume)."""
        import pandas as pd

        def read(name):
            path = self.file(name)
            if not path.exists():
                return None
            frame = pd.read_csv(path)
            # measured in float32 (training.monitor); read back as such so the rewritten file
            # carries the same digits as an uninterrupted run's; λ, α, ρ stay float64
            measured = [c for c in frame.select_dtypes("float").columns if c not in HYPERPARAMETERS]
            frame = frame.astype({c: "float32" for c in measured})
            return frame[frame["epoch"] <= epoch].reset_index(drop=True)

        return read("norms.csv"), (read("norms_per_channel.csv") if per_channel else None)

    def write_summary(self, summary: dict) -> None:
        write_json(self.file("summary.json"), summary)


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
