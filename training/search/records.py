"""The record store shared by ``ridgeline sweep`` and ``ridgeline tune``.

A *trial* is one run of an objective at one full configuration; its *key* is a hash
of that configuration (every field that can change the result, canonicalised), so the
same trial gets the same key whichever command, executor or machine asks for it.
A finished trial leaves exactly one record, ``records/<key>.json``, written atomically
by the driver process (never by a worker): a trial that was killed mid-way has no
record and is simply run again, and two workers never write the same record.

The directory also holds a description of the work it belongs to (``sweep.json`` or
``tune.json``); :func:`claim_directory` refuses a directory that holds something else,
before anything in it is touched, and takes a lock so that two drivers never work in
one directory at once.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynamics.analysis.runtable import read_json_object
from dynamics.util.errors import RidgelineError
from dynamics.util.io import (LOCK_FILES, DirectoryLock, claim_kind, ensure_dir, inside,  # noqa: F401  (re-exported)
                              remove_empty_dir, write_json)

#: significant digits kept for every float in a trial (so 2 × 0.128 and a log-spaced
#: grid's 0.256 are the same trial)
DIGITS = 12

#: the hyperparameters every objective takes; a record's ``params`` holds exactly these
HYPERPARAMETERS = ("lr", "batch_size", "momentum", "wd", "seed")


def canonical(value: Any) -> Any:
    """``value`` with floats rounded to :data:`DIGITS` significant digits, recursively."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return float(f"{value:.{DIGITS}g}")
    if hasattr(value, "item"):  # numpy scalar
        return canonical(value.item())
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot canonicalise {type(value).__name__}")


