"""dynamics.theory.moments.moment_map against the constructions it replaced.

Before the builder, symbolic.equilibrium (white), correlated.equilibrium (k) and
adaptive._adam_moment_map / power_equilibrium (Adam) each built the second-moment map of
their rule themselves. Frozen copies of those constructions (``_old_...``, as they stood
before the builder) are kept here; for every rule the builder's M, h, forcing and E[w·w']
must equal theirs symbolically (sp.simplify(old − new) == 0), and it must refuse, with a
one-line RidgelineError, a rule it cannot build and a noise table with a missing entry.
"""

import pytest
import sympy as sp

from dynamics.rules import ADAPTIVE, ORTHOGONAL, RULES, get_rule
from dynamics.theory.moments import WHITE, moment_map
from dynamics.util.errors import RidgelineError

# the symbols, spelt as the derivations spell them (sympy symbols are equal by name and assumptions)
lam, alpha = sp.symbols("lambda alpha", positive=True)
rho = sp.Symbol("rho", nonnegative=True)
_x, _y, _z, _s = sp.symbols("x y z s", positive=True)
beta1, beta2 = sp.Symbol("beta_1", nonnegative=True), sp.Symbol("beta_2", nonnegative=True)
C, r_ = sp.Symbol("C", positive=True), sp.Symbol("r", positive=True)
k_corr = sp.Symbol("k", positive=True)
_c, xi, _R = sp.Symbol("c", real=True), sp.Symbol("xi", real=True), sp.Symbol("R", positive=True)

SGD_FAMILY = [r for r in RULES if r not in ADAPTIVE + ORTHOGONAL]
ADAM = ["adamw", "adam-l2"]
CORRELATED = {"gg": _s, "wg": 0, "vg": (k_corr - 1) / (2 * rho) * _s}
POWER = {"gg": _s, "wg": xi * _R * sp.sqrt(C) * r_, "vg": _c * _s}


def _old_moments(expr, w, v, g, table_gw=0, table_gv=0):
    table = {(2, 0, 0): _x, (1, 1, 0): _y, (0, 2, 0): _z, (0, 0, 2): _s, (1, 0, 1): table_gw, (0, 1, 1): table_gv}
    poly = sp.Poly(sp.expand(expr), w, v, g)
    return sp.expand(sum(c * table[m] for m, c in poly.terms()))


def _old_white_map(rule):
    """symbolic.equilibrium's map, as it was: (M, h, E[w·w'])."""
    w, v, g = sp.symbols("w v g")
    w1, v1 = get_rule(rule)(w, v, g, lam, alpha, rho)
    new = [_old_moments(e, w, v, g) for e in (w1 * w1, w1 * v1, v1 * v1)]
    state = sp.Matrix([_x, _y, _z])
    return sp.Matrix(new).jacobian(state), sp.Matrix(new).diff(_s), _old_moments(w * w1, w, v, g)


def _old_correlated_map(rule):
    """correlated.equilibrium's map under (C), as it was: (M, h, E[w·w'])."""
    w, v, g = sp.symbols("w v g")
    w1, v1 = get_rule(rule)(w, v, g, lam, alpha, rho)
    vg = (k_corr - 1) / (2 * rho) * _s
    new = sp.Matrix([sp.cancel(_old_moments(e, w, v, g, 0, vg)) for e in (w1 * w1, w1 * v1, v1 * v1)])
    state = sp.Matrix([_x, _y, _z])
    return new.jacobian(state), new.diff(_s), _old_moments(w * w1, w, v, g)


def _old_adam_update(rule):
    w, m, g = sp.symbols("w m g")
    k = sp.Symbol("k", positive=True)
    w1, (m1, s1, _) = get_rule(rule)(w, (m, r_**2, k), g, lam, alpha, beta1, beta2=beta2, eps=0)
    w1 = sp.powsimp(w1.subs({beta1 ** (k + 1): 0, beta2 ** (k + 1): 0}).subs(s1, r_**2), force=True)
    w1 = w1.replace(lambda e: e.is_Pow and e.exp.is_Float, lambda e: sp.Pow(e.base, sp.nsimplify(e.exp)))
    return w, m, g, w1, m1


def _old_adam_moment_map(rule):
    """adaptive._adam_moment_map, as it was: (M, h, E[w·w'])."""
    w, m, g, w1, m1 = _old_adam_update(rule)
    new = [_old_moments(sp.expand(e), w, m, g) for e in (w1 * w1, w1 * m1, m1 * m1)]
    state = sp.Matrix([_x, _y, _z])
    return sp.Matrix(new).jacobian(state), sp.Matrix(new).diff(_s), _old_moments(sp.expand(w * w1), w, m, g)


