"""Evidence-backed corrections: the facts an accepted rewrite changed to what the row's evidence states.

With evidence, the entity and number checks accept a changed name or number when the evidence states
the new value and not the old one (see ``corrections`` of :class:`~realign.Pipeline`); this module
lists those changes so that the row can record them as ``corrections: [{"from", "to", "source"}]``.

The record pairs each changed value with the value that takes its place, as a careful reader would:

- the rewrite's clause that restates the original's claim (the one sharing most of its other words, a
  label's words included: "opened in" = "Opened:", "directed by" = "Director:") holds the new value where
  the original held the old one, or right after the label; a rewrite that keeps the old value only as
  background elsewhere ("Sydney is its largest city", "construction had started in 1887", "it replaced
  Yangon") still corrects the claim; a value the question states is what it asks about, never the old
  value of a pair;
- the new value is of the same kind: a year for a year, a quantity for a quantity of the same unit
  ("19,635 ft" -> "19,341 ft", not "5,895 metres"), a name for a name and a title (in italics or quotes)
  for a title; among several, the one in the same place in the sentence ("written by X" -> "written by Y"),
  then the one next to the question's words; a changed year takes the new year whose sentences in the
  rewrite and the evidence share most of its claim (the prize year, not a birth year beside it);
- the evidence states the new value in a sentence with words or values of the claim; a pair the evidence
  does not support is never recorded;
- one record per change: no duplicates, each new value for one old value, and no pair inside a wider one
  ("12" -> "11" within "Apollo 12" -> "Apollo 11"); a changed day and month with its year ("28 June 1914").
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .._models import Correction, Evidence
from .._types import CheckInput
from .entities import fold_text, judge, offers_alternatives, same_name, source_of
from .facts import judge_numbers

__all__ = ["find_corrections"]


def find_corrections(item: CheckInput) -> list[Correction]:
    """The changes of names and numbers from ``item.original`` to ``item.rewrite`` that the evidence
    supports; empty without evidence."""
    if not item.evidence or item.rewrite == item.original:
        return []
    _, numbers = judge_numbers(item, corrections=True)
    # Not the question's words: questions are often written all in lower case ("who directed amelie").
    common = _common_words(item.original, item.rewrite, *(e.text for e in item.evidence))
    evidence = _Evidence(item.evidence, common)
    texts = _Texts(item, common)
    judged = [*_in_roles(judge(item, corrections=True).corrections, item), *_repaired(numbers, texts, evidence)]
    restated = _restated_changes(texts, evidence)
    # The judges know which values changed; the restated claim knows what took their place: a judged
    # pair that gives the same old value another new one, or the same new value another old one, was
    # paired wrongly (each new value takes the place of one old value).
    kept = [
        _as_written(c, item.original, item.rewrite)
        for c in judged
        if _same_kind_pair(c)
        and not any(_overlaps(c, r) and not _covers(c, r) for r in restated)
        and not any(_same_new(c, r) and not _overlaps(c, r) for r in restated)
    ]
    found = _distinct([*kept, *(_as_written(c, item.original, item.rewrite) for c in restated)])
    return _distinct([s for c in found if (s := _safe(c, item.original, item.rewrite)) is not None])


# --- reading a text as clauses of tokens -------------------------------------------------------------

_WORD_RE = re.compile(r"\d[\d,]*(?:\.\d+)?|[^\W\d_][\w'’-]*")
# A clause ends at a sentence end (not the initial of a name: "J. R. R. Tolkien", nor the dot of a day's
# number before a month and a year: "am 6. Mai 2025"), a semicolon, a dash, a comma followed by a space, a
# line break, or a colon after more than a short label ("Opened: 1973").
_CLAUSE_RE = re.compile(
    r"((?<!\b[A-Z])(?<!\b\d)(?<!\b\d\d)[.!?](?=\s|$)|(?:(?<=\b\d)|(?<=\b\d\d))[.!?](?=$|\s(?![^\W\d_]+\s+\d{4}\b))"
    r"|;|\s[—–-]\s|—|,\s|\n|:\s)"
)
# The clause ends that end a sentence too.
_SENTENCE_END_RE = re.compile(r"[.!?\n]")
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
# A month is a part of a date, never a name to pair with a person or a place ("in Oslo" -> "in October").
_MONTHS = frozenset(
    "january february march april may june july august september october november december "
    "januar februar marz juni juli oktober dezember janvier fevrier mars avril mai juin juillet aout "
    "septembre octobre novembre decembre enero febrero marzo abril mayo junio julio agosto septiembre "
    "octubre noviembre diciembre gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre".split()
)
_MULTIPLIERS = frozenset("hundred thousand million billion trillion".split())
_COPULAS = frozenset("is are was were ist sind war est es".split())


def _fold(word: str) -> str:
    """``word`` as the entity check folds names (case, accents, "Þ" as "th"), without a possessive."""
    word = fold_text(word)
    for end in ("'s", "s'"):
        if word.endswith(end):
            word = word[: -len(end)] or word
    return word


def _stem(word: str) -> str:
    """A word without a plural ending ("moons" = "moon", "hearts" = "heart")."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


