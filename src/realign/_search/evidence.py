"""Cleaning retrieved evidence before it reaches the rewriter.

Search backends return markup, placeholders, boilerplate and near-copies of the same sentence.
:func:`clean_evidence` turns that into a short, de-duplicated list the prompt can afford; every
built-in search client passes its results through it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from .._models import Evidence

__all__ = ["clean_evidence", "clean_text", "truncate_words"]

#: Items shorter than this (after cleaning) carry no usable fact ("Wikipedia", "...", "1 2").
MIN_TEXT_CHARS = 12
#: Raw characters of one item's text read at most, before any cleaning. A prompt takes a few thousand
#: characters of evidence (``max_chars``), but a backend may hand over a whole page as a "snippet": cleaning
#: megabytes (markup, entities, boilerplate, de-duplication) cost hundreds of MB and over a second per search
#: (benchmarks/evidence_size.py). This leaves ample room for markup around the text a prompt can use.
MAX_RAW_CHARS = 100_000
#: The same for a title.
MAX_RAW_TITLE_CHARS = 2_000

_TRUNCATION_MARK = "…"

# Only tag-shaped text is markup: "a < b and c > d" in a maths snippet must survive.
_SCRIPT_STYLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")
_SPACE = re.compile(r"\s+")

# What search engines say instead of a result.
_PLACEHOLDER = re.compile(
    r"^(?:no (?:good )?(?:google )?(?:search )?results?(?: (?:were |was )?found)?"
    r"|no good search result found|no information (?:is )?available"
    r"|no description (?:is )?available|n/?a|none|null|undefined)[.!]?$",
    re.IGNORECASE,
)
# Google snippets that list what the page lacks or only give video/post metadata.
_METADATA_PREFIX = re.compile(r"^(?:missing|duration|posted)\s*:", re.IGNORECASE)
# What a crawler sees instead of the page: cookie banners, JS walls, bot checks. Sentences holding
# these are removed one by one, so a real snippet that merely starts with a banner keeps its content.
_BOILERPLATE = re.compile(
    r"\b(?:"
    r"(?:please |you (?:need|have) to |you must )?enable javascript(?: and cookies)?"
    r" to (?:continue|run|view|use)"
    r"|javascript is (?:disabled|required|not enabled|not available)"
    r"|(?:this (?:site|website|page|app)|it) requires javascript"
    r"|(?:we|this (?:site|website)) uses? cookies"
    r"|accept (?:all )?cookies|cookie (?:policy|settings|preferences)"
    r"|by (?:continuing|using) (?:to (?:use|browse) )?(?:this|our) (?:site|website)"
    r"|checking (?:if the site connection is secure|your browser)"
    r"|verify (?:that )?you are (?:a )?human|are you a robot|(?:complete|solve) the captcha"
    r"|access (?:to this page has been )?denied"
    r")\b",
    re.IGNORECASE,
)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")
_NON_WORD = re.compile(r"[\W_]+")


def clean_text(text: str) -> str:
    """Strip HTML tags, unescape entities and collapse whitespace."""
    text = _SCRIPT_STYLE.sub(" ", text)
    text = _COMMENT.sub(" ", text)
    # Tags first, entities second: an escaped "&lt;b&gt;" is text the page meant to show.
    text = html.unescape(_TAG.sub(" ", text))
    return _SPACE.sub(" ", text).strip()


def truncate_words(text: str, max_chars: int) -> str:
    """Cut ``text`` to at most ``max_chars`` characters at a word boundary, marking the cut with "…"."""
    if len(text) <= max_chars:
        return text
    if max_chars <= len(_TRUNCATION_MARK):
        return ""
    head = text[: max_chars - len(_TRUNCATION_MARK) + 1]
    cut = head.rfind(" ")
    # One enormous "word" (a URL, a base64 blob) has no boundary: cut it hard.
    head = head[:cut] if cut > 0 else head[:-1]
    return head.rstrip(" ,;:-") + _TRUNCATION_MARK


def clean_evidence(items: Iterable[Evidence], *, max_items: int = 5, max_chars: int = 3000) -> list[Evidence]:
    """Return the usable part of ``items``, best first, ready to go into a prompt.

    Strips markup and boilerplate, drops placeholders ("No results", "Missing: ..."), too-short
    texts and duplicates (an item whose normalised text is contained in a kept one; a later, longer
    item replaces the shorter one it contains), then keeps at most ``max_items`` items and
    ``max_chars`` characters of text in total; the last item is cut at a word boundary rather than
    dropped. Titles are cleaned too; URLs are kept as they came.
    """
    kept: list[Evidence] = []
    keys: list[str] = []
    for item in items:
        cleaned = _clean_item(item)
        if cleaned is not None:
            _add_unique(kept, keys, cleaned)
    return _within_budget(kept[:max_items], max_chars)


def _clean_item(item: Evidence) -> Evidence | None:
    text = _strip_boilerplate(clean_text(_head(item.text, MAX_RAW_CHARS)))
    if not _is_useful(text):
        return None
    return Evidence(text=text, title=clean_text(_head(item.title, MAX_RAW_TITLE_CHARS)), url=item.url.strip())


def _head(raw: str, limit: int) -> str:
    """At most ``limit`` characters of ``raw``, before cleaning; a tag cut in two at the end is dropped (its
    start would otherwise be read as text)."""
    if len(raw) <= limit:
        return raw
    head = raw[:limit]
    opened = head.rfind("<")
    return head[:opened] if opened > head.rfind(">") else head


def _strip_boilerplate(text: str) -> str:
    if not _BOILERPLATE.search(text):
        return text
    return " ".join(s for s in _SENTENCE_BREAK.split(text) if not _BOILERPLATE.search(s))


def _is_useful(text: str) -> bool:
    return len(text) >= MIN_TEXT_CHARS and not _PLACEHOLDER.match(text) and not _METADATA_PREFIX.match(text)


def _normalise(text: str) -> str:
    return _NON_WORD.sub(" ", text.casefold()).strip()


def _add_unique(kept: list[Evidence], keys: list[str], item: Evidence) -> None:
    """Append ``item`` unless it repeats a kept item; if it contains a kept item, it takes its place."""
    key = _normalise(item.text)
    for i, seen in enumerate(keys):
        if key in seen:
            return
        if seen in key:
            kept[i], keys[i] = item, key
            _drop_contained(kept, keys, i)
            return
    kept.append(item)
    keys.append(key)


def _drop_contained(kept: list[Evidence], keys: list[str], index: int) -> None:
    # The longer item may also contain other kept items further down the list.
    key = keys[index]
    for j in range(len(keys) - 1, index, -1):
        if keys[j] in key:
            del kept[j], keys[j]


def _within_budget(items: list[Evidence], max_chars: int) -> list[Evidence]:
    out: list[Evidence] = []
    left = max_chars
    for item in items:
        if len(item.text) <= left:
            out.append(item)
            left -= len(item.text)
            continue
        text = truncate_words(item.text, left)
        if len(text) >= MIN_TEXT_CHARS:
            out.append(item.model_copy(update={"text": text}))
        break
    return out
