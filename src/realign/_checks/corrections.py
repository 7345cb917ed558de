"""Evidence-backed corrections: the facts an accepted rewrite changed to what the row's evidence states.

With evidence, the entity and number checks accept a changed name or number when the evidence states
the new value and not the old one (see ``corrections`` of :class:`~realign.Pipeline`); this module
lists those changes so that the row can record them as ``corrections: [{"from", "to", "source"}]``.

The record pairs each changed value with the value that takes its place, as a careful reader would:

- the rewrite's clause that restates the original's claim (the one sharing most of its other words) holds
  the new value where the original held the old one; a rewrite that keeps the old value only as
  background elsewhere ("Sydney is its largest city", "construction had started in 1887", "it replaced
  Yangon") still corrects the claim;
- the new value is of the same kind: a year for a year, a quantity for a quantity of the same unit
  ("19,635 ft" -> "19,341 ft", not "5,895 metres"), a name for a name and a title (in italics or quotes)
  for a title; among several, the one in the same place in the sentence ("written by X" -> "written by Y");
- the evidence states the new value; a pair the evidence does not support is never recorded;
- one record per change: no duplicates, and no pair inside a wider one ("12" -> "11" within
  "Apollo 12" -> "Apollo 11").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from .._models import Correction, Evidence
from .._types import CheckInput
from .entities import judge, source_of
from .facts import judge_numbers

__all__ = ["find_corrections"]


def find_corrections(item: CheckInput) -> list[Correction]:
    """The changes of names and numbers from ``item.original`` to ``item.rewrite`` that the evidence
    supports; empty without evidence."""
    if not item.evidence or item.rewrite == item.original:
        return []
    _, numbers = judge_numbers(item, corrections=True)
    judged = [*judge(item, corrections=True).corrections, *numbers]
    restated = _restated_changes(item)
    # The judges know which values changed; the restated claim knows what took their place: a judged
    # pair that gives the same old value another new one was paired wrongly.
    kept = [
        _as_written(c, item.original)
        for c in judged
        if _same_kind_pair(c) and not any(_overlaps(c, r) and not _covers(c, r) for r in restated)
    ]
    return _distinct([*kept, *restated])


# --- reading a text as clauses of tokens -------------------------------------------------------------

_WORD_RE = re.compile(r"\d[\d,]*(?:\.\d+)?|[^\W\d_][\w'’-]*")
# A clause ends at a sentence end (not the initial of a name: "J. R. R. Tolkien"), a semicolon, a dash,
# a comma followed by a space, a line break, or a colon after more than a short label ("Opened: 1973").
_CLAUSE_RE = re.compile(r"((?<!\b[A-Z])[.!?](?=\s|$)|;|\s[—–-]\s|—|,\s|\n|:\s)")
_MARKUP_RE = re.compile(r"[*_`#]+")
_TITLE_RES = (
    re.compile(r"(?<![*\w])\*([^*\n]+)\*(?![*\w])"),
    re.compile(r"(?<![_\w])_([^_\n]+)_(?![_\w])"),
    re.compile(r"[\"“«„]([^\"”»“\n]+)[\"”»“]"),
)
_STOP = frozenset(
    "a an the of in on at by for to from with and or but is are was were be been being has have had it its "
    "this that these those as into about than then also which who whom whose what when where while not no "
    "there their they he she his her we our you your i my me so such very more most some any each both "
    "der die das den dem des ein eine einer eines und oder ist sind war waren von vom zu zum zur im am "
    "le la les un une des du de et est sont el los las y es en il lo gli e di da".split()
)
_LEADING = frozenset("the a an der die das le la les el los las il lo".split())
_CONNECTORS = frozenset("van von de der da di du del la le of bin ibn".split())
_COUNT_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
_MULTIPLIERS = frozenset("hundred thousand million billion trillion".split())
_COPULAS = frozenset("is are was were ist sind war est es".split())


def _fold(word: str) -> str:
    word = unicodedata.normalize("NFKD", word.lower()).encode("ascii", "ignore").decode() or word.lower()
    for end in ("'s", "’s", "s'"):
        if word.endswith(end):
            word = word[: -len(end)] or word
    return word


def _stem(word: str) -> str:
    """A word without a plural ending ("moons" = "moon", "hearts" = "heart")."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


