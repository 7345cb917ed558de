"""The corrections a judge stated (``--verify`` on a row with evidence), checked against the texts.

The judge reads the original, the rewrite and the evidence whole, so it pairs a changed value with the one
that took its place better than rules that read clauses can (``corrections.py``, the record without a
judge). It is still a model's say-so: a stated change is recorded only when the texts bear it out -

- the old value is written in the original and the new one in the rewrite (as whole words, case, accents and
  markup aside), and they differ (also as numbers: "1,000" and "1000" are one value);
- the rewrite writes the new value more often than the original does (a correction brings its value in; the
  old one may stay, as the wrong value or as background): a pair of values both texts write alike ("Paris =>
  France" on a rewrite that only laid "Paris, France" out anew) is no change, whatever the judge says;
- the evidence states the new value: the reference item the judge named when it does, else the first that
  does; a change no item states is never recorded, whatever the judge says. A value with numbers is stated
  when each of its numbers is, to the precision the value gives ("about 78 °C" by "78.37 °C", never "8,848" by
  "8,848.86"), with its other words; a unit's abbreviation or a date's suffix ("m", "km", "年") need not be
  written the same;

and is recorded with the values as the texts write them. A change that fails is left out, not repaired: a
wrong pair misleads an auditor more than a missing one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from .._models import Correction, Evidence
from .._types import CheckInput
from .entities import fold_text, source_of

__all__ = ["StatedChange", "checked_changes"]

#: A change as the judge states it: the old value, the new value, and the number of the reference
#: item it names (1-based; None when it names none).
StatedChange = tuple[str, str, int | None]

#: More stated changes than this is no correction of a few facts but a rewrite of the answer: none recorded.
_MAX_CHANGES = 12
#: A value is a name, a date, a quantity, a title: a longer stated "value" is a clause, not a fact changed.
_MAX_VALUE_CHARS = 120
_MARKUP_RE = re.compile(r"[*_`]+")
_SPACE_RE = re.compile(r"\s+")
# Scripts written without spaces between words: a value in them has no word boundary to look for.
_UNSPACED = "\u0e00-\u0eff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# A letter or digit of a spaced script: what may not touch a value's ends ("Luca" is not in "Lucas").
_SPACED_WORD = rf"[^\W{_UNSPACED}]"
_NUMBER_RE = re.compile(r"\d[\d,]*(?:\.\d+)?")
# A number whose commas, if any, group thousands.
_THOUSANDS_RE = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_WORD_RE = re.compile(rf"[{_UNSPACED}]|[^\W\d_]+")
# After a number, a word this short is its unit or a date's suffix ("m", "km", "°C", "年"), written variously.
_UNIT_CHARS = 3


def checked_changes(item: CheckInput, stated: Sequence[StatedChange]) -> list[Correction]:
    """The changes of ``stated`` that the texts of ``item`` bear out, as corrections (see the module)."""
    if not item.evidence or len(stated) > _MAX_CHANGES:
        return []
    original, rewrite = _plain(item.original), _plain(item.rewrite)
    found: list[Correction] = []
    for before, after, number in stated:
        old, new = _written(before, original), _written(after, rewrite)
        if old is None or new is None or _same_value(old, new) or not _changed(new, original, rewrite):
            continue
        source = _source(new, item.evidence, number)
        if not source:
            continue
        correction = Correction.of(old, new, source)
        if all((c.before, c.after) != (old, new) for c in found):
            found.append(correction)
    return found


def _plain(text: str) -> str:
    """``text`` without emphasis marks and with single spaces: "**1869**" holds "1869", a table cell too."""
    return _SPACE_RE.sub(" ", _MARKUP_RE.sub("", text))


def _written(value: str, text: str) -> str | None:
    """``value`` as ``text`` writes it (as whole words; case and accents aside), else None."""
    value = _plain(value).strip(" \"'“”«»‘’.,;:")
    if not value or len(value) > _MAX_VALUE_CHARS:
        return None
    if match := _whole(value).search(text):
        return match.group(0)
    # Accents folded too ("Bogota" for "Bogotá"): the fold can change the length of a text, so the value
    # is then recorded as the judge wrote it, once it is known to be there.
    if _whole(fold_text(value)).search(fold_text(text)):
        return value
    return None


def _same_value(old: str, new: str) -> bool:
    """Whether ``old`` and ``new`` are one value written two ways: alike but for case and accents, or the same
    numbers with the same words ("1,000" and "1000", "1889" and "1889.0")."""
    old, new = fold_text(old), fold_text(new)
    if old == new:
        return True
    numbers = [_amount(n) for n in _NUMBER_RE.findall(old)]
    return (
        bool(numbers)
        and numbers == [_amount(n) for n in _NUMBER_RE.findall(new)]
        and _NUMBER_RE.sub(" ", old).split() == _NUMBER_RE.sub(" ", new).split()
    )


def _changed(new: str, original: str, rewrite: str) -> bool:
    """Whether the rewrite writes ``new`` more often than the original: a correction brings its value in. (The
    old value may stay, as the wrong one or as background: "It replaced Yangon as the capital".)"""
    wanted = _whole(fold_text(new))
    return len(wanted.findall(fold_text(rewrite))) > len(wanted.findall(fold_text(original)))


def _whole(value: str) -> re.Pattern[str]:
    """``value`` as whole words: not inside a longer word of a spaced script ("Luca" in "Lucas")."""
    before = rf"(?<!{_SPACED_WORD})" if re.match(_SPACED_WORD, value) else ""
    after = rf"(?!{_SPACED_WORD})" if re.match(_SPACED_WORD, value[-1:]) else ""
    return re.compile(before + re.escape(value) + after, re.IGNORECASE)


def _source(value: str, evidence: Sequence[Evidence], number: int | None) -> str:
    """The reference item that states ``value``: the one the judge named if it does, else the first that does;
    its URL, else its title, else ``evidence[N]``."""
    order = list(range(len(evidence)))
    if number is not None and 1 <= number <= len(evidence):
        order.insert(0, order.pop(number - 1))
    for i in order:
        item = evidence[i]
        if source_of(value, [item]) or _states_numbers(value, f"{item.title}\n{item.text}"):
            return item.url or item.title or f"evidence[{i + 1}]"
    return ""


def _states_numbers(value: str, text: str) -> bool:
    """Whether ``text`` states ``value``, a value with numbers: each number to the precision ``value`` gives it,
    and each other word, but for a short unit or suffix right after a number."""
    numbers = list(_NUMBER_RE.finditer(value))
    if not numbers:
        return False
    stated = [n for n in map(_decimal, _NUMBER_RE.findall(text)) if n is not None]
    for match in numbers:
        wanted = _decimal(match.group(0))
        if wanted is None or not any(_rounds_to(n, wanted) for n in stated):
            return False
    folded = fold_text(text)
    rest = value
    for match in reversed(numbers):  # each number out, and a short word right after it
        tail = re.match(rf"\s*\W?(?:[^\W\d_]{{1,{_UNIT_CHARS}}}|[{_UNSPACED}])(?![^\W\d_])", value[match.end() :])
        end = match.end() + (tail.end() if tail else 0)
        rest = rest[: match.start()] + " " + rest[end:]
    return all(_whole(word).search(folded) for word in _WORD_RE.findall(fold_text(rest)))


def _decimal(number: str) -> Decimal | None:
    try:
        return Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None


def _amount(number: str) -> Decimal | str:
    """``number``'s value when its commas group thousands ("1,000"), else the number as written ("1,5" may be
    one and a half)."""
    value = _decimal(number) if _THOUSANDS_RE.fullmatch(number) else None
    return number if value is None else value


def _rounds_to(stated: Decimal, wanted: Decimal) -> bool:
    """Whether ``stated`` is ``wanted`` to the decimals ``wanted`` is written with (78.37 is "78", not "78.4")."""
    mine, theirs = wanted.as_tuple().exponent, stated.as_tuple().exponent
    if not isinstance(mine, int) or not isinstance(theirs, int) or theirs >= mine:
        return stated == wanted
    return stated.quantize(Decimal(1).scaleb(mine)) == wanted
