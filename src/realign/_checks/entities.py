"""Names that carry an answer: people, titles, places, organisations, and the numbers inside them.

A rewrite that keeps every number can still change the answer by swapping one name for another
("Agent O is played by Emma Thompson" -> "Alice Eve plays Agent O"). :class:`EntitiesKept` reads
the names of the original (capitalised runs of words, quoted titles) and asks that each survive in
the rewrite, compared without case, accents or the small words that come and go ("the Louvre" /
"Louvre Museum", "Bogotá" / "Bogota", "United States" / "US").

It reads conservatively, because a refused faithful rewrite costs a good training row:
- a name the question already states may be left out (the rewrite need not repeat the question),
  unless the question offers alternatives ("Lincoln or Washington?");
- a sentence's first word counts as a name only when it does not read as an ordinary word;
- in German, where every noun is capitalised, only names of several words and quoted titles count;
- scripts without letter case (Chinese, Japanese, Arabic...) have only their quoted titles read.

Two swaps that keep every name are also caught: the name a rewrite puts in bold as its answer is
another name of the original than the one the original answers with, and the items of a numbered
list of names come in another order.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .._models import Correction, Evidence
from .._types import CheckInput
from .base import Guard, Verdict, refuse
from .lang import detect_language
from .skips import ENTITY_SKIP_TASKS

__all__ = [
    "ENTITY_SKIP_TASKS",
    "EntitiesKept",
    "Entity",
    "EntityVerdict",
    "entities",
    "find_entity",
    "judge",
    "normalize",
    "source_of",
]

# --- normalisation --------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"[^\W_]+(?:['.-][^\W_]+)*", re.UNICODE)
# The same on folded ASCII text, which is lowercase: faster than testing each character's category.
_ASCII_TOKEN_RE = re.compile(r"[a-z0-9]+(?:['.-][a-z0-9]+)*")


# Combining marks (accents) as NFKD writes them apart from their letters.
_COMBINING_RE = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def _fold(text: str) -> str:
    """Case, accents and apostrophe forms taken out: ``Bogotá`` and ``bogota`` read alike."""
    if text.isascii():
        return text.replace("`", "'").lower()
    # Four replace() calls rather than one translate(): much faster on a long text.
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u02bc", "'").replace("`", "'")
    decomposed = unicodedata.normalize("NFKD", text)
    return _COMBINING_RE.sub("", decomposed).casefold()


# A possessive "'s" at a token's end, in the tokens joined by spaces.
_POSSESSIVE_RE = re.compile(r"'s(?= |$)")


def _tokens(folded: str) -> list[str]:
    """The words of folded text, a possessive ``'s`` and abbreviation dots taken off."""
    found = (_ASCII_TOKEN_RE if folded.isascii() else _TOKEN_RE).findall(folded)
    if "'" not in folded and "." not in folded:
        return found  # nothing to take off: most texts
    # On the tokens joined by spaces, at once rather than token by token (the same words): a token's
    # apostrophes and dots stand only inside it, between letters, so "'s" before a space or the end
    # ends a token; "Ankara'dır", "l'Australie": the apostrophe joins a name and a suffix or an article.
    joined = " ".join(found)
    if "'" in joined:
        joined = _POSSESSIVE_RE.sub("", joined).replace("'", " ")
    return joined.replace(".", "").split()


def normalize(text: str) -> str:
    """``text`` as the entity check compares it: folded words joined by single spaces."""
    return " ".join(_tokens(_fold(text)))


# Words that come and go around a name without changing what it names.
_GENERIC = frozenset(
    "the a an of de del della di da do dos das du des la le les el los van von der den ten zu y e and & "
    "museum gallery river city town mount mt lake ocean sea island islands inc corp corporation company co "
    "ltd llc plc group band university college film movie album song novel book series show "
    "saint st".split()
)
# Words that start a place's name rather than a person's: "Northern Ireland" is not "Ireland".
_PLACE_HEADS = frozenset(
    "north south east west northern southern eastern western new great united upper lower old central "
    "greater little big saint st san santa fort port lake mount cape".split()
)
# A few names whose usual short forms share no word with them.
_VARIANTS: dict[str, tuple[str, ...]] = {
    "united states": ("us", "usa", "america", "united states of america"),
    "united states of america": ("us", "usa", "america", "united states"),
    "united kingdom": ("uk", "britain", "great britain"),
    "great britain": ("uk", "britain", "united kingdom"),
    "soviet union": ("ussr",),
    "european union": ("eu",),
    "united nations": ("un",),
    "new york city": ("nyc", "new york"),
}


