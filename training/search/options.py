"""Pass-through options: ``--some-field VALUE`` mapped onto a configuration's fields.

``ridgeline sweep`` and ``ridgeline tune`` accept every option of the objective they
run (every ``ridgeline train`` option for ``--objective train``) without repeating
them: the extra command-line words are matched to the fields of the objective's
configuration by name (``--batch-size`` → ``batch_size``) and converted by the field's
type. Booleans take ``--name``/``--no-name`` (or ``--name true|false``); optional
fields take ``none``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from dynamics.util.errors import RidgelineError
from dynamics.util.parse import number, whole

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def dataclass_types(cls) -> dict[str, Any]:
    """Field name → resolved type annotation of a dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, str) for f in dataclasses.fields(cls)}


def _optional(tp) -> tuple[Any, bool]:
    """(inner type, whether None is allowed) for ``X | None`` / ``Optional[X]``."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) < len(typing.get_args(tp))
    return tp, False


def convert(name: str, text: str, tp) -> Any:
    """``text`` converted to type ``tp``, or a one-line RidgelineError naming ``--name``."""
    option = "--" + name.replace("_", "-")
    inner, nullable = _optional(tp)
    if nullable and text.lower() == "none":
        return None
    if typing.get_origin(inner) in (Union, types.UnionType):  # e.g. float | Literal["follow"]: the first that takes it
        for member in typing.get_args(inner):
            try:
                return convert(name, text, member)
            except RidgelineError:
                continue
        kinds = " or ".join(_describe(m) for m in typing.get_args(inner))
        raise RidgelineError(f"{option}: {text!r} is not {kinds}")
    try:
        if inner is bool:
            if text.lower() in _TRUE | _FALSE:
                return text.lower() in _TRUE
            raise ValueError
        if typing.get_origin(inner) is Literal:
            choices = typing.get_args(inner)
            if text not in [str(c) for c in choices]:
                raise RidgelineError(
                    f"{option}: {text!r} is not one of {', '.join(map(str, choices))}")
            return next(c for c in choices if str(c) == text)
        if inner is int:
            return whole(text)
        if inner is float:
            return number(text)
        if inner in (str, Path) or inner is Any:
            return text if inner is not Path else str(Path(text))
        return inner(text)
    except (ValueError, TypeError) as why:
        kind = getattr(inner, "__name__", str(inner))
        reason = f" ({why})" if inner in (int, float) and str(why) else ""
        raise RidgelineError(f"{option}: {text!r} is not a valid {kind}{reason}") from None


def _describe(tp) -> str:
    """A type as a user reads it: "a float", "'follow'"."""
    if typing.get_origin(tp) is Literal:
        return " or ".join(repr(c) for c in typing.get_args(tp))
    return f"a {getattr(tp, '__name__', str(tp))}"


def parse_options(args: list[str], fields: dict[str, Any], *, owner: str,
                  reserved: dict[str, str] | None = None) -> dict[str, Any]:
    """Map ``--field VALUE`` words onto ``fields`` (name → type).

    ``owner`` names where the fields come from (for messages); ``reserved`` maps a
    field name to the reason it may not be given here (e.g. ``out``: the sweep sets it).
    """
    reserved = reserved or {}
    values: dict[str, Any] = {}
    i = 0
    while i < len(args):
        word = args[i]
        if not word.startswith("--") or word == "--":
            raise RidgelineError(f"unexpected argument {word!r}; options look like --name VALUE")
        flag, eq, inline = word[2:].partition("=")
        name = flag.replace("-", "_")
        negated = name.startswith("no_") and name not in fields and name[3:] in fields
        if negated:
            name = name[3:]
        if name in reserved:
            raise RidgelineError(f"--{flag}: {reserved[name]}")
        if name not in fields:
            known = ", ".join("--" + f.replace("_", "-") for f in fields if f not in reserved)
            raise RidgelineError(f"unknown option --{flag} for {owner}; known: {known}")
        tp = _optional(fields[name])[0]
        i += 1
        if tp is bool and not eq:
            nxt = args[i].lower() if i < len(args) else ""
            if not negated and nxt in _TRUE | _FALSE:
                values[name] = nxt in _TRUE
                i += 1
            else:
                values[name] = not negated
            continue
        if negated:
            raise RidgelineError(f"--{flag}: only yes/no options have a --no- form")
        if eq:
            text = inline
        elif i < len(args):
            text = args[i]
            i += 1
        else:
            raise RidgelineError(f"--{flag} needs a value")
        values[name] = convert(name, text, fields[name])
    return values
