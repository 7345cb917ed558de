"""An offline estimate of how many tokens a text costs a BPE model.

The paper compares lengths with a Llama tokenizer fetched from a model hub; we only need the
*ratio* of two lengths of the same language, so a one-pass regex estimate is enough and needs no
download. How it counts, per match of one regex:

- a CJK ideograph, kana or Hangul syllable: 1 token each (BPE vocabularies rarely merge them);
- a Latin-script word: 1 token, plus 1 per 4 letters beyond the 8th (long words split into pieces);
- a word in another alphabet (Cyrillic, Greek, Arabic, ...): 1 token per 3 letters, since
  English-centric vocabularies hold few merges for them;
- a run of digits: 1 token per 3 digits (GPT-style tokenizers group digits by three);
- a run of punctuation or symbols: 1 token per 2 characters (``==``, ``->``, ``**`` merge), which
  keeps code from looking cheap;
- a line break run or an indentation run of 2+ spaces: 1 token; single spaces are free (they ride on
  the next word).

On English prose this lands near 4 characters per token, like GPT and Llama tokenizers. It is an
estimate for comparing lengths: never use it for billing or to fit a context window exactly.
"""

from __future__ import annotations

import functools
import re

__all__ = ["count_tokens", "non_ascii_chars"]

_CJK = (
    "\u1100-\u11ff"  # Hangul jamo
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3130-\u318f"  # Hangul compatibility jamo
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0002ffff"  # CJK extensions B-F
)
_CJK_PUNCT = "\u3000-\u303f\uff00-\uffef"  # ideographic and full-width punctuation

_TOKEN_RE = re.compile(
    rf"(?P<cjk>[{_CJK}{_CJK_PUNCT}])"
    r"|(?P<latin>[A-Za-z\u00c0-\u024f']+)"
    r"|(?P<digits>\d+)"
    rf"|(?P<word>[^\W\d_{_CJK}]+)"
    r"|(?P<newline>\n[\n\r\t ]*)"
    r"|(?P<indent>[ \t]{2,})"
    r"|(?P<punct>[^\w\s]+|_+)"
)


def _cost(kind: str | None, length: int) -> int:
    if kind == "latin":
        return 1 + max(0, length - 8) // 4
    if kind == "digits":
        return (length + 2) // 3
    if kind == "word":
        return (length + 2) // 3
    if kind == "punct":
        return (length + 1) // 2
    return 1  # cjk, newline, indent


# _TOKEN_RE cut into the same pieces, faster to count: one group holds the pieces that cost more
# than 1 token (a Latin word of 12+ letters, 4+ digits, a 2+ letter word in another alphabet, 3+
# punctuation marks), each led by a lookahead keeping the earlier kinds' first characters out, so
# every position is read as by _TOKEN_RE; the other pieces follow as in _TOKEN_RE. findall then
# gives one string per piece, empty for the 1-token ones, and only the long ones need a look.
_LATIN = "A-Za-z\u00c0-\u024f'"
_CLAIMED = f"{_CJK}{_CJK_PUNCT}{_LATIN}"  # first characters of the kinds before "word" and "punct"
_PIECES_RE = re.compile(
    rf"([{_LATIN}]{{12,}}|(?![{_CJK}{_CJK_PUNCT}])\d{{4,}}|(?![{_CLAIMED}])[^\W\d_{_CJK}]{{2,}}"
    rf"|(?![{_CLAIMED}])[^\w\s]{{3,}}|_{{3,}})"
    rf"|[{_CJK}{_CJK_PUNCT}]|[{_LATIN}]+|\d+|[^\W\d_{_CJK}]+|\n[\n\r\t ]*|[ \t]{{2,}}|[^\w\s]+|_+"
)


# ASCII text is counted without a regex pass over every piece. Each character is written as its
# class: "a" a letter, "q" an apostrophe, "0" a digit, "_" an underscore, "." other punctuation,
# " " white space. A piece is then a run of one class, once the apostrophes are settled (one
# right after punctuation is part of that punctuation, as in _TOKEN_RE; any other starts or
# continues a Latin word); so the pieces other than white space are the whitespace-separated
# chunks plus the places where the class changes inside a chunk, and white space is counted apart.
def _ascii_class(char: str) -> str:
    if char.isalpha():
        return "a"
    if char in "'_":
        return "q" if char == "'" else "_"
    if char.isdigit():
        return "0"
    return " " if char.isspace() else "."  # the same white space as str.split() and \s


