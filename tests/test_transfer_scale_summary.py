"""examples/transfer_scale_summary.py's estimators of where the good wd sits (docs/transfer.md):
the parabola vertex and the accuracy edge, on curves whose answer is known."""

import importlib.util
import math
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "transfer_scale_summary", Path(__file__).parents[1] / "examples" / "transfer_scale_summary.py")
summary = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(summary)

WDS = [0.000625 * 2**i for i in range(5)]


def test_the_vertex_of_an_exact_parabola_in_log2_wd():
    points = {w: 0.6 - 0.01 * (math.log2(w) - math.log2(0.0017)) ** 2 for w in WDS}
    log2, edge = summary.best_log2_wd(points)
    assert 2**log2 == pytest.approx(0.0017, rel=1e-9) and not edge


def test_the_edge_is_where_accuracy_has_fallen_by_drop_interpolated_in_log2_wd():
    # flat at 0.60, then 0.58 at 0.005 and 0.50 at 0.01: 3 points below (0.57) is an eighth of the way
    # from 0.005 to 0.01 in log2 wd
    points = dict(zip(WDS, [0.60, 0.60, 0.60, 0.58, 0.50]))
    assert 2 ** summary.edge_log2_wd(points, drop=0.03) == pytest.approx(0.005 * 2**0.125, rel=1e-12)
    assert summary.edge_log2_wd(dict(zip(WDS, [0.60] * 5))) is None  # never falls: no edge on the grid


def test_a_curve_moved_by_a_factor_moves_both_estimators_by_it():
    shape = [0.58, 0.60, 0.595, 0.56, 0.45]
    small = dict(zip(WDS, shape))
    large = dict(zip([w / 4 for w in WDS], shape))
    assert summary.best_log2_wd(large)[0] - summary.best_log2_wd(small)[0] == pytest.approx(-2)
    assert summary.edge_log2_wd(large) - summary.edge_log2_wd(small) == pytest.approx(-2)