_ENDINGS = ("ing", "ed", "er", "or")


@functools.lru_cache(maxsize=4096)
def _root(word: str) -> str:
    """A word without a plural, verb or agent ending, so that a claim restated as a label reads as the
    claim: "opened in" = "Opened:", "directed by" = "Director:"."""
    word = _stem(word)
    for end in _ENDINGS:
        if len(word) > len(end) + 3 and word.endswith(end):
            return word[: -len(end)]
    return word


@dataclass(frozen=True)
class _Value:
    """A value a clause states: a name, a year, a quantity (with its unit) or a single word."""

    kind: str  # "name" | "title" | "month" | "year" | "quantity" | "word"
    text: str  # as written
    key: str  # what makes two values the same
    unit: str  # for a quantity: the stemmed word after it
    start: int  # token index in the clause
    end: int


_NAMED = ("name", "title")


@dataclass(frozen=True)
class _Clause:
    words: list[str]  # as written
    folded: list[str]
    values: list[_Value]
    sentence: int = 0  # which sentence (or line) of its text the clause is in
    label: int = 0  # where the value after a short label begins ("Opened: 1973"), else 0
    starts: frozenset[int] = frozenset()  # where the label's values begin ("Born: 1901, Bergen")

    @functools.cached_property
    def content(self) -> frozenset[str]:
        """The clause's words that carry its claim, besides its names and numbers."""
        inside = {i for v in self.values if v.kind != "word" for i in range(v.start, v.end)}
        return frozenset(
            _root(w)
            for i, w in enumerate(self.folded)
            # a word with a digit is a number or a unit ("km²"), no word of the claim
            if i not in inside and w not in _STOP and not any(ch.isdigit() for ch in w) and w not in _COUNT_WORDS
        )

    def has(self, value: _Value) -> bool:
        """Whether the clause states ``value``: a name also shortened or with more of its words
        ("Napoleon Bonaparte" = "Napoleon"), never another name that shares a word with it ("Lake Baikal"
        is not "Lake Tanganyika")."""
        if value.kind in _NAMED:
            words = set(value.key.split()) - _CONNECTORS
            for v in self.values:
                other = set(v.key.split()) - _CONNECTORS
                if v.kind in _NAMED and other and (other <= words or words <= other):
                    return True
            return f" {value.key} " in f" {' '.join(self.folded)} "
        return any(v.key == value.key for v in self.values)


def _number_key(text: str) -> str:
    return text.replace(",", "")


def _values(
    words: list[str], folded: list[str], titles: Sequence[str], common: frozenset[str], starts: frozenset[int]
) -> list[_Value]:
    """The values of a clause's words; ``starts`` are where a label or the clause begins (a name runs
    over none of them, and a capitalised word there that the texts also write in lower case, "Opened:",
    "Title role:", is an ordinary word)."""
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
        elif word[0].isupper() and not (i in starts and _root(low) in common and not _capital_next(words, i, starts)):
            j = i + 1
            while (
                j < len(words)
                and j not in starts
                and (
                    words[j][0].isupper()
                    or (folded[j] in _CONNECTORS and j + 1 < len(words) and words[j + 1][0].isupper())
                )
            ):
                j += 1
            start = i + 1 if folded[i] in _LEADING and j > i + 1 else i
            # "The", "It" at a sentence's start alone are no name.
            if not (start == i and (folded[i] in _LEADING or (j == i + 1 and folded[i] in _STOP))):
                text = " ".join(words[start:j])
                key = " ".join(folded[start:j])
                kind = "title" if any(key in t for t in titles) else "month" if key in _MONTHS else "name"
                values.append(_Value(kind, text, key, "", start, j))
            i = j
            continue
        elif low not in _STOP:
            values.append(_Value("word", word, _stem(low), "", i, i + 1))
        i += 1
    return values


