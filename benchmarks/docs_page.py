"""The tables ``make bench`` printed, written into docs/benchmarks.md between two marker comments.

The page's prose stays as written; only the region between ``<!-- bench:start -->`` and
``<!-- bench:end -->`` is replaced, so the figures on the page are always the last run's.
"""

from __future__ import annotations

from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
START = "<!-- bench:start -->"
END = "<!-- bench:end -->"


def replace_region(page: str, tables: str) -> str:
    """``page`` with what lies between the markers replaced by ``tables``; the markers and the rest kept as they are."""
    if page.count(START) != 1 or page.count(END) != 1 or page.index(START) > page.index(END):
        raise ValueError(f"the page needs one {START} and, after it, one {END}")
    head, rest = page.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{tables.strip()}\n{END}{tail}"


def write_tables(tables: str, page: Path = PAGE) -> None:
    """Rewrite the region of ``page`` between the markers with ``tables``."""
    page.write_text(replace_region(page.read_text(encoding="utf-8"), tables), encoding="utf-8")
