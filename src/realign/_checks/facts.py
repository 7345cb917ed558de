"""The fact checks: the numbers and dates of the original are kept."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

from .._models import Correction
from .._types import CheckInput
from .base import Guard, Verdict, one_line, refuse
from .entities import ROLE_TASKS, number_replaced, source_of, unit_changed
from .incidental import anaphoric, listed_count, named_in_question, titled_in_question
from .markup import CACHE_SIZE, prose
from .numbers import (
    DIGIT_RE,
    DateMention,
    Mention,
    any_same,
    dates,
    latex_to_text,
    mentions,
    month_names,
    value_set,
    word_mentions,
)
from .skips import NUMBER_SKIP_TASKS

__all__ = ["NUMBER_SKIP_TASKS", "NumbersKept"]


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


def _date_kept(
    date: DateMention, rewrite_dates: list[DateMention], values: set[Fraction], months: frozenset[int]
) -> bool:
    if any(date.matches(other) for other in rewrite_dates):
        return True
    # The same year and month with another day is this date changed ("8 May 1945" -> "9 May 1945"),
    # even when its day is found elsewhere (as another date's month: "15 August"); so is the same
    # day and month in another year ("June 29, 2007" -> "29 Jun 2008"), its year found elsewhere.
    if any(_same_month_other_day(date, other) or _same_day_other_year(date, other) for other in rewrite_dates):
        return False
    # Another date written with the same parts is this date changed (March 5 read as May 3);
    # otherwise the rewrite may use a form we do not parse (05.03.2024), so look for the parts.
    if any(date.parts() <= other.parts() for other in rewrite_dates):
        return False
    if all(Fraction(p) in values for p in date.parts()):
        return True
    # A month and a year stated apart ("in May 1945 ... in September 1945" -> "in 1945: in May, ...
    # in September"): the month's name and the year both in the rewrite.
    return any(
        day is None and month in months and year is not None and Fraction(year) in values
        for year, month, day in date.readings
    )


def _same_day_other_year(date: DateMention, other: DateMention) -> bool:
    return any(
        None not in mine and None not in theirs and mine[1:] == theirs[1:] and mine[0] != theirs[0]
        for mine in date.readings
        for theirs in other.readings
    )


def _same_month_other_day(date: DateMention, other: DateMention) -> bool:
    return any(
        mine[0] is not None
        and mine[2] is not None
        and theirs[2] is not None
        and mine[:2] == theirs[:2]
        and mine[2] != theirs[2]
        for mine in date.readings
        for theirs in other.readings
    )


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
    numbers = [*mentions(rest), *_years_in_words(rest, list(word_mentions(rest, vague=False)))]
    return (
        tuple((d, text[d.start : d.end]) for d in found),
        tuple((m, rest[m.start : m.end], _pairs(m.alternatives)) for m in numbers),
    )


def _years_in_words(text: str, words: list[Mention]) -> list[Mention]:
    """``words`` (number words in order) with a year said in two ("Nineteen Eighty-Four") read as one
    number, kept by 1984 or by both its halves."""
    out: list[Mention] = []
    for mention in words:
        last = out[-1] if out else None
        if (
            last is not None
            and 10 <= last.value <= 99
            and 1 <= mention.value <= 99
            and text[last.end : mention.start] in (" ", "-")
            and not last.parts
        ):
            year = last.value * 100 + mention.value
            out[-1] = Mention(year, last.start, mention.end, frozenset({year}), frozenset({last.value, mention.value}))
            continue
        out.append(mention)
    return out


def _rewrite_numbers(rewrite: str) -> tuple[set[Fraction], list[DateMention]]:
    """Every value ``rewrite`` expresses, and its dates."""
    rewrite = latex_to_text(rewrite)
    rewrite_dates = list(dates(rewrite))
    return value_set(rewrite, rewrite_dates), rewrite_dates


@dataclass(frozen=True, slots=True)
class _Missing:
    """A number or date of the original's salient text that the rewrite does not express."""

    written: str
    start: int
    end: int
    values: frozenset[Fraction]  # what it may stand for; a date's day, month and year
    date: DateMention | None = None


def _missing(original: str, rewrite: str) -> Iterator[_Missing]:
    """The numbers and dates of ``original``'s prose that ``rewrite`` does not express."""
    original_dates, original_numbers = _original_numbers(original)
    if not original_dates and not original_numbers:
        return  # the rewrite need not be read
    values, rewrite_dates = _rewrite_numbers(rewrite)
    months = month_names(rewrite) if original_dates else frozenset()
    for date, written in original_dates:
        if not _date_kept(date, rewrite_dates, values, months):
            yield _Missing(written, date.start, date.end, frozenset(Fraction(p) for p in date.parts()), date)
    pairs = _pairs(values)
    for mention, written, alternatives in original_numbers:
        if not _number_kept(mention, values, pairs, alternatives):
            yield _Missing(written, mention.start, mention.end, mention.alternatives)


