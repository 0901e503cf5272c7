"""``report.md`` and ``report.html`` from the steps of :mod:`training.report.steps`.

Every section shows its tables and figures (paths relative to the report, so the
folder can be moved) and the command that reproduces them. A step that failed or
was skipped says so where its results would be.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path

SKIP_HELP = ("To include it, point `--data PATH` (or the `RIDGELINE_DATA` variable) at a "
             "CIFAR-10 `.npz` file (x_train (N,32,32,3) uint8, y_train, x_test, y_test) or a "
             "torchvision CIFAR-10 folder, or pass `--download` on a machine with internet, "
             "then rerun the same `ridgeline report` command: finished steps are not recomputed.")


def _f(x, fmt="{:.4g}") -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(h.replace("|", "\\|") for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") if not str(c).startswith("$") else str(c)
                                for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _status(step) -> str:
    if step.status in ("done", "done earlier"):
        return ""
    what = "failed" if step.status == "failed" else "skipped"
    return f"\n> **This step {what}**: {step.message}\n"


def _reproduce(step) -> str:
    return f"\nReproduce:\n\n```\n{step.command}\n```\n"


# ----------------------------------------------------------------------- sections
def _derive_section(step, out: Path) -> str:
    text = ["## § Derivations\n",
            "Every formula is derived by sympy from the update rule's own code "
            "(`dynamics/rules.py`): nothing is typed in. λ learning rate, α weight decay, "
            "ρ momentum, N batch size, G = |g||w| the scale-free gradient norm, "
            "u = λα/(1−ρ) Page's rotated coordinate. Values at Page's point "
            "λ = 0.4, α = 5e-4, ρ = 0.9, G = 1.\n", _status(step)]
    path = out / "derive" / "derivations.json"
    if step.status in ("done", "done earlier") and path.exists():
        data = json.loads(path.read_text())
        hb = data.get("heavy-ball", {}).get("formulas", {})
        if "weight_norm4" in hb:
            text.append("Heavy-ball's equilibrium, to compare with Wan et al. (2021) and Kosson et "
                        "al. (2024), |w|⁴ = λG²(1+ρ)/(α(1−ρ)(2(1+ρ)−λα)) and "
                        "θ ≈ √(2λα/(1+ρ)):\n\n"
                        f"$$|w|^4 = {hb['weight_norm4']['latex']}, \\qquad "
                        f"\\theta \\approx {hb['angular_update_leading']['latex']}$$\n")
        # folded: four long tables would otherwise stand before every figure
        text.append(f"\n<details><summary>The derived formulas of each rule ({', '.join(data)}): "
                    "click to unfold</summary>\n")
        for rule, body in data.items():
            rows = [[f"`{key}`", f"${f['latex'].replace('|', chr(92) + 'vert ')}$",
                     _f(f.get("value")), f["meaning"]] for key, f in body["formulas"].items()]
            rows.append(["relaxation time (exact, from the Jacobian)", "", _f(body.get("relaxation_steps")),
                         "steps for |w|² to close 1/e of a small gap"])
            text.append(f"\n**{rule}**\n\n" + _table(["result", "formula", "value", "meaning"], rows))
        text.append("\n</details>\n")
        text.append("\nThe same in LaTeX: [derive/derivations.tex](derive/derivations.tex); "
                    "as JSON: [derive/derivations.json](derive/derivations.json).\n")
    return "\n".join(text) + _reproduce(step)


#: |measured/expected − 1| above which the report flags a relaxation time it cannot explain
RELAX_TOLERANCE = 0.10


def _simulate_section(steps, relax) -> str:
    text = ["## § The simulator on the noise loss\n",
            "The derivation's own noise model (g ⟂ w, |g| = G/|w|, independent across steps) "
            "advanced by the update rules themselves, many settings at once, every run started "
            "at |w| = 1 (off equilibrium). Late time is the last half of the run; the "
            "equilibrium must hold to a percent or two.\n"]
    for step in steps:
        text.append(f"### {step.title}\n" + _status(step))
        if step.status in ("done", "done earlier"):
            rows, worst = [], 0.0
            for s in step.result["summary"]["settings"]:
                m, p = s["measured"], s["predicted"]
                rn = m["weight_norm"] / p["weight_norm"] if p["weight_norm"] else float("nan")
                ra = m["angular_update"] / p["angular_update"] if p["angular_update"] else float("nan")
                worst = max(worst, abs(rn - 1), abs(ra - 1))
                rows.append([_f(s["lr"]), _f(s["wd"]), _f(s["momentum"]), _f(s["lr"] * s["wd"], "{:.1e}"),
                             _f(m["weight_norm"]), _f(p["weight_norm"]), _f(rn, "{:.4f}"),
                             _f(m["angular_update"]), _f(p["angular_update"]), _f(ra, "{:.4f}")])
            text.append(_table(["λ", "α", "ρ", "λα", "|w|", "|w|*", "ratio", "θ", "θ*", "ratio"], rows))
            text.append(f"\nLargest deviation from the prediction: {worst:.2%}.\n")
            text.append(f"\n![{step.title}]({step.result['folder']}/trajectories.png)\n")
        text.append(_reproduce(step))
    text.append(f"### {relax.title}\n" + _status(relax))
    text.append("λ drops 10x half-way (Nesterov, ρ = 0.9), every run starting at its predicted "
                "equilibrium; the measured e-folding time of |w|²'s deviation against the derived "
                "relaxation time −1/ln μ, and against the same fit applied to the exact moment map "
                "iterated without noise through the same drop (`dynamics.jobs.simulate.relaxation_expected`): "
                "the derivation seen through the fit. The fit starts once the gap is within 10% of the "
                "plateau and runs to the end of the run.\n")
    if relax.status in ("done", "done earlier"):
        rows, unexplained = [], []
        for s in relax.result["summary"]["settings"]:
            m, p = s["measured"], s["predicted"]
            tm, tp, tf = m.get("relaxation_steps"), p.get("relaxation_steps"), p.get("relaxation_steps_fitted")
            ratio = tm / tf if tm and tf else None
            flag = "" if ratio is None or abs(ratio - 1) <= RELAX_TOLERANCE else " **not explained**"
            if flag:
                unexplained.append((s["lr"], tm, tf, tp))
            rows.append([_f(s["lr"]), _f(s["wd"]), _f(tm, "{:.1f}"), _f(tp, "{:.1f}"), _f(tf, "{:.1f}"),
                         _f(tm / tp if tm and tp else None, "{:.3f}"), _f(ratio, "{:.3f}") + flag])
        text.append(_table(["λ before the drop", "α", "τ measured", "τ derived", "τ, noise-free map fitted alike",
                            "measured / derived", "measured / map"], rows))
        for lr, tm, tf, tp in unexplained:
            text.append(f"\n> **λ {lr:g}: the measured τ ({tm:.1f} steps) is not explained by the derivation**: "
                        f"the same fit on the noise-free moment map gives {tf:.1f} (derived {tp:.1f}), so the "
                        "difference is the fit's on this run's noise (its window runs into the plateau's slow "
                        "wander of a few 0.1%), not the theory's.\n")
        text.append(f"\n![relaxation]({relax.result['folder']}/trajectories.png)\n")
    text.append(_reproduce(relax))
    return "\n".join(text)


def _slices_section(step) -> str:
    text = ["## § Page's three slices, in toy form\n",
            "Final loss of the quadratic toy (scale-invariant weights with minibatch noise σ/√N, "
            "plus a small head of parameters without the symmetry) over "
            "Page's three 2-D slices around its defaults. The fitted ridge of best loss is a "
            "line in log-log axes; Page's flat directions say its slope d log y / d log λ "
            "is +1 (λ/N), +1 (λ/(1−ρ)) and −1 (λα).\n", _status(step)]
    if step.status in ("done", "done earlier"):
        rows = []
        for name, f in step.result["fits"].items():
            slope, serr = f.get("slope"), f.get("slope_err_seeds")
            z = (slope - f["expected_slope"]) / serr if slope is not None and serr else None
            rows.append([name, f["claim"], f"{f['expected_slope']:+.0f}",
                         _f(slope, "{:+.3f}") if slope is not None else f"none: {f.get('no_slope') or 'no fit'}",
                         _f(serr, "{:.3f}"), _f(z, "{:+.1f}")])
        text.append(_table(["slice", "Page's flat direction", "expected slope", "fitted slope",
                            "seed-to-seed error", "z = (fitted − expected)/error"], rows))
        text.append("\nThe error is the spread of the slopes fitted to each seed alone: the grid "
                    "points of one seed share a noise stream, so the line fit's own error "
                    "understates the uncertainty (`dynamics/analysis/ridge.py`).\n")
        for name in step.result["fits"]:
            text.append(f"\n![{name}](slices/{name}.png)\n")
    return "\n".join(text) + _reproduce(step)


def _real_slices_section(step, sweeps) -> str:
    """Page's slices on the real network: the summary table, the figure, the commands."""
    from training.report.slices import CPU_SLICES

    text = ["## § Page's three slices on the real ResNet-9\n"]
    if step.status == "skipped" and not sweeps and step.message.startswith("no sweep directories"):
        commands = "\n".join(spec.command(spec.name) for spec in CPU_SLICES)
        return "\n".join(text + [
            "Not shown: no sweep directories given. Produce the CPU slices (width 1/8, 3,000 training "
            "images scored on 2,000 held-out ones, 10 epochs, three seeds; about 2-3 hours on two cores, "
            "resumable) with the commands below, then rerun this report with `--slices lr_batch "
            "--slices lr_mom --slices lr_wd`; the report reads them and never reruns them.\n",
            f"```\n{commands}\n```\n"])
    text += ["The same measurement as the toy's above, on the real network: per slice the ridge of "
             "the mean score over seeds, its slope with the error across seeds (the ridge of each seed "
             "fitted alone), and how long the runs along the ridge are in relaxation times "
             "τ = (1−ρ)/(4λα) of the weight norm (Nesterov, leading order): at the peak λ, and "
             "summed over the run's own λ schedule. A slope more than two errors from its claim "
             "is a departure to explain.\n" + _status(step)]
    for sweep in sweeps:
        text.append(f"- `{sweep.name}`: {sweep.status}" + (f" ({sweep.message})" if sweep.message else "")
                    + (f", {sweep.result['runs']} of {sweep.result['total']} runs" if sweep.result else ""))
    if step.status in ("done", "done earlier"):
        text.append("\n" + step.result["table"])
        if step.result.get("estimators"):  # absent from results cached by an older version
            text.append("\nThe same slices by statistics that do not hang on one estimator: the slope of the "
                        "mean landscape and the mean of the per-seed slopes, each with its p (Student t, "
                        "seeds − 1 dof), and the score along the claimed diagonal through the ridge with its "
                        "range against the range across it (the range within each seed, mean ± SE over seeds):\n\n"
                        + step.result["estimators"])
        text.append(f"\n![Page's slices, real and toy]({step.result['figure']})\n")
        if step.result.get("rows"):  # absent from results cached by an older version
            text.append("Each slice row by row, and whether the weight norms had settled at its ridge (the "
                        "measured angle per step over the equilibrium angle θ(λα, ρ) derived from the update "
                        "rule; 1 is settled, above 1 is |w| still below its equilibrium):\n\n"
                        + step.result["rows"])
        commands = "\n".join(s["command"] for s in step.result["summaries"])
        text.append("The sweeps (rerun one to continue it; this report does not rerun them):\n\n"
                    f"```\n{commands}\n```\n" if not sweeps else "")
    return "\n".join(text) + _reproduce(step)


