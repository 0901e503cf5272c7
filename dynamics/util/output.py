"""Readable terminal output shared by every command.

- :func:`changed_settings`: one line of a run's settings, only the fields that differ
  from the defaults (the full configuration still goes to the run directory);
- :func:`print_table`: a rich table that fits the terminal, and at its full width,
  with every digit, when the output is piped or redirected.
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
