"""Regenerate the README's console examples from real runs.

    python docs/regenerate_readme.py                 # every example
    python docs/regenerate_readme.py derive simulate # only these
    python docs/regenerate_readme.py --list          # names and commands

Each example in README.md sits between two markers::

    <!-- example: NAME -->
    ```console
    $ COMMAND
    OUTPUT
    ```
    <!-- /example -->

and has one entry in :data:`EXAMPLES` below: the command, and optionally which lines
of its output to keep (a long table cut to its interesting rows ends in "…"). The
script runs the command with ``ridgeline`` from this checkout, in a scratch folder
(``--scratch``, default ``readme-runs/``, so relative ``--out`` paths land there),
with its output piped (tables at full width, no colour) and replaces the block. The
data come from ``$RIDGELINE_DATA``. To add an example: put the markers in README.md
and add one entry here.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Example:
    command: str  # as the reader types it, starting with `ridgeline`
    keep: Callable[[list[str]], list[str]] = lambda lines: lines  # which output lines to show
    note: str = ""  # printed while it runs (how long it takes)


def rows(*names: str, head: int = 0, columns: tuple[int, ...] | None = None) -> Callable[[list[str]], list[str]]:
    """Keep the first ``head`` lines, then the table rows whose first cell is one of
    ``names`` (in the output's order), re-padded to fit and with only ``columns``
    (indices; default all), then "…"."""
    def first_cell(line: str) -> str | None:
        m = re.match(r"^[│┃]\s*(\S+)", line)
        return m.group(1) if m else None

    def keep(lines: list[str]) -> list[str]:
        picked = [line for line in lines[head:] if first_cell(line) in names]
        cells = [[c.strip() for c in re.split(r"[│┃]", line)[1:-1]] for line in picked]
        cells = [[row[i] for i in (columns or range(len(row)))] for row in cells]
        widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
        numeric = [all(re.fullmatch(r"[-+0-9.e]*", row[i]) for row in cells[1:]) for i in range(len(widths))]
        out = []
        for line, row in zip(picked, cells):
            bar = line[0]
            out.append(bar + bar.join(f" {c.rjust(w) if n else c.ljust(w)} "
                                      for c, w, n in zip(row, widths, numeric)) + bar)
        return lines[:head] + out + ["…"]
    return keep


def without_progress(lines: list[str]) -> list[str]:
    """Drop rich's progress-bar lines (a piped run prints their final state)."""
    return [line for line in lines if "━" not in line]


EXAMPLES: dict[str, Example] = {
    "derive": Example(
        "ridgeline derive --rule heavy-ball --at lr=0.4,wd=5e-4,momentum=0.9",
        rows("result", "gradient_weight_total", "momentum_invariant", "batch_invariant",
             "rescaling_exponents", "rescaling_invariant", "weight_norm4_leading",
             "angular_update_leading", "total_effective_lr_leading_rotated",
             "relaxation_steps_leading", "rotated_u", head=1, columns=(0, 1, 2))),
    "simulate": Example(
        "ridgeline simulate --rule nesterov --lr 0.1,0.4 --wd 5e-3 --momentum 0.9 --out runs/sim",
        without_progress),
    "slices": Example("ridgeline simulate slices --out runs/slices", without_progress,
                      "a few minutes on two cores"),
    "train": Example(
        "ridgeline train --out runs/cpu --width 0.125 --train-size 25000 --batch-size 128 --epochs 10",
        note="about 8 minutes on two cores"),
}


def run(example: Example, scratch: Path) -> str:
    """``$ command`` and its kept output, as the README shows it."""
    env = os.environ | {"PYTHONPATH": str(ROOT), "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.run(example.command, shell=True, cwd=scratch, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SystemExit(f"{example.command!r} failed (exit {proc.returncode}):\n{proc.stdout}")
    lines = [line.rstrip() for line in proc.stdout.splitlines() if line.strip()]
    return "\n".join([f"$ {example.command}", *example.keep(lines)])


def replace(readme: str, name: str, text: str) -> str:
    """The README with example ``name``'s block replaced by ``text``."""
    pattern = re.compile(rf"(<!-- example: {re.escape(name)} -->\n```console\n).*?(\n```\n<!-- /example -->)", re.S)
    if not pattern.search(readme):
        raise SystemExit(f"README.md has no markers for example {name!r}")
    return pattern.sub(lambda m: m.group(1) + text + m.group(2), readme)


def main() -> int:
    parser = argparse.ArgumentParser(description="Regenerate the README's console examples from real runs.")
    parser.add_argument("names", nargs="*", help=f"examples to run (default all: {', '.join(EXAMPLES)})")
    parser.add_argument("--scratch", type=Path, default=ROOT / "readme-runs", help="where the runs write")
    parser.add_argument("--list", action="store_true", help="list the examples and exit")
    args = parser.parse_args()
    if args.list:
        for name, example in EXAMPLES.items():
            print(f"{name}: {example.command}")
        return 0
    unknown = set(args.names) - set(EXAMPLES)
    if unknown:
        parser.error(f"unknown example(s) {', '.join(sorted(unknown))}; known: {', '.join(EXAMPLES)}")
    args.scratch.mkdir(parents=True, exist_ok=True)
    readme_path = ROOT / "README.md"
    for name in args.names or list(EXAMPLES):
        example = EXAMPLES[name]
        print(f"{name}: {example.command}" + (f" ({example.note})" if example.note else ""), flush=True)
        start = time.perf_counter()
        text = run(example, args.scratch)
        readme_path.write_text(replace(readme_path.read_text(), name, text))  # one example at a time
        print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