def _train_section(step, found: bool, message: str) -> str:
    text = [f"## § {step.title}\n", _status(step)]
    if step.status in ("done", "done earlier"):
        s = step.result["summary"]
        rows = [["test accuracy", f"{_f(s.get('test_acc'), '{:.2%}')} ± {_f(s.get('test_acc_se'), '{:.2%}')} "
                 f"({s.get('test_images')} test images)"],
                ["rule, λ, α, ρ, N", f"{s['rule']}, {s['lr']}, {s['wd']}, {s['momentum']}, {s['batch_size']}"],
                ["λα/(1−ρ)", _f(s.get("lr_wd_over_1_minus_momentum"))],
                ["width, schedule", f"{s['width']}, {s['schedule']}"],
                ["steps", f"{s['steps']} of {s['planned_steps']} ({s['epochs']} epochs, "
                          f"{s['train_images']} training images)"],
                ["time", f"{_f(s['seconds'], '{:.0f}')} s ({_f(s.get('images_per_second'), '{:.0f}')} images/s, "
                         f"{s['device']})"],
                ["diverged", "yes" if s["diverged"] else "no"]]
        text.append(_table(["", ""], rows))
        text.append(f"\n![training curves]({step.result['run_dir']}/training_curves.png)\n")
    return "\n".join(text) + _reproduce(step)


