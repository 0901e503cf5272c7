"""``ridgeline derive``: the derivations of :mod:`dynamics.theory.symbolic` as a table, LaTeX or JSON."""

from __future__ import annotations

import io
import json
import math

from dynamics.registry import DERIVE_FORMATS as FORMATS
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


#: the names ``--at`` takes: λ, α, ρ (β₁ of the adaptive rules, also as beta1), G, and for
#: the adaptive rules β₂, C (elements of the tensor), C_row and G_row (one output row)
#: and for muon its matrix, A rows (fan-out) × B columns (a conv's in·k·k), and nesterov (1 or 0)
NAMES = ("lr", "wd", "momentum", "beta1", "grad_norm", "beta2", "C", "C_row", "G_row", "A", "B", "nesterov")
SUM_TERMS = 100_000  # terms of an infinite sum (Lion's), ample for β₂ up to 0.999


def ignored_keys(point: dict[str, float], rules: list[str]) -> list[str]:
    """The names in ``point`` that none of ``rules`` takes: momentum/beta1 for plain sgd,
    beta1, beta2, C, C_row, G_row for the SGD rules (they belong to the adaptive ones), A, B,
    nesterov for all but muon."""
    from dynamics.rules import ADAPTIVE

    used = {"lr", "wd", "grad_norm"}
    for rule in rules:
        if rule in ADAPTIVE:
            used |= {"momentum", "beta1", "beta2", "C", "C_row", "G_row"}
        elif rule == "muon":  # its matrix and Nesterov flag; G plays no part (NS(u) ignores |g|)
            used |= {"momentum", "A", "B", "nesterov"}
        elif rule != "sgd":
            used |= {"momentum"}
    return [k for k in point if k not in used]


def point_of(point: dict[str, float], rules: list[str]) -> dict[str, float]:
    """The full point for ``rules``: defaults filled in, beta1 read as momentum, checked;
    a one-line RidgelineError naming what is missing or out of range. One adaptive rule
    alone needs C; with several rules an adaptive rule's C-dependent values stay empty."""
    from dynamics.rules import ADAPTIVE
    from dynamics.theory.symbolic import check_hyperparameters

    point = dict(point)
    if "beta1" in point:
        if "momentum" in point and point["momentum"] != point["beta1"]:
            raise RidgelineError("--at: momentum and beta1 are the same (β₁); give one")
        point["momentum"] = point.pop("beta1")
    full = DEFAULT_POINT | point
    check_hyperparameters(full["lr"], full["wd"], full["momentum"])
    if "beta2" in full and not 0 <= full["beta2"] < 1:
        raise RidgelineError(f"--at: beta2 must be in [0, 1), got {full['beta2']:g}")
    for name in ("C", "C_row", "G_row", "grad_norm"):
        if name in full and not (math.isfinite(full[name]) and full[name] > 0):
            raise RidgelineError(f"--at: {name} must be a number > 0, got {full[name]:g}")
    for name in ("A", "B"):
        if name in full and not (full[name] >= 2 and float(full[name]).is_integer()):
            raise RidgelineError(f"--at: {name} must be a whole number >= 2 (matrix side), got {full[name]:g}")
    if "nesterov" in full and full["nesterov"] not in (0, 1):
        raise RidgelineError(f"--at: nesterov must be 1 or 0, got {full['nesterov']:g}")
    if rules == ["muon"] and not {"A", "B"} <= set(full):
        raise RidgelineError("--at: muon needs the matrix shape A (rows, fan-out) and B (columns, in·k·k), "
                             "e.g. A=64,B=576 for a 64x64x3x3 conv")
    adaptive = [r for r in rules if r in ADAPTIVE]
    if adaptive and len(rules) == 1 and "C" not in full:
        raise RidgelineError(f"--at: {adaptive[0]} needs C, the number of elements of the tensor "
                             f"(e.g. C=36864 for a 64x64x3x3 conv); add C=... (and optionally beta2, C_row, G_row)")
    return full


def _sums_evaluated(expr, values: dict):
    """``expr`` with every infinite sum Σ_{j≥1} f(j) (Lion's) replaced by its value at
    ``values``: SUM_TERMS terms, numpy."""
    import numpy as np
    import sympy as sp

    def value(total):
        (j, lo, hi), = total.limits
        f = sp.lambdify(j, total.function.xreplace(values), "numpy")
        return sp.Float(float(np.sum(f(np.arange(int(lo), int(lo) + SUM_TERMS, dtype=float)))))

    return expr.replace(lambda e: isinstance(e, sp.Sum), value)