def _capital_next(words: list[str], i: int, starts: frozenset[int]) -> bool:
    """Whether the word after ``i`` is capitalised in the same part ("Lake Baikal": "Lake" is part of a
    name; "Director: Jean-Pierre Jeunet": "Director" is not)."""
    return i + 1 < len(words) and i + 1 not in starts and words[i + 1][0].isupper()


def _clauses(text: str, common: frozenset[str] = frozenset()) -> list[_Clause]:
    """The clauses of ``text``; ``common`` are the words (as :func:`_root` writes them) that the texts at
    hand write in lower case."""
    titles = [" ".join(_fold(w) for w in _WORD_RE.findall(m.group(1))) for r in _TITLE_RES for m in r.finditer(text)]
    plain = _MARKUP_RE.sub("", _TABLE_ROW_RE.sub(_row_as_label, text) if "|" in text else text)
    pieces = _CLAUSE_RE.split(plain)
    parts: list[tuple[list[str], set[int], int]] = []  # words, where a label or the clause begins, sentence
    label = listed = False
    sentence = 0
    for part, end in zip(pieces[::2], [*pieces[1::2], ""], strict=True):
        words = _WORD_RE.findall(part)
        # A short label before a colon belongs to what follows it ("Opened: 20 October 1973"), and so do
        # the short values after it in a list ("Born: 1901, Bergen, Norway").
        if label or listed:
            parts[-1][1].add(len(parts[-1][0]))
            parts[-1][0].extend(words)
        else:
            parts.append((words, {0}, sentence))
        listed = (label or listed) and end.startswith(",") and len(words) <= _LABEL_WORDS
        label = end.startswith(":") and 0 < len(parts[-1][0]) <= _LABEL_WORDS
        if _SENTENCE_END_RE.match(end):
            sentence += 1
    clauses = []
    for words, starts, at in parts:
        if words:
            folded = [_fold(w) for w in words]
            values = _values(words, folded, titles, common, frozenset(starts))
            clauses.append(_Clause(words, folded, values, at, min(starts - {0}, default=0), frozenset(starts)))
    return clauses


_LABEL_WORDS = 3  # "Capital of Kazakhstan: Astana"
_TABLE_ROW_RE = re.compile(r"^[ \t]*\|(.*)\|[ \t]*$", re.MULTILINE)


def _row_as_label(row: re.Match[str]) -> str:
    """A table row read as its first cell labelling the others ("| Director | Maja Holm |" = "Director:
    Maja Holm")."""
    cells = [c.strip() for c in row.group(1).split("|") if c.strip()]
    return f"{cells[0]}: {', '.join(cells[1:])}" if len(cells) > 1 else " ".join(cells)


def _sentences(clauses: Sequence[_Clause]) -> dict[int, _Clause]:
    """The clauses of each sentence read as one."""
    grouped: dict[int, list[_Clause]] = {}
    for c in clauses:
        grouped.setdefault(c.sentence, []).append(c)
    out = {}
    for at, group in grouped.items():
        words: list[str] = []
        folded: list[str] = []
        values: list[_Value] = []
        for c in group:
            shift = len(words)
            values += [_Value(v.kind, v.text, v.key, v.unit, v.start + shift, v.end + shift) for v in c.values]
            words += c.words
            folded += c.folded
        out[at] = _Clause(words, folded, values, at)
    return out


def _common_words(*texts: str) -> frozenset[str]:
    return frozenset(_root(_fold(w)) for text in texts for w in _WORD_RE.findall(text) if w[0].islower())


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


_SAME_WORDS = 3  # a place with the same two words before it ("born in X")


def _overlap(a: _Clause, b: _Clause, leave: set[str]) -> int:
    """How many words and values (but ``leave``) two clauses share."""
    values = sum(b.has(v) for v in a.values if v.kind != "word" and v.key not in leave)
    return len(a.content & b.content) + values


