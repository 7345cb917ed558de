"""Numbers, dates and final answers as values, so formatting differences do not look like changes.

``1,000``, ``1000``, ``1000.0`` and ``$1,000`` are one value; ``1/2``, ``\\frac{1}{2}``, ``0.5``
and ``half`` are one value; ``50%`` matches ``50`` and ``0.5``; ``1.5 million`` matches
``1,500,000``; ``three`` matches ``3``. Values are exact :class:`~fractions.Fraction` objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "Mention",
    "any_same",
    "date_values",
    "latex_to_text",
    "mentions",
    "same_value",
    "value_set",
]

_SCALES = {"thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12}

_NUMBER_RE = re.compile(
    r"(?<![\w.,/])"  # not the tail of a word, a decimal or a fraction
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
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
_ORDINALS = ("zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth").split()
_WORD_VALUES: dict[str, Fraction] = {w: Fraction(i) for i, w in enumerate(_UNITS)}
_WORD_VALUES.update({w: Fraction(20 + 10 * i) for i, w in enumerate(_TENS)})
_WORD_VALUES.update({w: Fraction(i) for i, w in enumerate(_ORDINALS) if i})
_WORD_VALUES.update({"half": Fraction(1, 2), "dozen": Fraction(12), "hundred": Fraction(100)})
_WORD_RE = re.compile(
    r"\b(?:(?P<tens>" + "|".join(_TENS) + r")[- ](?P<unit>" + "|".join(_UNITS[1:10]) + r")"
    r"|(?P<word>" + "|".join(sorted(_WORD_VALUES, key=len, reverse=True)) + r"))\b",
    re.IGNORECASE,
)

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        (
            "january jan",
            "february feb",
            "march mar",
            "april apr",
            "may",
            "june jun",
            "july jul",
            "august aug",
            "september sep sept",
            "october oct",
            "november nov",
            "december dec",
        )
    )
    for name in names.split()
}
_MONTH = "(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"
_DATE_RES = tuple(
    re.compile(p, re.IGNORECASE)
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
    """Turn the bits of LaTeX that hide numbers into plain text (``\\frac{1}{2}`` -> ``(1)/(2)``)."""
    text = _TEXT_RE.sub(r"\1", text)
    text = _FRAC_RE.sub(r"\1/\2", text)
    text = text.replace("\\%", "%").replace("\\cdot", "*").replace("\\times", "*").replace("\\div", "/")
    return _LATEX_DROP_RE.sub(" ", text)


@dataclass(frozen=True, slots=True)
class Mention:
    """A number in a text: the written value and the other values it can stand for."""

    value: Fraction
    start: int
    end: int
    alternatives: frozenset[Fraction]


def _to_fraction(digits: str) -> Fraction:
    return Fraction(digits.replace(",", ""))


def _mention(m: re.Match[str]) -> Mention:
    value = _to_fraction(m["num"])
    alts = {value}
    if m["den"] is not None:
        den = _to_fraction(m["den"])
        alts.add(den)
        if den:
            value = value / den
            alts.add(value)
    if m["pct"]:
        alts.add(value / 100)
    if m["scale"]:
        alts.add(value * _SCALES[m["scale"].lower()])
    return Mention(value, m.start(), m.end(), frozenset(alts))


def mentions(text: str) -> Iterator[Mention]:
    """The numbers written in ``text`` with digits (``3``, ``1,000``, ``3/4``, ``50%``, ``3rd``, ``5km``).

    Digits glued to a preceding letter (``H2O``, ``mp3``) are part of a name, not numbers.
    """
    for m in _NUMBER_RE.finditer(text):
        yield _mention(m)


def word_values(text: str) -> Iterator[Fraction]:
    """The values of numbers spelled out in English words (``three``, ``twenty-one``, ``half``)."""
    for m in _WORD_RE.finditer(text):
        if m["tens"]:
            yield _WORD_VALUES[m["tens"].lower()] + _WORD_VALUES[m["unit"].lower()]
        else:
            yield _WORD_VALUES[m["word"].lower()]


def date_values(text: str) -> Iterator[tuple[int, int, frozenset[int]]]:
    """Dates in ``text`` as ``(start, end, {year, month, day})``, the parts that are written."""
    for pattern in _DATE_RES:
        for m in pattern.finditer(text):
            parts = m.groupdict()
            values = {int(parts[k]) for k in ("year", "m", "day") if parts.get(k)}
            if parts.get("month"):
                values.add(_MONTHS[parts["month"].lower()])
            yield m.start(), m.end(), frozenset(values)


def value_set(text: str) -> set[Fraction]:
    """Every value ``text`` expresses, in digits, words or dates: what a faithful copy can match."""
    values: set[Fraction] = set()
    for mention in mentions(text):
        values |= mention.alternatives
    values.update(word_values(text))
    for _, _, parts in date_values(text):
        values.update(Fraction(v) for v in parts)
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


def any_same(value: Fraction, candidates: Iterable[Fraction]) -> bool:
    """Whether ``value`` matches any of ``candidates`` (see :func:`same_value`)."""
    return any(same_value(value, c) for c in candidates)
