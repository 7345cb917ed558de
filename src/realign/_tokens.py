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

import re

__all__ = ["count_tokens"]

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
# The same for ASCII text, where there is no CJK and no "word" outside the Latin alphabet.
_ASCII_PIECES_RE = re.compile(
    r"([A-Za-z']{12,}|\d{4,}|(?!')[^\w\s]{3,}|_{3,})|[A-Za-z']+|\d+|\n[\n\r\t ]*|[ \t]{2,}|[^\w\s]+|_+"
)


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
    pieces = (_ASCII_PIECES_RE if text.isascii() else _PIECES_RE).findall(text)
    return len(pieces) + sum(map(_extra, filter(None, pieces)))