def trial_key(objective: str, config: dict) -> str:
    """16 hex digits of sha256 over the objective's name and the canonical config."""
    text = json.dumps({"objective": objective, "config": canonical(config)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Trial:
    """One run to do: its key, its hyperparameters and its full configuration."""

    key: str  # trial_key(objective, config)
    params: dict = field(hash=False)  # lr (per step), batch_size (examples), momentum, wd, seed
    config: dict = field(hash=False)  # everything the objective needs, JSON-able


def make_record(objective: str, trial: Trial, result: dict) -> dict:
    """The record of a finished trial: identity, hyperparameters, score and summary.

    ``result`` is what the objective returned: ``score`` (float, NaN when diverged),
    ``diverged`` (bool) and ``summary`` (a dict). Nothing here depends on where or
    when the trial ran, so every executor writes the same record.
    """
    return canonical({
        "key": trial.key, "objective": objective, "params": trial.params,
        "score": float(result["score"]), "diverged": bool(result["diverged"]),
        "summary": result.get("summary", {}), "config": trial.config,
    })


class RecordStore:
    """``records/<key>.json`` under a work directory, one per finished trial."""

    def __init__(self, root: str | os.PathLike):
        self.dir = Path(root) / "records"

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def load(self, key: str) -> dict:
        """The record of ``key``, checked against its key and its own config: a damaged,
        foreign or hand-edited file is a one-line error naming it."""
        path = self.path(key)
        hint = "delete it and rerun to recompute it"
        record = read_json_object(path, "record", hint)
        problem = check_record(record, key)
        if problem:
            raise RidgelineError(f"record {path} {problem}; {hint}")
        return record

    def write(self, record: dict) -> Path:
        ensure_dir(self.dir)
        return write_json(self.path(record["key"]), record)


def check_record(record: dict, key: str) -> str | None:
    """What is wrong with ``record`` (the record of ``key``), or None."""
    missing = [k for k in ("key", "params", "score", "diverged") if k not in record]
    if missing:
        return f"lacks {', '.join(missing)}"
    if record["key"] != key:
        return f"holds the key {record['key']!r}, not {key!r}"
    if not isinstance(record["params"], dict) or not set(HYPERPARAMETERS) <= set(record["params"]):
        return f"has no params {', '.join(HYPERPARAMETERS)}"
    for name in HYPERPARAMETERS:
        value = record["params"][name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return f"has params.{name} = {value!r}, not a number"
    config = record.get("config")
    if not isinstance(config, dict) or not isinstance(record.get("objective"), str):
        return "lacks its objective or its config"
    if trial_key(record["objective"], config) != key:
        return f"holds a config whose key is not {key!r} (edited, or copied from another trial)"
    changed = [n for n in HYPERPARAMETERS if n in config and config[n] != record["params"][n]]
    if changed:
        pairs = ", ".join(f"{n}: {record['params'][n]!r} vs {config[n]!r}" for n in changed)
        return f"has params that disagree with its own config ({pairs})"
    score = record["score"]
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
        return f"has the score {score!r}, not a number"
    if not isinstance(record["diverged"], bool):
        return f"has diverged = {record['diverged']!r}, not true or false"
    return None


def describe_difference(old: dict, new: dict, prefix: str = "") -> str:
    """Where two descriptions differ, as ``name: old -> new`` (nested names dotted)."""
    diffs = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if isinstance(a, dict) and isinstance(b, dict):
            inner = describe_difference(a, b, f"{prefix}{name}.")
            diffs += [inner] if inner else []
        elif a != b:
            diffs.append(f"{prefix}{name}: {a!r} -> {b!r}")
    return "; ".join(diffs[:3]) + ("; …" if len(diffs) > 3 else "")


def claim_directory(out: str | os.PathLike, kind: str, description: dict, grows: str | None = None) -> DirectoryLock:
    """Check that ``out`` is new, empty, or holds this very ``kind`` (sweep or tune)
    described by ``description``; then create it, write ``<kind>.json`` and lock it.
    ``grows``: a field of the description that may rise over the saved one (a sweep's
    ``repeats``: more seeds for a finished sweep; every record made stays valid).

    Raises RidgelineError, having written nothing, when ``out`` holds anything else.
    """
    out = Path(out)
    meta = out / f"{kind}.json"
    description = canonical(description)
    if out.exists() and not out.is_dir():
        raise RidgelineError(f"--out {out} is a file, not a directory; choose another --out")
    claim_kind(out, kind)  # a train run, a simulation, the other search...: named and refused
    for name in ("records", "runs", f"{kind}.json", f"{kind}_config.json"):
        inside(out, out / name)
    created = not out.exists() or not any(out.iterdir())
    if meta.is_file():
        try:
            old = json.loads(meta.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise RidgelineError(f"cannot read {meta}: {e}; choose another --out") from None
        grown = (grows is not None and isinstance(old, dict) and {**old, grows: None} == {**description, grows: None}
                 and isinstance(old.get(grows), int) and description[grows] > old[grows])
        if old != description and not grown:
            raise RidgelineError(
                f"{out} holds a different {kind} ({describe_difference(old, description)}); "
                "rerun with its original options, or choose another --out")
    elif out.is_dir() and any(p.name not in LOCK_FILES for p in out.iterdir()):
        others = sorted(p.name for p in out.iterdir() if p.name.endswith(".json"))
        what = f"it holds {', '.join(others)}" if others else "it is not empty"
        raise RidgelineError(
            f"{out} does not hold a ridgeline {kind} ({what}); choose a new or empty --out")
    ensure_dir(out)
    lock = DirectoryLock(out).acquire()
    try:
        if not meta.is_file() or json.loads(meta.read_text()) != description:  # new, or grown
            write_json(meta, description)
    except BaseException:
        lock.release()
        raise
    lock.created = created  # type: ignore[attr-defined]  (see abandon)
    return lock


def abandon(out: str | os.PathLike, kind: str, lock: DirectoryLock) -> None:
    """After a refusal or failure before the first record: remove what
    :func:`claim_directory` and the command wrote into a folder it created (``<kind>.json``,
    ``<kind>_config.json``), so no half-made search is left behind."""
    out = Path(out)
    started = any((out / "records").glob("*.json")) or (out / "runs").is_dir()  # a trial's run resumes
    if not getattr(lock, "created", False) or started:
        return
    for name in (f"{kind}.json", f"{kind}_config.json"):
        (out / name).unlink(missing_ok=True)
    try:
        (out / "records").rmdir()
    except OSError:
        pass
    remove_empty_dir(out)