@dataclass(frozen=True, slots=True)
class Entity:
    """One name of a text: as written, and its folded words."""

    text: str
    start: int
    words: tuple[str, ...]

    @property
    def core(self) -> frozenset[str]:
        """The words that must be kept for the name to be kept (generic words aside)."""
        core = frozenset(w for w in self.words if w not in _GENERIC)
        return core or frozenset(self.words)

    @property
    def folded(self) -> str:
        return " ".join(self.words)


# --- reading names ----------------------------------------------------------------------------------

# Capitalised words that open sentences or label lines and are not names.
_COMMON_CAPS = frozenset(
    """a an the this that these those there here it its he she they we you i his her their our your my
    in on at by for from with without to of as and or but nor so yet if when while after before since
    until because although though however therefore thus also then first second third finally overall
    yes no not none all both each every some many most more few several other another such what which
    who whom whose where why how is are was were be been being has have had do does did can could may
    might must shall should will would one two three four five six seven eight nine ten
    note answer final result summary conclusion example step total today according unlike like
    during between among about above below over under into onto upon within through throughout
    instead only just even still already yet again almost around approximately roughly about
    cause effect reason outcome damage method check short long correct option choice explanation key
    let start use try consider mix add set make take keep remember avoid choose combine stir place put get
    go see find look read write ask tell give turn open click select press preheat serve cook bake boil
    heat cut pour wash rinse apply ensure include follow begin plan call visit buy sell pay save move
    true false correct incorrect neither either traditional modern classic basic simple common general
    typical important main popular best top price ratio time stop day week month year morning evening
    earth sun moon world god internet web
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday""".split()
)
# What follows a verb opening an instruction, and never a name opening a sentence ("Try to", "Add a").
_AFTER_VERB = frozenset(
    "the a an your my our their this that these those to with by for in on at up out off it them him her "
    "you us me some any all each every one two three".split()
)
_MONTHS_DAYS = frozenset(
    """january february march april may june july august september october november december jan feb mar
    apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday sunday""".split()
)
# Words that may stand inside a name between capitalised words ("Bank of America", "Leonardo da Vinci").
_CONNECTORS = frozenset("of the de del della di da do dos das du des la le van von der den ten y e &".split())
_QUOTED_RE = re.compile(
    r"\"([^\"\n]{2,80})\"|\u201c([^\u201d\n]{2,80})\u201d|\u00ab([^\u00bb\n]{2,80})\u00bb"
    r"|\u201e([^\u201c\u201d\n]{2,80})[\u201c\u201d]|\u300a([^\u300b\n]{1,40})\u300b"
    r"|\u300c([^\u300d\n]{1,40})\u300d"
)
_WORD_RE = re.compile(r"[^\W_]+(?:['\u2019.-][^\W_]+)*\.?|\d+(?:[.,:]\d+)*", re.UNICODE)
# Markdown marks: ``**``, ``__``, an emphasis mark that opens or closes a word, a heading's ``#``s or
# a quote's ``>`` at a line's start, a backtick. Written to start with a character class (each branch
# then checks the character read first with a lookbehind; "at a line's start" is "after no character
# but a line break"), so that the regex engine skips to the next place a match can start instead of
# trying every branch everywhere; it matches what this does, at the same places:
# ``\*\*|__|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)|^#{1,6}\s+|^>\s?|` `` (multiline, without the space).
_MARKS_RE = re.compile(
    r"[*_#>`](?:(?<=\*)\*|(?<=_)_|(?<=[*_])(?<!\w[*_])(?=\S)|(?<=[*_])(?<=\S[*_])(?!\w)"
    r"|(?<=#)(?<![^\n]#)#{0,5}\s+|(?<=>)(?<![^\n]>)\s?|(?<=`))"
)
_CODE_RE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_URL_RE = re.compile(r"https?://\S+|www\.\S+")
# What ends a sentence or a line's label: the next word opens a sentence.
_SENTENCE_BREAK_RE = re.compile(r"[.!?:;\n\u3002]\s*$")
_LIST_MARKER_RE = re.compile(r"\s*(?:[-*+]|\d{1,2}[.)])\s*")


