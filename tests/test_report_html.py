"""report.html reads the same offline: formulas rendered into the page, no script, no
network; headless Chromium (network off) draws it, skipped where Chromium is absent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import screenshot_report  # noqa: E402

from training.report.text import to_html  # noqa: E402

MARKDOWN = r"""# A formula and a figure

Heavy-ball's equilibrium:

$$|w|^4 = \frac{G^{2} \lambda}{2 \alpha \left(1 - \rho\right)}, \qquad \theta \approx \sqrt{2 \lambda \alpha}$$

| result | formula |
|---|---|
| `rotated_u` | $\frac{\alpha \lambda}{1 - \rho}$ |

![curves](fig.png)
"""


def _page(tmp_path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    fig.savefig(tmp_path / "fig.png")
    plt.close(fig)
    (tmp_path / "report.html").write_text(to_html(MARKDOWN, "test", tmp_path))
    return tmp_path / "report.html"


def test_html_is_self_contained(tmp_path):
    html = _page(tmp_path).read_text()
    assert "<script" not in html and "mathjax" not in html.lower()
    assert screenshot_report.external_references(html) == []
    assert html.count("class='math'") == 2  # the display formula and the one in the table
    assert "data:image/svg+xml;base64," in html and "data:image/png;base64," in html
    assert "$" not in html  # no raw TeX left for a reader


def test_chromium_offline_screenshot_shows_the_page(tmp_path):
    if screenshot_report.chromium() is None:
        pytest.skip("chromium not installed (apt-get install chromium): the offline screenshot is not taken")
    import matplotlib.image as mpimg
    import numpy as np

    width, height = screenshot_report.screenshot(_page(tmp_path), tmp_path / "shot.png", width=800, height=2000)
    image = mpimg.imread(tmp_path / "shot.png")[..., :3]
    assert width == 800 and 200 < height < 2000
    dark = (image < 0.5).all(axis=2)  # text and formula strokes
    assert dark.sum() > 2000, "the page rendered nearly blank"
    assert np.ptp(image) > 0.5
