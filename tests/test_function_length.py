"""Functions a reader can hold in their head (issue 24): no function in dynamics/, training/
or cli.py runs over 60 lines, counted from its ``def`` line to its last line (ast's
``end_lineno - lineno + 1``, decorators not counted), unless a one-line ``# long: <reason>``
comment sits directly above it (above the ``def``, or above its first decorator)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 60
SOURCES = ("dynamics", "training", "cli.py")


def long_functions(source: str, name: str = "<source>", limit: int = MAX_LINES) -> list[str]:
    """``"name:line function (n lines)"`` for each function of ``source`` over ``limit`` lines
    without a ``# long:`` comment on the line above its def or its first decorator."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        length = node.end_lineno - node.lineno + 1
        if length <= limit:
            continue
        above = {node.lineno - 1}  # the line above the def, and above the first decorator
        if node.decorator_list:
            above.add(min(d.lineno for d in node.decorator_list) - 1)
        if any(n >= 1 and lines[n - 1].strip().startswith("# long:") for n in above):
            continue
        found.append(f"{name}:{node.lineno} {node.name} ({length} lines)")
    return found


def _source_files() -> list[Path]:
    files = []
    for entry in SOURCES:
        path = ROOT / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [p for p in files if "tests" not in p.relative_to(ROOT).parts]


def test_no_function_over_60_lines():
    files = _source_files()
    assert any(p.name == "cli.py" for p in files) and len(files) > 10  # the walk found the sources
    found = [f for p in files for f in long_functions(p.read_text(), str(p.relative_to(ROOT)))]
    assert not found, ("functions over 60 lines (split them into named steps, or put a one-line "
                       "'# long: <reason>' directly above the def):\n" + "\n".join(found))


def _function(body_lines: int, above: str = "", decorator: bool = False) -> str:
    """A function of ``body_lines + 1`` lines (its def and that many body lines)."""
    head = (above + "\n" if above else "") + ("@staticmethod\n" if decorator else "") + "def f():\n"
    return "x = 1\n\n" + head + "".join(f"    y{i} = {i}\n" for i in range(body_lines))


def test_checker_flags_a_61_line_function():
    assert long_functions(_function(60), "synthetic") == ["synthetic:3 f (61 lines)"]
    assert long_functions(_function(59)) == []  # 60 lines: allowed
    assert long_functions(_function(60, "# long: a flat table")) == []
    assert long_functions(_function(60, "# long: a flat table", decorator=True)) == []
    assert long_functions(_function(60, "# not the marker")) != []


def test_checker_counts_from_the_def_line():
    source = _function(60, decorator=True)  # the decorator is not one of the 61 lines
    assert long_functions(source, "synthetic") == ["synthetic:4 f (61 lines)"]