@dataclass(frozen=True)
class _Value:
    """A value a clause states: a name, a year, a quantity (with its unit) or a single word."""

    kind: str  # "name" | "title" | "year" | "quantity" | "word"
    text: str  # as written
    key: str  # what makes two values the same
    unit: str  # for a quantity: the stemmed word after it
    start: int  # token index in the clause
    end: int


@dataclass(frozen=True)
class _Clause:
    words: list[str]  # as written
    folded: list[str]
    values: list[_Value]

    @property
    def content(self) -> frozenset[str]:
        """The clause's words that carry its claim, besides its names and numbers."""
        inside = {i for v in self.values if v.kind != "word" for i in range(v.start, v.end)}
        return frozenset(
            _stem(w)
            for i, w in enumerate(self.folded)
            if i not in inside and w not in _STOP and not w[0].isdigit() and w not in _COUNT_WORDS
        )

    def has(self, value: _Value) -> bool:
        """Whether the clause states ``value``: a name also shortened or with more of its words
        ("Napoleon Bonaparte" = "Napoleon")."""
        if value.kind in ("name", "title"):
            words = set(value.key.split()) - _CONNECTORS
            return bool(words & set(self.folded))
        return any(v.key == value.key for v in self.values)


def _number_key(text: str) -> str:
    return text.replace(",", "")


def _values(words: list[str], folded: list[str], titles: Sequence[str]) -> list[_Value]:
    values: list[_Value] = []
    i = 0
    while i < len(words):
        word, low = words[i], folded[i]
        if word[0].isdigit() or low in _COUNT_WORDS:
            key = _number_key(word) if word[0].isdigit() else str(_COUNT_WORDS[low])
            is_year = key.isdigit() and len(key) == 4 and 1000 <= int(key) <= 2100 and "," not in word
            end = i + 1
            if end < len(words) and folded[end] in _MULTIPLIERS:
                key, end = f"{key} {folded[end]}", end + 1  # "33 million"
            after = _stem(folded[end]) if end < len(words) and not words[end][0].isupper() else ""
            kind = "year" if is_year else "quantity"
            values.append(_Value(kind, " ".join(words[i:end]), key, "" if is_year else after, i, end))
            i = end
            continue
        elif word[0].isupper():
            j = i + 1
            while j < len(words) and (
                words[j][0].isupper() or (folded[j] in _CONNECTORS and j + 1 < len(words) and words[j + 1][0].isupper())
            ):
                j += 1
            start = i + 1 if folded[i] in _LEADING and j > i + 1 else i
            if not (start == i and folded[i] in _LEADING):
                text = " ".join(words[start:j])
                key = " ".join(folded[start:j])
                kind = "title" if any(key in t for t in titles) else "name"
                values.append(_Value(kind, text, key, "", start, j))
            i = j
            continue
        elif low not in _STOP:
            values.append(_Value("word", word, _stem(low), "", i, i + 1))
        i += 1
    return values


def _clauses(text: str) -> list[_Clause]:
    titles = [" ".join(_fold(w) for w in _WORD_RE.findall(m.group(1))) for r in _TITLE_RES for m in r.finditer(text)]
    plain = _MARKUP_RE.sub("", text)
    pieces = _CLAUSE_RE.split(plain)
    parts: list[str] = []
    label = False
    for part, end in zip(pieces[::2], [*pieces[1::2], ""], strict=True):
        # A short label before a colon belongs to what follows it ("Opened: 20 October 1973").
        if label:
            parts[-1] += " " + part
        else:
            parts.append(part)
        label = end.startswith(":") and len(_WORD_RE.findall(parts[-1])) <= 2
    clauses = []
    for part in parts:
        words = _WORD_RE.findall(part)
        if words:
            folded = [_fold(w) for w in words]
            clauses.append(_Clause(words, folded, _values(words, folded, titles)))
    return clauses


# --- the restated claim ------------------------------------------------------------------------------


def _similarity(a: _Clause, b: _Clause) -> float:
    x, y = a.content, b.content
    return len(x & y) / len(x | y) if x & y else 0.0


def _compatible(old: _Value, new: _Value) -> bool:
    if old.kind == "quantity" and new.kind == "quantity":
        return not old.unit or not new.unit or old.unit == new.unit
    return old.kind == new.kind


