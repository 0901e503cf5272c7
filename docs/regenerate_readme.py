"""Regenerate the console examples of README.md and the docs/ pages from real runs.

    python docs/regenerate_readme.py                 # every example
    python docs/regenerate_readme.py derive simulate # only these
    python docs/regenerate_readme.py --list          # names, pages and commands

Each example sits, in README.md or in the docs/ page its entry names, between two
markers::

    <!-- example: NAME -->
    ```console
    $ COMMAND
    OUTPUT
    ```
    <!-- /example -->

and has one entry in :data:`EXAMPLES` below: the command, and optionally which lines
of its output to keep (a long table cut to its interesting rows ends in "…"). The
script runs the command with the ``ridgeline`` on ``PATH`` and this checkout's code
(``PYTHONPATH``), in a scratch folder (``--scratch``, default ``readme-runs/``, so
relative ``--out`` paths land there; the command's ``--out`` folder is removed first),
with its output piped (tables at full width, no colour) and replaces the block. An
entry's ``setup`` commands run first (their output is not shown, their ``$ command``
lines are), unless the folder ``creates`` names is already in the scratch folder, so
``validate`` and ``forecast`` share one small training run. The data come from
``$RIDGELINE_DATA``. To add an example: put the markers in the page and add one entry
here.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Example:
    command: str  # as the reader types it, starting with `ridgeline`
    keep: Callable[[list[str]], list[str]] = lambda lines: lines  # which output lines to show
    note: str = ""  # printed while it runs (how long it takes)
    page: str = "README.md"  # the file that holds the markers, from the repository root
    setup: tuple[str, ...] = ()  # run first, output hidden
    show_setup: bool = True  # show the setup as `$ command` lines
    creates: str = ""  # setup is skipped when this path exists in the scratch folder
    env: dict[str, str | None] = field(default_factory=dict)  # None: unset the variable


def rows(*names: str, head: int = 0, columns: tuple[int, ...] | None = None,
         tail: int = 0, more: bool = True) -> Callable[[list[str]], list[str]]:
    """Keep the first ``head`` lines, then the table rows whose first cell is one of
    ``names`` (in the output's order), re-padded to fit and with only ``columns``
    (indices; default all), then "…" (unless ``more`` is false), then the last ``tail``
    lines."""
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
        return lines[:head] + out + (["…"] if more else []) + (lines[-tail:] if tail else [])
    return keep


def without_progress(lines: list[str]) -> list[str]:
    """Drop rich's progress-bar and spinner lines (a piped run prints their final state)."""
    return [line for line in lines if "━" not in line and not re.match(r"^[\u2800-\u28ff]", line)]


def lines_starting(*starts: str) -> Callable[[list[str]], list[str]]:
    """The lines that start with one of ``starts``, in the output's order."""
    return lambda lines: [line for line in lines if line.startswith(starts)]


PILOT = ("ridgeline train --out runs/pilot --width 0.125 --train-size 2000 --batch-size 64 --epochs 4 "
         "--schedule constant --warmup-epochs 1 --lr 0.05 --wd 0.01 --log-every 2")


EXAMPLES: dict[str, Example] = {
    "derive": Example(
        "ridgeline derive --rule heavy-ball --at lr=0.4,wd=5e-4,momentum=0.9",
        rows("result", "momentum_invariant", "rescaling_invariant", "weight_norm4_leading",
             "angular_update_leading", "relaxation_steps_leading", head=1, columns=(0, 1, 2))),
    "simulate": Example(
        "ridgeline simulate --rule nesterov --lr 0.1,0.4 --wd 5e-3 --momentum 0.9 --out runs/sim",
        rows("lr", "0.1", "0.4", tail=1, more=False)),
    "slices": Example("ridgeline simulate slices --out runs/slices", without_progress,
                      "a few minutes on two cores", page="docs/simulate.md"),
    "train": Example(
        "ridgeline train --out runs/cpu --width 0.125 --train-size 25000 --batch-size 128 --epochs 10",
        note="about 8 minutes on two cores"),
    "validate": Example(
        "ridgeline validate runs/pilot",
        rows("layer", "prep.conv.weight", "layer3.2.res2.conv.weight", columns=(0, 6, 7, 8, 9, 10, 11, 12), tail=2),
        "a 2-minute training run first", setup=(PILOT,), creates="runs/pilot"),
    "forecast": Example(
        "ridgeline forecast runs/pilot --to wd=0.02 --out runs/forecast",
        rows("layer", "prep.conv.weight", "layer3.2.res2.conv.weight"),
        setup=(PILOT,), show_setup=False, creates="runs/pilot"),
    "report": Example(
        "ridgeline report --out runs/report",
        rows("step", "derive", "slices", "train-quick", tail=1),
        "about a minute: without CIFAR-10 it skips the real runs",
        env={"RIDGELINE_DATA": None, "HOME": "no-data-home"}),
    "sweep": Example(
        "ridgeline sweep --objective quadratic --x lr=0.05:3.2:7 --y wd=6.25e-5:4e-3:7 --out sweeps/lr_wd",
        lines_starting("  wd", "  0.004", "  0.001", "  0.00025", "  6.25e-05", "ridge:")),
    "tune": Example(
        "ridgeline tune --objective quadratic --start lr=0.001,momentum=0.5,wd=0.01 --refine 1 --out tunes/toy",
        rows("run", "0", "7", "12", "19", tail=1)),
    "transfer": Example(
        "ridgeline transfer --from lr=0.4,wd=5e-4,momentum=0.9,batch_size=512 --to batch_size=128",
        lines_starting("transfer", "invariant", "lr/N", "lr/(1-momentum) ", "lr/((1-momentum)N)",
                       "relaxation time")),
}


def _shell(command: str, scratch: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(command, check=False, shell=True, cwd=scratch, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SystemExit(f"{command!r} failed (exit {proc.returncode}):\n{proc.stdout}")
    return proc.stdout


def run(example: Example, scratch: Path) -> str:
    """``$ command`` and its kept output, as the page shows it."""
    env = os.environ | {"PYTHONPATH": str(ROOT), "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    for name, value in example.env.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(scratch / value) if name == "HOME" else value
    out = re.search(r"--out (\S+)", example.command)
    if out and not Path(out.group(1)).is_absolute():  # a first run, as a reader sees it
        shutil.rmtree(scratch / out.group(1), ignore_errors=True)
    if not (example.creates and (scratch / example.creates).exists()):
        for command in example.setup:
            _shell(command, scratch, env)
    output = _shell(example.command, scratch, env)
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    shown = example.setup if example.show_setup else ()
    return "\n".join([*(f"$ {c}" for c in shown), f"$ {example.command}", *example.keep(lines)])


def replace(page: str, name: str, text: str, where: str = "README.md") -> str:
    """The page with example ``name``'s block replaced by ``text``."""
    pattern = re.compile(rf"(<!-- example: {re.escape(name)} -->\n```console\n).*?(\n```\n<!-- /example -->)", re.S)
    if not pattern.search(page):
        raise SystemExit(f"{where} has no markers for example {name!r}")
    return pattern.sub(lambda m: m.group(1) + text + m.group(2), page)


def main() -> int:
    parser = argparse.ArgumentParser(description="Regenerate the console examples of README.md and docs/ from real runs.")
    parser.add_argument("names", nargs="*", help=f"examples to run (default all: {', '.join(EXAMPLES)})")
    parser.add_argument("--scratch", type=Path, default=ROOT / "readme-runs", help="where the runs write")
    parser.add_argument("--list", action="store_true", help="list the examples and exit")
    args = parser.parse_args()
    if args.list:
        for name, example in EXAMPLES.items():
            print(f"{name} ({example.page}): {example.command}")
        return 0
    unknown = set(args.names) - set(EXAMPLES)
    if unknown:
        parser.error(f"unknown example(s) {', '.join(sorted(unknown))}; known: {', '.join(EXAMPLES)}")
    args.scratch.mkdir(parents=True, exist_ok=True)
    for name in args.names or list(EXAMPLES):
        example = EXAMPLES[name]
        print(f"{name}: {example.command}" + (f" ({example.note})" if example.note else ""), flush=True)
        start = time.perf_counter()
        text = run(example, args.scratch)
        path = ROOT / example.page
        path.write_text(replace(path.read_text(), name, text, example.page))  # one example at a time
        print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