def evaluate(rule: str, point: dict[str, float]) -> dict[str, float | None]:
    """Each formula's value at ``point`` (None where it has symbols the point lacks). For the
    adaptive rules the exact |w|² and angle come from :func:`dynamics.theory.adaptive.predict`."""
    import sympy as sp

    from dynamics.theory import dispatch as D
    from dynamics.theory import symbolic as S
    from dynamics.rules import ADAPTIVE, DEFAULT_BETA2

    full = point_of(point, [])  # render() has checked that one adaptive rule has its C
    values = {S.lam: full["lr"], S.alpha: full["wd"], S.rho: full["momentum"], S.G: full["grad_norm"]}
    values[S.u] = float(S.to_rotated(full["lr"], full["momentum"], full["wd"]))
    if rule == "muon":
        if not {"A", "B"} <= set(full):
            return {f.key: None for f in D.derive(rule)} | {"relaxation_steps": None}
        from dynamics.theory import muon

        return muon.values(full["lr"], full["wd"], full["momentum"], (int(full["A"]), int(full["B"])),
                           bool(full.get("nesterov", 1)))
    exact = {}
    if rule in ADAPTIVE:
        from dynamics.theory import adaptive as A

        beta2 = full.get("beta2", DEFAULT_BETA2[rule])
        values |= {A.beta1: full["momentum"], A.beta2: beta2}
        values |= {sp.Symbol(n, positive=True): full[n] for n in ("C", "C_row", "G_row") if n in full}
        if "C" in full:
            p = D.predict(rule, full["lr"], full["wd"], full["momentum"], full["grad_norm"],
                          elements=full["C"], beta2=beta2)
            exact = {"weight_norm_sq": p.weight_norm**2, "weight_norm_equation": p.weight_norm**2,
                     "angular_update": p.angular_update}
    values = {k: sp.Float(x) for k, x in values.items()}
    out: dict[str, float | None] = {}
    for f in D.derive(rule):
        expr = f.expr
        if f.key in exact:
            out[f.key] = float(exact[f.key])
            continue
        if not isinstance(expr, sp.Expr) or expr.free_symbols - set(values):
            out[f.key] = None
            continue
        value = complex(_sums_evaluated(expr, values).xreplace(values).evalf())
        out[f.key] = value.real if abs(value.imag) < 1e-12 and math.isfinite(value.real) else None
    try:
        extra = {} if rule not in ADAPTIVE else dict(elements=full["C"], beta2=full.get("beta2"))
        out["relaxation_steps"] = D.predict(rule, full["lr"], full["wd"], full["momentum"],
                                            full["grad_norm"], **extra).relaxation_steps
    except (RidgelineError, KeyError):
        out["relaxation_steps"] = None
    return out


def render(rule: str, fmt: str, point: dict[str, float] | None = None) -> str:
    """The derivations for ``rule`` ("all" for every rule) in format table, latex or json."""
    if fmt not in FORMATS:
        raise RidgelineError(f"unknown format {fmt!r}: choose {', '.join(FORMATS)}")
    rules = _rules(rule)
    if point is not None:  # validate before any sympy work
        unused = ignored_keys(point, rules)
        if unused:
            raise RidgelineError(f"--at: {', '.join(unused)} {'is' if len(unused) == 1 else 'are'} not used by "
                                 f"{' or '.join(rules)}: drop {'it' if len(unused) == 1 else 'them'} or choose "
                                 "another --rule")
        point_of(point, rules)
    return {"table": _table, "latex": _latex, "json": _json}[fmt](rules, point)


def _json(rules, point) -> str:
    import sympy as sp

    from dynamics.theory import dispatch as D

    doc = {}
    for rule in rules:
        values = evaluate(rule, point) if point is not None else {}
        formulas = {}
        for f in D.derive(rule):
            entry = {"expr": sp.sstr(f.expr), "latex": sp.latex(f.expr), "meaning": f.meaning}
            if point is not None:
                entry["value"] = values.get(f.key)
            formulas[f.key] = entry
        doc[rule] = {"formulas": formulas}
        if point is not None:
            doc[rule]["at"] = point_of(point, [])
            doc[rule]["relaxation_steps"] = values["relaxation_steps"]
    return json.dumps(doc, indent=2) + "\n"


def _latex(rules, point) -> str:
    import sympy as sp

    from dynamics.theory import dispatch as D

    lines = []
    for rule in rules:
        lines.append(f"% {rule}")
        for f in D.derive(rule):
            name = f.key.replace("_", r"\_")
            lines.append(rf"\text{{{name}}} &= {sp.latex(f.expr)} \\  % {f.meaning}")
        lines.append("")
    return "\\begin{align*}\n" + "\n".join(lines) + "\\end{align*}\n"


def _table(rules, point) -> str:
    import sympy as sp
    from rich.console import Console
    from rich.table import Table

    from dynamics.theory import dispatch as D

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
        for f in D.derive(rule):
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
