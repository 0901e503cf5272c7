"""The dependency list matches the imports: everything imported is declared, and
nothing declared goes unused (pyproject.toml against an AST scan of the sources)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: import name → distribution name, where they differ
DISTRIBUTION = {"markdown_it": "markdown-it-py", "yaml": "pyyaml"}
#: the project's own modules: its packages, and every script or test module, imported by name
LOCAL = {"cli", "dynamics", "training", "figures", "benchmarks", "examples", "tests", "docs"} | {
    p.stem for d in ("tests", "benchmarks", "examples", "docs") for p in (ROOT / d).glob("*.py")}


def _imports(paths) -> set[str]:
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {DISTRIBUTION.get(n, n) for n in names - LOCAL - set(sys.stdlib_module_names)}


def _declared(requirements) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_every_import_is_declared_and_every_dependency_used():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = _declared(project["dependencies"])
    extras = {name: _declared(reqs) for name, reqs in project["optional-dependencies"].items()}
    package = [p for d in ("dynamics", "training", "figures") for p in (ROOT / d).rglob("*.py")] + [ROOT / "cli.py"]
    used = _imports(package)
    optional = set().union(*extras.values()) - core
    assert used - core - optional == set(), "imported but not declared"
    assert core - used == set(), "declared but never imported"
    tests = _imports([*(ROOT / "tests").glob("*.py"), *(ROOT / "benchmarks").glob("*.py"),
                      *(ROOT / "docs").glob("*.py")])
    assert tests - core - extras.get("test", set()) == set(), "tests import something the test extra lacks"
