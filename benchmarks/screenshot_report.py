"""Look at report.html as a reader would: headless Chromium, network off, full page.

    python benchmarks/screenshot_report.py REPORT_DIR [--out report.png] [--width 1200]

Renders REPORT_DIR/report.html with Debian's ``chromium`` (``apt-get install chromium``)
in a network namespace of its own where ``unshare`` allows it, and in any case with a
proxy that goes nowhere and background networking off, so a page that needed the
internet (a CDN script, a remote font) shows it. The window is as tall as the longest
page we expect; the blank bottom is trimmed, leaving a full-page PNG. Prints the
picture's size and whether the page referred to anything outside itself. Exit 1 when
Chromium is absent (tests/test_report_html.py skips then, saying so).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--proxy-server=127.0.0.1:9", "--hide-scrollbars"]


def chromium() -> str | None:
    """The Chromium executable, or None."""
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def offline_prefix() -> list[str]:
    """``unshare -rn`` (no network at all) when this machine lets us, else nothing."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-rn"]
    return []


def external_references(html: str) -> list[str]:
    """Every http(s) URL the page would load (src= or href= of a stylesheet/script)."""
    return re.findall(r"""(?:src|href)\s*=\s*["'](https?://[^"']+)""", html)


def screenshot(html_path: Path, png: Path, width: int = 1200, height: int = 16000) -> tuple[int, int]:
    """Full-page PNG of ``html_path``; returns its (width, height) in pixels."""
    import matplotlib.image as mpimg
    import numpy as np

    exe = chromium()
    if exe is None:
        raise FileNotFoundError("chromium not found: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        raw = Path(profile) / "raw.png"
        subprocess.run([*offline_prefix(), exe, *FLAGS, f"--user-data-dir={profile}",
                        f"--window-size={width},{height}", f"--screenshot={raw}",
                        html_path.resolve().as_uri()], check=True, capture_output=True, timeout=180)
        image = mpimg.imread(raw)
    rgb = image[..., :3]
    used = np.nonzero((rgb < 0.99).any(axis=(1, 2)))[0]  # rows with anything on them
    bottom = min(len(rgb), int(used[-1]) + 40) if used.size else len(rgb)
    mpimg.imsave(png, image[:bottom])
    return image.shape[1], bottom


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="PNG path (default REPORT_DIR/report.png)")
    parser.add_argument("--width", type=int, default=1200)
    args = parser.parse_args()
    page = args.report_dir / "report.html"
    if chromium() is None:
        print("chromium not found: apt-get install chromium", file=sys.stderr)
        return 1
    out = args.out or args.report_dir / "report.png"
    w, h = screenshot(page, out, args.width)
    refs = external_references(page.read_text())
    print(f"{out}: {w} x {h} px; network: {'none (unshare -rn)' if offline_prefix() else 'proxy to nowhere'}; "
          f"external references: {', '.join(refs) if refs else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