def _pair(r, prediction: str, closure: str) -> str:
    """The prediction's ratio, the closure's in brackets."""
    return f"{_f(r.get(prediction), '{:.3f}')} ({_f(r.get(closure), '{:.3f}')})"


def _trajectory_block(layers) -> str:
    """The trajectory verdict: measured over predicted along the run's own λ schedule."""
    rows = []
    for r in layers:
        if not r["scale_invariant"]:
            continue
        rows.append([f"`{r['layer']}`", r.get("trajectory_steps", 0),
                     _pair(r, "trajectory_norm_ratio_white_median", "trajectory_norm_ratio_closure_median"),
                     _pair(r, "trajectory_angle_ratio_white_median", "trajectory_angle_ratio_closure_median"),
                     f"**{r.get('trajectory_status_white', '–')}**", _f(r.get("power_median"), "{:.2f}"),
                     r.get("closure_status", "–")])
    ok = sum(1 for r in layers if r["scale_invariant"] and r.get("trajectory_status_white") == "ok")
    return ("\n**Trajectory.** The moment map iterated along the run's own per-step λ from its initial "
            "|w|, fed the measured G² (`dynamics.theory.trajectory`); medians over every logged step after the "
            "first relaxation time. The prediction is white noise; in brackets the closure, the same "
            "algebra fed the run's own gradient power ratio k (1 = uncorrelated gradients), which checks "
            "scale invariance, the log and the algebra and predicts nothing.\n\n"
            + _table(["layer", "steps", "|w| ratio, white (closure)", "angle ratio, white (closure)",
                      "prediction", "k", "closure"], rows)
            + f"\n\n{ok} of {len(rows)} scale-invariant layers within 10% of the white-noise trajectory "
            "on both ratios.\n")


