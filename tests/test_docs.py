"""The docs site's structure, checked without MkDocs (``.ci/run`` builds it with ``mkdocs build --strict``):

* every page under ``docs/`` is in ``mkdocs.yml``'s nav, and every page the nav lists exists;
* the README's relative links lead to files that exist, and to headings that exist there;
* "How the code is laid out" lists the import-linter contract's layers in its order and names every module.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def nav_pages(entries: list) -> list[str]:
    pages = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages.extend(nav_pages(value) if isinstance(value, list) else [value])
    return pages


def anchors(markdown: str) -> set[str]:
    """The ids MkDocs (and GitHub) give the page's headings: lower case, no punctuation, spaces as ``-``."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    headings = re.findall(r"^#{1,6} (.+)$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).strip().replace(" ", "-") for h in headings}


def test_the_nav_lists_every_page_and_only_pages_that_exist() -> None:
    nav = nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(nav) == pages
    assert len(nav) == len(set(nav))


PAGES = ["README.md", *(str(p.relative_to(ROOT)) for p in sorted(DOCS.rglob("*.md")))]


@pytest.mark.parametrize("source", PAGES)
def test_relative_links_lead_to_files_and_headings_that_exist(source: str) -> None:
    path = ROOT / source
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s):, mailto:
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.is_file(), f"{source}: link {target} leads to no file"
        if anchor:
            assert anchor in anchors(linked.read_text()), f"{source}: link {target}: no such heading"


def test_the_layout_page_lists_the_layers_of_the_import_contract_in_order() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    layers = re.search(r"^layers = \[\n(.*?)^\]", pyproject, flags=re.S | re.M).group(1)
    contract = [re.findall(r"mltrain[\w.]*", line) for line in re.findall(r'"(.+)"', layers)]
    table = (DOCS / "layout.md").read_text().split("## The layers", 1)[1].split("\n## ", 1)[0]
    first_cells = [
        re.split(r"(?<!\\)\|", line)[1] for line in table.splitlines() if line.startswith("| `mltrain")
    ]
    assert [re.findall(r"`(mltrain[\w.]*)`", cell) for cell in first_cells] == contract


def test_the_layout_page_names_every_module() -> None:
    page = (DOCS / "layout.md").read_text()
    modules = sorted((ROOT / "src" / "mltrain").rglob("*.py"))
    missing = [str(m.relative_to(ROOT)) for m in modules if m.name != "__init__.py" and m.name not in page]
    assert not missing, f"docs/layout.md does not name {missing}"
