"""Checked loaders for a run directory's files: config.json, summary.json, norms.csv.

Every file of a run directory may be damaged (a killed write from an older version, an
edit, a disk error) or not a ridgeline file at all. These loaders read each one once
and either return it, checked, or raise a one-line :class:`RidgelineError` saying
which file, what is wrong and what to do. ``norms.csv`` is read in one of two modes:

- ``strict`` (resuming a run, which rewrites the table): anything damaged is refused
  before training starts, so no epoch is wasted and nothing mixes into the rewrite;
- lenient (``ridgeline validate``): what can be read is kept *per layer*. Unparseable
  lines and rows with text in a number column are dropped, duplicated (step, layer)
  rows are kept once, and rows whose |w|, gradient norm, angular update or lr is not
  finite are dropped from that layer only (a NaN would otherwise poison a running average;
  step 0, the initial weights, needs only |w|), and their steps kept in ``non_finite`` so
  that validation can count them;
  a layer left with no rows is dropped. Each repair is listed in ``notes``. Only a
  table with no usable layer at all is an error.

Columns beyond the required ones (``grad_sq``, ``momentum_norm``, …, added by newer
versions) are kept as they are: older runs lack them, newer ones may add more.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from dynamics.util.errors import RidgelineError

#: columns every norms.csv has, and the kind of value each holds
NORM_KINDS = {"step": "int", "layer": "str", "scale_invariant": "bool", "weight_norm": "float",
              "grad_norm": "float", "angular_update": "float", "lr": "float"}
#: columns whose non-finite values drop a row (from its layer only) in lenient mode:
#: what validation smooths and predicts from (one NaN would poison a running average)
FINITE_KEYS = ("weight_norm", "grad_norm", "angular_update", "lr")
FINITE_TEXT = "weight_norm, grad_norm, angular_update or lr"
RERUN = "rerun the training run (or restore the file)"


@dataclass
class NormTable:
    """A checked norms.csv: the rows kept, and one note per repair made."""

    frame: "pandas.DataFrame"  # noqa: F821
    notes: list[str] = field(default_factory=list)  # what was wrong and what was done, one line each
    dropped_layers: dict[str, str] = field(default_factory=dict)  # layer -> why it was dropped
    #: lenient mode: layer -> the steps of its rows dropped as not finite (validate counts them)
    non_finite: dict[str, list[int]] = field(default_factory=dict)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def read_json_object(path: str | Path, what: str, hint: str = RERUN) -> dict:
    """The JSON object in ``path``, or a one-line RidgelineError (missing, unreadable,
    not JSON, or JSON that is not an object: a list, null, a string, a number)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RidgelineError(f"{path} is missing; {hint}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RidgelineError(f"cannot read {path} ({_first_line(e)}); {hint}") from None
    try:
        obj = json.loads(text)
    except ValueError as e:  # JSONDecodeError, or a number too large for a float
        where = f" at line {e.lineno}" if isinstance(e, json.JSONDecodeError) else ""
        raise RidgelineError(f"{path} is not valid JSON ({getattr(e, 'msg', _first_line(e))}{where}): "
                             f"damaged or truncated {what}; {hint}") from None
    if not isinstance(obj, dict):
        raise RidgelineError(f"{path} holds a JSON {type(obj).__name__}, not an object: not a "
                             f"ridgeline {what}; {hint}")
    return obj


def read_config(path: str | Path, numbers: tuple[str, ...] = ("lr", "wd", "momentum"),
                hint: str = RERUN) -> dict:
    """config.json as a dict whose ``numbers`` fields, where present, are finite numbers."""
    config = read_json_object(path, "config.json", hint)
    for name in numbers:
        value = config.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise RidgelineError(f"{path}: {name} is {value!r}, not a finite number; {hint}")
    return config


def read_summary(path: str | Path, hint: str = RERUN) -> dict | None:
    """summary.json as a dict, None when the file does not exist (an unfinished run)."""
    path = Path(path)
    if not path.exists():
        return None
    summary = read_json_object(path, "summary.json", hint)
    if not isinstance(summary.get("diverged", False), bool):
        raise RidgelineError(f"{path}: diverged is {summary['diverged']!r}, not true or false; {hint}")
    return summary


def read_norms(path: str | Path, *, strict: bool, required: dict[str, str] | None = None,
               hint: str = RERUN) -> NormTable:
    """norms.csv checked (see the module docstring for ``strict`` and lenient)."""
    import pandas as pd

    path, kinds = Path(path), NORM_KINDS if required is None else required
    if not path.is_file():
        raise RidgelineError(f"{path} is missing; {hint}")
    notes: list[str] = []
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise RidgelineError(f"{path} is empty; {hint}") from None
    except pd.errors.ParserError as e:
        if strict:
            raise RidgelineError(f"{path} is damaged ({_first_line(e)}); {hint}") from None
        frame, skipped = _read_skipping_bad_lines(path)
        notes.append(f"{skipped} line(s) with the wrong number of fields skipped")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RidgelineError(f"cannot read {path} as a CSV table ({_first_line(e)}); {hint}") from None
    missing = [c for c in kinds if c not in frame.columns]
    if missing:
        raise RidgelineError(f"{path} lacks columns {', '.join(missing)}: not a ridgeline norm "
                             f"table or a damaged one; {hint}")
    if frame.empty and not strict:  # a resumed run may not have logged a step yet
        raise RidgelineError(f"{path} has no rows: the run logged no step; {hint}")
    checked, bad = _coerce(frame, kinds)
    if bad and strict:
        raise RidgelineError(f"{path} is damaged: {bad[0]}{' (and more)' if len(bad) > 1 else ''}; {hint}")
    if not strict:  # keep the rows whose step, layer and flag could be read, as such
        notes += [f"{message}: dropped" for message in bad]
        exact = [c for c, kind in kinds.items() if kind != "float"]
        frame = checked.dropna(subset=exact)
        frame = frame.astype({c: {"int": "int64", "bool": bool, "str": str}[kinds[c]] for c in exact})
        if frame.empty:
            raise RidgelineError(f"{path} has no readable row; {hint}")
    key = [c for c in ("step", "layer", "channel") if c in kinds]
    duplicated = frame.duplicated(key, keep="last")
    if duplicated.any():
        if strict:
            raise RidgelineError(f"{path} is damaged: {int(duplicated.sum())} duplicated "
                                 f"({', '.join(key)}) row(s); {hint}")
        notes.append(f"{int(duplicated.sum())} duplicated ({', '.join(key)}) row(s) kept once")
        frame = frame[~duplicated]
    table = NormTable(frame.reset_index(drop=True), notes)
    if not strict:
        _drop_non_finite(table, path, hint)
    return table


def _read_skipping_bad_lines(path: Path):
    import pandas as pd

    skipped = []
    frame = pd.read_csv(path, engine="python", on_bad_lines=lambda line: skipped.append(line))
    return frame, len(skipped)


def _coerce(frame, kinds: dict[str, str]):
    """``frame`` with each required column of its kind; the rows that could not be read
    as such lose that value (NaN), one message per column that had any."""
    import pandas as pd

    frame, bad = frame.copy(), []
    for name, kind in kinds.items():
        column = frame[name]
        if kind == "str":
            frame[name] = column.where(column.isna(), column.astype(str))
            continue
        if kind == "bool":
            text = column.astype(str).str.strip().str.lower()
            ok = text.isin(["true", "false", "1", "0", "1.0", "0.0"])
            frame[name] = text.isin(["true", "1", "1.0"]).where(ok)
        else:
            numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
            values = column if numeric else pd.to_numeric(column, errors="coerce")
            ok = values.notna() | column.isna()
            if kind == "int":
                whole = values.notna() & (values == values.round()) & values.abs().lt(2**62)
                ok &= whole | values.isna()
                values = values.where(whole)
            frame[name] = values
        if not ok.all():
            first = column[~ok].iloc[0]
            bad.append(f"{int((~ok).sum())} row(s) with {first!r} in {kind} column {name}")
        if (kind != "float" or name == "lr") and column.isna().any():  # always logged: a cut row
            bad.append(f"{int(column.isna().sum())} row(s) without a {name}")
    return frame, bad


def _drop_non_finite(table: NormTable, path: Path, hint: str) -> None:
    """Lenient mode: drop rows whose measured values are not finite, layer by layer."""
    import numpy as np

    frame = table.frame
    keys = [c for c in FINITE_KEYS if c in frame.columns]
    finite = np.isfinite(frame[keys].to_numpy(dtype=float)).all(axis=1)
    # step 0, the initial weights, has |w| and nothing measured about a step
    finite |= (frame["step"].to_numpy() == 0) & np.isfinite(frame["weight_norm"].to_numpy(dtype=float))
    layers = frame["layer"].astype(str).to_numpy()
    for layer in dict.fromkeys(layers):
        mine = layers == layer
        lost = int((mine & ~finite).sum())
        if lost == mine.sum():
            table.dropped_layers[layer] = "no row with finite values"
        elif lost:
            table.non_finite[layer] = frame["step"].to_numpy()[mine & ~finite].astype(int).tolist()
            table.notes.append(f"layer {layer}: {lost} of {int(mine.sum())} row(s) with a non-finite "
                               f"{FINITE_TEXT} dropped")
    if table.dropped_layers:
        table.notes.append(f"layer(s) {', '.join(table.dropped_layers)} dropped: every row has a "
                           f"non-finite {FINITE_TEXT}")
    table.frame = frame[finite].reset_index(drop=True)
    if table.frame.empty:
        raise RidgelineError(f"{path}: no layer has a row whose {', '.join(keys)} are all "
                             f"finite; {hint}")