# A number that belongs to the name before it: "Apollo 11", "Windows 1.0" (not a score "1-0").
_NAME_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


@functools.lru_cache(maxsize=64)
def _clean(text: str) -> str:
    """Code, URLs and markdown marks blanked (same length, so positions carry over)."""

    def blank(m: re.Match[str]) -> str:
        return " " * len(m.group())

    text = _CODE_RE.sub(blank, text) if "```" in text else text
    text = _URL_RE.sub(blank, text) if "://" in text or "www." in text else text
    return _MARKS_RE.sub(blank, text)


def _is_cap(word: str) -> bool:
    first = word[0]
    return first.isupper() or (first.isalpha() and word.lower() != word)  # iPhone, eBay


def _is_number(word: str) -> bool:
    return word[0].isdigit()


def _opens_sentence(text: str, start: int) -> bool:
    # The line's start (after marks or a list marker), or a sentence's end before the word.
    head = text[text.rfind("\n", 0, start) + 1 : start]
    return (
        not head.strip(" \t-*+>#()[]\"'\u201c\u00ab")
        or bool(_LIST_MARKER_RE.fullmatch(head))
        or bool(_SENTENCE_BREAK_RE.search(text[max(0, start - 6) : start]))
    )


def _words_of(text: str) -> list[tuple[str, int]]:
    out = []
    for m in _WORD_RE.finditer(text):
        word = m.group()
        if word[-1] == "." and not _abbreviation(word):
            word = word.rstrip(".")
        out.append((word, m.start()))
    return out


def _abbreviation(word: str) -> bool:
    # "U.S.", "St.", "Jr." keep their dot; a sentence's last word does not.
    return word.endswith(".") and ("." in word[:-1] or word[:-1] in ("St", "Jr", "Sr", "Dr", "Mt", "Mr", "Mrs"))


_ELISION_RE = re.compile(r"^(?:l|d|j|c|s|n|m|t|qu)'[^\W\d_]", re.IGNORECASE)


def _ordinary(word: str, lower_words: frozenset[str]) -> bool:
    """A capitalised word that reads as an ordinary word: a common one, one the text also writes in
    lower case, or an elided article or pronoun ("L'ha", "C'est")."""
    folded = _fold(word).rstrip(".")
    return folded in _COMMON_CAPS or folded in lower_words or bool(_ELISION_RE.match(folded))


_DEMONYM_RE = re.compile(r"(?:an|ese|ish|ic|i)$")  # Colombian, Chinese, British, Icelandic, Iraqi


def _adjective(run: Sequence[tuple[str, int]], clean: str) -> bool:
    """A lone capitalised word that qualifies a noun: "the Colombian author", "an American band"."""
    if len(run) != 1:
        return False
    word, start = run[0]
    after = clean[start + len(word) : start + len(word) + 2]
    return bool(_DEMONYM_RE.search(_fold(word))) and after[:1] == " " and after[1:2].islower()