def _place(old: _Value, original: _Clause, new: _Value, rewrite: _Clause) -> int:
    """How much of the old value's place the new one takes: the same words before and after it."""
    score = 0
    before = original.folded[old.start - 1] if old.start else ""
    if before and new.start and rewrite.folded[new.start - 1] == before:
        score += 2
        if old.start > 1 and new.start > 1 and rewrite.folded[new.start - 2] == original.folded[old.start - 2]:
            score += 1
    after = original.folded[old.end] if old.end < len(original.folded) else ""
    if after and new.end < len(rewrite.folded) and rewrite.folded[new.end] == after:
        score += 1
    # "X is the largest desert" restated as "the largest desert is Y".
    if after in _COPULAS and new.start and rewrite.folded[new.start - 1] in _COPULAS:
        score += 1
    return score


class _Evidence:
    def __init__(self, evidence: Sequence[Evidence]) -> None:
        self.items = evidence
        self.clauses = [c for e in evidence for c in _clauses(f"{e.title}\n{e.text}")]

    def states(self, value: _Value, claim: _Clause) -> bool:
        """Whether a clause of the evidence states ``value`` with a word of the claim."""
        claimed = {v.key for v in claim.values}
        return any(
            c.has(value)
            and (bool(c.content & claim.content) or any(v.key in claimed for v in c.values if v is not value))
            for c in self.clauses
        )


def _restated_changes(item: CheckInput) -> list[Correction]:
    """The original's values that the rewrite's restatement of their claim replaced by a value of the
    same kind that the evidence states."""
    original = _clauses(item.original)
    rewrite = _clauses(item.rewrite)
    if not original or not rewrite:
        return []
    evidence = _Evidence(item.evidence)
    known = {v.key for c in original for v in c.values}
    fixes: list[Correction] = []
    for claim in original:
        scored = sorted(((_similarity(claim, c), i) for i, c in enumerate(rewrite)), reverse=True)
        best, at = scored[0]
        if best == 0 or (len(scored) > 1 and scored[1][0] == best):
            continue  # no restatement, or no one restatement
        restated = rewrite[at]
        gone = [v for v in claim.values if not restated.has(v)]
        new = [v for v in restated.values if v.key not in known and evidence.states(v, claim)]
        # Each new value takes the place of at most one old value: the one whose place it holds best
        # (the same words around it), then the nearest.
        choices = []
        for i, old in enumerate(gone):
            for k, v in enumerate(new):
                if not _compatible(old, v):
                    continue
                place = _place(old, claim, v, restated)
                # A value takes another's place only where it stands; a plain word is a fact only in its
                # place at the claim's end, with the same two words before it.
                if place < (3 if old.kind == "word" else 1):
                    continue
                if old.kind == "word" and old.end != len(claim.words):
                    continue
                choices.append((place, -abs(v.start - old.start), i, k))
        taken_old: set[int] = set()
        taken_new: set[int] = set()
        for _, _, i, k in sorted(choices, reverse=True):
            if i in taken_old or k in taken_new:
                continue
            taken_old.add(i)
            taken_new.add(k)
            source = source_of(new[k].text, item.evidence)
            if source:
                fixes.append(Correction.of(gone[i].text, new[k].text, source))
    return fixes


# --- merging ------------------------------------------------------------------------------------------


def _overlaps(a: Correction, b: Correction) -> bool:
    return a.before.lower() in b.before.lower() or b.before.lower() in a.before.lower()


def _covers(a: Correction, b: Correction) -> bool:
    """Whether ``a`` is ``b`` with more words around ("Apollo 12" -> "Apollo 11" for "12" -> "11")."""
    return b.before.lower() in a.before.lower() and b.after.lower() in a.after.lower()


def _as_written(c: Correction, original: str) -> Correction:
    """``c`` with its old value as the original writes it (a judge may give it in lower case)."""
    at = original.lower().find(c.before.lower())
    if at < 0 or original[at : at + len(c.before)] == c.before:
        return c
    return Correction.of(original[at : at + len(c.before)], c.after, c.source)


_YEAR_RE = re.compile(r"\b(?:1\d{3}|20\d{2})\b")


def _same_kind_pair(c: Correction) -> bool:
    """A year changed to something that states no year is no correction of it ("1975" -> "20")."""
    return not (_YEAR_RE.fullmatch(c.before) and not _YEAR_RE.search(c.after))


def _distinct(fixes: list[Correction]) -> list[Correction]:
    """Without duplicates and without a pair inside a wider one."""
    out: list[Correction] = []
    for c in sorted(fixes, key=lambda c: -(len(c.before) + len(c.after))):
        if any(_covers(o, c) for o in out):
            continue
        out.append(c)
    return sorted(out, key=lambda c: fixes.index(c))
