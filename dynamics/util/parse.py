"""Strict numbers for the option parsers (``--at``, ``--to``, ``--x``, ``--bounds``, pass-through options).

Python's ``float`` accepts more than a command line should: ``nan``, ``inf``,
full-width or Arabic-Indic digits (``float("１")`` is 1.0), ``1e-320`` (a subnormal,
with 5 significant bits left) and ``1e-400`` (silently 0.0). :func:`number` and
:func:`whole` refuse all of these with the reason, as a ``ValueError`` the parsers
turn into their one-line message; a value they return is an ordinary finite number
(0 allowed: the parsers' own range checks decide whether it makes sense).
"""

from __future__ import annotations

import math
import re
import sys

#: the smallest positive normal float (2.2e-308); below it a value keeps fewer digits
SMALLEST = sys.float_info.min


def number(text: str) -> float:
    """``text`` as a finite float, or ``ValueError(reason)``."""
    text = text.strip()
    if not text:
        raise ValueError("is empty")
    if not text.isascii():
        raise ValueError("has characters other than ASCII digits, sign, '.' and 'e'")
    try:
        value = float(text)
    except ValueError:
        raise ValueError("is not a number") from None
    if not math.isfinite(value):
        raise ValueError("is not a finite number" if "n" in text.lower() else
                         "is beyond the range of floats (about 1.8e308)")
    if value == 0 and re.search(r"[1-9]", re.split(r"[eE]", text)[0]) or 0 < abs(value) < SMALLEST:
        raise ValueError(f"is below {SMALLEST:.3g}, the smallest normal float")
    return value


def whole(text: str) -> int:
    """``text`` as an int (ASCII digits only), or ``ValueError(reason)``."""
    text = text.strip()
    if not text:
        raise ValueError("is empty")
    if not text.isascii():
        raise ValueError("has characters other than ASCII digits and sign")
    try:
        return int(text)
    except ValueError:
        raise ValueError("is not a whole number") from None