@functools.lru_cache(maxsize=64)
def _read(text: str, lang: str) -> tuple[Entity, ...]:
    clean = _clean(text)
    words = _words_of(clean)
    # Each word once: a long text repeats its common words.
    lower_words = frozenset(w.lower() if w.isascii() else _fold(w) for w in {w for w, _ in words if w[0].islower()})
    found: list[Entity] = []
    run: list[tuple[str, int]] = []
    opened = False  # the run starts a sentence

    def close() -> None:
        nonlocal opened
        while run and _fold(run[-1][0]) in _CONNECTORS:
            run.pop()
        if opened and lang != "en" and len(run) > 1:
            run.pop(0)  # outside English, a sentence's first word is not known to be a name
        names = [w for w, _ in run if not _is_number(w) and _fold(w) not in _CONNECTORS]
        single_ok = lang == "en" or not opened
        german_noun = lang == "de" and len(names) < 2
        if names and not german_noun and (len(run) > 1 or single_ok) and not _adjective(run, clean):
            start, end = run[0][1], run[-1][1] + len(run[-1][0])
            found.append(Entity(clean[start:end], start, tuple(_tokens(_fold(clean[start:end])))))
        run.clear()
        opened = False

    for i, (word, start) in enumerate(words):
        if not run and word[0].islower() and word.lower() == word:
            continue  # an ordinary word, the most common case
        joined = False
        if run:
            gap = clean[words[i - 1][1] + len(words[i - 1][0]) : start]
            joined = gap in (" ", "-", " - ", " & ")
            if not joined:
                close()
        folded = _fold(word).rstrip(".")
        if _is_cap(word) and folded not in _MONTHS_DAYS and word != "I":
            if not run:
                opens = _opens_sentence(clean, start)
                if folded in _COMMON_CAPS or (opens and _ordinary(word, lower_words)):
                    continue
                if opens and i + 1 < len(words) and _fold(words[i + 1][0]) in _AFTER_VERB:
                    continue  # "Use the ...", "Mix 1 cup": a verb that opens an instruction
                opened = opens
            run.append((word, start))
        elif run and joined and (folded in _CONNECTORS or (_is_number(word) and _NAME_NUMBER_RE.fullmatch(word))):
            run.append((word, start))
        elif _is_number(word) and i + 1 < len(words) and not run:
            # A number just before a capitalised name belongs to it ("2016 Summer Olympics").
            nxt, nstart = words[i + 1]
            nfold = _fold(nxt).rstrip(".")
            attached = clean[start + len(word) : nstart] in (" ", "-") and _is_cap(nxt)
            if attached and nfold not in _COMMON_CAPS and nfold not in _MONTHS_DAYS:
                opened = _opens_sentence(clean, start)
                run.append((word, start))
        elif run:
            close()
    if run:
        close()
    for m in _QUOTED_RE.finditer(clean):
        inner = next(g for g in m.groups() if g is not None)
        words_in = _tokens(_fold(inner))
        if words_in and len(words_in) <= 10:
            found.append(Entity(inner, m.start() + 1, tuple(words_in)))
    found.sort(key=lambda e: e.start)
    return tuple(e for e in found if e.words)


def _lang(text: str) -> str:
    """The language whose capitalisation rules the text is read with: English also for text too short
    to tell, when it has only ASCII letters."""
    lang = detect_language(text).lang
    return "en" if lang == "und" and text.isascii() else lang


def entities(text: str) -> tuple[Entity, ...]:
    """The names of ``text``, in order: capitalised runs of words (with the numbers and small words
    inside them) and quoted titles."""
    return _read(text, _lang(text))


# --- finding a name in another text ----------------------------------------------------------------

_ACRONYM_SKIP = frozenset({"and", "of", "the", "for", "&", "de", "du", "des", "la", "le"})


class _Text:
    """What the search for names reads of a text: its folded words (in order, as a set, and joined
    with spaces around), and its names when asked."""

    __slots__ = ("_entities", "joined", "lang", "sequence", "text", "words")

    def __init__(self, text: str, lang: str) -> None:
        self.text, self.lang = text, lang
        self.sequence = tuple(_tokens(_fold(_clean(text))))
        self.words = frozenset(self.sequence)
        self.joined = f" {' '.join(self.sequence)} "
        self._entities: tuple[Entity, ...] | None = None

    @property
    def entities(self) -> tuple[Entity, ...]:
        if self._entities is None:
            self._entities = _read(self.text, self.lang)
        return self._entities


@functools.lru_cache(maxsize=64)
def _view(text: str, lang: str) -> _Text:
    return _Text(text, lang)


