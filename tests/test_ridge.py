"""fit_ridge on synthetic grids whose ridge is known, and slice_heatmap writes a PNG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dynamics.util.errors import RidgelineError
from dynamics.analysis.ridge import diagonal_r2, fit_ridge, flat_null, student_t_p


def grid(slope, intercept, noise=0.0, seed=0, maximize=True):
    """A score peaked on the line log y = intercept + slope log x (x between grid points)."""
    rng = np.random.default_rng(seed)
    xs = np.logspace(-3, 3, 19)
    ys = np.logspace(-3, -1, 7)
    rows = []
    for yv in ys:
        ridge_lx = (np.log10(yv) - intercept) / slope
        for xv in xs:
            s = -(np.log10(xv) - ridge_lx) ** 2 + noise * rng.normal()
            rows.append({"lr": xv, "wd": yv, "score": s if maximize else -s})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("slope", [-1.0, 1.0, 0.5])
def test_exact_parabolic_ridge_is_recovered(slope):
    fit = fit_ridge(grid(slope, -2.0), "lr", "wd", "score", maximize=True)
    assert fit.slope == pytest.approx(slope, abs=1e-9)
    assert fit.intercept == pytest.approx(-2.0, abs=1e-9)
    assert fit.slope_err == pytest.approx(0, abs=1e-9)
    assert all(fit.interior) and len(fit.points) == 7


def test_minimize_is_the_mirror_of_maximize():
    up = fit_ridge(grid(-1.0, -2.5), "lr", "wd", "score", maximize=True)
    down = fit_ridge(grid(-1.0, -2.5, maximize=False), "lr", "wd", "score", maximize=False)
    assert down.slope == pytest.approx(up.slope) and down.points == up.points


def test_noise_gives_an_honest_uncertainty():
    """Over many noisy grids the slope scatters by about its reported error."""
    fits = [fit_ridge(grid(-1.0, -2.0, noise=0.02, seed=s), "lr", "wd", "score", True) for s in range(40)]
    slopes = np.array([f.slope for f in fits])
    errs = np.array([f.slope_err for f in fits])
    assert abs(slopes.mean() + 1) < 3 * slopes.std() / np.sqrt(len(slopes)) + 0.01
    assert 0.5 < slopes.std() / np.median(errs) < 2.0


def test_repeats_are_averaged_and_edges_flagged():
    frame = pd.concat([grid(1.0, -1.0), grid(1.0, -1.0)])
    fit = fit_ridge(frame, "lr", "wd", "score", maximize=True)
    assert fit.slope == pytest.approx(1.0)
    # a ridge that leaves the grid: rows whose optimum sits on the edge are flagged
    fit = fit_ridge(grid(1.0, -5.0), "lr", "wd", "score", maximize=True)
    assert not all(fit.interior)
    assert fit.to_dict()["points"][0][1] == pytest.approx(1e-3)


def test_missing_column_is_a_clear_error():
    with pytest.raises(RidgelineError, match="no column 'batch_size'"):
        fit_ridge(grid(1.0, -2.0), "lr", "batch_size", "score", True)


def test_slice_heatmap_writes_a_png(tmp_path):
    from figures.heatmap import slice_heatmap

    frame = grid(-1.0, -2.0)
    fit = fit_ridge(frame, "lr", "wd", "score", True)
    path = slice_heatmap(frame, "lr", "wd", "score", tmp_path / "h.png", maximize=True,
                         floor=-1.0, fit=fit, title="synthetic")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    assert [p.name for p in tmp_path.iterdir()] == ["h.png"]  # no temporary left behind


def test_same_best_x_in_every_row_gives_no_slope_rather_than_a_huge_one():
    import math

    import pandas as pd

    from dynamics.analysis.ridge import diagonal_r2, fit_ridge, flat_null, student_t_p

    # the best lr is 0.2, the grid's edge, in every row: a vertical ridge
    rows = [(x, y, -abs(math.log10(x / 0.2))) for x in (0.2, 0.4, 0.8) for y in (1.0, 2.0, 4.0)]
    fit = fit_ridge(pd.DataFrame(rows, columns=["lr", "wd", "score"]), "lr", "wd", "score", maximize=True)
    assert math.isnan(fit.slope)


def _grid(score, xs=(0.05, 0.1, 0.2, 0.4, 0.8), ys=(1e-3, 2e-3, 4e-3, 8e-3)) -> pd.DataFrame:
    return pd.DataFrame([{"lr": x, "wd": y, "s": score(i, j)} for i, x in enumerate(xs) for j, y in enumerate(ys)])


def test_diagonal_r2_is_one_along_an_exact_invariant_and_names_the_other_diagonal():
    along = _grid(lambda i, j: -((i + j) - 4) ** 2)  # a function of λα alone (i + j = log₂ λα + const)
    r_claim, r_other = diagonal_r2(along, "lr", "wd", "s", slope=-1)
    assert r_claim == pytest.approx(1.0) and r_other < 0.5
    across = _grid(lambda i, j: -((i - j) - 1) ** 2)  # a function of λ/α alone
    r_claim_across, r_other_across = diagonal_r2(across, "lr", "wd", "s", slope=-1)
    assert r_claim_across < 0.5 and r_other_across == pytest.approx(1.0)
    # seed noise averaged: the mean per grid point enters, so a repeat changes nothing
    assert diagonal_r2(pd.concat([along, along]), "lr", "wd", "s", slope=-1) == pytest.approx((r_claim, r_other))
    # α ×4 per row, λ ×2 per column: the λα diagonals group 2 i_y + i_x
    k2 = _grid(lambda i, j: -((i + 2 * j) - 4) ** 2, ys=(1e-3, 4e-3, 1.6e-2))
    assert diagonal_r2(k2, "lr", "wd", "s", slope=-1)[0] == pytest.approx(1.0)


def test_diagonal_r2_needs_a_grid_the_diagonals_pass_through():
    uneven = _grid(lambda i, j: i + j, xs=(0.05, 0.1, 0.3))
    assert all(np.isnan(diagonal_r2(uneven, "lr", "wd", "s", slope=-1)))
    flat = _grid(lambda i, j: 0.5)
    assert all(np.isnan(diagonal_r2(flat, "lr", "wd", "s", slope=-1)))
    diverged = _grid(lambda i, j: float("nan") if (i, j) == (4, 3) else -((i + j) - 4) ** 2)
    assert diagonal_r2(diverged, "lr", "wd", "s", slope=-1)[0] == pytest.approx(1.0)  # left out, not poisoning


@pytest.mark.parametrize("t, dof, p", [(1.0, 1, 0.5), (2.0, 3, 0.1393), (2.0, 4, 0.1161), (3.0, 5, 0.0301),
                                       (2.6, 2, 0.1215), (1.96, 400, 0.0507), (0.0, 2, 1.0)])
def test_student_t_p_matches_the_tables(t, dof, p):
    assert student_t_p(t, dof) == pytest.approx(p, abs=2e-4)  # t tables to 4 places
    assert student_t_p(-t, dof) == student_t_p(t, dof)


def test_flat_null_says_how_often_noise_alone_bends_the_ridge_that_far():
    rng = np.random.default_rng(1)
    profile = lambda i, j: -0.005 * ((i + j) - 4) ** 2  # noqa: E731  flat along λα, a broad top as measured
    frame = pd.concat([_grid(profile).assign(s=lambda f: f.s + rng.normal(0, 0.02, len(f)), seed=k)
                       for k in range(3)])
    args = dict(x="lr", y="wd", score="s", maximize=True, slope=-1, repeats=3, draws=400)
    p = [flat_null(frame, noise_sd=0.02, measured=m, **args) for m in (-1.0, -1.2, -1.6, -10.0)]
    assert p[0] == 1.0 and p[0] > p[1] > p[2] > p[3] and p[3] < 0.02  # the further, the rarer
    exact = _grid(profile).assign(seed=0)  # an exact parabola along the diagonals, no noise: −1 every time
    assert flat_null(exact, noise_sd=0.0, measured=-1.05, **args) == 0.0
    assert np.isnan(flat_null(frame.assign(lr=frame.lr.map({0.05: 0.05, 0.1: 0.1, 0.2: 0.3, 0.4: 0.4, 0.8: 0.8})),
                              noise_sd=0.02, measured=-2.0, **args))  # uneven grid: no diagonals