_ASCII_CLASSES = str.maketrans({chr(i): _ascii_class(chr(i)) for i in range(128)})
_ABSORBED_APOSTROPHES_RE = re.compile(r"(?<=\.)q+")
#: class -> (its kind for _cost, the length from which a run costs more than 1 token, its run regex)
_ASCII_KINDS = {
    c: (kind, size, re.compile(re.escape(c) + "+"))
    for c, kind, size in (("a", "latin", 12), ("0", "digits", 4), (".", "punct", 3), ("_", "punct", 3))
}
_WHITE_PIECES_RE = re.compile(r"\n[\n\r\t ]*|[ \t]{2,}")
_NEWLINE_PIECES_RE = re.compile(r"\n[\n\r\t ]*")


def _count_ascii(text: str) -> int:
    """count_tokens of ASCII text (see _ASCII_CLASSES)."""
    classes = text.translate(_ASCII_CLASSES)
    if "q" in classes:
        if ".q" in classes:
            classes = _ABSORBED_APOSTROPHES_RE.sub(lambda m: "." * len(m[0]), classes)
        classes = classes.replace("q", "a")
    present = [c for c in _ASCII_KINDS if c in classes]
    count = len(classes.split()) + sum(classes.count(x + y) for x in present for y in present if x != y)
    for c in present:
        kind, size, run_re = _ASCII_KINDS[c]
        start = classes.find(c * size)
        while start >= 0:  # the start of a run of at least ``size``: the search starts after a run
            run = run_re.match(classes, start)
            end = run.end() if run else start + size
            count += _cost(kind, end - start) - 1
            start = classes.find(c * size, end)
    if "  " in text or "\t" in text:
        count += len(_WHITE_PIECES_RE.findall(text))
    elif "\n" in text:
        count += len(_NEWLINE_PIECES_RE.findall(text))
    return count


# Text that is ASCII but for accented Latin letters, punctuation and spaces (typeset quotes, dashes,
# no-break spaces) counts as its "shadow": each of those characters replaced by an ASCII one of the
# same kind for _TOKEN_RE: "a" for a Latin letter, "'" for × and ÷ (Latin and punctuation both, as
# the apostrophe), "." for punctuation, a vertical tab for a space (white space that is neither a
# line break nor an indent, as they are). Anything else outside ASCII (CJK, other alphabets, digits
# of other scripts) takes the general way.
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")
_CJK_CHAR_RE = re.compile(f"[{_CJK}{_CJK_PUNCT}]")


@functools.lru_cache(maxsize=64)
def non_ascii_chars(text: str) -> frozenset[str]:
    """The distinct characters of ``text`` outside ASCII (few, in most text): looking at them
    tells which fast ways a text can take. Remembered for a few texts."""
    return frozenset() if text.isascii() else frozenset(_NON_ASCII_RE.findall(text))


def _shadow_char(char: str) -> str | None:
    """The ASCII character standing for ``char`` in a shadow, or None when there is none."""
    if "\u00c0" <= char <= "\u024f":
        # × and ÷ are in the Latin class and punctuation both, like the apostrophe.
        return "'" if char in "\u00d7\u00f7" else "a"
    if char.isalnum() or _CJK_CHAR_RE.match(char):
        return None  # a word character of another alphabet (\w), or CJK
    return "\x0b" if char.isspace() else "."


def _ascii_shadow(text: str) -> str | None:
    """An ASCII text with ``text``'s count, or None when ``text`` has characters without one."""
    shadows = {char: _shadow_char(char) for char in non_ascii_chars(text)}
    if None in shadows.values():
        return None
    for char, shadow in shadows.items():
        text = text.replace(char, shadow or "")
    return text if text.isascii() else None


def _extra(piece: str) -> int:
    """What a piece of 2+ tokens costs beyond its first token (see :func:`_cost`)."""
    first, length = piece[0], len(piece)
    if first == "'" or "a" <= first <= "z" or "A" <= first <= "Z" or "\u00c0" <= first <= "\u024f":
        return (length - 8) // 4  # latin
    if first.isalnum():
        return (length - 1) // 3  # digits (\d is a decimal digit) or a word in another alphabet
    return (length - 1) // 2  # punctuation or underscores


def count_tokens(text: str) -> int:
    """Estimate the number of BPE tokens in ``text``, offline, in one regex pass.

    Good for comparing lengths (the length check); see the module docstring for the rules.
    """
    # Same count as sum(_cost(m.lastgroup, m.end() - m.start()) for m in _TOKEN_RE.finditer(text)).
    if text.isascii():
        return _count_ascii(text)
    shadow = _ascii_shadow(text)
    if shadow is not None:
        return _count_ascii(shadow)
    pieces = _PIECES_RE.findall(text)
    return len(pieces) + sum(map(_extra, filter(None, pieces)))
