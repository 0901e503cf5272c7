"""Readable terminal output shared by every command.

- :func:`changed_settings`: one line of a run's settings, only the fields that differ
  from the defaults (the full configuration still goes to the run directory);
- :func:`print_table`: a rich table that fits the terminal, and at its full width,
  with every digit, when the output is piped or redirected;
- :func:`thin_steps`: a per-step table cut to every k-th step, so that a derived CSV is
  no larger than the table it was derived from.
"""

from __future__ import annotations

import dataclasses


def changed_settings(config, skip: tuple[str, ...] = ()) -> str:
    """``name=value`` for every field of the dataclass ``config`` that differs from its
    default (fields without a default are always shown), space-separated; ``"defaults"``
    when nothing differs."""
    parts = []
    for f in dataclasses.fields(config):
        if f.name in skip:
            continue
        value = getattr(config, f.name)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = dataclasses.MISSING
        if default is dataclasses.MISSING or value != default:
            parts.append(f"{f.name}={_short(value)}")
    return " ".join(parts) or "defaults"


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_short(v) for v in value)
    return str(value)


def print_table(console, table) -> None:
    """Print ``table`` to fit a terminal; piped or redirected, print it whole, at its
    natural width, so no value is cut to ``4.…``."""
    if console.is_terminal:
        console.print(table)
    else:
        wide = console.measure(table, options=console.options.update_width(10_000)).maximum
        before, console.width = console.width, max(console.width, wide)
        try:
            console.print(table)
        finally:
            console.width = before


#: a derived per-step table up to this size is written whole, whatever its source's size
#: (a small run keeps every step; a large log is thinned to its source's size)
SMALL_BYTES = 20_000_000


def thin_steps(frame, source, sample: int = 1000):
    """(``frame`` with every k-th logged ``step`` kept, k) for the smallest k that makes
    its CSV no larger than the file ``source`` (e.g. validation_steps.csv against
    norms.csv); k = 1 keeps every row, as it does while the CSV stays under
    :data:`SMALL_BYTES`. The first and last steps always stay. The CSV's bytes per row
    are measured on up to ``sample`` rows, spread over the frame."""
    import math
    import os

    import numpy as np

    if not len(frame):
        return frame, 1
    try:
        budget = os.path.getsize(source)
    except OSError:
        return frame, 1
    picks = frame.iloc[np.linspace(0, len(frame) - 1, min(sample, len(frame))).astype(int)]
    per_row = len(picks.to_csv(index=False).encode()) / len(picks)
    every = max(1, math.ceil(per_row * len(frame) / max(budget, 1)))
    if every == 1 or per_row * len(frame) <= SMALL_BYTES:
        return frame, 1
    steps = np.unique(frame["step"].to_numpy())
    keep = steps[::every]
    keep = np.union1d(keep, steps[[0, -1]])
    # the first/last steps can add two steps' rows: thin once more if that tips it over
    while every < len(steps) and per_row * frame["step"].isin(keep).sum() > budget:
        every += 1
        keep = np.union1d(steps[::every], steps[[0, -1]])
    return frame[frame["step"].isin(keep)].reset_index(drop=True), every