def _validate_section(step, train_step) -> str:
    text = [f"## § {step.title}: the theory layer by layer\n",
            "For each parameter tensor and logged step: the equilibrium |w|* and angle θ* from "
            "`predict` at the step's λ and the layer's scale-free gradient norm G = |g||w| "
            "(G² averaged causally over one relaxation time, the norm's own response time), "
            "against the measured |w| and the angle of the mean cosine over the same window. "
            "Equilibrium phase: τ|d ln λ/dt| < 0.1 and 3 relaxation times since the last fast "
            "change. Medians over that phase (IQR in brackets). **Prediction**: white noise, which "
            "uses nothing of the run but |w₀|, G² and the schedule; its verdict 'ok' = both ratios "
            "within 10% of 1. **Closure**: the same algebra fed the run's own gradient power ratio k; "
            "it reproduces |w| whatever the gradient process is, so it checks the accounting (scale "
            "invariance, the log, the moment algebra) and is no prediction; 'fails' names the likely "
            "cause. b: the measured momentum buffer over the noise model's (b < 1: gradients "
            "anti-correlated between steps; |w| then sits near √b of the white prediction). "
            "'angle, drifting': measured angle against the equilibrium of a norm growing at its "
            "measured rate (`dynamics.jobs.validate.drifting_angle`).\n", _status(step)]
    if step.status in ("done", "done earlier"):
        layers = step.result["layers"]
        rows, notes = [], []
        for r in layers:
            if not r["scale_invariant"]:
                continue
            b = r.get("buffer_ratio_median")
            rows.append([f"`{r['layer']}`", _f(r.get("fan_in"), "{:.0f}"), r["equilibrium_steps"],
                         f"{_f(r['norm_ratio_white_median'], '{:.3f}')} ({_f(r['norm_ratio_white_iqr'], '{:.3f}')})",
                         f"{_f(r['angle_ratio_white_median'], '{:.3f}')} ({_f(r['angle_ratio_white_iqr'], '{:.3f}')})",
                         f"**{r['status_white']}**", _f(r.get("norm_ratio_closure_median"), "{:.3f}"),
                         _f(r.get("angle_ratio_closure_median"), "{:.3f}"),
                         _f(math.sqrt(b) if b is not None and b > 0 else None, "{:.3f}"),
                         _f(r.get("angle_ratio_drift_median"), "{:.3f}")])
            if r["notes"]:
                notes.append(f"- `{r['layer']}`: {r['notes']}")
        text.append(_table(["layer (conv → BN)", "weights per filter", "eq. steps", "|w| ratio, white",
                            "angle ratio, white", "prediction", "closure |w|", "closure angle", "√b",
                            "angle, drifting"], rows))
        si = [r for r in layers if r["scale_invariant"] and r["equilibrium_steps"] > 0]
        ok = sum(1 for r in si if r["status_white"] == "ok")
        closes = sum(1 for r in layers if r["scale_invariant"] and r.get("closure_status") == "closes")
        judged = sum(1 for r in layers if r["scale_invariant"] and r.get("closure_status") in ("closes", "fails"))
        text.append(f"\n{ok} of {len(rows)} scale-invariant layers within 10% of the white-noise prediction on "
                    f"both ratios in their equilibrium phase; the closure (an accounting check, not a "
                    f"prediction) holds within 3% in {closes} of {judged}.\n")
        if notes:
            text.append("\nWhat the data say about the departures:\n\n" + "\n".join(notes) + "\n")
        other = [r for r in layers if not r["scale_invariant"]]
        if other:
            text.append(f"\n{len(other)} tensors that are not scale-invariant (BN scale and shift, the "
                        "linear layer) are shown in the figures and in "
                        f"[validation.csv]({step.result['folder']}/validation.csv), and kept out of this summary.\n")
        text.append(_trajectory_block(layers))
        for name, what in [("validation_norms", "|w| per layer"), ("validation_angles", "angle per step per layer"),
                           ("validation_ratios", "measured over predicted trajectory, per layer")]:
            text.append(f"\n![{what}]({step.result['folder']}/{name}.png)\n")
    return "\n".join(text) + _reproduce(step)


