"""Values as a template renders them: a list, tuple or set that became text, read back."""

from __future__ import annotations

import ast

#: What marks text as a Jinja template (an expression, a statement or a comment).
TEMPLATE_MARKERS: tuple[str, ...] = ("{{", "{%", "{#")


def rendered_collection(text: str) -> list[object] | None:
    """The items of a list, tuple or set rendered to text (``"['a', 'b']"``, ``"('a',)"``, ``"set()"``), else None."""
    text = text.strip()
    if text == "set()":
        return []
    if text[:1] + text[-1:] not in ("[]", "()", "{}"):
        return None
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None  # not a rendered collection: the caller reads the text itself
    return list(parsed) if isinstance(parsed, list | tuple | set) else None


def all_plain_text(items: list[object], markers: tuple[str, ...], file_suffixes: tuple[str, ...] = ()) -> bool:
    """Whether every item is text a Jinja template renders as itself: no marker of ``markers`` in it, no line break
    (Jinja drops a trailing one), and no name ending in one of ``file_suffixes`` (rendered as a template file)."""
    return all(
        type(item) is str
        and "\n" not in item
        and "\r" not in item
        and not item.endswith(file_suffixes)
        and not any(marker in item for marker in markers)
        for item in items
    )
