"""The ridge of best score on a 2-D log-log grid, fitted as a line with an uncertainty.

Page reads his flat directions off heatmaps: the ridge of best test accuracy runs
at ±45° in log-log axes. Here the ridge is measured in two steps.

1. **Ridge points.** For every grid row (one value of y) the best x: the grid optimum
   refined by the vertex of the least-squares parabola in log₁₀ x through it and up
   to two neighbours on each side (three points at least; more points average the
   noise of a broad optimum, and because the valley keeps its shape along a flat
   direction, its asymmetry shifts every row alike and leaves the slope). A row whose optimum
   sits on the edge of the grid has no vertex; its point is the edge value, flagged
   ``interior=False``, and kept out of the line fit when at least two interior points
   exist (it only bounds the ridge).
2. **Line.** Ordinary least squares of log₁₀ x* on log₁₀ y: the error is in x* (it is
   estimated), y is a grid value known exactly, so x* is the dependent variable. The
   fitted log₁₀ x* = a + b log₁₀ y is reported as the line drawn on the heatmap, x
   horizontal:

       log₁₀ y = intercept + slope · log₁₀ x,   slope = 1/b,   intercept = −a/b,

   with slope_err = σ_b/b² (first-order propagation of b's standard error,
   σ_b² = RSS/(n − 2) / Σ(log₁₀ y − mean)²). NaN when fewer than three points.
   This error assumes independent ridge points; where all grid points share one
   noise stream (the quadratic toy's common random numbers) their errors are
   correlated and it understates the uncertainty: fit each seed apart and use the
   spread of the slopes (``ridgeline simulate slices`` reports both).

In this convention Page's flat directions are: λ/N fixed → slope +1 in (lr, N);
λ/(1 − ρ) fixed → +1 in (lr, 1 − ρ); λα fixed → −1 in (lr, wd).

The ridge is a property of the top of the landscape, where the score is flattest and
noise moves the best x most. :func:`diagonal_r2` measures the flat direction over the
whole grid instead: the share of the variance of the grid's scores that a function of
the claimed invariant y/x^slope alone explains (the cells grouped along the claimed
diagonals, R² = 1 − Σ within-group SS / total SS), beside the same for the other
diagonal, y·x^slope, which has as many groups. A flat direction puts R² near 1 along
it and near 0 across it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from dynamics.util.errors import RidgelineError


@dataclass(frozen=True)
class RidgeFit:
    """A fitted ridge line log₁₀ y = intercept + slope · log₁₀ x (see module docstring)."""

    slope: float  # d log y / d log x along the ridge (dimensionless)
    slope_err: float  # its standard error
    intercept: float  # log₁₀ y at x = 1
    points: list  # [(x*, y)] the best x for every grid row, in increasing y
    x: str  # the column on the horizontal axis
    y: str  # the column on the vertical axis
    interior: list = field(default_factory=list)  # per point: vertex inside the grid
    maximize: bool = False  # the score's sense (True: higher is better)

    def line(self, x_values) -> np.ndarray:
        """y on the fitted ridge at ``x_values``."""
        with np.errstate(over="ignore"):  # a steep line leaves the grid: inf, drawn nowhere
            return 10 ** (self.intercept + self.slope * np.log10(np.asarray(x_values, dtype=float)))

    def to_dict(self) -> dict:
        out = asdict(self)
        out["points"] = [[float(a), float(b)] for a, b in self.points]
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in out.items()}


def _vertex(lx: np.ndarray, s: np.ndarray, i: int, maximize: bool) -> float:
    """log x of the vertex of the parabola fitted to points i−2 … i+2 (as many as exist),
    clipped to the neighbours of i; the grid optimum when the fit has no such vertex."""
    lo, hi = max(0, i - 2), min(len(lx), i + 3)
    a, b, _ = np.polyfit(lx[lo:hi], s[lo:hi], 2)
    if a == 0 or (a > 0) == maximize:  # opens the wrong way: no optimum
        return float(lx[i])
    return float(np.clip(-b / (2 * a), lx[i - 1], lx[i + 1]))


def ridge_points(frame, x: str, y: str, score: str, maximize: bool) -> tuple[list, list]:
    """The best x per y row (mean score over repeats) and whether it is interior."""
    for col in (x, y, score):
        if col not in frame.columns:
            raise RidgelineError(f"no column {col!r} in the table; it has {', '.join(map(str, frame.columns))}")
    # a diverged repeat (NaN or inf) makes its grid point's mean NaN: never the best
    means = frame.groupby([y, x], as_index=False)[score].agg(lambda v: v.mean(skipna=False))
    points, interior = [], []
    for y_value, row in means.groupby(y, sort=True):
        row = row[np.isfinite(row[score])].sort_values(x)
        xs, s = row[x].to_numpy(float), row[score].to_numpy(float)
        if len(xs) == 0 or np.any(xs <= 0) or y_value <= 0:
            continue
        if len(xs) < 3:
            i = int(np.argmax(s) if maximize else np.argmin(s))
            points.append((float(xs[i]), float(y_value)))
            interior.append(False)
            continue
        i = int(np.argmax(s) if maximize else np.argmin(s))
        inside = 0 < i < len(xs) - 1
        lx = np.log10(xs)
        points.append((float(10 ** _vertex(lx, s, i, maximize)) if inside else float(xs[i]), float(y_value)))
        interior.append(inside)
    return points, interior


def fit_ridge(frame, x: str, y: str, score: str, maximize: bool) -> RidgeFit:
    """Fit the ridge of best ``score`` over the (``x``, ``y``) grid of ``frame``.

    ``frame``: a pandas DataFrame with one row per run or per grid point (repeats are
    averaged here); ``maximize``: True when higher scores are better. Positive x, y.
    """
    points, interior = ridge_points(frame, x, y, score, maximize)
    if not points:
        raise RidgelineError(f"no finite {score!r} values with positive {x} and {y} to fit a ridge to")
    use = [p for p, ok in zip(points, interior) if ok]
    if len(use) < 2:
        use = points  # the ridge leaves the grid: fit what there is, flagged in `interior`
    ly = np.log10([p[1] for p in use])
    lx = np.log10([p[0] for p in use])
    slope = slope_err = intercept = float("nan")
    if len(use) >= 2 and np.ptp(ly) > 0 and np.ptp(lx) > 1e-9:  # same x* in every row: no slope
        b, a = np.polyfit(ly, lx, 1)  # log x* = a + b log y
        if b != 0:
            slope, intercept = 1 / b, -a / b
            if len(use) >= 3:
                rss = float(np.sum((lx - (a + b * ly)) ** 2))
                sigma_b = np.sqrt(rss / (len(use) - 2) / np.sum((ly - ly.mean()) ** 2))
                slope_err = float(sigma_b / b**2)
    return RidgeFit(float(slope), slope_err, float(intercept), points, x, y, interior, bool(maximize))


def interior_only(fit: RidgeFit) -> RidgeFit:
    """``fit`` without a slope (NaN) when fewer than two rows have their best x inside
    the grid: edge values only bound the ridge, so a line through them is no measurement.
    ``ridgeline sweep`` and ``ridgeline simulate slices`` both report such a fit this way."""
    from dataclasses import replace

    if fit.interior and sum(fit.interior) < 2:
        nan = float("nan")
        return replace(fit, slope=nan, slope_err=nan, intercept=nan)
    return fit


def seed_slopes(frame, x: str, y: str, score: str, maximize: bool, seed: str = "seed") -> tuple[list, float]:
    """The slope of the ridge of every seed alone (:func:`interior_only` fits, in seed order) and
    the standard error across seeds of their mean, std/√n over the finite ones (NaN with
    fewer than two): the uncertainty of a slope fitted to the mean over those seeds when
    the line fit's own error cannot be trusted (module docstring)."""
    slopes = []
    for _, part in frame.groupby(seed, sort=True):
        try:
            slopes.append(interior_only(fit_ridge(part, x, y, score, maximize)).slope)
        except RidgelineError:  # no finite score in this seed (all diverged): no slope
            slopes.append(float("nan"))
    finite = [v for v in slopes if np.isfinite(v)]
    err = float(np.std(finite, ddof=1) / np.sqrt(len(finite))) if len(finite) > 1 else float("nan")
    return slopes, err


