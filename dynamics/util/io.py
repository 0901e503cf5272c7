"""Atomic file writes and directory locks shared by every entry point.

An interrupted run must never leave a half-written file that looks complete, so every
result file is written to a temporary name in the same directory and then renamed
(``os.replace`` is atomic on POSIX and Windows). A process killed between the two
leaves ``.NAME.*.tmp``; :func:`remove_stale_temporaries` deletes those once the
directory is locked. Every command that writes a directory holds its
:class:`DirectoryLock` for as long as it writes.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from dynamics.util.errors import RidgelineError

_UMASK = os.umask(0o022)  # read the process umask once (os.umask can only set it) ...
os.umask(_UMASK)  # ... and put it back


def ensure_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) or raise a one-line RidgelineError."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe-", delete=True)
        probe.close()
    except OSError as e:
        raise RidgelineError(
            f"cannot write to output directory {str(path)!r}: {e.strerror or e}; "
            "choose another --out"
        ) from None
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` onto ``path``."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)  # replaces a symlink at ``path`` itself: never writes through it
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):  # a full disk (errno 28), a quota, a read-only folder
            raise RidgelineError(write_failure(path, e.strerror or str(e), e.errno)) from None
        raise
    return path


def write_failure(path: str | os.PathLike, why: str, errno_: int | None = None,
                  rerun: str = "rerun the same command") -> str:
    """The one-line message for a result file that could not be written (the files
    written before it are whole: every write is atomic)."""
    import errno

    full = errno_ in (errno.ENOSPC, errno.EDQUOT) or "space" in why.lower()
    return f"cannot write {path}: {why}; " + ("free some disk space, then " if full else "") + rerun


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically; NaN and ±inf become null
    (strict JSON has no such numbers)."""
    return write_text(path, json.dumps(_finite(obj), indent=2, default=_jsonable, allow_nan=False) + "\n")


def _finite(obj: Any) -> Any:
    """``obj`` with every non-finite float (numpy scalars included) replaced by None."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:  # numpy / torch scalars
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_csv(path: str | os.PathLike, frame) -> Path:
    """Write a pandas DataFrame to ``path`` atomically (no index column)."""
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


LOCK_FILES = (".lock", ".lock.workers")  # what a DirectoryLock leaves in its directory


class DirectoryLock:
    """An exclusive ``flock`` on ``<dir>/.lock``, released when the process ends.

    Worker processes of the command hold a *shared* flock on ``<dir>/.lock.workers``
    (:func:`hold_worker_lock`) for their whole life, so a new command also refuses the
    directory while workers of a killed one are still running.
    """

    def __init__(self, directory: str | os.PathLike):
        self.path = Path(directory) / ".lock"
        self.fd: int | None = None

    def acquire(self) -> "DirectoryLock":
        import fcntl

        fd = _open_lock(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RidgelineError(
                f"another ridgeline process is working in {self.path.parent}; "
                "wait for it to finish or choose another --out") from None
        workers = _open_lock(self.path.parent / ".lock.workers")
        try:
            fcntl.flock(workers, fcntl.LOCK_EX | fcntl.LOCK_NB)  # only probing: closed below
        except OSError:
            os.close(fd)
            raise RidgelineError(
                f"worker processes of an earlier ridgeline command are still running in "
                f"{self.path.parent}; wait a few seconds for them to exit, then rerun") from None
        finally:
            os.close(workers)
        self.fd = fd
        remove_stale_temporaries(self.path.parent)
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None

    def __enter__(self) -> "DirectoryLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _open_lock(path: Path) -> int:
    """Open (create) a lock file, never through a symlink: one planted there would make
    the lock create or truncate a file outside the directory."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as e:
        import errno

        if e.errno == errno.ELOOP or path.is_symlink():
            raise RidgelineError(f"{path} is a symbolic link; ridgeline does not follow it: "
                                 "delete the link and rerun") from None
        raise RidgelineError(f"cannot lock {path.parent}: {e.strerror or e}; choose another --out") from None


_WORKER_LOCKS: list[int] = []  # descriptors held until the worker process ends


