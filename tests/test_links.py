"""What a reader follows from the README and docs/: every relative link, every anchor
and every backticked repository path leads somewhere, and the README stays short.

Checked in README.md, docs/*.md and benchmarks/README.md:
- links ``[text](target)`` and images that are not URLs: the file or folder exists
  (relative to the page), and a ``#anchor`` names a heading of the target page
  (GitHub's slugs);
- inline code that names a repository path (``dynamics/x.py``, ``docs/x.md``,
  ``examples/x.py``, a folder such as ``dynamics/theory/``, also inside a command such
  as ``python examples/x.py DIR``): it exists, from the repository root.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / "benchmarks" / "README.md"])
README_MAX_LINES = 300

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
CODE = re.compile(r"(`+)(.+?)\1", re.S)
#: top-level folders and files whose paths the pages name
TOP = ("dynamics/", "training/", "figures/", "docs/", "examples/", "benchmarks/", "tests/", ".ci/")
PATH_TOKEN = re.compile(r"^(?:%s)[\w./-]*$" % "|".join(re.escape(t) for t in TOP))


def _prose(text: str) -> str:
    """The page without its fenced code blocks (console output is not a reference)."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link's text only
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for line in _prose(page.read_text()).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            name, n = base, 0
            while name in found:  # repeated headings get -1, -2, ...
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def links(page: Path) -> list[str]:
    return [t for t in LINK.findall(_prose(page.read_text()))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]  # http:, https:, mailto:


def code_paths(page: Path) -> list[str]:
    out = []
    for _, span in CODE.findall(_prose(page.read_text())):
        for token in span.split():
            token = token.strip(",;:)(\"'").split("#")[0]
            if PATH_TOKEN.match(token) and not token.endswith("."):
                out.append(token)
    return out


def _ids(pages):
    return [str(p.relative_to(ROOT)) for p in pages]


def test_the_slug_rule_matches_github():
    assert slug("Page's three slices on the real network") == "pages-three-slices-on-the-real-network"
    assert slug("`ridgeline derive`") == "ridgeline-derive"
    assert slug("λ × (1−ρ) and λ × N beyond leading order") == "λ--1ρ-and-λ--n-beyond-leading-order"
    assert slug("The [Muon](muon.md) rule") == "the-muon-rule"


def test_the_checks_find_what_they_look_for(tmp_path):
    """The regular expressions see links, anchors and paths (else every page would pass)."""
    page = tmp_path / "p.md"
    page.write_text("# A title\n\nSee [x](other.md#a-title), ![f](img/f.png), [web](https://e.org) and "
                    "`python examples/x.py DIR`, `dynamics/theory/`, `runs/cpu`.\n\n"
                    "```console\n$ python examples/in_a_fence.py\n```\n## A title\n")
    assert links(page) == ["other.md#a-title", "img/f.png"]
    assert code_paths(page) == ["examples/x.py", "dynamics/theory/"]
    assert anchors(page) == {"a-title", "a-title-1"}


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_every_relative_link_and_anchor_exists(page):
    dead = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            dead.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            dead.append(f"{target} (no heading with that anchor in {dest.name})")
    assert not dead, f"{page.relative_to(ROOT)}: " + "; ".join(dead)


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_every_backticked_repository_path_exists(page):
    missing = sorted({p for p in code_paths(page) if not (ROOT / p).exists()})
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {', '.join(missing)}"


def test_the_readme_is_read_in_five_minutes():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines, at most {README_MAX_LINES}"


def test_every_regenerated_example_has_its_block_and_every_block_its_example():
    """docs/regenerate_readme.py replaces marked blocks: each entry's markers are in its page,
    and no page has markers the script would never refresh."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("regenerate_readme", ROOT / "docs" / "regenerate_readme.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["regenerate_readme"] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["regenerate_readme"]
    for name, example in module.EXAMPLES.items():
        page = (ROOT / example.page).read_text()
        assert f"<!-- example: {name} -->\n```console\n$ " in page, (name, example.page)
        assert "$ x\n```\n<!-- /example -->" in module.replace(page, name, "$ x"), name
    marked = {(m, p.relative_to(ROOT).as_posix()) for p in PAGES
              for m in re.findall(r"<!-- example: (\S+) -->", p.read_text())}
    assert marked == {(name, example.page) for name, example in module.EXAMPLES.items()}