def _old_power_map(rule):
    """adaptive.power_equilibrium's map with c, ν, ξ, as it was: (M, forcing, E[w·w'])."""
    w, m, g, w1, m1 = _old_adam_update(rule)
    radial = xi * _R * sp.sqrt(C) * r_
    new = sp.Matrix([_old_moments(e, w, m, g, radial, _c * _s) for e in (w1 * w1, w1 * m1, m1 * m1)])
    state = sp.Matrix([_x, _y, _z])
    M = new.jacobian(state)
    return M, new - M * state, _old_moments(sp.expand(w * w1), w, m, g, radial, _c * _s)


def _same(old, new):
    if isinstance(old, sp.MatrixBase):
        assert old.shape == new.shape
        return all(sp.simplify(a - b) == 0 for a, b in zip(old, new))
    return sp.simplify(old - new) == 0


def _cases():
    for rule in SGD_FAMILY:
        yield rule, "white", WHITE, _old_white_map
        yield rule, "correlated", CORRELATED, _old_correlated_map
    for rule in ADAM:
        yield rule, "white", WHITE, _old_adam_moment_map
    yield "adamw", "power", POWER, _old_power_map


@pytest.mark.parametrize("rule,name,noise,old", list(_cases()), ids=lambda c: c if isinstance(c, str) else "")
def test_builder_equals_the_old_construction(rule, name, noise, old):
    mm = moment_map(rule, noise)
    M, second, overlap = old(rule)
    assert _same(M, mm.matrix)
    assert _same(second, mm.forcing if name == "power" else mm.noise_vector)
    assert _same(overlap, mm.overlap)
    if name != "power":  # every forcing term is ∝ s: f = h s
        assert _same(mm.noise_vector * _s, mm.forcing)


def test_every_rule_is_covered_or_refused():
    covered = {rule for rule, *_ in _cases()}
    for rule in RULES:
        if rule in covered:
            continue
        assert rule in ORTHOGONAL or rule == "lion"  # sign and Newton–Schulz: not linear in (w, v, g)
        with pytest.raises(RidgelineError) as err:
            moment_map(rule, WHITE)
        assert "\n" not in str(err.value) and rule in str(err.value)


def test_unknown_rule_fails_in_one_line():
    with pytest.raises(RidgelineError, match="unknown rule") as err:
        moment_map("adagrad", WHITE)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("drop", ["gg", "wg", "vg"])
def test_missing_noise_entry_fails_in_one_line(drop):
    noise = {key: value for key, value in WHITE.items() if key != drop}
    with pytest.raises(RidgelineError, match=f"missing \\['{drop}'\\]") as err:
        moment_map("heavy-ball", noise)
    assert "\n" not in str(err.value)


def test_unknown_noise_entry_fails_in_one_line():
    with pytest.raises(RidgelineError, match="unknown") as err:
        moment_map("nesterov", WHITE | {"gv": 0})
    assert "\n" not in str(err.value)


def _theory_imports() -> dict[str, set[str]]:
    """{module: the dynamics.theory modules it imports, at any depth of the file} by ast."""
    import ast
    import pathlib

    import dynamics.theory

    root = pathlib.Path(dynamics.theory.__file__).parent
    names = {p.stem for p in root.glob("*.py") if p.stem != "__init__"}
    graph = {}
    for name in names:
        found = set()
        for node in ast.walk(ast.parse((root / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "dynamics.theory":
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dynamics.theory."):
                found.add(node.module.split(".")[2])
            elif isinstance(node, ast.Import):
                found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("dynamics.theory.")}
        graph[name] = (found & names) - {name}
    return graph


def test_theory_imports_run_one_way():
    """The derivations never import the dispatch, symbolic none of the other families, and
    the graph has no cycle (lazy imports inside functions count too)."""
    graph = _theory_imports()
    assert not any("dispatch" in deps for deps in graph.values())
    assert graph["core"] == set() and graph["moments"] == {"core"}
    assert graph["symbolic"] <= {"core", "moments"}
    done: set[str] = set()
    while len(done) < len(graph):  # peel off modules whose imports are all placed: a cycle would stall
        ready = {m for m, deps in graph.items() if m not in done and deps <= done}
        assert ready, f"import cycle among {sorted(set(graph) - done)}"
        done |= ready
