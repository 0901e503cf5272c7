"""Summarise Page's three slices on the real ResNet-9 from `ridgeline sweep` directories.

    python examples/slices_summary.py lr_batch lr_mom lr_wd --toy toy --figure slices.png

Each DIR is a `ridgeline sweep --objective train` directory with lr on --x and batch_size,
one_minus_momentum or wd on --y, finished or still running (a sweep resumes; rerun this
to see it fill in). Prints one Markdown table: Page's claimed flat direction (David Page,
"How to Train Your ResNet 5: Hyperparameters", Myrtle AI blog), the fitted ridge slope ±
its error across seeds, the grid, how many seeds are done, and the run length along the ridge in
relaxation times of the weight norm; then the commands. ``--rows`` adds each slice row by
row: the best λ with its error across seeds, the best score and the run length there;
``--settling`` whether the weight norms had settled there (training/report/settling.py). A second
table gives both slope estimators and the score along the claimed diagonal
(training/report/flatness.py); ``--control DIR`` (an exact-symmetry sweep) with ``--half LABEL=DIR``
adds the attribution of the first DIR's departure. ``--toy DIR`` (the output of
`ridgeline simulate slices`) puts the toy's three heatmaps under the real ones in
``--figure``. The same summary is part of `ridgeline report --slices DIR`.
"""

from __future__ import annotations

import argparse
import sys

from dynamics.util.errors import RidgelineError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", help="ridgeline sweep directories (lr x batch_size, "
                        "one_minus_momentum or wd)")
    parser.add_argument("--toy", help="a `ridgeline simulate slices` directory: the toy's heatmaps in the figure")
    parser.add_argument("--figure", help="write the heatmaps (real above toy) to this PNG")
    parser.add_argument("--rows", action="store_true", help="also print each slice row by row: the best λ "
                        "with its error across seeds, and the run length there")
    parser.add_argument("--settling", action="store_true", help="also say, row by row, whether the weight "
                        "norms had settled at the ridge (from the runs' norms.csv)")
    parser.add_argument("--control", help="an exact-symmetry sweep (`ridgeline sweep --exact-symmetry`) of the "
                        "same λ × α grid: prints the attribution table of the first DIR against it")
    parser.add_argument("--half", action="append", default=[], metavar="LABEL=DIR",
                        help="a half-control sweep for the attribution, e.g. 'init follows λ=lr_wd_init' "
                        "(--init-scale follow) or 'others held=lr_wd_others' (--other-lr/--other-wd); repeatable")
    parser.add_argument("--json", help="also write the summaries as JSON here")
    args = parser.parse_args(argv)
    from training.report.flatness import attribution_markdown, estimators_markdown
    from training.report.slices import markdown, rows_markdown, slices_figure, summarise
    from dynamics.util.io import write_json
    from training.report.settling import settling, settling_markdown

    try:
        summaries = [summarise(d) for d in args.dirs]
        print(markdown(summaries), end="")
        print("\n" + estimators_markdown(summaries), end="")
        if args.control:
            halves = {}
            for item in args.half:
                label, sep, folder = item.rpartition("=")
                if not sep or not label:
                    raise RidgelineError(f"--half {item!r}: expected LABEL=DIR, e.g. 'others held=lr_wd_others'")
                halves[label] = summarise(folder)
            print("\n" + attribution_markdown(summaries[0], summarise(args.control), halves), end="")
        for s in summaries if args.rows else ():
            print("\n" + rows_markdown(s), end="")
        for s in summaries if args.settling else ():
            print("\n" + settling_markdown(s, settling(s)), end="")
        if args.figure:
            print(f"\nfigure: {slices_figure(summaries, args.toy, args.figure)}")
        if args.json:
            write_json(args.json, [s.to_dict() for s in summaries])
    except RidgelineError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # --figure or --json where nothing can be written
        print(f"error: cannot write {e.filename or args.figure}: {e.strerror}; choose another path", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
