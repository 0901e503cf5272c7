"""The ``ridgeline`` command line: thin typer commands, one library call each.

Heavy imports (torch, sympy, seaborn) happen inside the commands, so ``ridgeline
--help`` answers at once. Library code raises :class:`dynamics.errors.RidgelineError`;
:func:`_library_call` turns it into one line on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import sys
from typing import Annotated, Callable, Optional

import typer

from dynamics.errors import RidgelineError

app = typer.Typer(
    name="ridgeline",
    help="The geometry of hyperparameter space for SGD with momentum and weight decay "
    "on batch-norm networks: derive, simulate, train, validate, sweep, tune, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """The geometry of hyperparameter space for SGD with momentum and weight decay on
    batch-norm networks: derive, simulate, train, validate, sweep, tune, report."""


def _library_call(command: Callable) -> Callable:
    """Run a command; a RidgelineError becomes ``error: …`` and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RidgelineError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: rerun the same command to resume", err=True)
            raise typer.Exit(130) from None

    return wrapper


def parse_assignments(text: str, option: str, allowed: tuple[str, ...]) -> dict[str, float]:
    """Parse ``name=value,name=value`` into floats, naming the problem on failure."""
    values: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not value.strip():
            raise RidgelineError(f"{option}: {item!r} is not NAME=VALUE (e.g. {allowed[0]}=0.1)")
        if name not in allowed:
            raise RidgelineError(f"{option}: unknown name {name!r}; use {', '.join(allowed)}")
        try:
            values[name] = float(value)
        except ValueError:
            raise RidgelineError(f"{option}: {name}={value.strip()!r} is not a number") from None
    if not values:
        raise RidgelineError(f"{option}: give NAME=VALUE pairs, e.g. {allowed[0]}=0.1")
    return values


@app.command()
@_library_call
def derive(
    rule: Annotated[str, typer.Option(help="sgd, heavy-ball, nesterov, decoupled or all.")] = "all",
    format: Annotated[str, typer.Option("--format", help="table, latex or json.")] = "table",
    at: Annotated[
        Optional[str],
        typer.Option(help="Evaluate at a point, e.g. lr=0.4,wd=5e-4,momentum=0.9[,grad_norm=1]."),
    ] = None,
) -> None:
    """Derive the flat directions, the rescaling symmetry and the weight-norm equilibrium."""
    from dynamics.derive import render

    point = parse_assignments(at, "--at", ("lr", "wd", "momentum", "grad_norm")) if at else None
    typer.echo(render(rule, format, point), nl=False)


def main() -> None:  # pragma: no cover - for `python -m cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