_salient_cached = functools.lru_cache(maxsize=CACHE_SIZE)(_salient_text)


def _incidental(missing: _Missing, item: CheckInput) -> bool:
    """A number that is no fact of its own (see :mod:`.incidental`)."""
    if missing.date is not None:
        return False
    text = _salient_cached(item.original)
    if anaphoric(text, missing.start, missing.end) or named_in_question(
        text, missing.start, missing.end, item.question
    ):
        return True
    if _new_values(item):
        return False  # a number changed, not only left out
    if listed_count(text, missing.end, missing.values, item.rewrite):
        return True
    # A number that names something in the question: the rewrite need not repeat the question.
    return titled_in_question(missing.values, item.question)


def _new_values(item: CheckInput) -> bool:
    """Whether the rewrite states a number neither the original nor the question does."""
    known, _ = _rewrite_numbers(_salient_cached(item.original))
    if item.question:
        known = known | _rewrite_numbers(_salient_cached(item.question))[0]
    rewrite, _ = _rewrite_numbers(_salient_cached(item.rewrite))
    return any(not any_same(v, known) for v in rewrite)


def _corrections(missing: list[_Missing], item: CheckInput) -> list[Correction] | None:
    """The changes of ``missing`` numbers to values the evidence states, or None when one of them is
    not such a change: the evidence must not state the old value and must state the new one."""
    evidence = "\n".join(e.text for e in item.evidence)
    evidence_dates = list(dates(latex_to_text(evidence)))
    evidence_values = value_set(latex_to_text(evidence), evidence_dates)
    original_values, _ = _rewrite_numbers(_salient_cached(item.original))
    rewrite = latex_to_text(item.rewrite)
    rewrite_dates = list(dates(rewrite))
    fixes = []
    for gone in missing:
        if gone.date is not None:
            if any(gone.date.matches(other) for other in evidence_dates):
                return None
            new = [d for d in rewrite_dates if any(d.matches(e) for e in evidence_dates)]
            new = [d for d in new if not gone.date.matches(d)]
            if not new:
                return None
            after = rewrite[new[0].start : new[0].end]
        else:
            if any(any_same(v, evidence_values) for v in gone.values):
                return None
            new_mentions = [
                m
                for m in [*mentions(rewrite), *word_mentions(rewrite, vague=False)]
                if not any(any_same(v, original_values) for v in m.alternatives)
                and any(any_same(v, evidence_values) for v in m.alternatives)
            ]
            if not new_mentions:
                return None
            after = rewrite[new_mentions[0].start : new_mentions[0].end]
        fixes.append(Correction.of(gone.written, after, source_of(after, item.evidence)))
    return fixes


def judge_numbers(item: CheckInput, *, corrections: bool = True) -> tuple[list[str], list[Correction]]:
    """The numbers of ``item.original`` the rewrite lost, and (with ``corrections`` and evidence) the
    numbers it changed to what the evidence states, which are not lost."""
    missing = [m for m in _missing(item.original, item.rewrite) if not _incidental(m, item)]
    if missing and corrections and item.evidence:
        fixes = _corrections(missing, item)
        if fixes is not None:
            return [], fixes
    return [m.written for m in missing], []


_SHOWN = 8  # missing numbers named in the explanation


class NumbersKept(Guard):
    """Reject a rewrite that dropped or changed a number or date of the original, or kept a number
    with another unit ("21 litres" -> "21 gallons").

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
        self,
        max_missing: int = 0,
        *,
        corrections: bool = True,
        tasks: Iterable[str] | None = None,
        skip_tasks: Iterable[str] | None = None,
    ) -> None:
        super().__init__(tasks=tasks, skip_tasks=skip_tasks)
        self.max_missing = max_missing
        self.corrections = corrections

    def check(self, item: CheckInput) -> bool | Verdict:
        missing, _ = judge_numbers(item, corrections=self.corrections)
        if len(missing) <= self.max_missing:
            # A number kept with another unit ("21 litres" -> "21 gallons") changed all the same.
            evidence = item.evidence if self.corrections else ()
            changed = unit_changed(item.original, item.rewrite, evidence)
            if changed is None and item.task in ROLE_TASKS:
                changed = number_replaced(item.original, item.rewrite, evidence)
            return True if changed is None else refuse(changed)
        shown = list(dict.fromkeys(one_line(m, 30) for m in missing))
        more = f" and {len(shown) - _SHOWN} more" if len(shown) > _SHOWN else ""
        return refuse(f"missing: {', '.join(shown[:_SHOWN])}{more}")

    def __repr__(self) -> str:
        return f"NumbersKept(max_missing={self.max_missing})"