class _Evidence:
    def __init__(self, evidence: Sequence[Evidence], common: frozenset[str]) -> None:
        self.items = evidence
        # Read by sentence: a sentence's clauses state one claim ("Antarctica, a polar desert of about 14
        # million km², is the largest desert on Earth").
        self.sentences = [s for e in evidence for s in _sentences(_clauses(f"{e.title}\n{e.text}", common)).values()]

    def support(self, value: _Value, claim: _Clause) -> int:
        """How much of ``claim`` (words, other values) a sentence of the evidence that states ``value``
        shares: 0 when none states it with any."""
        return max((_overlap(claim, s, {value.key}) for s in self.sentences if s.has(value)), default=0)


def _near(value: _Value, clause: _Clause, asked: frozenset[str]) -> bool:
    """Whether the question's words stand next to ``value`` in ``clause`` ("directed by X")."""
    around = clause.folded[max(0, value.start - 3) : value.start] + clause.folded[value.end : value.end + 3]
    return any(_root(w) in asked for w in around)


class _Texts:
    """The row's texts read as clauses, once."""

    def __init__(self, item: CheckInput, common: frozenset[str]) -> None:
        self.item = item
        self.original = _clauses(item.original, common)
        self.rewrite = _clauses(item.rewrite, common)
        self.question = _clauses(item.question, common)


def _restated_changes(texts: _Texts, evidence: _Evidence) -> list[Correction]:
    """The original's values that the rewrite's restatement of their claim replaced by a value of the
    same kind that the evidence states."""
    item, original, rewrite, question = texts.item, texts.original, texts.rewrite, texts.question
    if not original or not rewrite:
        return []
    ask = _Asked(
        {w for c in question for w in c.folded},
        {v.key for c in question for v in c.values if v.kind in ("year", "quantity")},
        frozenset(w for c in question for w in c.content),
        offers_alternatives(item.question),
    )
    known = {v.key for c in original for v in c.values}
    sentences = _sentences(original)
    fixes: list[Correction] = []
    for claim in original:
        # Between clauses that restate as much of the claim, the one with the question's words answers it
        # ("directed by X and stars Z" as "Director: Y" and "Star: Z" for "who directed ...").
        scored = sorted(
            ((_similarity(claim, c), len(c.content & ask.content), i) for i, c in enumerate(rewrite)), reverse=True
        )
        best, answers, at = scored[0]
        candidates = []
        if best > 0 and not (len(scored) > 1 and scored[1][:2] == (best, answers)):
            candidates.append(rewrite[at])
        # A claim that answers the question is also restated by the one clause that answers it most ("who
        # painted the Blue Gate": "The Blue Gate was painted by X" -> "The Blue Gate (1913) is by Y").
        if ask.shares(claim):
            by_question = sorted(((ask.shares(c), i) for i, c in enumerate(rewrite)), reverse=True)
            most, at = by_question[0]
            if most and not (len(by_question) > 1 and by_question[1][0] == most):
                candidates.append(rewrite[at])
        for restated in candidates:
            found = _replaced(claim, restated, sentences[claim.sentence], original, known, ask, evidence, item)
            if found:
                fixes += found
                break
    return fixes


def _labelled(clause: _Clause, old: _Value) -> _Value | None:
    """The first of the values after ``clause``'s label that can take ``old``'s place ("Born: 1901,
    Bergen": "Bergen" for a place), not a word inside one of them ("20 October 1973": no month for a
    name)."""
    return next(
        (v for v in clause.values if v.start >= clause.label and v.start in clause.starts and _compatible(old, v)),
        None,
    )


@dataclass(frozen=True)
class _Asked:
    """What the question states: its words, its numbers, its claim words."""

    words: set[str]
    numbers: set[str]
    content: frozenset[str]
    #: the question offers values to choose between ("Lake Ard or Lake Bel?"): one of them is the answer
    choice: bool = False

    def states(self, value: _Value) -> bool:
        if self.choice:
            return False
        if value.kind in _NAMED:
            return set(value.key.split()) - _CONNECTORS <= self.words
        return value.kind != "word" and value.key in self.numbers

    def shares(self, clause: _Clause) -> int:
        """How many of the question's words (names too, which a question often writes in lower case)
        ``clause`` has."""
        return len({_root(w) for w in clause.folded if w not in _STOP} & {_root(w) for w in self.words - _STOP})


