"""Numbers, dates and answers as values, so formatting differences do not look like changes.

``1,000``, ``1000``, ``1000.0``, ``1 000`` and ``$1,000`` are one value; ``1/2``, ``\\frac{1}{2}``,
``0.5`` and ``half`` are one value; ``50%`` matches ``50`` and ``0.5``; ``1.5 million`` matches
``1,500,000``; ``three`` matches ``3``; ``2024-03-05`` matches ``March 5, 2024`` but not
``May 3, 2024``. Values are exact :class:`~fractions.Fraction` objects.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

from .._text import fold_case

__all__ = [
    "DIGIT_RE",
    "NUMBER_WORDS",
    "DateMention",
    "Mention",
    "any_same",
    "dates",
    "fold_case",
    "latex_to_text",
    "letter_words",
    "mentions",
    "month_names",
    "same_value",
    "value_set",
    "word_mentions",
]

_SCALES = {"thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_SPACE_GROUP = "[ \u00a0\u202f]"  # "4 400" and its no-break variants, common outside English

_NUMBER_RE = re.compile(
    # num: 1,000.5 | 4 400 | 12.5 | .5, none the tail of a word, a decimal or a fraction. Written to start
    # with a character class, so that the regex engine skips straight to the next digit or dot: the first
    # character is read, then the lookbehind checks the one before it, then the rest of each form.
    # A digit glued to Chinese or Japanese characters is a number: "高さは3,776メートル".
    r"(?P<num>[\d.](?<![.,/][\d.])(?<![^\W\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af][\d.])"
    r"(?:(?<=\d)\d{0,2}(?:,\d{3})+(?:\.\d+)?"
    rf"|(?<=\d)\d{{0,2}}(?:{_SPACE_GROUP}\d{{3}})+(?![\d.,])"
    r"|(?<=\d)\d*(?:\.\d+)?"
    r"|(?<=\.)\d+))"
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
_NUMBER_WORDS = frozenset(_WORD_VALUES)
#: the English number words read as numbers ("two", "twenty", "half"), folded
NUMBER_WORDS = _NUMBER_WORDS
# Ready-made alternatives of the words and of the "twenty-one" pairs (hashing Fractions is slow).
_WORD_ALTERNATIVES = {word: frozenset({value}) for word, value in _WORD_VALUES.items()}
_PAIR_VALUES = {
    (tens, unit): (_WORD_VALUES[tens] + _WORD_VALUES[unit], frozenset({_WORD_VALUES[tens] + _WORD_VALUES[unit]}))
    for tens in _TENS
    for unit in _UNITS[1:10]
}
_TENS_WORDS = frozenset(_TENS)
_UNIT_WORDS = frozenset(_UNITS[1:10])
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")
_ASCII_NON_LETTERS = str.maketrans({chr(i): " " for i in range(128) if not chr(i).isalpha()})


#: int() refuses longer digit strings (sys.get_int_max_str_digits, 4,300 by default since Python
#: 3.11); below every such limit, so a longer number is read in pieces instead.
_INT_CHUNK = 640


def _int(digits: str) -> int:
    """``int(digits)`` for a string of decimal digits of any length."""
    if len(digits) <= _INT_CHUNK:
        return int(digits)
    # Halves joined by one multiplication: fast, and never asks int() for more than a chunk.
    low = len(digits) // 2
    scale: int = 10**low
    return _int(digits[:-low]) * scale + _int(digits[-low:])


@functools.lru_cache(maxsize=64)
def letter_words(folded: str) -> tuple[str, ...]:
    """The runs of ASCII letters of ``folded`` (see :func:`fold_case`), in order: every other
    character, ASCII or not, separates them. A word a case-insensitive regex matches between
    non-letters is one.

    Remembered for a few texts: the leak and number guards and the language detector read the
    same words of a rewrite.
    """
    ascii_text = folded if folded.isascii() else _NON_ASCII_RE.sub(" ", folded)
    return tuple(ascii_text.translate(_ASCII_NON_LETTERS).split())


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"  # what \w matches


def _number_word_spans(folded: str) -> list[tuple[int, int]]:
    """Where ``folded`` (see :func:`fold_case`) has a number word as a whole word, in order."""
    present = _NUMBER_WORDS.intersection(letter_words(folded))
    if not present:
        return []
    size = len(folded)
    spans = []
    for word in present:
        i = folded.find(word)
        while i >= 0:
            end = i + len(word)
            if (i == 0 or not _is_word_char(folded[i - 1])) and (end == size or not _is_word_char(folded[end])):
                spans.append((i, end))
            # A whole-word occurrence cannot start inside another occurrence: skip past this one.
            i = folded.find(word, end)
    spans.sort()
    return spans


# Number words that are mostly not numbers ("one of", "first, ...", "half the time", "hundreds"):
# they count when a copy writes them, but an original's use of them is not a fact to keep.
_VAGUE_WORDS = frozenset({"zero", "one", "first", "second", "half", "dozen", "hundred", "zeroth"})

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        (
            "January Jan Januar",
            "February Feb Februar",
            "March Mar März",
            "April Apr",
            "May Mai",
            "June Jun Juni",
            "July Jul Juli",
            "August Aug",
            "September Sep Sept",
            "October Oct Oktober",
            "November Nov",
            "December Dec Dezember",
        )
    )
    for name in names.split()
}
# Month names are matched capitalised only: "you may 2x it" is not a date.
_MONTH = "(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"
# Every pattern starts with a character class and checks the word boundary (``\b``) just after its
# first character, so that the regex engine skips straight to the next digit or capital letter.
_DAY_FIRST = r"(?P<day>\d(?<!\w\d)\d?)(?:st|nd|rd|th|\.)?"  # \b{_DAY}, or "4." (German: "4. Oktober")
# \b{_MONTH}: a branch per capital letter. Whatever follows a month name in a date is not a letter,
# so at most one name fits at a place and the order of the names does not matter.
_MONTH_TAILS = {
    c: sorted((n[1:] for n in _MONTHS if n[0] == c), key=len, reverse=True) for c in {n[0] for n in _MONTHS}
}
_MONTH_NAME_FIRST = "|".join(f"{c}(?<!\\w{c})(?:{'|'.join(_MONTH_TAILS[c])})" for c in sorted(_MONTH_TAILS))
_MONTH_FIRST = f"(?P<month>{_MONTH_NAME_FIRST})\\.?"
_DATE_RES = tuple(
    re.compile(p)
    for p in (
        r"(?P<year>\d(?<!\w\d)\d{3})-(?P<m>\d{1,2})-(?P<day>\d{1,2})\b",  # 2021-03-05
        r"(?P<m>\d(?<!\w\d)\d?)/(?P<day>\d{1,2})/(?P<year>\d{4})\b",  # 03/05/2021 (either order)
        r"(?P<day>\d(?<![\w.]\d)\d?)\.(?P<m>\d{1,2})\.(?P<year>\d{4})\b",  # 13.08.1961 (day first)
        rf"{_MONTH_FIRST}\s+{_DAY}(?:,?\s+{_YEAR})?\b",  # March 5, 2021
        rf"{_DAY_FIRST}(?:\s+of)?\s+{_MONTH}(?:,?\s+{_YEAR})?\b",  # 5 March 2021
        rf"{_MONTH_FIRST},?\s+{_YEAR}\b",  # March 2021
    )
)
_DIGIT_HYPHEN_RE = re.compile(r"-(?<=\d-)\d")
_DIGIT_SLASH_RE = re.compile(r"/(?<=\d/)\d")
_DOTTED_DATE_RE = re.compile(r"\d(?<![\w.]\d)\d?\.\d{1,2}\.\d{4}\b")
_DAY_TO_MONTH = frozenset("stndrhof.")  # what stands between a day and its month: 5th of March, 4. Mai
DIGIT_RE = re.compile(r"\d")
# A month name as a whole word: every month-name pattern needs one (it is preceded by a word boundary
# or a space, and followed by a dot, a comma, a space or a word boundary).
_MONTH_WORD_RE = re.compile(f"(?:{_MONTH_NAME_FIRST})(?!\\w)")

_FRAC_RE = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_TEXT_RE = re.compile(r"\\(?:text|mathrm|textbf|mbox|operatorname)\s*\{([^{}]*)\}")
_LATEX_DROP_RE = re.compile(r"\\(?:left|right|displaystyle|[,;:!]|\s)|\$|\\\(|\\\)|\\\[|\\\]")


def latex_to_text(text: str) -> str:
    """Turn the bits of LaTeX that hide numbers into plain text (``\\frac{1}{2}`` -> ``1/2``)."""
    if "\\" not in text:  # every pattern but the dollar sign needs a backslash
        return text.replace("$", " ") if "$" in text else text
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
    if not digits.isdecimal():
        digits = _SEPARATORS_RE.sub("", digits)
    # What Fraction(digits) does with "123" or "12.5", without its general parser.
    whole, _, decimals = digits.partition(".")
    if not decimals:
        return Fraction(_int(whole))
    scale = 10 ** len(decimals)
    return Fraction(_int(whole or "0") * scale + _int(decimals), scale)


_SPACE_GROUP_RE = re.compile(_SPACE_GROUP)
_DOTTED_THOUSANDS_RE = re.compile(r"[1-9]\d{0,2}\.\d{3}")
_SEPARATORS_RE = re.compile(r"[,\s\u00a0\u202f]")


@functools.lru_cache(maxsize=4096)
def _number_values(
    num: str, den: str | None, pct: bool, scale: str | None
) -> tuple[Fraction, frozenset[Fraction], frozenset[Fraction]]:
    """``(value, alternatives, parts)`` of a number written ``num`` [``/ den``] [``%``] [``scale``].

    Remembered: the same numbers come back in a row's original and candidates, and hashing
    Fractions into sets is slow.
    """
    value = _to_fraction(num)
    parts = {_to_fraction(p) for p in _SPACE_GROUP_RE.split(num)} if _SPACE_GROUP_RE.search(num) else set()
    if den is not None:
        denominator = _to_fraction(den)
        parts |= {value, denominator}
        if denominator:
            value = value / denominator
    alts = {value}
    if _DOTTED_THOUSANDS_RE.fullmatch(num):
        # "1.007" is 1007 where a dot groups thousands (German, Spanish, Italian...).
        alts.add(_to_fraction(num.replace(".", "")))
    if pct:
        alts.add(value / 100)
    if scale:
        # fold_case: the regex matches "ſ", "ı", "İ" and the Kelvin sign as ASCII letters; lower() keeps them.
        alts.add(value * _SCALES[fold_case(scale)])
    return value, frozenset(alts), frozenset(parts)


def _mention(m: re.Match[str]) -> Mention:
    num, den, pct, scale = m.group("num", "den", "pct", "scale")
    value, alts, parts = _number_values(num, den, bool(pct), scale)
    return Mention(value, m.start(), m.end(), alts, parts)


def mentions(text: str) -> Iterator[Mention]:
    """The numbers written in ``text`` with digits (``3``, ``1,000``, ``3/4``, ``50%``, ``3rd``, ``5km``).

    Digits glued to a preceding letter (``H2O``, ``mp3``) are part of a name, not numbers.
    """
    if not DIGIT_RE.search(text):  # every number has a digit
        return
    for m in _NUMBER_RE.finditer(text):
        yield _mention(m)


def word_mentions(text: str, *, vague: bool = True) -> Iterator[Mention]:
    """Numbers spelled out in English words (``three``, ``twenty-one``); ``vague=False`` leaves out
    words that are mostly not numbers (``one``, ``first``, ``half``...)."""
    # What _WORD_RE.finditer(text) finds, without trying its long case-insensitive alternation at
    # every position: the number words standing as whole words, "tens-unit" pairs joined.
    folded = fold_case(text)
    spans = _number_word_spans(folded)
    k, count = 0, len(spans)
    while k < count:
        start, end = spans[k]
        k += 1
        if (
            k < count
            and spans[k][0] == end + 1
            and folded[end] in "- "
            and folded[start:end] in _TENS_WORDS
            and folded[end + 1 : spans[k][1]] in _UNIT_WORDS
        ):
            unit_end = spans[k][1]
            k += 1
            # The words as folded: "ſix" (a long s) is "six", as the regexes read it.
            known = _PAIR_VALUES[folded[start:end], folded[end + 1 : unit_end]]
            yield Mention(known[0], start, unit_end, known[1])
            continue
        word = folded[start:end]
        if vague or word not in _VAGUE_WORDS:
            value = _WORD_VALUES[word]
        else:
            continue
        yield Mention(value, start, end, _WORD_ALTERNATIVES[word])


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


def _day_before(text: str, month: int) -> int:
    """Where "5th of March" can start at the earliest, given the first month name at ``month``.

    Only digits, white space and the letters of "st", "nd", "rd", "th" and "of" stand between a
    day and its month; so the first match starts at the run of those before the first month name
    or after that name (a match with a later month cannot hold the capital of the first).
    """
    start = month
    while start > 0 and (text[start - 1].isspace() or text[start - 1].isdecimal() or text[start - 1] in _DAY_TO_MONTH):
        start -= 1
    return start


def dates(text: str) -> Iterator[DateMention]:
    """The dates written in ``text`` (ISO, numeric, and English month names)."""
    if not DIGIT_RE.search(text):  # every date has a digit
        return
    # Each pattern runs from where its first match can start at the earliest, if anywhere (a
    # lookbehind at that place still sees the text before it).
    month = _MONTH_WORD_RE.search(text)
    hyphen = _DIGIT_HYPHEN_RE.search(text)  # 2021-03-05: 4 digits before the first such hyphen
    slash = _DIGIT_SLASH_RE.search(text)  # 03/05/2021: 1 or 2 digits before the first such slash
    dotted = _DOTTED_DATE_RE.search(text)  # 13.08.1961
    starts = (
        None if hyphen is None else max(0, hyphen.start() - 4),
        None if slash is None else max(0, slash.start() - 2),
        None if dotted is None else dotted.start(),
        None if month is None else month.start(),
        None if month is None else _day_before(text, month.start()),
        None if month is None else month.start(),
    )
    for index, (pattern, start) in enumerate(zip(_DATE_RES, starts, strict=True)):
        if start is None:
            continue
        for m in pattern.finditer(text, start):
            readings = _readings(m.groupdict(), both_orders=index == 1)  # 03/05/2021 reads both ways
            if readings:
                yield DateMention(m.start(), m.end(), readings)


# Number words from two to twenty in other languages (folded: no accents), which a rewrite may write
# for an original's digits ("16 Bundesländer" -> "sechzehn Bundesländer"). Read only as what a copy
# expresses, never as numbers an original must keep: several are also other words ("dos", "sei", "elf").
_FOREIGN_WORDS: dict[str, int] = {}
for _words in (
    "zwei drei vier funf sechs sieben acht neun zehn elf zwolf dreizehn vierzehn funfzehn sechzehn siebzehn "
    "achtzehn neunzehn zwanzig",  # de
    "deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize dix-sept dix-huit "
    "dix-neuf vingt",  # fr
    "dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieciseis diecisiete "
    "dieciocho diecinueve veinte",  # es
    "due tre quattro cinque sei sette otto nove dieci undici dodici tredici quattordici quindici sedici "
    "diciassette diciotto diciannove venti",  # it
    "dois tres quatro cinco seis sete oito nove dez onze doze treze catorze quinze dezesseis dezessete "
    "dezoito dezenove vinte",  # pt
    "twee drie vier vijf zes zeven acht negen tien elf twaalf dertien veertien vijftien zestien zeventien "
    "achttien negentien twintig",  # nl
    "tva tre fyra fem sex sju atta nio tio elva tolv tretton fjorton femton sexton sjutton arton nitton tjugo",  # sv
    "to tre fire fem seks syv sju atte ni ti elleve tolv tretten fjorten femten seksten sytten atten "
    "nitten tjue",  # no, da
    "dwa trzy cztery piec szesc siedem osiem dziewiec dziesiec jedenascie dwanascie trzynascie czternascie "
    "pietnascie szesnascie siedemnascie osiemnascie dziewietnascie dwadziescia",  # pl
):
    for _i, _word in enumerate(_words.split(), 2):
        _FOREIGN_WORDS.setdefault(_word, _i)
_FOREIGN_WORDS.pop("to")  # an English word first
_FOREIGN_WORD_VALUES = {word: Fraction(value) for word, value in _FOREIGN_WORDS.items()}
# A year written with an apostrophe for its century: '92, ’91.
_SHORT_YEAR_RE = re.compile(r"['\u2019\u2018](\d{2})\b")


def _fold_accents(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()


def value_set(text: str, text_dates: Iterable[DateMention] | None = None) -> set[Fraction]:
    """Every value ``text`` expresses, in digits, words or dates: what a faithful copy can match.

    Also number words of a few other languages ("sechzehn"), and a year's last two digits after an
    apostrophe ("'92": 1992 or 2092). ``text_dates`` are ``dates(text)`` when the caller has them already.
    """
    values: set[Fraction] = set()
    for mention in [*mentions(text), *word_mentions(text)]:
        values.update(mention.alternatives)
        values.update(mention.parts)
    for date in dates(text) if text_dates is None else text_dates:
        values.update(Fraction(v) for v in date.parts())
    if not text.isascii() or "'" in text:
        for m in _SHORT_YEAR_RE.finditer(text):
            values.update((Fraction(1900 + int(m.group(1))), Fraction(2000 + int(m.group(1)))))
    # The words as the other checks read them (remembered), accents taken off first when there are any.
    words = letter_words(fold_case(text) if text.isascii() else _fold_accents(text))
    for word in _FOREIGN_WORD_VALUES.keys() & words:
        values.add(_FOREIGN_WORD_VALUES[word])
    if "10" in text and ("^" in text or "\u00d7" in text or "\u00b7" in text or " x 10" in text):
        # Scientific notation: "3 × 10^5", "3×10⁵", "1.5 x 10^8".
        for m in _POWER_RE.finditer(text):
            exponent = int((m.group(2) or m.group(3)).translate(_SUPERSCRIPTS))
            if exponent <= 30:
                values.add(_to_fraction(m.group(1)) * 10**exponent)
    if "00s" in text:
        # A century written as its hundreds: "the 1400s" is the 15th century.
        values.update(Fraction(int(m.group(1)) + 1) for m in _HUNDREDS_RE.finditer(text))
    if not text.isascii() and _CYRILLIC_RE.search(text):
        values.update(_CYRILLIC_VALUES[w] for w in _CYRILLIC_WORD_RE.findall(text.lower()) if w in _CYRILLIC_VALUES)
    return values


_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_POWER_RE = re.compile(r"(\d+(?:\.\d+)?)\s*[×xX·*]\s*10(?:\^\s*\{?(\d{1,2})\}?|([⁰¹²³⁴-⁹]{1,2}))")
_HUNDREDS_RE = re.compile(r"\b(\d{1,2})00s\b")
_CYRILLIC_RE = re.compile("[Ѐ-ӿ]")
_CYRILLIC_WORD_RE = re.compile("[Ѐ-ӿ']+")
# Russian and Ukrainian number words from two to twenty (the nominative), which a rewrite may write for
# an original's digits ("11 часовых поясов" -> "Одиннадцать часовых поясов").
_CYRILLIC_VALUES = {
    word: Fraction(value)
    for words in (
        "два три четыре пять шесть семь восемь девять десять одиннадцать двенадцать тринадцать четырнадцать "
        "пятнадцать шестнадцать семнадцать восемнадцать девятнадцать двадцать",
        "два три чотири п'ять шість сім вісім дев'ять десять одинадцять дванадцять тринадцять чотирнадцять "
        "п'ятнадцять шістнадцять сімнадцять вісімнадцять дев'ятнадцять двадцять",
    )
    for value, word in enumerate(words.split(), 2)
}


def month_names(text: str) -> frozenset[int]:
    """The months ``text`` names in words (English names, capitalised: "May", "Sept.")."""
    return frozenset(_MONTHS[m.group().rstrip(".")] for m in _MONTH_WORD_RE.finditer(text) if m.group() in _MONTHS)


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
    # How many decimals x needs, or None when its expansion repeats (1/3 = 0.333...): with a
    # denominator 2**a * 5**b, max(a, b). The factors come out a power at a time (5, 25, 625...), so
    # a number written with thousands of decimals takes a few divisions, not thousands.
    den = x.denominator
    twos = (den & -den).bit_length() - 1
    den >>= twos
    fives = 0
    while den % 5 == 0:
        power, count = 5, 1
        while den % (power * power) == 0:
            power, count = power * power, count * 2
        den //= power
        fives += count
    return max(twos, fives) if den == 1 else None


def any_same(value: Fraction, candidates: Collection[Fraction]) -> bool:
    """Whether ``value`` matches any of ``candidates`` (see :func:`same_value`)."""
    return value in candidates or any(same_value(value, c) for c in candidates)