def _spelled_out(acronym: str, view: _Text) -> bool:
    """Whether ``view`` has a run of words whose initials spell ``acronym`` (NASA)."""
    first = acronym[0]
    for i, word in enumerate(view.sequence):
        if word[0] != first:
            continue
        spelled = ""
        for later in view.sequence[i:]:
            if later in _ACRONYM_SKIP:
                continue
            spelled += later[0]
            if not acronym.startswith(spelled):
                break
            if spelled == acronym:
                return True
    return False


_ACRONYM_RE = re.compile(r"\b[A-Z]{2,6}\b")


@functools.lru_cache(maxsize=256)
def _acronyms(text: str) -> frozenset[str]:
    return frozenset(m.group().lower() for m in _ACRONYM_RE.finditer(text.replace(".", "")))


def _found(entity: Entity, view: _Text) -> bool:
    core = entity.core
    if core <= view.words:
        return True
    if f" {entity.folded} " in view.joined:
        return True
    for variant in _VARIANTS.get(" ".join(w for w in entity.words if w != "the"), ()):
        if f" {variant} " in view.joined:
            return True
    words = [w for w in entity.words if w not in _ACRONYM_SKIP]
    if len(words) >= 2 and "".join(w[0] for w in words) in view.words:
        return True  # North Atlantic Treaty Organization -> NATO
    # An acronym written out (NASA -> National Aeronautics and Space Administration), alone or in a name.
    missing = core - view.words
    if missing and all(w in _acronyms(entity.text) and _spelled_out(w, view) for w in missing):
        return True
    return _surname_kept(entity, view) or _demonym_kept(entity, view)


def _demonym_kept(entity: Entity, view: _Text) -> bool:
    """A country named by its adjective: "Germany surrendered" -> "the German surrender"."""
    if len(entity.words) != 1 or len(entity.words[0]) < 5 or not entity.words[0].isalpha():
        return False
    stem = entity.words[0][:-1]
    return any(w.startswith(stem) and w != entity.words[0] and _DEMONYM_RE.search(w) for w in view.words)


def _surname_kept(entity: Entity, view: _Text) -> bool:
    """A person named by the surname alone ("Gabriel García Márquez" -> "García Márquez"), unless the
    other text gives that surname to someone else (Tina Turner -> Ike Turner)."""
    words = entity.words
    if not 2 <= len(words) <= 4 or words[0] in _PLACE_HEADS or any(w[0].isdigit() for w in words):
        return False
    last = words[-1]
    if len(last) < 3 or last in _GENERIC or last not in view.words:
        return False
    for other in view.entities:
        if len(other.words) >= 2 and other.words[-1] == last and not set(other.words) <= set(words):
            return False
    return True


def find_entity(entity: Entity, text: str) -> bool:
    """Whether ``text`` names ``entity`` (case, accents, small words and common short forms aside)."""
    return _found(entity, _view(text, _lang(text)))


# --- the check ----------------------------------------------------------------------------------

_ANSWER_TASKS = frozenset({"open_qa", "closed_qa", "fact_verification", "explain_answer", "default"})
_BOLD_RE = re.compile(r"\*\*([^*\n]{1,80})\*\*|__([^_\n]{1,80})__")
# A numbered item: "1. Russia", "2) Canada", at the start or after a space. Written to start with a
# digit (the lookbehind then checks what comes before it), so that the regex engine skips to the next
# digit instead of trying the pattern everywhere; it matches what
# ``(?:^|(?<=\s))(\d{1,2})[.)]\s+([^\n]+?)(?=\s+\d{1,2}[.)]\s|\n|$)`` does, at the same places.
_NUMBERED_RE = re.compile(r"(\d(?<!\S\d)\d?)[.)]\s+([^\n]+?)(?=\s+\d{1,2}[.)]\s|\n|$)")
_ALTERNATIVES_RE = re.compile(r"\bor\b|\bvs\.?\b|\bversus\b|\boder\b|\bили\b", re.IGNORECASE)