def _replaced(
    claim: _Clause,
    restated: _Clause,
    whole: _Clause,
    original: Sequence[_Clause],
    known: set[str],
    ask: _Asked,
    evidence: _Evidence,
    item: CheckInput,
) -> list[Correction]:
    """The values of ``claim`` that ``restated`` replaced; ``whole`` is the claim's sentence."""
    # An old value is gone when the restatement no longer states it (it may stay elsewhere as
    # background), or states it only away from its place, which a new value holds ("born in Oslo" ->
    # "born in Bergen ... moved to Oslo"); a value the question states is what it asks about, not the
    # answer ("the capital of Australia").
    gone = [v for v in claim.values if not ask.states(v)]
    new = [
        v
        for v in restated.values
        if v.key not in known and not any(c.has(v) for c in original) and evidence.support(v, whole)
    ]
    # Each new value takes the place of at most one old value: the one whose place it holds best
    # (the same words around it), then the one next to the question's words, then the nearest.
    choices = []
    for i, old in enumerate(gone):
        for k, v in enumerate(new):
            if not _compatible(old, v):
                continue
            place = _place(old, claim, v, restated)
            if restated.has(old) and (old.kind == "word" or place < _SAME_WORDS):
                continue
            # A value takes another's place only where it stands, or as the value after a label
            # that restates the claim ("opened in 1867" -> "Opened: 1869"); a plain word is a fact
            # only in its place at the claim's end, with the same two words before it.
            if old.kind == "word" and (place < 3 or old.end != len(claim.words)):
                continue
            if place < 1 and not (restated.label and v is _labelled(restated, old)):
                continue
            choices.append((place, _near(old, claim, ask.content), -abs(v.start - old.start), i, k))
    fixes = []
    taken_old: set[int] = set()
    taken_new: set[int] = set()
    for *_, i, k in sorted(choices, reverse=True):
        if i in taken_old or k in taken_new:
            continue
        taken_old.add(i)
        taken_new.add(k)
        source = source_of(new[k].text, item.evidence)
        if source:
            fixes.append(Correction.of(gone[i].text, new[k].text, source))
    return fixes


def _repaired(judged: Sequence[Correction], texts: _Texts, evidence: _Evidence) -> list[Correction]:
    """Judged changes of years, each paired with the new year that stands in its claim: the one whose
    sentences in the rewrite and in the evidence share most of the old year's sentence (a prize year
    with the prize year, not with a birth year the rewrite gives beside it), each new year for one old
    year, in their order among equals ("1950-1956" -> "1948–1954")."""
    years = [i for i, c in enumerate(judged) if _YEAR_RE.fullmatch(c.before)]
    if not years:
        return list(judged)
    item = texts.item
    original = list(_sentences(texts.original).values())
    known = {v.key for s in original for v in s.values}
    new = [
        (sentence, v, rank)
        for sentence in _sentences(texts.rewrite).values()
        for rank, v in enumerate(v for v in sentence.values if v.kind == "year" and v.key not in known)
    ]
    choices = []
    for i in years:
        before = judged[i].before
        claim = next((s for s in original if any(v.key == before for v in s.values)), None)
        if claim is None:
            continue
        rank = [v.key for v in claim.values if v.kind == "year"].index(before)
        for k, (sentence, v, at) in enumerate(new):
            support = evidence.support(v, claim)
            if support:
                score = support + _overlap(claim, sentence, {v.key, before})
                choices.append((score, -abs(at - rank), i, k))
    out = list(judged)
    taken_old: set[int] = set()
    taken_new: set[int] = set()
    for *_, i, k in sorted(choices, key=lambda c: (c[0], c[1], -c[2], -c[3]), reverse=True):
        if i in taken_old or k in taken_new:
            continue
        taken_old.add(i)
        taken_new.add(k)
        after = new[k][1].text
        source = source_of(after, item.evidence)
        if source and after != judged[i].after:
            out[i] = Correction.of(judged[i].before, after, source)
    return out


_WINDOW = 3  # words read on each side of a value for its role
_ROLE_END_RE = re.compile(r"[\n.;!?,()|]|\b(?:and|und|et|y|och|og|en|oraz|и)\b", re.IGNORECASE)
_MAX_ROLES = 5  # judged changes reassigned by role at most (every order of them is tried)


