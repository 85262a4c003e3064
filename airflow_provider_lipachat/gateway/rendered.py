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