def _listed(names: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


class EntityVerdict:
    """What the entity check found for one rewrite: names dropped, names new to it, and why."""

    def __init__(
        self,
        dropped: list[Entity],
        new: list[Entity],
        reason: str | None = None,
        corrections: Sequence[Correction] = (),
    ) -> None:
        self.dropped = dropped
        self.new = new
        self.reason = reason
        #: names changed to what the evidence says (accepted)
        self.corrections = list(corrections)

    @property
    def ok(self) -> bool:
        return not self.dropped and self.reason is None

    def explain(self) -> str:
        if self.reason is not None:
            return self.reason
        dropped = [e.text for e in self.dropped]
        new = list(dict.fromkeys(e.text for e in self.new))
        if len(dropped) == 1 and len(new) == 1:
            return f"swapped: {dropped[0]} -> {new[0]}"
        text = f"dropped: {_listed(dropped)}"
        return text + (f"; new: {_listed(new)}" if new else "")


def _new_names(original: _Text, question: _Text, rewrite: _Text) -> list[Entity]:
    known = original.words | question.words
    return [e for e in rewrite.entities if not e.core <= known and not _found(e, original)]


_OPENING_RE = re.compile(r"\s*(?:(?:the|a|an)\s+)?", re.IGNORECASE)


def _opens_with(text: str, entity: Entity) -> bool:
    """Whether ``text`` starts with ``entity`` (after marks and an article)."""
    clean = _clean(text)
    return _OPENING_RE.match(clean).end() == entity.start  # type: ignore[union-attr]


def _bold_answer(rewrite: str, names: Sequence[Entity], lang: str) -> Entity | None:
    """The first of ``names`` that the rewrite puts in bold, if any."""
    for m in _BOLD_RE.finditer(rewrite):
        span = _view(m.group(1) or m.group(2), lang)
        for entity in names:
            # The bold text is that name and no more ("**Saturn**", not "**Saturn's rings**").
            if _found(entity, span) and span.words - {"the", "a", "an"} <= set(entity.words):
                return entity
    return None


_ITEM_PAREN_RE = re.compile(r"\([^()]*\)")
_ITEM_END_RE = re.compile(r"\s*(?:[:\u2013\u2014,]|\s-\s).*$")


@functools.lru_cache(maxsize=64)
def _numbered_keys(original: str) -> tuple[str, ...] | None:
    """The items of ``original``'s numbered list of short items (names, terms), normalised; None
    when it has no such list (read once per original, not once per candidate)."""
    keys = []
    for m in _NUMBERED_RE.finditer(_clean(original)):
        key = normalize(_ITEM_END_RE.sub("", _ITEM_PAREN_RE.sub(" ", m.group(2))))
        if not key or len(key.split()) > 4:
            return None  # steps or sentences, not a list of names
        keys.append(key)
    return tuple(keys) if len(keys) >= 2 else None


def _order_changed(original: str, view: _Text) -> str | None:
    """The items of the original's numbered list of short items (names, terms), when the rewrite
    has them all but in another order: a ranking or a sequence reordered."""
    keys = _numbered_keys(original)
    if keys is None:
        return None
    positions = []
    for key in keys:
        at = view.joined.find(f" {key} ")
        if at < 0:
            return None
        positions.append(at)
    if positions == sorted(positions):
        return None
    return "order changed: " + " > ".join(keys)


def _new_bold_answer(rewrite: str, original: _Text, question: _Text, lang: str) -> str | None:
    """A name the rewrite puts in bold, as its answer, that neither the original nor the question has."""
    for m in _BOLD_RE.finditer(rewrite):
        inner = (m.group(1) or m.group(2)).strip()
        if inner.endswith(":") or rewrite[m.end() : m.end() + 1] == ":":
            continue  # a label ("**Cause:**"), not an answer
        for entity in _read(inner, lang):
            if len(entity.core) >= 2 and entity.core.isdisjoint(original.words | question.words):
                return entity.text
        return None  # only the first bold span is read as the answer
    return None


def source_of(value: str, evidence: Sequence[Evidence]) -> str:
    """Where ``value`` is found in ``evidence`` (all its words, in any order: "November 9, 1989" is in
    "9 November 1989"): the first such item's URL, else its title, else ``evidence[N]``."""
    wanted = set(_tokens(_fold(value)))
    for i, item in enumerate(evidence, 1):
        if wanted <= set(_tokens(_fold(f"{item.title} {item.text}"))):
            return item.url or item.title or f"evidence[{i}]"
    return ""


def _kept(entity: Entity, rewrite: _Text, question: _Text) -> bool:
    if _found(entity, rewrite):
        return True
    # A name the question half states ("Boeing" of "Boeing 747") is kept by its other words.
    rest = entity.core - question.words
    return bool(rest) and rest <= rewrite.words


def judge(item: CheckInput, *, corrections: bool = True) -> EntityVerdict:
    """The entity check's reading of ``item``: see :class:`EntitiesKept`.

    With ``corrections`` and evidence, a dropped name the evidence does not support, replaced by a
    name the evidence has, is a correction rather than a swap (see :attr:`EntityVerdict.corrections`).
    """
    lang = _lang(item.original)
    original = _view(item.original, lang)
    if not original.entities:
        # The rewrite is read only when the original has a numbered list to compare.
        order = (
            None if _numbered_keys(item.original) is None else _order_changed(item.original, _view(item.rewrite, lang))
        )
        return EntityVerdict([], [], order)
    rewrite = _view(item.rewrite, lang)
    question = _view(item.question, lang)
    alternatives = bool(_ALTERNATIVES_RE.search(item.question))
    wanted = [
        e for e in dict((e.folded, e) for e in original.entities).values() if alternatives or not _found(e, question)
    ]
    dropped = [e for e in wanted if not _kept(e, rewrite, question)]
    evidence = _view("\n".join(f"{ev.title}\n{ev.text}" for ev in item.evidence), lang) if item.evidence else None
    # The rewrite's own names are read only to explain a drop or to find a correction.
    new = _new_names(original, question, rewrite) if dropped else []
    fixes: list[Correction] = []
    if dropped and corrections and evidence is not None:
        supported = [e for e in new if e.core <= evidence.words]
        unsupported = [e for e in dropped if not _found(e, evidence)]
        if supported and len(unsupported) == len(dropped):
            for i, gone in enumerate(dropped):
                after = supported[min(i, len(supported) - 1)].text
                fixes.append(Correction.of(gone.text, after, source_of(after, item.evidence)))
            dropped = []
            new = [e for e in new if e not in supported]
    if dropped:
        return EntityVerdict(dropped, new)
    if item.task in _ANSWER_TASKS and wanted and not fixes:
        # An original that opens with a name answers with it ("Jupiter is the largest planet..."): another
        # of its names, put in bold as the rewrite's answer, took its place.
        if _opens_with(item.original, wanted[0]):
            bold = _bold_answer(item.rewrite, wanted[1:], lang)
            if bold is not None and not _found(wanted[0], _view(bold.text, lang)):
                return EntityVerdict([], [], f"answer changed: {wanted[0].text} -> {bold.text}")
        invented = _new_bold_answer(item.rewrite, original, question, lang)
        if invented is not None:
            return EntityVerdict([], [], f"answer changed: {wanted[0].text} -> {invented}")
    order = _order_changed(item.original, rewrite)
    if order is not None:
        return EntityVerdict([], [], order)
    return EntityVerdict([], [], corrections=fixes)


class EntitiesKept(Guard):
    """Reject a rewrite that drops or swaps a name of the original (see the module's notes).

    The refusal's explanation names what changed: ``swapped: Emma Thompson -> Alice Eve``,
    ``dropped: Paul Allen``, ``answer changed: Jupiter -> Saturn``, ``order changed: ...``.
    """

    name = "entities"
    default_skip_tasks = ENTITY_SKIP_TASKS

    def __init__(
        self,
        *,
        corrections: bool = True,
        tasks: Iterable[str] | None = None,
        skip_tasks: Iterable[str] | None = None,
    ) -> None:
        super().__init__(tasks=tasks, skip_tasks=skip_tasks)
        self.corrections = corrections

    def check(self, item: CheckInput) -> bool | Verdict:
        verdict = judge(item, corrections=self.corrections)
        return True if verdict.ok else refuse(verdict.explain())