def _window(text: str, value: str) -> tuple[set[str], set[str]]:
    """The words (but small ones) just before and just after ``value`` in ``text``: its role ("directed
    by X", "Producer: X", "X produced")."""
    span = _span(value, text)
    if span is None:
        return set(), set()
    # Within the value's own part of the sentence: another role begins after a comma or an "and".
    before = [_root(_fold(w)) for w in _WORD_RE.findall(_ROLE_END_RE.split(text[: span[0]])[-1])[-_WINDOW:]]
    after = [_root(_fold(w)) for w in _WORD_RE.findall(_ROLE_END_RE.split(text[span[1] :])[0])[:_WINDOW]]
    return {w for w in before if w not in _STOP}, {w for w in after if w not in _STOP}


def _in_roles(judged: Sequence[Correction], item: CheckInput) -> list[Correction]:
    """Several judged changes of names, each new name given to the old name whose role it takes: the
    words around the old name in the original are around the new one in the rewrite or the evidence
    ("directed by A and produced by B" -> "C produced the film, which D directed": A -> D, B -> C)."""
    if not 2 <= len(judged) <= _MAX_ROLES:
        return list(judged)
    evidence = [f"{e.title}\n{e.text}" for e in item.evidence]
    roles = {}
    for c in judged:
        around = [_window(item.rewrite, c.after), *(_window(text, c.after) for text in evidence)]
        roles[c.after] = set().union(*(b | a for b, a in around))

    def fit(old: str, new: str) -> int:
        before, after = _window(item.original, old)
        return 2 * len(before & roles[new]) + len(after & roles[new])

    olds = [c.before for c in judged]
    news = [c.after for c in judged]
    if len(set(news)) != len(news):
        return list(judged)
    current = sum(fit(c.before, c.after) for c in judged)
    best = max(
        (sum(fit(o, n) for o, n in zip(olds, order, strict=True)), order) for order in itertools.permutations(news)
    )
    if best[0] <= current:
        return list(judged)
    by_new = {c.after: c for c in judged}
    return [Correction.of(o, n, by_new[n].source) for o, n in zip(olds, best[1], strict=True)]


# --- merging ------------------------------------------------------------------------------------------


def _plain(value: str) -> str:
    """``value``'s words alone, in lower case ("C. S. Lewis" = "c s lewis")."""
    return f" {' '.join(_WORD_RE.findall(value.lower()))} "


def _overlaps(a: Correction, b: Correction) -> bool:
    x, y = _plain(a.before), _plain(b.before)
    return x in y or y in x


def _same_new(a: Correction, b: Correction) -> bool:
    return _plain(a.after) == _plain(b.after)


def _covers(a: Correction, b: Correction) -> bool:
    """Whether ``a`` is ``b`` with more words around ("Apollo 12" -> "Apollo 11" for "12" -> "11")."""
    return _plain(b.before) in _plain(a.before) and _plain(b.after) in _plain(a.after)


def _span(value: str, text: str) -> tuple[int, int] | None:
    """Where ``text`` writes ``value``, in any case, or with other marks between its words ("C S Lewis"
    is written "C. S. Lewis")."""
    # As whole words: "St" is not the "st" of "first".
    whole = re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE) if value else None
    if whole:
        return whole.span()
    at = text.lower().find(value.lower())
    if at >= 0:
        return at, at + len(value)
    words = _WORD_RE.findall(value)
    found = re.search(r"[\W_]+".join(map(re.escape, words)), text, re.IGNORECASE) if words else None
    return found.span() if found else None


_DAY_MONTH_RE = re.compile(r"\d{1,2}\.? [^\W\d_]+")
_YEAR_AFTER_RE = re.compile(r",? (1\d{3}|20\d{2})\b")


def _as_written(c: Correction, original: str, rewrite: str) -> Correction:
    """``c`` with its values as the original and the rewrite write them (a judge may give them in lower
    case), and a changed day and month with the year both texts give after it: the date whole ("28 June
    1914" -> "28 July 1914", not "28 June" -> "28 july")."""
    old, new = _span(c.before, original), _span(c.after, rewrite)
    before = original[old[0] : old[1]] if old else c.before
    after = rewrite[new[0] : new[1]] if new else c.after
    if old and new and _DAY_MONTH_RE.fullmatch(before) and _DAY_MONTH_RE.fullmatch(after):
        year, same = _YEAR_AFTER_RE.match(original, old[1]), _YEAR_AFTER_RE.match(rewrite, new[1])
        if year and same and year.group(1) == same.group(1):
            before, after = original[old[0] : year.end()], rewrite[new[0] : same.end()]
    return c if (before, after) == (c.before, c.after) else Correction.of(before, after, c.source)


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