def _diagonals(frame, x: str, y: str, score: str, slope: float):
    """(means, along, across): the finite mean score per grid point, and its diagonal
    index along the claim (k·i_y − slope·i_x) and across it (k·i_y + slope·i_x), for
    grid indices i; None when no diagonal passes through the grid points (see
    :func:`diagonal_r2`)."""
    means = frame.groupby([x, y], as_index=False)[score].agg(lambda v: v.mean(skipna=False))
    xs, ys = np.sort(means[x].unique()), np.sort(means[y].unique())
    means = means[np.isfinite(means[score])]  # a diverged repeat leaves its grid point out
    if len(xs) < 2 or len(ys) < 2 or len(means) < 3:
        return None
    steps_x, steps_y = np.diff(np.log(xs)), np.diff(np.log(ys))
    k = steps_y.mean() / steps_x.mean()
    even = np.allclose(steps_x, steps_x[0], rtol=1e-3) and np.allclose(steps_y, steps_y[0], rtol=1e-3)
    if not even or abs(k - round(k)) > 1e-3 or round(k) == 0 or abs(slope) != 1:
        return None
    ix, iy = np.searchsorted(xs, means[x]), round(k) * np.searchsorted(ys, means[y])
    return means, iy - slope * ix, iy + slope * ix


def diagonal_r2(frame, x: str, y: str, score: str, slope: float) -> tuple[float, float]:
    """(R² along the diagonals y/x^slope = const, R² along y·x^slope = const) of the mean
    score per grid point of ``frame`` (module docstring). The grids must be log-spaced with
    the log step of y a whole multiple k of x's, so that each diagonal passes through
    grid points: the groups are k·i_y − slope·i_x and k·i_y + slope·i_x for grid indices
    i. Grid points without a finite mean (a diverged repeat) are left out. NaN for other
    grids or a constant score."""
    nan = (float("nan"), float("nan"))
    found = _diagonals(frame, x, y, score, slope)
    if found is None:
        return nan
    means, along, across = found
    s = means[score].to_numpy(float)
    total = float(np.sum((s - s.mean()) ** 2))
    if total == 0:
        return nan

    def r2(groups) -> float:
        within = sum(float(np.sum((s[groups == g] - s[groups == g].mean()) ** 2)) for g in np.unique(groups))
        return 1 - within / total

    return r2(along), r2(across)


