"""What the guards read of a text: its prose without code and URLs, its words without markdown.

Shared by the guard families; a few texts are remembered (:data:`CACHE_SIZE`) because a row's
original is read again for each of its candidates.
"""

from __future__ import annotations

import re

__all__ = ["CACHE_SIZE", "FENCED_RE", "WORDS_RE", "norm", "plain", "plain_head", "prose"]


FENCED_RE = re.compile(
    r"^[ \t]*```[ \t]*(?P<tag>[\w+#.-]*)[^\n]*\n(?P<body>.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.MULTILINE | re.DOTALL
)
_INLINE_CODE_RE = re.compile(r"`[^`\n]+`")
_URL_RE = re.compile(r"https?://\S+|www\.\S+")
# Every match starts with one of * _ # >: the lookahead lets the engine give up at once elsewhere.
_MARKDOWN_RE = re.compile(r"(?=[*_#>])(?:\*\*|__|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)|^#{1,6}\s+|^>\s?)", re.MULTILINE)
_SPACE_RE = re.compile(r"\s")

#: How many texts the per-text helpers remember. A row's candidates are judged one after the other,
#: each by every guard, so the original and its candidates are read again within a few calls; a
#: small bound keeps the memory to a few texts whatever their length.
CACHE_SIZE = 64


def prose(text: str) -> str:
    """``text`` without code and URLs: what the prose guards should read."""
    if "```" in text:
        text = FENCED_RE.sub("\n", text)
    if "`" in text:
        text = _INLINE_CODE_RE.sub(" ", text)
    return _URL_RE.sub(" ", text) if "://" in text or "www." in text else text


def plain(text: str) -> str:
    """``text`` without markdown emphasis and heading marks, for matching words."""
    return _MARKDOWN_RE.sub("", text)


def plain_head(text: str, size: int) -> str:
    """``plain(text)[:size]``, reading only the beginning of a long text.

    Markdown marks are taken out where they stand, looking at most one character ahead, or through a
    run of spaces; so cut just after a space, the beginning of a text comes out as it would whole,
    and when that gives ``size`` characters they are the answer.
    """
    cut = 2 * size
    if len(text) > 2 * cut:
        space = _SPACE_RE.search(text, cut)
        if space is not None:
            head = plain(text[: space.end()])
            if len(head) >= size:
                return head[:size]
    return plain(text)[:size]


WORDS_RE = re.compile(r"[^\W_]+")
_TEXT_NORM_RE = re.compile(r"(?:[^\w%.]|\.(?!\d))+")


def norm(text: str) -> str:
    """``text`` lowercased, plain, its punctuation as single spaces, padded with a space each side."""
    return " " + _TEXT_NORM_RE.sub(" ", plain(text).lower()).strip() + " "