# ------------------------------------------------------------------------- assembly
def compose(cfg, out: Path, steps, found: bool, data_message: str, seconds: float) -> str:
    by = {s.name: s for s in steps}
    command = f"ridgeline report --profile {cfg.profile} --out {out}" + (
        f" --data {cfg.data}" if cfg.data else "") + (" --download" if cfg.download else "")
    head = [f"# ridgeline report ({cfg.profile} profile)\n",
            "Does the weight-norm equilibrium derived from the update rules describe SGD with "
            "momentum and weight decay on batch-norm networks? Derivations, the simulator, "
            "Page's three hyperparameter slices, and a real ResNet-9 on CIFAR-10 checked layer "
            "by layer.\n",
            f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; its steps took "
            f"{_duration(sum(s.seconds for s in steps))} in all"
            + (f" ({_duration(seconds)} in this run: steps done earlier were not recomputed)"
               if any(s.status == "done earlier" for s in steps) else "") + ". Everything here:\n",
            f"```\n{command}\n```\n"]
    if (cfg.runs or cfg.real_slices) and not found:
        head.append(f"> **The real-run part was skipped**: no CIFAR-10 was found ({data_message}). "
                    f"{SKIP_HELP}\n")
    rows = [[s.name, s.status + (f": {s.message}" if s.message else ""), f"{s.seconds:.0f} s",
             f"`{s.command}`"] for s in steps]
    head.append("## Steps\n\n" + _table(["step", "status", "time", "command"], rows))
    parts = head + [_derive_section(by["derive"], out),
                    _simulate_section([s for s in steps if s.name.startswith("simulate-")], by["relaxation"]),
                    _slices_section(by["slices"]),
                    _real_slices_section(by["real-slices"], [s for s in steps if s.name.startswith("sweep-")])]
    for name, _ in cfg.runs:
        t, v = by[f"train-{name}"], by[f"validate-{name}"]
        if t.status == "skipped" and not found:
            parts.append(f"## § {t.title}\n\n> **Skipped**: no CIFAR-10 was found. {SKIP_HELP}\n"
                         + _reproduce(t))
            parts.append(f"## § {v.title}\n\n> **Skipped**: it validates the training run above.\n")
            continue
        parts += [_train_section(t, found, data_message), _validate_section(v, t)]
    return number_sections("\n".join(parts))