# --- safety: a record is never misleading -----------------------------------------------------------

# A value joined to the next or the previous one without a space is part of one value: a score, a range,
# a decimal, a date ("2-1", "1950–1956", "2.5", "12/05") or a hyphenated name ("Jean-Pierre").
_JOINED_AFTER_RE = re.compile(r"(?:[-‐‑–—/:.,]\d+|[-‐‑–/'’][^\W\d_][\w]*)+")
_JOINED_BEFORE_RE = re.compile(r"(?:\d+[-‐‑–—/:.,]|[^\W\d_][\w]*[-‐‑–/'’])+$")
# A short abbreviation opens a longer name ("St. Moritz", "Mt. Kenya", "Ft. Worth").
_ABBREVIATION_RE = re.compile(r"[^\W\d_]{1,3}")
_NAME_AFTER_DOT_RE = re.compile(r"\.[ \t]+[^\W\d_][\w'’-]*(?:[ \t]+[^\W\d_][\w'’-]*)*")
# A word that marks an organisation or an institution ("the University of Toronto", "the Supreme Court").
_INSTITUTIONS = frozenset(
    "university universitat universite universidad universita college school institute institut academy "
    "court tribunal museum gallery church cathedral hospital company corporation corp inc ltd bank council "
    "parliament senate congress ministry department agency committee commission foundation society "
    "association club league party library laboratory observatory".split()
)


def _whole_value(value: str, text: str) -> str | None:
    """``value`` as ``text`` writes it whole: with the parts joined to it ("2" of "2-1" is "2-1") and the
    name an abbreviation opens ("St" of "St. Moritz"); None when ``text`` does not write it."""
    span = _span(value, text)
    if span is None:
        return None
    start, end = span
    after = _JOINED_AFTER_RE.match(text, end)
    if after and (value[-1:].isdigit() == after.group()[1:2].isdigit()):
        end = after.end()
    before = _JOINED_BEFORE_RE.search(text[:start])
    if before and (value[:1].isdigit() == before.group()[:1].isdigit()):
        start = before.start()
    written = text[start:end]
    if _ABBREVIATION_RE.fullmatch(written) and written[0].isupper():
        name = _NAME_AFTER_DOT_RE.match(text, end)
        if name and name.group().lstrip(". \t")[:1].isupper():
            written = text[start : _name_end(text, end, name)]
    return written


def _name_end(text: str, start: int, name: re.Match[str]) -> int:
    """Where the capitalised words after an abbreviation's dot end (its name, not the next sentence)."""
    end = start + 1
    for word in re.finditer(r"[ \t]+([^\W\d_][\w'’-]*)", text[start + 1 : name.end()]):
        if not word.group(1)[0].isupper():
            break
        end = start + 1 + word.end()
    return end


def _kind(value: str) -> str:
    """What a recorded value is: a year, another number, an organisation, or another name."""
    words = [_fold(w) for w in _WORD_RE.findall(value)]
    # A year and a date are one kind, however written ("1991", "April 24, 1991", "24 April 1990").
    if _YEAR_RE.fullmatch(value) or any(w in _MONTHS for w in words):
        return "date"
    if value[:1].isdigit():
        return "number"
    if any(_root(w) in _INSTITUTIONS or w in _INSTITUTIONS for w in words):
        return "organisation"
    return "name"


def _safe(c: Correction, original: str, rewrite: str) -> Correction | None:
    """``c`` with each value written whole, or None when it could mislead: values of two kinds (a place
    for a university, a court for a person, a year for a count) or two variants of one name."""
    before = _whole_value(c.before, original) or c.before
    after = _whole_value(c.after, rewrite) or c.after
    if _plain(before) == _plain(after):
        return None
    if _kind(before) != _kind(after):
        return None
    if _kind(before) in ("name", "organisation") and same_name(before, after):
        return None
    return c if (before, after) == (c.before, c.after) else Correction.of(before, after, c.source)
