"""Numbers that are not facts of their own, which a faithful rewrite may leave out.

The numbers check asks that every number of the original survive. Three kinds need not, because the
fact they carry survives in another form:

- a number inside a name the question already states ("21" of "Which band recorded 21 Guns?",
  "13" of "What was Apollo 13 famous for?"): the rewrite need not repeat the question's names;
- a count next to a list whose items the rewrite all keeps ("four members: John, Paul, George and
  Ringo" -> "John, Paul, George and Ringo"): the list still says how many;
- a number word used as a pronoun ("between the two of them", "the three of us").

Each test reads the original's text as the numbers check does (its "salient" text) around the
number's position.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from fractions import Fraction

from .entities import entities, find_entity, normalize
from .numbers import any_same, mentions

__all__ = ["anaphoric", "listed_count", "named_in_question", "titled_in_question"]

_ANAPHORIC_RE = re.compile(r"\b(?:the|these|those|all|both)\s+$", re.IGNORECASE)
_AFTER_ANAPHORIC_RE = re.compile(r"^\s*(?:of\b|[.,;:!?)]|$)", re.IGNORECASE)


def anaphoric(text: str, start: int, end: int) -> bool:
    """ "the two of them", "between the two.": a number word standing for things already named."""
    return bool(_ANAPHORIC_RE.search(text[max(0, start - 8) : start])) and bool(
        _AFTER_ANAPHORIC_RE.match(text[end : end + 6])
    )


def named_in_question(text: str, start: int, end: int, question: str) -> bool:
    """Whether the number at ``text[start:end]`` is part of a name the question states."""
    if not question:
        return False
    for entity in entities(text):
        stop = entity.start + len(entity.text)
        if entity.start <= start and end <= stop and find_entity(entity, question):
            return True
    return False


# The list a count introduces: after a colon, or after "are/were/is/include" in the same sentence.
_INTRO_RE = re.compile(
    r"[:\uff1a]|\b(?:are|were|is|was|include|includes|included|including|namely|comprise|comprises)\b",
    re.IGNORECASE,
)
# "The crew of three, Jim Lovell, Jack Swigert and Fred Haise": the list right after a comma.
_COMMA_RE = re.compile(r"^(?:\s+[^\W\d_]+){0,3}\s*,")
_ITEM_SPLIT_RE = re.compile(r"\s*(?:,|;|\band\b|\bor\b|&|\bet\b|\by\b|\bund\b|\be\b|\bi\b)\s*", re.IGNORECASE)
_MARKER_RE = re.compile(r"^\s*(?:[-*+\u2022]|\d{1,2}[.)])?\s*")
_PAREN_RE = re.compile(r"\([^()]*\)")
_KEY_END_RE = re.compile(r"\s*(?:[:\u2013\u2014]|\s-\s).*$")


def _item_key(item: str) -> str:
    item = _PAREN_RE.sub(" ", _MARKER_RE.sub("", item))
    item = _KEY_END_RE.sub("", item).strip(" .*_\t")
    return normalize(item)


def _items_after(text: str, end: int) -> list[str]:
    """The items of the list that follows a count ending at ``end``: inline in the rest of its
    sentence, or as the lines after a colon that ends its line."""
    line_end = text.find("\n", end)
    line = text[end : line_end if line_end >= 0 else len(text)]
    sentence = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0]
    intro = _INTRO_RE.search(sentence) or _COMMA_RE.match(sentence)
    if intro is None:
        return []
    inline = sentence[intro.end() :].strip()
    if inline in (":", "\uff1a"):
        inline = ""  # "The five lakes are:" and the items on the lines below
    if inline:
        parts = [part for part in _ITEM_SPLIT_RE.split(inline.rstrip(".")) if part.strip()]
        # "..., Jack Swigert and Fred Haise, returned safely": the sentence goes on after the list.
        if len(parts) > 2 and len(parts[-1].split()) > 3 and all(len(p.split()) <= 3 for p in parts[:-1]):
            parts.pop()
        return parts
    if line_end < 0 or not sentence.rstrip().endswith((":", "\uff1a")):
        return []
    items: list[str] = []
    for following in text[line_end + 1 :].split("\n"):
        if not following.strip():
            if items:
                break
            continue
        if len(following) > 120:
            break
        items.append(following)
    return items


def listed_count(text: str, end: int, values: Collection[Fraction], rewrite: str) -> bool:
    """Whether the count ending at ``text[:end]`` (one of ``values``) introduces a list of that many
    items, every one of which ``rewrite`` keeps."""
    items = [key for key in map(_item_key, _items_after(text, end)) if key]
    if len(items) < 2 or Fraction(len(items)) not in values:
        return False
    # Emphasis marks inside a word ("**H**uron", a mnemonic's initials) are taken out, not spaced.
    kept = f" {normalize(_INNER_MARKS_RE.sub('', rewrite))} "
    return all(f" {key} " in kept or _head_kept(key, kept) for key in items)


_INNER_MARKS_RE = re.compile(r"\*\*|__")
# Words an item's name may lose when the list says what its items are ("Lake Superior" -> "Superior").
_ITEM_GENERIC = frozenset("lake lakes river mount mountain island sea ocean the".split())


def _head_kept(key: str, kept: str) -> bool:
    """An item kept without its generic word ("lake superior" as "superior")."""
    rest = [w for w in key.split() if w not in _ITEM_GENERIC]
    return bool(rest) and len(rest) < len(key.split()) and f" {' '.join(rest)} " in kept


# Words before a number that make it a title or a name: "the album 1989", "the film 2001".
_TITLE_NOUNS = frozenset(
    "album film movie song single book novel show series episode season game model flight apollo "
    "route highway chapter volume track".split()
)
_BEFORE_RE = re.compile(r"([^\W\d_]+)[\s:]*$")
_AFTER_RE = re.compile(r"^[\s:-]*([^\W\d_]+)")


def titled_in_question(values: Collection[Fraction], question: str) -> bool:
    """Whether the question states one of ``values`` as (part of) a title or a name: after a title
    noun ("the album 1989") or next to a capitalised word ("2001: A Space Odyssey", "Apollo 13")."""
    for mention in mentions(question):
        if not any(any_same(v, mention.alternatives) for v in values):
            continue
        before = _BEFORE_RE.search(question[max(0, mention.start - 30) : mention.start])
        after = _AFTER_RE.match(question[mention.end : mention.end + 30])
        if before and (
            before.group(1).lower() in _TITLE_NOUNS
            or (before.group(1)[0].isupper() and mention.start > 0 and question[mention.start - 1] in " -")
        ):
            return True
        if after and after.group(1)[0].isupper() and not question[mention.end : mention.end + 2].startswith(". "):
            return True
    return False