def student_t_p(t: float, dof: int) -> float:
    """Two-sided p-value of Student's t with ``dof`` (a whole number ≥ 1) degrees of freedom,
    by the closed forms of Abramowitz & Stegun 26.7.3–4 (θ = atan(|t|/√dof)). A slope's
    z over a seed error from n seeds is such a t with n − 1 degrees of freedom: with three
    seeds, z = 2.6 is p ≈ 0.12, not the normal 0.01."""
    if not (np.isfinite(t) and dof >= 1):
        return float("nan")
    theta = np.arctan(abs(t) / np.sqrt(dof))
    c2, term, total = np.cos(theta) ** 2, 1.0, 1.0
    if dof % 2:  # odd: (2/π)(θ + sin θ cos θ (1 + (2/3)c² + (2·4)/(3·5)c⁴ + …)), dof − 3 powers
        for k in range(1, (dof - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        a = 2 / np.pi * (theta + (np.sin(theta) * np.cos(theta) * total if dof > 1 else 0.0))
    else:  # even: sin θ (1 + (1/2)c² + (1·3)/(2·4)c⁴ + …), up to c^(dof − 2)
        for k in range(1, dof // 2):
            term *= c2 * (2 * k - 1) / (2 * k)
            total += term
        a = np.sin(theta) * total
    return float(min(1.0, max(0.0, 1 - a)))


def flat_null(frame, x: str, y: str, score: str, maximize: bool, slope: float, repeats: int, noise_sd: float,
              measured: float, draws: int = 2000, seed: int = 0) -> float:
    """How often an exactly flat landscape gives a ridge slope at least as far from the
    claimed ``slope`` as ``measured``: the fraction of ``draws``.

    The null landscape is the grid's own mean score averaged along the claimed diagonals
    (the groups of :func:`diagonal_r2`): exactly flat along the claim, with the measured
    profile across it. Each draw adds to every grid point the noise of a mean of
    ``repeats`` runs, normal with sd ``noise_sd``/√repeats (``noise_sd``: the run-to-run sd
    about the grid point means), and fits the ridge as the measurement does. NaN when the
    grid has no diagonals (see :func:`diagonal_r2`)."""
    found = _diagonals(frame, x, y, score, slope)
    if found is None or not np.isfinite(measured):
        return float("nan")
    means, along, _ = found
    null = means.groupby(along)[score].transform("mean").to_numpy(float)
    rng, far, n = np.random.default_rng(seed), 0, 0
    for _ in range(draws):
        sim = means.assign(**{score: null + rng.normal(0.0, noise_sd / np.sqrt(repeats), len(null))})
        try:
            s = interior_only(fit_ridge(sim, x, y, score, maximize)).slope
        except RidgelineError:
            continue
        if np.isfinite(s):
            n += 1
            far += abs(s - slope) >= abs(measured - slope)
    return far / n if n else float("nan")


# ------------------------------------------------- statistics that need no ridge fit
# Page's claim is that the score is flat along a diagonal; a ridge slope summarises a
# flat top by its noisiest feature. These read the flatness off the grid directly, each
# with its error across seeds (standard error of the mean, sd/√n, ddof 1: every seed is
# an independent replicate; the grid of one seed is one draw of the landscape's noise).

def _mean_se(values) -> tuple[float, float]:
    """(mean, standard error sd/√n with ddof 1) of the finite ``values``; SE NaN below two."""
    v = np.asarray([u for u in values if np.isfinite(u)], dtype=float)
    if not len(v):
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")


def seed_mean_slope(per_seed) -> tuple[float, float]:
    """The mean of the per-seed ridge slopes and its standard error: the second slope
    estimator, beside the slope of the mean landscape (:func:`fit_ridge` on the means).
    The two differ when the ridge of the mean is not the mean of the ridges (a broad,
    noisy top); report both, and say which way each leans."""
    return _mean_se(per_seed)


@dataclass(frozen=True)
class DiagonalProfile:
    """The mean score along the claimed diagonal through the best grid point, and across it.

    ``cells_along`` and ``cells_across`` are the grid points (x, y) of the two diagonals in
    increasing y; ``along`` and ``across`` the mean score over seeds there with its
    standard error across seeds. ``range_along`` and ``range_across`` are the score range
    (max − min) over each diagonal, as the mean over seeds of the range within each seed, with
    its standard error: a flat direction has range_along at the noise level and far
    below range_across. (The range within one seed includes its noise, so even an exactly flat
    diagonal reads above 0: compare with a control, or with ``noise_sd``.)"""

    cells_along: list
    along: list  # [(mean, se)] per cell along the claim
    cells_across: list
    across: list  # [(mean, se)] per cell across it
    range_along: tuple  # (mean over seeds, se)
    range_across: tuple

    def to_dict(self) -> dict:
        return {k: [list(map(float, v)) for v in getattr(self, k)] if k not in ("range_along", "range_across")
                else list(map(float, getattr(self, k))) for k in self.__dataclass_fields__}


def _grid_index(frame, x: str, y: str, score: str, slope: float):
    """(xs, ys, k) of a log-even grid whose y step is k times x's, or None (see :func:`diagonal_r2`)."""
    found = _diagonals(frame, x, y, score, slope)
    if found is None:
        return None
    xs, ys = np.sort(frame[x].unique()), np.sort(frame[y].unique())
    return xs, ys, round(float(np.diff(np.log(ys)).mean() / np.diff(np.log(xs)).mean()))


def diagonal_profile(frame, x: str, y: str, score: str, slope: float, maximize: bool,
                     seed: str = "seed", through: tuple | None = None) -> DiagonalProfile | None:
    """The :class:`DiagonalProfile` of ``frame`` (one row per run: x, y, score, seed) along the
    claim of ``slope`` (±1) through ``through`` (an (x, y) grid point; default: the best mean
    score), and across it. Only seeds that cover the whole grid count; None when the grid has
    no diagonals (:func:`diagonal_r2`) or no finite score."""
    grid = _grid_index(frame, x, y, score, slope)
    if grid is None:
        return None
    xs, ys, k = grid
    cells = frame.groupby([x, y])[score].agg(lambda v: v.mean(skipna=False))
    finite = cells[np.isfinite(cells)]
    if not len(finite):
        return None

    def line(sign, point):  # the grid points with k·i_y ∓ slope·i_x equal to ``point``'s
        ix0, iy0 = int(np.searchsorted(xs, point[0])), int(np.searchsorted(ys, point[1]))
        at = k * iy0 - sign * slope * ix0
        return [(float(xs[ix]), float(ys[iy])) for iy in range(len(ys)) for ix in range(len(xs))
                if k * iy - sign * slope * ix == at]

    if through is None:  # the best point whose two diagonals both cross the grid (≥ 3 cells, or every row)
        inner = finite[[min(len(line(+1, c)), len(line(-1, c))) >= min(3, len(ys)) for c in finite.index]]
        pool = inner if len(inner) else finite
        through = pool.idxmax() if maximize else pool.idxmin()

    seeds = [part.set_index([x, y])[score] for _, part in frame.groupby(seed, sort=True)
             if len(part.groupby([x, y])) == len(xs) * len(ys)]

    def stats(cells_on):
        per_cell = [_mean_se([float(s.loc[c].mean()) for s in seeds]) for c in cells_on]
        ranges = [float(np.ptp([float(s.loc[c].mean()) for c in cells_on])) for s in seeds]
        return per_cell, _mean_se(ranges)

    along_cells, across_cells = line(+1, through), line(-1, through)
    along, range_along = stats(along_cells)
    across, range_across = stats(across_cells)
    return DiagonalProfile(along_cells, along, across_cells, across, range_along, range_across)


def paired_difference(frame, control, x: str, y: str, score: str, seed: str = "seed"):
    """Point by point, ``frame`` − ``control``: a DataFrame (x, y, diff, se, seeds) of the
    mean over seeds of the paired difference (the same seed number in both, so the same
    data order and, up to the rescaling, the same initialisation) and its standard error.
    Only the grid points and seeds both have."""
    import pandas as pd

    a = frame.groupby([x, y, seed])[score].mean()
    b = control.groupby([x, y, seed])[score].mean()
    both = pd.concat({"a": a, "b": b}, axis=1).dropna()
    both["d"] = both["a"] - both["b"]
    rows = [(cx, cy, *_mean_se(part["d"]), len(part)) for (cx, cy), part in both.groupby(level=[0, 1])]
    return pd.DataFrame(rows, columns=[x, y, "diff", "se", "seeds"])