def hold_worker_lock(directory: str | os.PathLike) -> None:
    """In a worker process: hold a shared flock on ``<directory>/.lock.workers`` until exit."""
    import fcntl

    fd = _open_lock(Path(directory) / ".lock.workers")
    fcntl.flock(fd, fcntl.LOCK_SH)
    _WORKER_LOCKS.append(fd)


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete ``.NAME.*.tmp`` left by a process killed mid-write in ``directory`` and its
    ``records/`` (a sweep's or tune's). Call only while holding the directory's lock:
    then no writer owns them (sub-directories with their own lock clean themselves)."""
    directory = Path(directory)
    stale = [p for pattern in (".*.tmp", "records/.*.tmp") for p in directory.glob(pattern)
             if p.is_file() and p.name.count(".") >= 3]
    for path in stale:
        try:
            path.unlink()
        except OSError:
            pass
    return stale


# ------------------------------------------------------------------ sizes before starting
def available_memory() -> int | None:
    """Bytes a new allocation can get without swapping (Linux MemAvailable, else the
    free physical pages), or None where neither is known."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def size_text(n: float) -> str:
    """A byte count for people: 512 B, 3.2 MB, 41 GB, 2.1e+06 TB."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} TB"


def check_memory(needed: float, what: str, fix: str, available: int | None = None,
                 where: str = "memory") -> None:
    """Refuse, with the numbers, a job whose estimated ``needed`` bytes exceed 80% of
    what is available (the rest is for Python, libraries and the estimate's error)."""
    available = available_memory() if available is None else available
    if available is not None and needed > 0.8 * available:
        raise RidgelineError(f"{what} needs about {size_text(needed)} of {where} but only "
                             f"{size_text(available)} is available; {fix}")


def remove_empty_dir(path: str | os.PathLike) -> None:
    """Remove ``path`` if it holds nothing but lock files (a command that failed before
    writing anything must not leave an empty output directory that looks like a result)."""
    path = Path(path)
    try:
        if all(p.name in LOCK_FILES for p in path.iterdir()):
            for name in LOCK_FILES:
                (path / name).unlink(missing_ok=True)
            path.rmdir()
    except OSError:
        pass


# ------------------------------------------------------------- the run-directory contract
#: what each command writes that no other command does: how a folder's maker is told
#: (docs/run-directory.md); checked in this order
KIND_FILES = {
    "sweep": ("sweep.json",),
    "tune": ("tune.json",),
    "report": ("report_config.json", "report.md"),
    "train": ("checkpoint.pt", "metrics.csv", "env.json"),
    "simulate": ("trajectories.csv", "trajectories.png"),
    "validate": ("validation.csv", "validation_steps.csv"),
}
#: a folder holding only config.json: keys that only one command's config.json has
CONFIG_KEYS = {
    "monitor": ("source", "param_groups"),  # training.monitor.Monitor
    "train": ("epochs", "log_every", "width"),
    "simulate": ("record_every", "loss"),
    "simulate slices": ("settings",),
    "validate": ("run_dir", "adiabatic"),
}


def folder_kind(path: str | os.PathLike) -> tuple[str, str] | None:
    """(command, the file that shows it) of the ridgeline command that wrote ``path``;
    None for a missing or empty folder, or one that holds no ridgeline output."""
    path = Path(path)
    if not path.is_dir():
        return None
    for kind, names in KIND_FILES.items():
        for name in names:
            if (path / name).exists():
                return kind, name
    config = path / "config.json"
    if config.is_file():
        try:
            data = json.loads(config.read_text())
        except (OSError, ValueError):
            return "an unknown command", "config.json"
        for kind, keys in CONFIG_KEYS.items():
            if isinstance(data, dict) and set(keys) <= set(data):
                return kind, "config.json"
        return "an unknown command", "config.json"
    if (path / "ridge.json").exists():
        return "simulate slices", "ridge.json"
    return None


def claim_kind(path: str | os.PathLike, kind: str, option: str = "--out",
               accept: tuple[str, ...] = ()) -> None:
    """Refuse, writing nothing, a folder that another kind of command wrote, naming it.
    ``accept``: other kinds this command may write into too (none so far)."""
    found = folder_kind(path)
    if found is not None and found[0] != kind and found[0] not in accept:
        maker = {"monitor": "training.monitor.Monitor"}.get(
            found[0], found[0] if found[0].startswith("an ") else f"`ridgeline {found[0]}`")
        raise RidgelineError(f"{option} {path} holds the output of {maker} ({found[1]}); "
                             f"`ridgeline {kind}` does not write over it: choose another {option}")


def inside(root: str | os.PathLike, path: str | os.PathLike) -> Path:
    """``path`` (a folder or file a command makes under its output folder ``root``),
    refused when it is a symbolic link that leads out of ``root``: writing through it
    would change files elsewhere."""
    path = Path(path)
    if path.is_symlink():
        base, target = Path(root).resolve(), path.resolve()
        if target != base and base not in target.parents:
            raise RidgelineError(f"{path} is a symbolic link to {target}, outside {root}; ridgeline "
                                 "writes only inside its output folder: delete the link, or choose "
                                 "another --out")
    return path
