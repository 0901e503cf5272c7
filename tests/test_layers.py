"""The library imports one way: a module imports only its own layer or a lower one, and
no modules import each other in a circle (docs/architecture.md).

Every ``.py`` file of dynamics/, training/, figures/ and cli.py is parsed with :mod:`ast`;
every ``import`` and ``from … import`` counts, at module level or inside a function (a
lazy import is still a dependency), relative ones resolved against the importing package.
An edge goes to the deepest project module the import names (``from dynamics.jobs.validate
import load_run`` → ``dynamics.jobs.validate``).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dynamics", "training", "figures")
SCRIPTS = ("cli.py",)

#: The layers, lowest first, with their names as docs/architecture.md gives them. A package
#: entry covers the package and everything under it; a module entry names one module.
LAYERS = (
    ("core", {"modules": ("dynamics", "dynamics.rules", "dynamics.registry"), "packages": ("dynamics.util",)}),
    ("theory", {"packages": ("dynamics.theory",)}),
    ("sim, analysis", {"packages": ("dynamics.sim", "dynamics.analysis")}),
    ("figures", {"packages": ("figures",)}),
    ("commands", {"packages": ("dynamics.jobs", "training")}),
    ("cli", {"modules": ("cli",)}),
)

#: Circles tolerated for now, each the exact set of its modules.
KNOWN_CIRCLES: set[frozenset[str]] = set()  # none: every circle fails


def layer_of(module: str, layers=LAYERS) -> int | None:
    """The index of ``module``'s layer in ``layers`` (the deepest package entry that holds it), or None."""
    best, depth = None, -1
    for i, (_, spec) in enumerate(layers):
        if module in spec.get("modules", ()):
            return i
        for package in spec.get("packages", ()):
            if (module == package or module.startswith(package + ".")) and package.count(".") > depth:
                best, depth = i, package.count(".")
    return best


def project_modules(root: Path = ROOT, packages=PACKAGES, scripts=SCRIPTS) -> dict[str, Path]:
    """Dotted module name → file, for every module of ``packages`` and every script."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    for script in scripts:
        modules[Path(script).stem] = root / script
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module → {imported project module: line of its first import}."""
    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {m: {} for m in modules}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [resolve(a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    base = ".".join(parts + ([base] if base else []))
                targets = [resolve(f"{base}.{a.name}") if base else None for a in node.names]
                targets = [t if t and t != base else resolve(base) for t in targets]
            for target in targets:
                if target and target != module:
                    graph[module].setdefault(target, node.lineno)
    return graph


def circles(graph) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, edges = work[-1]
            for w in edges:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(graph.get(w, ()))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = set()
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.add(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(component)
    return found


def _where(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def problems(graph, modules: dict[str, Path], layers=LAYERS, allowed=KNOWN_CIRCLES) -> list[str]:
    """One readable line per module without a layer, per upward import and per circle not allowed."""
    out = []
    names = [name for name, _ in layers]
    for module in sorted(graph):
        if layer_of(module, layers) is None:
            out.append(f"{module} ({_where(modules[module])}) is in no layer: add it to LAYERS here and to "
                       "docs/architecture.md")
    for module in sorted(graph):
        mine = layer_of(module, layers)
        for target, line in sorted(graph[module].items()):
            theirs = layer_of(target, layers)
            if mine is not None and theirs is not None and theirs > mine:
                out.append(f"upward import: {module} (layer {mine}, {names[mine]}) imports {target} "
                           f"(layer {theirs}, {names[theirs]}) at {_where(modules[module])}:{line}")
    for component in circles(graph):
        if frozenset(component) not in allowed:
            edges = "; ".join(f"{a} -> {', '.join(sorted(set(graph[a]) & component))}" for a in sorted(component))
            out.append(f"import circle of {len(component)} modules: {', '.join(sorted(component))} ({edges})")
    return out


def test_the_library_imports_one_way():
    modules = project_modules()
    found = problems(import_graph(modules), modules)
    assert not found, "\n".join(["the import layers (docs/architecture.md) are broken:", *found])


def test_the_checker_catches_an_upward_import_and_a_circle(tmp_path):
    """A tiny tree: the engine imports a command lazily (upward), and two theory modules import
    each other through a relative import; a figure importing the core is fine."""
    files = {
        "dynamics/__init__.py": "",
        "dynamics/rules.py": "",
        "dynamics/theory/__init__.py": "",
        "dynamics/theory/a.py": "from . import b\n",
        "dynamics/theory/b.py": "from .a import thing\n",
        "dynamics/sim/__init__.py": "",
        "dynamics/sim/engine.py": "import math\n\ndef f():\n    from dynamics.jobs.simulate import SCHEDULES\n",
        "dynamics/jobs/__init__.py": "",
        "dynamics/jobs/simulate.py": "from ..sim import engine\nfrom dynamics import rules\n",
        "figures/__init__.py": "",
        "figures/plot.py": "import dynamics.rules\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    modules = project_modules(tmp_path, packages=("dynamics", "figures"), scripts=())
    graph = import_graph(modules)
    assert graph["dynamics.sim.engine"] == {"dynamics.jobs.simulate": 4}  # lazy, and math is not ours
    assert set(graph["dynamics.jobs.simulate"]) == {"dynamics.sim.engine", "dynamics.rules"}
    assert set(graph["dynamics.theory.a"]) == {"dynamics.theory.b"}
    assert set(graph["figures.plot"]) == {"dynamics.rules"}

    found = problems(graph, modules, allowed=set())
    assert found[0] == ("upward import: dynamics.sim.engine (layer 2, sim, analysis) imports "
                        "dynamics.jobs.simulate (layer 4, commands) at engine.py:4")
    assert {line.split(" (")[0] for line in found[1:]} == {
        "import circle of 2 modules: dynamics.jobs.simulate, dynamics.sim.engine",
        "import circle of 2 modules: dynamics.theory.a, dynamics.theory.b"}
    assert len(found) == 3
    allowed = {frozenset({"dynamics.theory.a", "dynamics.theory.b"})}
    assert len(problems(graph, modules, allowed=allowed)) == 2

    (tmp_path / "stray.py").write_text("")
    modules = project_modules(tmp_path, packages=("dynamics", "figures"), scripts=("stray.py",))
    assert problems(import_graph(modules), modules, allowed=allowed)[0].startswith("stray (")


def test_layers_place_modules_as_documented():
    assert [layer_of(m) for m in ("dynamics", "dynamics.rules", "dynamics.util.io", "dynamics.theory.symbolic",
                                  "dynamics.sim.engine", "dynamics.analysis.runtable", "figures.validation",
                                  "dynamics.jobs.validate", "training", "training.report.slices", "cli")] == \
        [0, 0, 0, 1, 2, 2, 3, 4, 4, 4, 5]
    assert layer_of("dynamics.unlisted") is None and layer_of("tests.conftest") is None
