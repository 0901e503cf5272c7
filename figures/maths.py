"""TeX formulas rendered at build time, so report.html needs no network and no script.

matplotlib's mathtext draws the formula (sympy's LaTeX is within its subset) as an SVG
with the glyphs as paths; it goes into the page as an ``<img>`` with a data: URI, so
every formula is a self-contained picture that stays sharp when zoomed. A formula
mathtext cannot parse is shown as its TeX source in ``<code>``.
"""

from __future__ import annotations

import base64
import functools
import html
import io


@functools.lru_cache(maxsize=None)
def tex_to_html(tex: str, display: bool = False) -> str:
    """``<img>`` of the formula ``tex`` (without dollars); ``display``: larger, on its own line."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import mathtext
    from matplotlib.font_manager import FontProperties

    buffer = io.BytesIO()
    try:
        mathtext.math_to_image(f"${tex}$", buffer, prop=FontProperties(size=18 if display else 14),
                               format="svg")
    except (ValueError, RuntimeError):  # outside mathtext's subset of TeX
        return f"<code>{html.escape(tex)}</code>"
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    style = "display:block;margin:.6em auto" if display else "vertical-align:middle"
    return (f"<img class='math' alt='{html.escape(tex, quote=True)}' style='{style}' "
            f"src='data:image/svg+xml;base64,{data}'>")
