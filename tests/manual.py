"""The user's manual as the tests read it: the README, then every page under ``docs/`` in path order.

Tests that run the manual's examples read ``MANUAL`` rather than the README alone, so that an example
keeps being run when it moves from the README into a page of the docs site.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
MANUAL = "\n".join(page.read_text() for page in PAGES)
