"""``ridgeline derive``: the derivations of :mod:`dynamics.symbolic` as a table, LaTeX or JSON."""

from __future__ import annotations

import io
import json
import math

from dynamics.util.errors import RidgelineError
from dynamics.rules import RULES

#: the point ``--at`` fills in when a name is left out
DEFAULT_POINT = {"lr": 0.4, "wd": 5e-4, "momentum": 0.9, "grad_norm": 1.0}


def _rules(rule: str) -> list[str]:
    if rule == "all":
        return list(RULES)
    if rule not in RULES:
        raise RidgelineError(f"unknown rule {rule!r}: choose one of {', '.join(RULES)} or all")
    return [rule]


def evaluate(rule: str, point: dict[str, float]) -> dict[str, float | None]:
    """Each formula's value at ``point`` (None where it has symbols the point lacks)."""
    import sympy as sp

    from dynamics import symbolic as S

    full = DEFAULT_POINT | point
    S.check_hyperparameters(full["lr"], full["wd"], full["momentum"])
    values = {S.lam: full["lr"], S.alpha: full["wd"], S.rho: full["momentum"], S.G: full["grad_norm"]}
    values[S.u] = float(S.to_rotated(full["lr"], full["momentum"], full["wd"]))
    out: dict[str, float | None] = {}
    for f in S.derive(rule):
        expr = f.expr
        if not isinstance(expr, sp.Expr) or expr.free_symbols - set(values):
            out[f.key] = None
            continue
        value = complex(expr.xreplace({k: sp.Float(x) for k, x in values.items()}).evalf())
        out[f.key] = value.real if abs(value.imag) < 1e-12 and math.isfinite(value.real) else None
    try:
        out["relaxation_steps"] = S.predict(rule, full["lr"], full["wd"], full["momentum"],
                                            full["grad_norm"]).relaxation_steps
    except RidgelineError:
        out["relaxation_steps"] = None
    return out


FORMATS = ("table", "latex", "json")


def render(rule: str, fmt: str, point: dict[str, float] | None = None) -> str:
    """The derivations for ``rule`` ("all" for every rule) in format table, latex or json."""
    if fmt not in FORMATS:
        raise RidgelineError(f"unknown format {fmt!r}: choose {', '.join(FORMATS)}")
    rules = _rules(rule)
    if point is not None:  # validate before any sympy work
        from dynamics.symbolic import check_hyperparameters

        full = DEFAULT_POINT | point
        check_hyperparameters(full["lr"], full["wd"], full["momentum"])
    return {"table": _table, "latex": _latex, "json": _json}[fmt](rules, point)


def _json(rules, point) -> str:
    import sympy as sp

    from dynamics import symbolic as S

    doc = {}
    for rule in rules:
        values = evaluate(rule, point) if point is not None else {}
        formulas = {}
        for f in S.derive(rule):
            entry = {"expr": sp.sstr(f.expr), "latex": sp.latex(f.expr), "meaning": f.meaning}
            if point is not None:
                entry["value"] = values.get(f.key)
            formulas[f.key] = entry
        doc[rule] = {"formulas": formulas}
        if point is not None:
            doc[rule]["at"] = DEFAULT_POINT | point
            doc[rule]["relaxation_steps"] = values["relaxation_steps"]
    return json.dumps(doc, indent=2) + "\n"


def _latex(rules, point) -> str:
    import sympy as sp

    from dynamics import symbolic as S

    lines = []
    for rule in rules:
        lines.append(f"% {rule}")
        for f in S.derive(rule):
            name = f.key.replace("_", r"\_")
            lines.append(rf"\text{{{name}}} &= {sp.latex(f.expr)} \\  % {f.meaning}")
        lines.append("")
    return "\\begin{align*}\n" + "\n".join(lines) + "\\end{align*}\n"


def _table(rules, point) -> str:
    import sympy as sp
    from rich.console import Console
    from rich.table import Table

    from dynamics import symbolic as S

    import shutil
    import sys

    from dynamics.util.output import print_table

    # in a terminal: its width (long formulas wrap inside their cell); piped: whole lines
    terminal = sys.stdout.isatty()
    buffer = io.StringIO()
    console = Console(file=buffer, width=shutil.get_terminal_size().columns if terminal else 80,
                      force_terminal=False)
    for rule in rules:
        values = evaluate(rule, point) if point is not None else {}
        table = Table(title=f"{rule}", title_justify="left", show_lines=False)
        table.add_column("result", style="bold")
        table.add_column("formula")
        if point is not None:
            table.add_column("value", justify="right")
        table.add_column("meaning", style="dim")
        for f in S.derive(rule):
            row = [f.key, sp.sstr(f.expr)]
            if point is not None:
                v = values.get(f.key)
                row.append("" if v is None else f"{v:.6g}")
            table.add_row(*row, f.meaning)
        if terminal:
            console.print(table)
        else:
            print_table(console, table)
    return buffer.getvalue()
