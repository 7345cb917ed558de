"""The structure checks: an ordering keeps its order, generated questions keep their number."""

from __future__ import annotations

import re

from .._types import CheckInput
from .base import Guard, Verdict, one_line, refuse
from .markup import norm, plain, prose

__all__ = ["OrderKept", "QuestionsKept"]


_ITEM_SPLIT_RE = re.compile(r"\s*(?:,|;|→|->|>|<|\n|\band\b)\s*")
_ITEM_MARKER_RE = re.compile(r"^(?:[-*+]|\d{1,2}[.)])\s+")
_ITEM_KEY_RE = re.compile(r"^[^\W_]+(?:[ '-][^\W_]+){0,2}?(?=\s*(?:[(:–—-]|$))|^[^\W_]+")


def _items(original: str) -> list[str]:
    """The items an ordering answer lists, as short keys (the name before any detail)."""
    keys = []
    for raw in _ITEM_SPLIT_RE.split(plain(original)):
        text = _ITEM_MARKER_RE.sub("", raw.strip()).strip(" .")
        m = _ITEM_KEY_RE.match(text)
        if m:
            keys.append(m.group(0).lower())
    return list(dict.fromkeys(keys))


class OrderKept(Guard):
    """Reject a rewrite of an ordering answer that lists the items in another order.

    The original's items (split on commas, arrows, ``and`` or lines) must appear in the rewrite in
    the same order; items the rewrite words differently are not judged.
    """

    name = "order"
    default_tasks = frozenset({"ordering"})

    def check(self, item: CheckInput) -> bool | Verdict:
        text = norm(item.rewrite)
        needles = [norm(key) for key in _items(item.original)]
        # Earliest-next matching finds the items in order whenever any in-order reading exists,
        # so an introduction that names an item early does not count as a reordering.
        position, previous = 0, None
        for needle in (n for n in needles if n in text):
            found = text.find(needle, position)
            if found < 0:
                where = f" before {one_line(previous.strip(), 30)!r}" if previous else " earlier"
                return refuse(f"order changed: {one_line(needle.strip(), 30)!r} comes{where}")
            position, previous = found + 1, needle
        return True


class QuestionsKept(Guard):
    """Reject a rewrite of generated questions that has fewer questions than the original: a dropped
    quiz question changes the answer as surely as a changed number, and can hide under the length ratio."""

    name = "questions"
    default_tasks = frozenset({"question_generation"})

    def check(self, item: CheckInput) -> bool | Verdict:
        before, after = prose(item.original).count("?"), prose(item.rewrite).count("?")
        return after >= before or refuse(f"{after} of the original's {before} questions left")