def number_sections(markdown: str) -> str:
    """Number the ``## § Title`` headings 1, 2, 3, … in order (each number once)."""
    count = iter(range(1, markdown.count("\n## § ") + 2))
    return re.sub(r"(?m)^## § ", lambda m: f"## {next(count)}. ", markdown)


def _duration(seconds: float) -> str:
    """``42 s``, ``9 min 53 s`` or ``2 h 05 min``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def to_html(markdown: str, title: str, base: Path | None = None) -> str:
    """The report as one self-contained HTML page: markdown-it for the text, every
    formula rendered now as a picture (:func:`figures.maths.tex_to_html`), every figure
    under ``base`` embedded as a data: URI. No script and no network: it reads the same
    offline, and the file can be sent on its own."""
    from markdown_it import MarkdownIt

    from figures.maths import tex_to_html

    maths: list[str] = []

    def keep(m):  # protect $…$ and $$…$$ from the markdown parser
        maths.append(m.group(0))
        return f"MATHPLACEHOLDER{len(maths) - 1}X"

    def formula(m):
        tex = maths[int(m.group(1))]
        display = tex.startswith("$$")
        return tex_to_html(tex.strip("$"), display)

    protected = re.sub(r"\$\$.+?\$\$|\$[^$\n]+\$", keep, markdown, flags=re.S)
    body = MarkdownIt("commonmark").enable("table").render(protected)
    body = re.sub(r"MATHPLACEHOLDER(\d+)X", formula, body)
    if base is not None:
        body = re.sub(r'<img src="([^"]+\.png)"', lambda m: f'<img src="{_data_uri(base, m.group(1))}"', body)
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{_escape(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:2px 6px}"
            "img{max-width:100%}pre{background:#f4f4f4;padding:.5em;overflow-x:auto}"
            "blockquote{border-left:4px solid #e0a000;margin-left:0;padding-left:1em}</style>"
            f"</head><body>{body}</body></html>\n")


def _data_uri(base: Path, relative: str) -> str:
    """The PNG ``base/relative`` as a data: URI (a missing file stays a relative link)."""
    import base64

    path = base / relative
    if not path.is_file():
        return relative
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_report(cfg, out: Path, steps, found: bool, data_message: str, seconds: float):
    """Write report.md and report.html atomically; returns their paths."""
    from dynamics.util.io import write_text

    markdown = compose(cfg, out, steps, found, data_message, seconds)
    md = write_text(out / "report.md", markdown)
    html = write_text(out / "report.html", to_html(markdown, f"ridgeline report ({cfg.profile})", out))
    return md, html
