"""The fact checks: the numbers and dates of the original are kept."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from fractions import Fraction

from .._types import CheckInput
from .base import Guard, Verdict, one_line, refuse
from .markup import CACHE_SIZE, prose
from .numbers import (
    DIGIT_RE,
    DateMention,
    Mention,
    any_same,
    dates,
    latex_to_text,
    mentions,
    value_set,
    word_mentions,
)

__all__ = ["NUMBER_SKIP_TASKS", "NumbersKept"]


#: tasks whose answers may drop numbers on purpose (a summary, a title, a new story)
NUMBER_SKIP_TASKS = frozenset(
    {
        "text_summarization",
        "note_summarization",
        "title_generation",
        "story_generation",
        "poem_generation",
        "roleplay",
    }
)
_NOT_SALIENT_RE = re.compile(
    r"^[ \t]*(?:[-*+>][ \t]+)?(?:#{1,6}[ \t]*)?(?:\*\*)?(?:step[ \t]+)?\d{1,2}[.):](?=\s)"  # list markers
    r"|\bstep[ \t]+\d+\b"  # "Step 3"
    r"|\(\d{1,2}\)|(?<=\s)\d{1,2}\)(?=\s)"  # (1) and 1) enumerators
    r"|\[\d+\]|#\d+\b"  # citations [1], #1
    r"|<<[^<>\n]*>>",  # GSM8K calculator annotations <<48/2=24>>
    re.IGNORECASE | re.MULTILINE,
)
# _NOT_SALIENT_RE rewritten to start with a character class, so that the regex engine skips to the
# next place a match can start instead of trying every branch everywhere: each branch checks the
# character read first with a lookbehind. A list marker, which starts its line, is matched from the
# line break before it (a match never holds a line break, so none starts on one), which is put back;
# the text is read with a line break in front so that its first line has one.
_NOT_SALIENT_FAST_RE = re.compile(
    r"(?-i:[\n(\[#<\dsS\u017f])(?:"
    r"(?<=\n)[ \t]*(?:[-*+>][ \t]+)?(?:#{1,6}[ \t]*)?(?:\*\*)?(?:step[ \t]+)?\d{1,2}[.):](?=\s)"
    r"|(?<=s)(?<!\ws)tep[ \t]+\d+\b"
    r"|(?<=\()\d{1,2}\)|(?<=\s\d)\d?\)(?=\s)"
    r"|(?<=\[)\d+\]|(?<=\#)\d+\b"
    r"|(?<=<)<[^<>\n]*>>)",
    re.IGNORECASE,
)


def _not_salient_blank(match: re.Match[str]) -> str:
    return "\n " if match.group().startswith("\n") else " "


def _salient_text(text: str) -> str:
    text = latex_to_text(prose(text))
    if "<<" not in text and not DIGIT_RE.search(text):
        return text  # every match holds a digit or "<<"
    # The same as _NOT_SALIENT_RE.sub(" ", text).
    return _NOT_SALIENT_FAST_RE.sub(_not_salient_blank, "\n" + text)[1:]


def _date_kept(date: DateMention, rewrite_dates: list[DateMention], values: set[Fraction]) -> bool:
    if any(date.matches(other) for other in rewrite_dates):
        return True
    # Another date written with the same parts is this date changed (March 5 read as May 3);
    # otherwise the rewrite may use a form we do not parse (05.03.2024), so look for the parts.
    if any(date.parts() <= other.parts() for other in rewrite_dates):
        return False
    return all(Fraction(p) in values for p in date.parts())


_Pairs = frozenset[tuple[int, int]]


def _pairs(values: Iterable[Fraction]) -> _Pairs:
    """``values`` as (numerator, denominator) pairs: equal exactly when the values are, and much
    faster to hash than Fractions."""
    return frozenset((v.numerator, v.denominator) for v in values)


def _number_kept(mention: Mention, values: set[Fraction], pairs: _Pairs, alternatives: _Pairs) -> bool:
    # ``pairs`` and ``alternatives`` are those of ``values`` and ``mention.alternatives``: a shared
    # pair is an alternative found among the values, which any_same would find first.
    if not pairs.isdisjoint(alternatives) or any(any_same(v, values) for v in mention.alternatives):
        return True
    return bool(mention.parts) and mention.parts <= values


_OriginalNumbers = tuple[tuple[tuple[DateMention, str], ...], tuple[tuple[Mention, str, _Pairs], ...]]


@functools.lru_cache(maxsize=CACHE_SIZE)
def _original_numbers(original: str) -> _OriginalNumbers:
    """The dates and the numbers of ``original``'s prose, each with its text (and a number with the
    pairs of its alternatives), in the order judged."""
    text = _salient_text(original)
    found = list(dates(text))
    rest = text
    if found:
        chars = list(text)
        for date in found:
            chars[date.start : date.end] = " " * (date.end - date.start)  # its numbers are judged as a date
        rest = "".join(chars)
    numbers = [*mentions(rest), *word_mentions(rest, vague=False)]
    return (
        tuple((d, text[d.start : d.end]) for d in found),
        tuple((m, rest[m.start : m.end], _pairs(m.alternatives)) for m in numbers),
    )


def _rewrite_numbers(rewrite: str) -> tuple[set[Fraction], list[DateMention]]:
    """Every value ``rewrite`` expresses, and its dates."""
    rewrite = latex_to_text(rewrite)
    rewrite_dates = list(dates(rewrite))
    return value_set(rewrite, rewrite_dates), rewrite_dates


def _missing_numbers(original: str, rewrite: str) -> Iterator[str]:
    """The numbers and dates of ``original``'s prose that ``rewrite`` does not express."""
    original_dates, original_numbers = _original_numbers(original)
    if not original_dates and not original_numbers:
        return  # the rewrite need not be read
    values, rewrite_dates = _rewrite_numbers(rewrite)
    for date, written in original_dates:
        if not _date_kept(date, rewrite_dates, values):
            yield written
    pairs = _pairs(values)
    for mention, written, alternatives in original_numbers:
        if not _number_kept(mention, values, pairs, alternatives):
            yield written


_SHOWN = 8  # missing numbers named in the explanation


class NumbersKept(Guard):
    """Reject a rewrite that dropped or changed a number or date of the original.

    Applies to every task but those that drop numbers on purpose (``NUMBER_SKIP_TASKS``). Every
    number of the original's prose (digits, or English words from "two" up) must be expressed in
    the rewrite, as digits, words ("three") or another format (1,000 / 1000; 50% / 0.5; 1.5
    million / 1,500,000); dates must keep their day, month and year. Not counted: list and step
    numbers, enumerators, citation marks, calculator annotations, code. ``max_missing`` tolerates
    that many losses.
    """

    name = "numbers"
    default_skip_tasks = NUMBER_SKIP_TASKS

    def __init__(
        self, max_missing: int = 0, *, tasks: Iterable[str] | None = None, skip_tasks: Iterable[str] | None = None
    ) -> None:
        super().__init__(tasks=tasks, skip_tasks=skip_tasks)
        self.max_missing = max_missing

    def check(self, item: CheckInput) -> bool | Verdict:
        missing = list(_missing_numbers(item.original, item.rewrite))
        if len(missing) <= self.max_missing:
            return True
        shown = list(dict.fromkeys(one_line(m, 30) for m in missing))
        more = f" and {len(shown) - _SHOWN} more" if len(shown) > _SHOWN else ""
        return refuse(f"missing: {', '.join(shown[:_SHOWN])}{more}")

    def __repr__(self) -> str:
        return f"NumbersKept(max_missing={self.max_missing})"
