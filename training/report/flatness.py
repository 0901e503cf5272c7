"""Page's slices by statistics that do not hang on one estimator, and the attribution of
the λ × α departure to the things that break its exact symmetry.

A ridge slope summarises a flat top by its noisiest feature, and two honest estimators of
it differ: the slope of the landscape averaged over seeds (``SliceSummary.slope``) and the mean
of the per-seed slopes (``SliceSummary.seed_mean``). :func:`estimators_markdown` prints
both with their p-values and says where they disagree, beside what Page's claim is about:
the score along the claimed diagonal through the ridge and its range against the range
across it (:class:`dynamics.analysis.ridge.DiagonalProfile`).

For the conv weights λα is an exact symmetry: (w, λ, α) → (r w, r² λ, α/r²) maps training
onto itself. It is broken by (i) the initial |w₀|, which does not follow λ, (ii) the
tensors without the symmetry (BN scales and shifts, the classifier), whose λ and α move
with the slice, and (iii) BN's ε and rounding. ``ridgeline sweep --exact-symmetry``
removes (i) and (ii); ``--init-scale follow`` alone removes (i), ``--other-lr λ₀
--other-wd α₀`` alone removes (ii). :func:`attribution_markdown` compares them on the
same grid and seeds: each sweep's departure from the control, paired by seed, and how
much of the real departure each removed breaker carried.
"""

from __future__ import annotations

import math
from pathlib import Path

from dynamics.analysis.ridge import _mean_se, diagonal_profile, paired_difference


def _pm(value: tuple, fmt: str = "{:+.2f}") -> str:
    mean, se = value
    if not math.isfinite(mean):
        return "–"
    digits = 3 if ".3f" in fmt else 2
    return fmt.format(mean) + (f" ± {se:.{digits}f}" if math.isfinite(se) else " (one seed: no error)")


def _p(p: float) -> str:
    return f"{p:.2f}" if math.isfinite(p) else "–"


def disagreement(s) -> str:
    """Where the two slope estimators of ``s`` part: by more than their larger error, or in
    their verdict at the 5% level."""
    a, (b, se_b) = s.slope, s.seed_mean
    if not (math.isfinite(a) and math.isfinite(b)):
        return "–"
    words = []
    err = max(v for v in (s.seed_err, se_b) if math.isfinite(v)) if math.isfinite(s.seed_err) or \
        math.isfinite(se_b) else float("nan")
    words.append(f"differ by {abs(a - b):.2f}" + (" (> their error)" if math.isfinite(err) and abs(a - b) > err > 0
                                                  else ""))
    if math.isfinite(s.p_t) and math.isfinite(s.p_t_seed_mean) and (s.p_t < 0.05) != (s.p_t_seed_mean < 0.05):
        words.append("**verdicts differ at 5%**")
    return "; ".join(words)


def _profile_text(profile, cells=None) -> str:
    if profile is None:
        return "–"
    return ", ".join(f"{m:.3f}" for m, _ in profile.along)


def estimators_markdown(summaries) -> str:
    """One row per slice: both slope estimators with p (Student t, seeds − 1 dof), where they
    disagree, the diagonal profile along the claim, and its flatness."""
    from dynamics.jobs.slices import CLAIM_SYMBOLS

    header = ["slice", "claim (slope)", "slope of the mean landscape ± seed error", "p",
              "mean of per-seed slopes ± SE", "p", "the two estimators",
              "score along the claim through the ridge (low y to high)", "range along ± SE",
              "range across ± SE"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summaries:
        prof = s.profile
        lines.append("| " + " | ".join([
            f"{Path(s.path).name} ({s.name})", f"{CLAIM_SYMBOLS.get(s.claim, s.claim)} ({s.expected:+.0f})", _pm((s.slope, s.seed_err)),
            _p(s.p_t), _pm(s.seed_mean), _p(s.p_t_seed_mean), disagreement(s), _profile_text(prof),
            _pm(prof.range_along, "{:.3f}") if prof else "–", _pm(prof.range_across, "{:.3f}") if prof else "–"]) + " |")
    return "\n".join(lines) + "\n"


def _per_seed(s) -> dict:
    return dict(zip(s.seeds or [], s.per_seed))


def _paired(a: dict, b: dict) -> tuple:
    """Mean ± SE, over every seed both have, of a[seed] − b[seed]."""
    return _mean_se([a[k] - b[k] for k in a if k in b and math.isfinite(a[k]) and math.isfinite(b[k])])


def _seed_ranges(s, cells) -> dict:
    """The score range within each complete seed over ``cells`` (the same diagonal for every sweep)."""
    out = {}
    for seed, part in s.frame.groupby("seed"):
        values = part.groupby([s.x, s.y])["score"].mean()
        if all(c in values.index for c in cells):
            out[seed] = float(values.loc[cells].max() - values.loc[cells].min())
    return out


def attribution_markdown(real, control, halves: dict | None = None) -> str:
    """The attribution table: ``real``, the exact-symmetry ``control`` and the ``halves``
    ({"init follows λ": summary, "others held": summary}) on one grid, all read along the
    real ridge's diagonal. Per sweep: both slopes, the profile, its range; then, paired by
    seed, its departure from the control in slope and in range along the claim, and the
    point-by-point difference from the control along that diagonal."""
    halves = halves or {}
    if real.profile is None or real.frame is None or control.frame is None:
        return "attribution: needs complete seeds of the real and the control sweep\n"
    cells = real.profile.cells_along
    through = cells[len(cells) // 2]
    rows = [("real", real), *halves.items(), ("control (exact symmetry)", control)]
    header = ["sweep", "slope of the mean", "mean of per-seed slopes", "score along the claim", "range along ± SE",
              "slope − control (paired)", "range − control (paired)", "Δ score along the claim vs control (± SE)"]
    lines = [f"Along the real ridge's diagonal {', '.join(f'({a:g}, {b:g})' for a, b in cells)} "
             f"(λ, α), seeds paired by number.\n", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    ctrl_ranges = _seed_ranges(control, cells)
    for label, s in rows:
        prof = diagonal_profile(s.frame, s.x, s.y, "score", s.expected, s.maximize, through=through)
        ranges = _seed_ranges(s, cells)
        diff = paired_difference(s.frame, control.frame, s.x, s.y, "score").set_index([s.x, s.y])
        along = ", ".join(_pm((diff.loc[c, "diff"], diff.loc[c, "se"]), "{:+.3f}") for c in cells if c in diff.index)
        own = s is control
        lines.append("| " + " | ".join([
            label, _pm((s.slope, s.seed_err)), _pm(s.seed_mean), _profile_text(prof),
            _pm(_mean_se(ranges.values()), "{:.3f}"),
            "–" if own else _pm(_paired(_per_seed(s), _per_seed(control))),
            "–" if own else _pm(_paired(ranges, ctrl_ranges), "{:+.3f}"), "–" if own else along]) + " |")
    if halves:
        lines.append("")
        lines.append("What each removed breaker carried (paired by seed): the real slope minus the slope with "
                     "that breaker removed.")
        lines.append("")
        for label, s in halves.items():
            lines.append(f"- {label}: {_pm(_paired(_per_seed(real), _per_seed(s)))} of the real departure "
                         f"{_pm(_paired(_per_seed(real), _per_seed(control)))} (real − control)")
    return "\n".join(lines) + "\n"
