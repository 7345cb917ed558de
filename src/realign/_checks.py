"""Post-filter checks: decide, per candidate, whether the rewrite may replace the original.

A check is any callable ``check(item: CheckInput) -> bool`` (True keeps the rewrite). Its ``name``
attribute, or else its ``__name__``, becomes the rejection reason ``filter:<name>``. Checks run in
order and the first failure wins, so cheap checks come first.

The paper's two rules live here: :class:`LengthRatio` and :class:`CodePresence`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ._exceptions import RealignError
from ._tokens import count_tokens
from ._types import Check, CheckInput

__all__ = [
    "CheckError",
    "CodePresence",
    "LengthRatio",
    "check_name",
    "default_checks",
    "first_failure",
]


class CheckError(RealignError):
    """A check raised instead of answering True/False: a bug in that check, not in the row.

    ``check`` is the check's name; the original exception is chained as ``__cause__``.
    """

    def __init__(self, check: str, exc: BaseException) -> None:
        super().__init__(f"check {check!r} raised {type(exc).__name__}: {exc}")
        self.check = check


class LengthRatio:
    """Reject a rewrite that lost too much: at most ``min_ratio`` times the original's tokens.

    Token counts are the offline estimate of :func:`realign._tokens.count_tokens`.
    """

    name = "length"

    def __init__(self, min_ratio: float = 0.5) -> None:
        self.min_ratio = min_ratio

    def __call__(self, item: CheckInput) -> bool:
        return count_tokens(item.rewrite) > self.min_ratio * count_tokens(item.original)

    def __repr__(self) -> str:
        return f"LengthRatio(min_ratio={self.min_ratio})"


_FENCE_RE = re.compile(r"^[ \t]*```", re.MULTILINE)


def has_code(text: str) -> bool:
    """The paper's notion of "has code": a fenced block, or both ``def `` and ``return ``."""
    return bool(_FENCE_RE.search(text)) or ("def " in text and "return " in text)


class CodePresence:
    """Reject when one side has code and the other does not (code dropped, or code invented)."""

    name = "code_presence"

    def __call__(self, item: CheckInput) -> bool:
        return has_code(item.original) == has_code(item.rewrite)

    def __repr__(self) -> str:
        return "CodePresence()"


def check_name(check: Check) -> str:
    """The name a check reports under: its ``name`` attribute, else ``__name__``, else its class name."""
    name = getattr(check, "name", None) or getattr(check, "__name__", None)
    return str(name) if name else type(check).__name__


def default_checks() -> list[Check]:
    """The checks a pipeline runs when none are given, cheapest first."""
    return [LengthRatio(), CodePresence()]


def first_failure(checks: Sequence[Check], item: CheckInput) -> str | None:
    """Run ``checks`` in order; return the name of the first that rejects ``item``, or None.

    A check that raises is a bug in that check: rather than silently rejecting (or keeping) every
    row, the exception is wrapped in :class:`CheckError` naming the check. A pipeline that must
    not stop can catch it and keep the original for that row.
    """
    for check in checks:
        try:
            ok = check(item)
        except Exception as exc:
            raise CheckError(check_name(check), exc) from exc
        if not ok:
            return check_name(check)
    return None
