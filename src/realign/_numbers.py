"""Numbers, dates and answers as values, so formatting differences do not look like changes.

``1,000``, ``1000``, ``1000.0``, ``1 000`` and ``$1,000`` are one value; ``1/2``, ``\\frac{1}{2}``,
``0.5`` and ``half`` are one value; ``50%`` matches ``50`` and ``0.5``; ``1.5 million`` matches
``1,500,000``; ``three`` matches ``3``; ``2024-03-05`` matches ``March 5, 2024`` but not
``May 3, 2024``. Values are exact :class:`~fractions.Fraction` objects.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "DateMention",
    "Mention",
    "any_same",
    "dates",
    "latex_to_text",
    "mentions",
    "same_value",
    "value_set",
    "word_mentions",
]

_SCALES = {"thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_SPACE_GROUP = "[ \u00a0\u202f]"  # "4 400" and its no-break variants, common outside English

_NUMBER_RE = re.compile(
    r"(?<![\w.,/])"  # not the tail of a word, a decimal or a fraction
    rf"(?P<num>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d{{1,3}}(?:{_SPACE_GROUP}\d{{3}})+(?![\d.,])|\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s*/\s*(?P<den>\d+(?:\.\d+)?)(?![\d.]))?"
    r"(?P<pct>\s*(?:%|percent\b|per cent\b))?"
    r"(?:\s*(?P<scale>thousand|million|billion|trillion)\b)?",
    re.IGNORECASE,
)

_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINALS = "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split()
_WORD_VALUES: dict[str, Fraction] = {w: Fraction(i) for i, w in enumerate(_UNITS)}
_WORD_VALUES.update({w: Fraction(20 + 10 * i) for i, w in enumerate(_TENS)})
_WORD_VALUES.update({w: Fraction(i) for i, w in enumerate(_ORDINALS) if i})
_WORD_VALUES.update({"half": Fraction(1, 2), "dozen": Fraction(12), "hundred": Fraction(100)})
_WORD_RE = re.compile(
    r"\b(?:(?P<tens>" + "|".join(_TENS) + r")[- ](?P<unit>" + "|".join(_UNITS[1:10]) + r")"
    r"|(?P<word>" + "|".join(sorted(_WORD_VALUES, key=len, reverse=True)) + r"))\b",
    re.IGNORECASE,
)
# Number words that are mostly not numbers ("one of", "first, ...", "half the time", "hundreds"):
# they count when a copy writes them, but an original's use of them is not a fact to keep.
_VAGUE_WORDS = frozenset({"zero", "one", "first", "second", "half", "dozen", "hundred", "zeroth"})

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        (
            "January Jan",
            "February Feb",
            "March Mar",
            "April Apr",
            "May",
            "June Jun",
            "July Jul",
            "August Aug",
            "September Sep Sept",
            "October Oct",
            "November Nov",
            "December Dec",
        )
    )
    for name in names.split()
}
# Month names are matched capitalised only: "you may 2x it" is not a date.
_MONTH = "(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"
_DATE_RES = tuple(
    re.compile(p)
    for p in (
        r"\b(?P<year>\d{4})-(?P<m>\d{1,2})-(?P<day>\d{1,2})\b",  # 2021-03-05
        r"\b(?P<m>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4})\b",  # 03/05/2021 (either order)
        rf"\b{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?\b",  # March 5, 2021
        rf"\b{_DAY}(?:\s+of)?\s+{_MONTH}(?:,?\s+{_YEAR})?\b",  # 5 March 2021
        rf"\b{_MONTH},?\s+{_YEAR}\b",  # March 2021
    )
)

_FRAC_RE = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_TEXT_RE = re.compile(r"\\(?:text|mathrm|textbf|mbox|operatorname)\s*\{([^{}]*)\}")
_LATEX_DROP_RE = re.compile(r"\\(?:left|right|displaystyle|[,;:!]|\s)|\$|\\\(|\\\)|\\\[|\\\]")


def latex_to_text(text: str) -> str:
    """Turn the bits of LaTeX that hide numbers into plain text (``\\frac{1}{2}`` -> ``1/2``)."""
    text = _TEXT_RE.sub(r"\1", text)
    text = _FRAC_RE.sub(r"\1/\2", text)
    text = text.replace("\\%", "%").replace("\\cdot", "*").replace("\\times", "*").replace("\\div", "/")
    return _LATEX_DROP_RE.sub(" ", text)


@dataclass(frozen=True, slots=True)
class Mention:
    """A number in a text.

    ``alternatives`` are the values it may stand for (``50%``: 50 and 0.5); ``parts`` are the
    numbers it is written with when those can stand apart (``3/4``: 3 and 4; ``4 400``: 4 and 400).
    """

    value: Fraction
    start: int
    end: int
    alternatives: frozenset[Fraction]
    parts: frozenset[Fraction] = frozenset()


@functools.lru_cache(maxsize=4096)
def _to_fraction(digits: str) -> Fraction:
    return Fraction(re.sub(r"[,\s\u00a0\u202f]", "", digits))


def _mention(m: re.Match[str]) -> Mention:
    value = _to_fraction(m["num"])
    parts = {_to_fraction(p) for p in re.split(_SPACE_GROUP, m["num"])} if re.search(_SPACE_GROUP, m["num"]) else set()
    if m["den"] is not None:
        den = _to_fraction(m["den"])
        parts |= {value, den}
        if den:
            value = value / den
    alts = {value}
    if m["pct"]:
        alts.add(value / 100)
    if m["scale"]:
        alts.add(value * _SCALES[m["scale"].lower()])
    return Mention(value, m.start(), m.end(), frozenset(alts), frozenset(parts))


def mentions(text: str) -> Iterator[Mention]:
    """The numbers written in ``text`` with digits (``3``, ``1,000``, ``3/4``, ``50%``, ``3rd``, ``5km``).

    Digits glued to a preceding letter (``H2O``, ``mp3``) are part of a name, not numbers.
    """
    for m in _NUMBER_RE.finditer(text):
        yield _mention(m)


def word_mentions(text: str, *, vague: bool = True) -> Iterator[Mention]:
    """Numbers spelled out in English words (``three``, ``twenty-one``); ``vague=False`` leaves out
    words that are mostly not numbers (``one``, ``first``, ``half``...)."""
    for m in _WORD_RE.finditer(text):
        if m["tens"]:
            value = _WORD_VALUES[m["tens"].lower()] + _WORD_VALUES[m["unit"].lower()]
        elif vague or m["word"].lower() not in _VAGUE_WORDS:
            value = _WORD_VALUES[m["word"].lower()]
        else:
            continue
        yield Mention(value, m.start(), m.end(), frozenset({value}))


_Reading = tuple[int | None, int | None, int | None]


@dataclass(frozen=True, slots=True)
class DateMention:
    """A date in a text: the ``(year, month, day)`` readings it allows (None = not written)."""

    start: int
    end: int
    readings: frozenset[_Reading]

    def parts(self) -> set[int]:
        """Every number the date is written with."""
        return {v for reading in self.readings for v in reading if v is not None}

    def matches(self, other: DateMention) -> bool:
        """Whether ``other`` can be the same date: every part written here agrees."""
        return any(
            all(a is None or a == b for a, b in zip(mine, theirs, strict=True))
            for mine in self.readings
            for theirs in other.readings
        )


def _readings(parts: dict[str, str | None], both_orders: bool) -> frozenset[_Reading]:
    def number(key: str) -> int | None:
        value = parts.get(key)
        return int(value) if value else None

    year, day = number("year"), number("day")
    name = parts.get("month")
    month = _MONTHS[name] if name else number("m")
    readings = {(year, month, day)}
    if both_orders and day is not None:
        readings.add((year, day, month))
    return frozenset(r for r in readings if r[1] is not None and 1 <= r[1] <= 12)


def dates(text: str) -> Iterator[DateMention]:
    """The dates written in ``text`` (ISO, numeric, and English month names)."""
    for index, pattern in enumerate(_DATE_RES):
        for m in pattern.finditer(text):
            readings = _readings(m.groupdict(), both_orders=index == 1)  # 03/05/2021 reads both ways
            if readings:
                yield DateMention(m.start(), m.end(), readings)


def value_set(text: str) -> set[Fraction]:
    """Every value ``text`` expresses, in digits, words or dates: what a faithful copy can match."""
    values: set[Fraction] = set()
    for mention in [*mentions(text), *word_mentions(text)]:
        values |= mention.alternatives | mention.parts
    for date in dates(text):
        values.update(Fraction(v) for v in date.parts())
    return values


def same_value(a: Fraction, b: Fraction) -> bool:
    """Equal, or one is a repeating fraction rounded to the other's decimals (1/3 vs 0.33).

    Only repeating fractions are rounded: 0.49 is not 0.5.
    """
    if a == b:
        return True
    for x, y in ((a, b), (b, a)):
        places = _decimal_places(x)
        if places and _decimal_places(y) is None and round(y, places) == x:
            return True
    return False


def _decimal_places(x: Fraction) -> int | None:
    # How many decimals x needs, or None when its expansion repeats (1/3 = 0.333...).
    den, places = x.denominator, 0
    while den % 10 == 0 or den % 2 == 0 or den % 5 == 0:
        den = den // 10 if den % 10 == 0 else den // 2 if den % 2 == 0 else den // 5
        places += 1
    return places if den == 1 else None


def any_same(value: Fraction, candidates: Collection[Fraction]) -> bool:
    """Whether ``value`` matches any of ``candidates`` (see :func:`same_value`)."""
    return value in candidates or any(same_value(value, c) for c in candidates)
