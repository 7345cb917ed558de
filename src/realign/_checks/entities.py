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

import difflib
import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from .._models import Correction, Evidence
from .._types import CheckInput
from .base import Guard, Verdict, refuse
from .lang import detect_language
from .numbers import NUMBER_WORDS, value_set, word_mentions
from .skips import ENTITY_SKIP_TASKS

__all__ = [
    "ENTITY_SKIP_TASKS",
    "ROLE_TASKS",
    "EntitiesKept",
    "Entity",
    "EntityVerdict",
    "entities",
    "find_entity",
    "fold_text",
    "judge",
    "normalize",
    "number_replaced",
    "offers_alternatives",
    "same_name",
    "source_of",
    "unit_changed",
]

# --- normalisation --------------------------------------------------------------------------------

# A hyphen separates words: "Blink-182" is "Blink 182", "Jagger-Richards" names Richards.
_TOKEN_RE = re.compile(r"[^\W_]+(?:['.][^\W_]+)*", re.UNICODE)
# The same on folded ASCII text, which is lowercase: faster than testing each character's category.
_ASCII_TOKEN_RE = re.compile(r"[a-z0-9]+(?:['.][a-z0-9]+)*")


# Combining marks (accents) as NFKD writes them apart from their letters.
_COMBINING_RE = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


# Letters that NFKD does not split into a base letter and an accent, as names are written without
# them: "Jón Þór Birgisson" is "Jon Thor Birgisson", "Bjørndalen" "Bjorndalen", "Łódź" "Lodz" (casefold
# writes "ß" as "ss" and the capitals in lower case first).
_LETTERS = str.maketrans({"þ": "th", "ð": "d", "đ": "d", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l"})
_LETTERS_RE = re.compile("[þðđæøœł]")


def fold_text(text: str) -> str:
    """Case, accents and apostrophe forms taken out: ``Bogotá`` and ``bogota`` read alike, and
    ``Þór`` and ``Thor``. The one fold of names for the checks (entities, corrections)."""
    if text.isascii():
        return text.replace("`", "'").lower()
    # Four replace() calls rather than one translate(): much faster on a long text.
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u02bc", "'").replace("`", "'")
    decomposed = unicodedata.normalize("NFKD", text)
    folded = _COMBINING_RE.sub("", decomposed).casefold()
    return folded.translate(_LETTERS) if _LETTERS_RE.search(folded) else folded


_fold = fold_text


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
    "academy award": ("oscar", "academy awards", "oscars"),
    "academy awards": ("oscar", "oscars", "academy award"),
    # "World" opens many sentences and is read as an ordinary word: the name is then "War II".
    "war ii": ("second world war", "world war 2", "wwii", "ww2"),
    "world war ii": ("second world war", "world war 2", "wwii", "ww2"),
    "war i": ("first world war", "world war 1", "wwi", "ww1", "great war"),
    "world war i": ("first world war", "world war 1", "wwi", "ww1", "great war"),
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
_SCORE_AFTER_RE = re.compile(r"\s?[-\u2013\u2014:]\s?\d")
_DIGIT_RE = re.compile(r"\d")


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
    out: list[tuple[str, int]] = []
    for m in _WORD_RE.finditer(text):
        word = m.group()
        # A middle initial keeps its dot: "Robert E. Lee" is one name; so does an initial before
        # another one: "J. R. R. Tolkien".
        if word[-1] == "." and not _abbreviation(word):
            initial = len(word) == 2 and word[0].isupper() and bool(out) and out[-1][0][0].isupper()
            initial = initial or (
                len(word) == 2 and word[0].isupper() and _INITIAL_NEXT_RE.match(text, m.end()) is not None
            )
            if not initial:
                word = word.rstrip(".")
        out.append((word, m.start()))
    return out


_INITIAL_NEXT_RE = re.compile(r" [A-Z]\.")


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
        elif (
            run
            and joined
            and (
                folded in _CONNECTORS
                or (
                    _is_number(word)
                    and _NAME_NUMBER_RE.fullmatch(word)
                    # A score or a range ("the Netherlands 1–0", "pages 4-7") is no part of the name.
                    and not _SCORE_AFTER_RE.match(clean, start + len(word))
                )
            )
        ):
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


# Where a sentence (or a line, a list item, a table row) ends; and, inside one, where a clause does:
# at a comma, or before a word that joins two ("and"), which stays a word of the text. Written to
# start with a character (class), never with a run of spaces that the engine would try again from
# each of its spaces (code blocks are blanked to long runs of them).
_SENTENCE_SPLIT_RE = re.compile(r"[.!?;\u3002]\s|\n")
_CLAUSE_SPLIT_RE = re.compile(r"[.!?;\u3002,]\s|\n|\s(?=(?:and|und|et|y|e|og|och|en|i|и)\s)")
# A word no text has, put where a part ends: the text is tokenised in one pass.
_SENTENCE_MARK = "0qx0"
_SENTENCE_SUB = f" {_SENTENCE_MARK} "
_Parts = tuple[tuple[str, tuple[str, ...]], ...]


class _Text:
    """What the search for names reads of a text: its folded words (in order, as a set, and joined
    with spaces around), and its names when asked."""

    __slots__ = ("_entities", "clauses", "folded", "joined", "lang", "sentences", "sequence", "text", "words")

    def __init__(self, text: str, lang: str) -> None:
        self.text, self.lang = text, lang
        self.folded = _fold(_clean(text))
        self.sequence = tuple(_tokens(self.folded))
        self.words = frozenset(self.sequence)
        self.joined = f" {' '.join(self.sequence)} "
        self._entities: tuple[Entity, ...] | None = None
        #: its sentences and clauses, read when roles are compared (see _parts)
        self.sentences: _Parts | None = None
        self.clauses: _Parts | None = None

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


_UMLAUTS = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
_UMLAUT_RE = re.compile("[äöüÄÖÜß]")


def _found(entity: Entity, view: _Text, known: frozenset[str] = frozenset()) -> bool:
    """Whether ``view`` names ``entity``; ``known`` are the words of the text the entity comes from
    (a longer name in ``view`` made of them is no other person: "Keith Richards" / "Jagger-Richards")."""
    core = entity.core
    if core <= view.words and not _numbered_name(entity, view):
        return True
    if f" {entity.folded} " in view.joined:
        return True
    for variant in _VARIANTS.get(" ".join(w for w in entity.words if w != "the"), ()):
        if f" {variant} " in view.joined:
            return True
    if _UMLAUT_RE.search(entity.text):
        # German umlauts written as two letters: "Götze" = "Goetze", "Müller" = "Mueller".
        spelled = " ".join(_tokens(_fold(_UMLAUT_RE.sub(lambda m: _UMLAUTS[m.group()], entity.text))))
        if f" {spelled} " in view.joined:
            return True
    words = [w for w in entity.words if w not in _ACRONYM_SKIP]
    if len(words) >= 2 and "".join(w[0] for w in words) in view.words:
        return True  # North Atlantic Treaty Organization -> NATO
    # An acronym written out (NASA -> National Aeronautics and Space Administration), alone or in a name.
    missing = core - view.words
    if missing and all(w in _acronyms(entity.text) and _spelled_out(w, view) for w in missing):
        return True
    return _partial_kept(entity, view, known) or _demonym_kept(entity, view)


def _numbered_name(entity: Entity, view: _Text) -> bool:
    """A name with a number ("Apollo 13") that ``view`` writes with another number ("Apollo 14"), its
    own number only elsewhere ("April 13")."""
    words = [w for w in entity.words if w not in _GENERIC]
    numbers = {w for w in words if w[0].isdigit()}
    letters = [w for w in words if not w[0].isdigit()]
    if not numbers or not letters or f" {' '.join(words)} " in view.joined:
        return False
    # Only when the view writes the name with another number next to it ("Apollo 14"); the words
    # apart otherwise ("the World Cup in 2014") still name it.
    seq, size = view.sequence, len(letters)
    for i in range(len(seq) - size + 1):
        if list(seq[i : i + size]) == letters:
            beside = [seq[j] for j in (i - 1, i + size) if 0 <= j < len(seq)]
            if any(w[0].isdigit() and w not in numbers for w in beside):
                return True
    return False


def _demonym_kept(entity: Entity, view: _Text) -> bool:
    """A country named by its adjective: "Germany surrendered" -> "the German surrender"."""
    if len(entity.words) != 1 or len(entity.words[0]) < 5 or not entity.words[0].isalpha():
        return False
    stem = entity.words[0][:-1]
    return any(w.startswith(stem) and w != entity.words[0] and _DEMONYM_RE.search(w) for w in view.words)


# Words before a name that shorten to the rest of it ("the Great Wall" -> "the Wall"), unlike the
# other place heads ("North Korea" is not "Korea").
_SHORTENING_HEADS = frozenset("great greater big little old".split())
_ARTICLE_WORDS = frozenset({"the", "a", "an"})
_POSSESSIVE_NUMBER_RE = re.compile(r"['\u2019]s\s+\d[\d\s]*$")


def _partial_kept(entity: Entity, view: _Text, known: frozenset[str] = frozenset()) -> bool:
    """A name kept by its last words: a person by the surname ("Gabriel García Márquez" -> "García
    Márquez", "Manager Brian Epstein" -> "Epstein", "James Cameron's" -> "Cameron's"), a road by its
    number ("U.S. Route 66" -> "Route 66"), a landmark without its adjective ("the Great Wall" -> "the
    Wall"); unless the other text gives those last words to another name (Tina Turner -> Ike Turner)."""
    words = [w for w in entity.words if w not in _ARTICLE_WORDS]
    if _POSSESSIVE_NUMBER_RE.search(entity.text):
        # "James Cameron's 1997 film": the year is not part of the name (the numbers check reads it).
        while len(words) > 1 and words[-1].isdigit():
            words.pop()
    if not 2 <= len(words) <= 5 or (words[0] in _PLACE_HEADS and words[0] not in _SHORTENING_HEADS):
        return False
    last = words[-1]
    if last.isdigit():
        # A number names nothing alone: "Route 66" is kept, "66" is not.
        if len(words) < 3 or words[-2].isdigit() or words[-2] in _GENERIC:
            return False
        tail = words[-2:]
    else:
        if len(last) < 3 or last in _GENERIC or any(w[0].isdigit() for w in words):
            return False
        tail = [last]
    if tail[-1] not in view.words or f" {' '.join(tail)} " not in view.joined:
        return False
    names = set(words) | known
    # Initials stand for given names: "J. J. Thomson" is "Joseph John Thomson", "Sir J.J. Thomson".
    initials = {w for w in words if len(w) == 1 and w.isalpha()}
    for other in view.entities:
        if len(other.words) < 2 or list(other.words[-len(tail) :]) != tail:
            continue
        # Another first name: another person. Numbers and words the original has do not make one.
        for w in other.words:
            if w in names or w[0].isdigit() or w in _HONORIFICS:
                continue
            if initials and (w[0] in initials or set(w) <= initials):
                continue
            return False
    return True


_HONORIFICS = frozenset("sir dame dr mr mrs ms lord lady prof".split())


def find_entity(entity: Entity, text: str) -> bool:
    """Whether ``text`` names ``entity`` (case, accents, small words and common short forms aside)."""
    return _found(entity, _view(text, _lang(text)))


def same_name(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` name the same thing by this check's variant rules: one text names the
    other's name (a short form, an acronym, a surname), or every word of the shorter name but generic
    ones reads as a word of the longer ("Winter Olympics" / "Winter Olympic Games")."""
    words_a, words_b = set(_tokens(_fold(a))) - _GENERIC, set(_tokens(_fold(b))) - _GENERIC
    first_a, first_b = [w for w in _tokens(_fold(a)) if w in words_a], [w for w in _tokens(_fold(b)) if w in words_b]
    # Two given names: two people ("Irène Joliot-Curie" is not "Marie Curie"), unless one is an initial.
    if len(first_a) > 1 and len(first_b) > 1 and first_a[0][0] != first_b[0][0]:
        return False
    if len(first_a) > 1 and len(first_b) > 1 and min(len(first_a[0]), len(first_b[0])) > 1 and first_a[0] != first_b[0]:
        return False
    names_a, names_b = entities(a), entities(b)
    if any(find_entity(e, b) for e in names_a) or any(find_entity(e, a) for e in names_b):
        return True
    if not words_a or not words_b:
        return False
    short, long = sorted((words_a, words_b), key=len)
    return all(any(w == v or (len(w) > 3 and _similar(w, v)) for v in long) for w in short)


# --- the check ----------------------------------------------------------------------------------

_ANSWER_TASKS = frozenset({"open_qa", "closed_qa", "fact_verification", "explain_answer", "default"})
_BOLD_RE = re.compile(r"\*\*([^*\n]{1,80})\*\*|__([^_\n]{1,80})__")
# A numbered item: "1. Russia", "2) Canada", at the start or after a space. Written to start with a
# digit (the lookbehind then checks what comes before it), so that the regex engine skips to the next
# digit instead of trying the pattern everywhere; it matches what
# ``(?:^|(?<=\s))(\d{1,2})[.)]\s+([^\n]+?)(?=\s+\d{1,2}[.)]\s|\n|$)`` does, at the same places.
_NUMBERED_RE = re.compile(r"(\d(?<!\S\d)\d?)[.)]\s+([^\n]+?)(?=\s+\d{1,2}[.)]\s|\n|$)")
_ALTERNATIVES_RE = re.compile(r"(\S+)\s+(?:or|vs\.?|versus|oder|или)\s+(?:(?:the|a|an)\s+)?(\S+)", re.IGNORECASE)
# "True or false: ...", "yes or no?": a verdict asked for, not names to choose between.
_VERDICT_WORDS = frozenset("true false yes no right wrong correct incorrect".split())


def offers_alternatives(question: str) -> bool:
    """Whether the question offers things to choose between ("Lincoln or Washington?")."""
    if " " not in question:
        return False
    for m in _ALTERNATIVES_RE.finditer(question):
        pair = {_fold(w).strip(".,:;?!*\"'()") for w in m.groups()}
        if not pair <= _VERDICT_WORDS:
            return True
    return False


_GLOSS_BEFORE_RE = re.compile(r"([^\W\d_]+)\s*\(\s*$")


def _gloss(entity: Entity, clean: str, rewrite: _Text) -> bool:
    """An abbreviation or symbol in parentheses after the word it stands for ("neon (Ne)", "Sweden
    (SE)"): kept with that word."""
    end = entity.start + len(entity.text)
    if len(entity.text) > 5 or " " in entity.text or clean[end : end + 1] != ")":
        return False
    before = _GLOSS_BEFORE_RE.search(clean[max(0, entity.start - 40) : entity.start])
    if before is None:
        return False
    word = _fold(before.group(1))
    # A symbol of a letter or two need not share the word's initial (sodium (Na), gold (Au)).
    return (len(entity.text) <= 3 or word[:1] == entity.words[0][:1]) and word in rewrite.words


_LOCATIVE_RE = re.compile(r"(?:^|\s)(?:in|at|from|to|near|of|en|à|a|di|da|em|im|nach|bei)\s+$", re.IGNORECASE)


def _qualifier(entity: Entity, clean: str, original: _Text, rewrite: _Text) -> bool:
    """A place that only says where the one before it is ("in Paris, France", "from Chicago,
    Illinois, to ..."): kept when that one is."""
    for before in original.entities:
        end = before.start + len(before.text)
        if end > entity.start:
            return False
        if clean[end : entity.start] != ", ":
            continue
        after = clean[entity.start + len(entity.text) : entity.start + len(entity.text) + 2]
        # A third name after another comma: a list ("Russia, Canada, China"), not a qualifier.
        if after[:1] == "," and after[1:2] == " " and _is_cap(clean[entity.start + len(entity.text) + 2 :][:1] or "a"):
            return False
        if not _LOCATIVE_RE.search(clean[max(0, before.start - 8) : before.start]):
            return False
        return _found(before, rewrite, original.words)
    return False


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


_PASSAGE_RE = re.compile(r"\n\s*\n")


# The label of the question after the text it is about ('Passage: "..." Question: ...', 'Email: ...
# Q: ...'), in a few languages.
_QUESTION_LABEL_RE = re.compile(
    r"(?:^|(?<=[\s\"'”».]))(?:question|q|frage|pregunta|pergunta|domanda|vraag|вопрос)\s*:",
    re.IGNORECASE,
)


def _asked(question: str) -> str:
    """What a question asks, without the passage or text it carries ("Read the passage and answer:
    ...\n\nPassage: ...", 'Passage: "..." Question: ...'): a name of the passage is the answer's to
    keep, not the question's to excuse."""
    labels = list(_QUESTION_LABEL_RE.finditer(question))
    if labels:
        at = labels[-1]
        asked = question[at.end() :]
        if at.start() > len(asked):
            return asked
    parts = _PASSAGE_RE.split(question.strip(), maxsplit=1)
    return parts[0] if len(parts) == 2 and len(parts[1]) > 2 * len(parts[0]) else question


def _renumbered(original: _Text, rewrite: _Text) -> tuple[Entity, Entity] | None:
    """A name with a number ("Catch-22", "Apollo 13") that the rewrite writes with another number and
    not with its own: another title, even when the question states the name."""
    for entity in original.entities:
        numbers = {w for w in entity.words if w[0].isdigit()}
        if not numbers or (numbers <= rewrite.words and not _numbered_name(entity, rewrite)):
            continue
        letters = [w for w in entity.words if not w[0].isdigit()]
        if not letters:
            continue
        for other in rewrite.entities:
            other_letters = [w for w in other.words if not w[0].isdigit()]
            other_numbers = {w for w in other.words if w[0].isdigit()}
            if other_letters == letters and other_numbers and not other_numbers & numbers:
                return entity, other
    return None


# Words that join the items of a list: two items swapped across them are a list reordered.
_COORDINATORS = frozenset("and or & y e et und og och en i és и или".split())
# Texts longer than this (in words) are not aligned: a swap in place is a short answer's change.
_ALIGN_LIMIT = 300
_SWAP_SPAN = 6  # words in one swapped part at most


# What a number measures or dates, folded: units and month names in several languages. A number whose
# unit or month is replaced by another ("17. mai" -> "17. juni", "metres" -> "kilometres") changed.
_MEASURES = frozenset(
    """mm cm km metres meters metre meter millimetres millimeters centimetres centimeters kilometres
    kilometers kilometre kilometer miles mile feet foot ft inches inch yards yard mg kg grams gram
    kilograms kilogram pounds pound lb lbs ounces ounce oz tons tonnes ton tonne litres liters litre liter
    ml gallons gallon seconds second sec minutes minute mins min hours hour hrs days day weeks week
    months month years year decades decade centuries century mph kmh celsius fahrenheit kelvin watts
    kilowatts volts hertz bytes kilobytes megabytes gigabytes percent
    january february march april june july august september october november december
    januar februar marz mai juni juli oktober dezember janvier fevrier mars avril juin juillet aout
    septembre octobre novembre decembre enero febrero marzo abril mayo junio julio agosto septiembre
    octubre noviembre diciembre gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre
    janeiro fevereiro marco maio junho julho setembro outubro novembro dezembro januari februari maart
    mei augustus desember maj augusti stycznia lutego marca kwietnia maja czerwca lipca sierpnia
    wrzesnia pazdziernika listopada grudnia""".split()
)


# Units in a few other languages, folded, and the short ones read only after another unit ("km/h").
_MEASURES_ABROAD = frozenset(
    """kilometer kilometern kilometri kilometria kilometros metros metri meter metern meilen millas miglia
    mailia litros litri liter gallonen galones stunden stunde horas hora ore minuten minutos minuti
    sekunden segundos secondi jahre jahren anos anni""".split()
)
_UNIT_WORDS = _MEASURES | _MEASURES_ABROAD


_PER_UNITS = frozenset({"h", "s"})
_UNIT_WINDOW = 3  # words after a number where its unit is looked for ("20 times a year")


# A number among a text's words joined by spaces, and the up to three words after it before the next
# number (found in one regex pass: most words of a long text are no numbers).
_NUMBER_AND_AFTER_RE = re.compile(r"(\d(?<= \d)\S*)((?: [^\d\s]\S*){1,3})")  # 3: _UNIT_WINDOW


_DIGIT_WORD_RE = re.compile(r"\d(?<= \d)\S*")  # a word that starts with a digit, in _Text.joined


def _units_after(joined: str, numbers: frozenset[str]) -> dict[str, set[tuple[str, ...]]]:
    """For each of ``numbers`` among a text's words (``_Text.joined``), the units written after it
    ("300 000 km per second": ``000`` -> ``("km", "second")``); a number with no unit word is left out."""
    found: dict[str, set[tuple[str, ...]]] = {}
    for m in _NUMBER_AND_AFTER_RE.finditer(joined):
        if m.group(1) not in numbers:
            continue
        units: list[str] = []
        for later in m.group(2).split():
            if later in _UNIT_WORDS or (units and later in _PER_UNITS):
                units.append(later)
        if units:
            found.setdefault(m.group(1), set()).add(tuple(units))
    return found


def _unit_changed(original: _Text, rewrite: _Text) -> str | None:
    """A number the rewrite keeps with another unit than the original gave it, anywhere in the text
    ("21 litres" -> "21 gallons", "km per second" -> "km per hour"): read apart from the words around,
    which a rewrite rephrases. A unit written short or in full ("km" / "kilometres") is the same."""
    if len(original.sequence) > _ALIGN_LIMIT or len(rewrite.sequence) > 2 * _ALIGN_LIMIT:
        return None  # a short answer's change, as swaps in place (a long text is left to --verify)
    if _UNIT_WORDS.isdisjoint(original.words) or _UNIT_WORDS.isdisjoint(rewrite.words):
        return None
    # Only the numbers both texts write can have changed units.
    shared = frozenset(_DIGIT_WORD_RE.findall(original.joined)) & rewrite.words
    if not shared:
        return None
    before, after = _units_after(original.joined, shared), _units_after(rewrite.joined, shared)
    for number, units in before.items():
        again = after.get(number)
        if not again:
            continue
        # One written longer than the other is the same ("366 days" / "a 366-day year").
        if any(all(map(_similar, u, v)) for u in units for v in again):
            continue
        # A unit the original names next to the number in another place counts too ("6 km (4 miles)").
        if any(set(v) <= set(original.sequence) and len(v) == 1 for v in again):
            continue
        old, new = min(units), min(again)
        return f"changed after {number}: {'/'.join(old)} -> {'/'.join(new)}"
    return None


def _number_value(word: str) -> Fraction | None:
    """The value of a word that is a whole number: digits ("1887") or an English number word ("two")."""
    if word.isdigit():
        return Fraction(int(word)) if len(word) <= 6 else None
    if word not in NUMBER_WORDS:
        return None  # most words: known without reading them as numbers
    found = next(word_mentions(word), None)
    return found.value if found is not None and found.end - found.start == len(word) else None


def _number_replaced(original: _Text, rewrite: _Text) -> tuple[str, str, str] | None:
    """A number that the same words lead to in both texts, another number in the rewrite ("The tower
    opened in 1887" -> "The tower opened in 1889 ... construction began in 1887"; "has two hearts" ->
    "has three hearts"): ``(words, old, new)``. The words and the number stand in one clause, the
    words once in each text and with no number; a number said in several words ("nineteen
    sixty-two", "300 000") is left to the numbers check."""
    a, b = original.sequence, rewrite.sequence
    if not _ANCHOR < len(a) <= _ALIGN_LIMIT or len(b) > 2 * _ALIGN_LIMIT:
        return None
    # The new number is one the original does not write (read fast, before anything else).
    if not (frozenset(_DIGIT_WORD_RE.findall(rewrite.joined)) | (NUMBER_WORDS & rewrite.words)) - original.words:
        return None
    # Each run of three words once, with where it ends in the rewrite (one pass over each text).
    runs_a = Counter(zip(a, a[1:], a[2:], strict=False))
    runs_b = Counter(zip(b, b[1:], b[2:], strict=False))
    ends_b = {run: q + _ANCHOR for q, run in enumerate(zip(b, b[1:], b[2:], strict=False))}
    for p in range(_ANCHOR, len(a)):
        old = _number_value(a[p])
        if old is None:
            continue
        anchor = (a[p - 3], a[p - 2], a[p - 1])  # _ANCHOR words
        if any(w[0].isdigit() for w in anchor) or (p + 1 < len(a) and _number_value(a[p + 1]) is not None):
            continue
        if runs_a[anchor] != 1 or runs_b[anchor] != 1:
            continue
        q = ends_b[anchor]
        new = _number_value(b[q]) if q < len(b) else None
        if new is None or new == old or (q + 1 < len(b) and _number_value(b[q + 1]) is not None):
            continue
        if new < 100 <= old and old % 100 == new:
            continue  # a year written short ("'87" for 1987)
        # Read again by clauses (rare: only here): the words and the number in one clause on each side.
        run = (*anchor, a[p])
        if _in_one_clause(original, run) and _in_one_clause(rewrite, (*anchor, b[q])):
            return " ".join(anchor), a[p], b[q]
    return None


def _in_one_clause(view: _Text, run: tuple[str, ...]) -> bool:
    return any(_count(tokens, run) for _, tokens in _parts(view, True))


def _count(tokens: tuple[str, ...], run: tuple[str, ...]) -> int:
    size = len(run)
    return sum(tokens[i : i + size] == run for i in range(len(tokens) - size + 1))


def number_replaced(original: str, rewrite: str, evidence: Sequence[Evidence] = ()) -> str | None:
    """A number the rewrite replaced after the same words (see :func:`_number_replaced`), unless
    ``evidence`` states the new one (a correction)."""
    if not _DIGIT_RE.search(original) and not any(word_mentions(original)):
        return None
    lang = _lang(original)
    found = _number_replaced(_view(original, lang), _view(rewrite, lang))
    if found is None:
        return None
    words, old, new = found
    if evidence:
        stated = value_set("\n".join(e.text for e in evidence))
        if _number_value(new) in stated:
            return None  # a correction to what the evidence states
    return f"changed after '{words}': {old} -> {new}"


def unit_changed(original: str, rewrite: str, evidence: Sequence[Evidence] = ()) -> str | None:
    """A number ``rewrite`` keeps with another unit than ``original`` gave it (see
    :func:`_unit_changed`), unless ``evidence`` states the number with the new unit (a correction)."""
    if not _DIGIT_RE.search(original):
        return None
    lang = _lang(original)
    changed = _unit_changed(_view(original, lang), _view(rewrite, lang))
    if changed is None or not evidence:
        return changed
    number, _, after = _UNIT_CHANGE_RE.fullmatch(changed).groups()  # type: ignore[union-attr]
    return None if source_of(f"{number} {after.replace('/', ' ')}", evidence) else changed


def _similar(a: str, b: str) -> bool:
    """Two words that read as one: a spelling ("metres" / "meters") or an abbreviation ("cm" /
    "centimetres", "mins" / "minutes": the short one's letters in order, from the same first letter)."""
    if a[:1] != b[:1]:
        return False
    short, long = sorted((a, b), key=len)
    rest = iter(long)
    if all(c in rest for c in short):
        return True
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.8


_JOINERS = _CONNECTORS | {"and"}
_ANCHOR = 3  # words before a name that fix its role ("the capital is", "is voiced by")


def _anchored_swap(original: _Text, rewrite: _Text) -> str | None:
    """Another name of the original put where a name stood: the same words before it, written once in
    each text, now lead to the other name ("is voiced by Tom Hanks" -> "is voiced by Jim Hanks")."""
    a, b = original.sequence, rewrite.sequence
    names = list({e.words: e for e in original.entities if e.words}.values())
    if len(names) < 2:
        return None
    for entity in names:
        size = len(entity.words)
        for p in range(_ANCHOR, len(a) - size + 1):
            if a[p : p + size] != entity.words:
                continue
            anchor = a[p - _ANCHOR : p]
            spots = [q for q in range(len(b) - _ANCHOR + 1) if b[q : q + _ANCHOR] == anchor]
            if len(spots) != 1 or sum(a[i : i + _ANCHOR] == anchor for i in range(len(a) - _ANCHOR + 1)) != 1:
                continue
            after = spots[0] + _ANCHOR
            if b[after : after + size] == entity.words:
                continue
            for other in names:
                n = len(other.words)
                if other is entity or b[after : after + n] != other.words:
                    continue
                # One name inside the other ("Toy Story" / "Toy Story 3") is the same name written longer.
                if set(other.words) <= set(entity.words) or set(entity.words) <= set(other.words):
                    continue
                # The other name a few words on in the same place: a longer name shortened ("Harry
                # Potter and the Deathly Hallows" -> "Deathly Hallows"), not a swap.
                gap = 0
                while gap < 3 and p + size + gap < len(a) and a[p + size + gap] in _JOINERS:
                    gap += 1
                if a[p + size + gap : p + size + gap + n] == other.words:
                    continue
                return f"swapped: {entity.text} -> {other.text}"
    return None


def _swapped_in_place(original: _Text, rewrite: _Text) -> str | None:
    """A change that keeps every name and number but moves them: two names or two numbers traded
    places ("X is the capital, Y the largest city" -> "Y is the capital, X the largest city"), or the
    word after a number replaced by another ("17. mai" -> "17. juni", "metres" -> "kilometres").

    Read on the two texts' words aligned (the longest common runs first): only where the rest of
    the text is the same around the change, so a faithful rewrite that rephrases is left alone."""
    a, b = original.sequence, rewrite.sequence
    if not 4 <= len(a) <= _ALIGN_LIMIT or len(b) > 2 * _ALIGN_LIMIT:
        return None
    names = {w for e in original.entities for w in e.words}
    anchored = _anchored_swap(original, rewrite)
    if anchored is not None:
        return anchored
    # Names and numbers in the same order on both sides trade no places, and without a unit or month
    # word nothing after a number can change: the alignment (the costly part) is not needed.
    if original.words.isdisjoint(_MEASURES):
        keys = names.union(w for w in original.words if w[0].isdigit())
        if [w for w in a if w in keys] == [w for w in b if w in keys]:
            return None
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    replaced = [
        (a[i1:i2], b[j1:j2], i1, i2, j1, j2) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag == "replace"
    ]
    for k, (old, new, i1, i2, j1, j2) in enumerate(replaced):
        if len(old) > _SWAP_SPAN or len(new) > _SWAP_SPAN:
            continue
        digits = any(w[0].isdigit() for w in old)
        for old2, new2, k1, _, _, _ in replaced[k + 1 :]:
            if old2 != new or new2 != old or old == new:
                continue
            if digits != any(w[0].isdigit() for w in new):
                continue  # a name and a number traded places: words moved around ("in 1998 in Aarhus")
            if not digits and names.isdisjoint(old) and names.isdisjoint(new):
                continue
            between = a[i2:k1]
            if len(between) <= 1 and all(w in _COORDINATORS for w in between):
                continue  # "A and B" -> "B and A": a list reordered
            return f"swapped: {' '.join(old)} <-> {' '.join(new)}"
        # The unit or month after a number replaced, the words around the same on both sides.
        if (
            len(old) == 1
            and len(new) == 1
            and i1 > 0
            and j1 > 0
            and a[i1 - 1][0].isdigit()
            and (i2 == len(a)) == (j2 == len(b))
            and old[0] in _MEASURES
            and new[0] in _MEASURES
            and not _similar(old[0], new[0])
        ):
            return f"changed after {a[i1 - 1]}: {old[0]} -> {new[0]}"
    return None


# Words that say nothing of a name's role: they may sit beside any name.
_ROLELESS = frozenset(
    """the and of to is in that it for with as was on are be this by not or have from which you but they
    his her its at an were their has had will would can there what when these how than into also been
    who whom whose where why about around roughly some most more other others both one two which while
    then later first last same""".split()
)


def _grouped(chunks: Iterable[str]) -> _Parts:
    parts = []
    for chunk in chunks:
        tokens = tuple(chunk.split())
        if tokens:
            parts.append((f" {' '.join(tokens)} ", tokens))
    return tuple(parts)


def _parts(view: _Text, clauses: bool) -> _Parts:
    """``view``'s sentences (or clauses), each as its folded words joined with spaces around, and
    those words (read once per text, the clauses only when asked: most texts need the sentences alone)."""
    if clauses:
        if view.clauses is None:
            view.clauses = _split(view, _CLAUSE_SPLIT_RE)
        return view.clauses
    if view.sentences is None:
        view.sentences = _split(view, _SENTENCE_SPLIT_RE)
    return view.sentences


def _split(view: _Text, pattern: re.Pattern[str]) -> _Parts:
    if pattern.search(view.folded) is None:
        return ((view.joined, view.sequence),)  # one part: its words are read already
    marked = pattern.sub(_SENTENCE_SUB, view.folded)
    return _grouped(" ".join(_tokens(marked)).split(_SENTENCE_MARK))


def _bindings(
    view: _Text,
    anchors: Mapping[str, frozenset[str]],
    clauses: bool,
    longer: Mapping[str, list[str]],
    words_too: bool = True,
) -> dict[str, set[str]]:
    """For each anchor (a folded name or number of the original, with its words), the words and
    other anchors that share a sentence (or a clause) with it in ``text``; ``longer``: the anchors
    that a shorter one stands for ("Lovelace's notes" for "Ada Lovelace")."""
    bound: dict[str, set[str]] = {}
    single = [a for a, words in anchors.items() if len(words) == 1 and " " not in a]
    multi = [(a, f" {a} ") for a, words in anchors.items() if " " in a]
    for joined, tokens in _parts(view, clauses):
        words = set(tokens)
        present = [a for a in single if a in words]
        present += [a for a, padded in multi if padded in joined]
        if not present:
            continue
        if longer:
            present += [b for a in present for b in longer.get(a, ()) if b not in present]
        if words_too:
            words -= _ROLELESS
            words.difference_update(*(anchors[a] for a in present))
            roles = {w[:6] for w in words if len(w) > 2 and not w[0].isdigit()}
        else:
            roles = set()  # only which anchors share a part
        for a in present:
            with_others = roles | {f"@{b}" for b in present if b != a} if len(present) > 1 else roles
            if a in bound:
                bound[a] |= with_others
            else:
                bound[a] = set(with_others)
    return bound


_MAX_ANCHORS = 12
#: tasks whose answers bind facts to names and figures (who did what, which figure is which): where
#: roles and numbers after the same words are compared. Others (classification, tutoring, plans,
#: recommendations) are left to --verify.
ROLE_TASKS = frozenset(
    {"open_qa", "closed_qa", "fact_verification", "explain_answer", "default", "ordering"}
    | {"exam_problem_solving_tutor", "how_to_generation", "information_extraction", "math_puzzles"}
)


def _roles_swapped(original: _Text, rewrite: _Text) -> str | None:
    """Two names (or numbers) of the original that traded roles while the text was rebuilt: words
    only one of them had beside it (a role, a year, another name) are beside only the other in the
    rewrite, both ways ("Dolly Parton recorded it in 1973. Whitney Houston's 1992 cover ..." ->
    "Whitney Houston recorded it in 1973 ... Dolly Parton recorded it in 1992").

    Read by sentence, then by clause; a word that moves to both, or a sentence that joins both
    names, says nothing (a faithful rewrite that merges sentences is left alone)."""
    if not 4 <= len(original.sequence) <= _ALIGN_LIMIT or len(rewrite.sequence) > 2 * _ALIGN_LIMIT:
        return None  # a short answer's change
    several = [_SENTENCE_SPLIT_RE.search(view.folded) is not None for view in (original, rewrite)]
    if not any(several):
        return None  # one sentence each: every anchor has the same neighbours on each side
    names = [e.folded for e in original.entities]
    # A number written once: one written in several places has no single role ("3 × 7 ... 3 × 9").
    digits = _DIGIT_WORD_RE.findall(original.joined)
    numbers = [w for w in digits if digits.count(w) == 1]
    anchors = {a: frozenset(a.split()) for a in dict.fromkeys([*names, *numbers]) if a and f" {a} " in rewrite.joined}
    if not 2 <= len(anchors) <= _MAX_ANCHORS:
        return None  # too many names and numbers to tell roles apart
    longer = {a: bs for a, own in anchors.items() if (bs := [b for b, words in anchors.items() if own < words])}
    found = None
    if all(several):
        sentences = _bindings(original, anchors, False, longer), _bindings(rewrite, anchors, False, longer)
        found = _traded(anchors, *sentences, None)
    else:
        # A text of one sentence gives every anchor the same neighbours: no trade at this level, and
        # only which anchors share a sentence is needed below.
        sentences = (
            _bindings(original, anchors, False, longer, False),
            _bindings(rewrite, anchors, False, longer, False),
        )
    # Clauses matter only for two anchors in one sentence on one side and not on the other (in one
    # sentence on both sides, see _traded; never together, the sentences said it all).
    if found is None and any(
        {w for w in sentences[0].get(a, ()) if w[0] == "@"} != {w for w in sentences[1].get(a, ()) if w[0] == "@"}
        for a in anchors
    ):
        clauses = _bindings(original, anchors, True, longer), _bindings(rewrite, anchors, True, longer)
        found = _traded(anchors, *clauses, sentences)
    return None if found is None else f"roles swapped: {found[0]} <-> {found[1]}"


def _traded(
    anchors: Mapping[str, frozenset[str]],
    before: Mapping[str, set[str]],
    after: Mapping[str, set[str]],
    sentences: tuple[Mapping[str, set[str]], Mapping[str, set[str]]] | None,
) -> tuple[str, str] | None:
    """Two anchors each of which took a word only the other had: a word of ``a`` only (before) and
    of ``b`` only (after) is one ``a`` lost and ``b`` gained; see :func:`_roles_swapped`."""
    empty: set[str] = set()
    lost, gained = {}, {}
    for a in anchors:
        own, new = before.get(a, empty), after.get(a, empty)
        if own - new and new - own:
            lost[a], gained[a] = own - new, new - own
    moved = list(lost)
    for i, a in enumerate(moved):
        for b in moved[i + 1 :]:
            if anchors[a] & anchors[b]:
                continue  # one name inside the other, or two names sharing a word
            # In one sentence on both sides: clauses reordered ("A and B" -> "B and A"), no swap.
            if sentences is not None and all(f"@{b}" in side.get(a, empty) for side in sentences):
                continue
            skip = {f"@{a}", f"@{b}"}
            if (lost[a] & gained[b]) - skip and (lost[b] & gained[a]) - skip:
                return a, b
    return None


_LEADING_DIGITS_RE = re.compile(r"\d+")


@functools.lru_cache(maxsize=64)
def _values_of(text: str) -> frozenset[Fraction]:
    """``value_set(text)``, remembered: each name of an original may ask it of the same rewrite."""
    return frozenset(value_set(text))


def _inflected(word: str, rewrite: _Text) -> bool:
    """A word of a name the rewrite writes in another form of it: inflected ("Калининград" -> "в
    Калининграде", "Камчатка" -> "на Камчатке"), in the plural, or derived ("Peru" -> "Peruvian"):
    a word of the rewrite that shares all its letters but the last one or two endings' worth."""
    if len(word) < 4 or not word.isalpha():
        return False
    for other in rewrite.words:
        if other[:3] != word[:3] or abs(len(other) - len(word)) > 4:
            continue
        shorter = min(len(other), len(word))
        common = 0
        while common < shorter and other[common] == word[common]:
            common += 1
        if common >= max(4, shorter - 1):
            return True
    return False


def _other_form(word: str, entity: Entity, rewrite: _Text) -> bool:
    """A word of a name kept in another form: a number (digits, words, "1400s" for the 15th century:
    the numbers check judges numbers) with the unit after it, or an inflected word."""
    digits = _LEADING_DIGITS_RE.match(word)
    if digits is not None:
        return Fraction(int(digits.group())) in _values_of(rewrite.text) and not _numbered_name(entity, rewrite)
    if next(word_mentions(word), None) is not None:
        return True  # "Nineteen Eighty-Four" -> "1984": the numbers check reads number words
    if word in _MEASURES and any(w[0].isdigit() for w in entity.words):
        return True  # "15th-century" -> "1400s"
    return _inflected(word, rewrite)


_PARTICLES = frozenset("da di de del della van von der den ten du".split())


def _given_name_kept(entity: Entity, rewrite: _Text) -> bool:
    """A name with a particle known by its first word ("Leonardo da Vinci" -> "Leonardo", "Rembrandt van
    Rijn" -> "Rembrandt"), that first word written alone in the rewrite, in no other name."""
    words = entity.words
    if len(words) < 3 or words[1] not in _PARTICLES or len(words[0]) < 4 or words[0] not in rewrite.words:
        return False
    return all(
        other.words == words[:1] or set(other.words) <= set(words)
        for other in rewrite.entities
        if words[0] in other.words
    )


def _halves_kept(entity: Entity, rewrite: _Text, original: _Text) -> bool:
    """A name made of two joined by "of" ("Yuri Gagarin of the Soviet Union", "Catherine of Aragon"):
    kept when each half is, in any of its forms ("Yuri Gagarin ... (USSR)")."""
    words = entity.words
    if "of" not in words[1:-1]:
        return False
    at = words.index("of", 1)
    halves = [w for w in (words[:at], words[at + 1 :]) if w and w != ("the",)]
    if len(halves) != 2:
        return False
    parts = [Entity(" ".join(h), entity.start, tuple(w for w in h if w != "the") or h) for h in halves]
    return all(_found(part, rewrite, original.words) for part in parts)


# A temperature's unit after a degree sign, read as a name ("100 °C"), written out in the rewrite.
_DEGREE_UNITS = {"c": frozenset({"celsius", "centigrade"}), "f": frozenset({"fahrenheit"})}


_DEGREES_RE = re.compile(r"(\d+(?:\.\d+)?)\s*[\u00b0\u00ba]$")


def _degree_unit_kept(entity: Entity, rewrite: _Text, original: _Text) -> bool:
    """ "100 °C" written "100 degrees Celsius": the unit spelled out after the same number (so
    "100 degrees Fahrenheit" for "100 °C" is no kept unit)."""
    units = _DEGREE_UNITS.get(entity.text.lower())
    if units is None or units.isdisjoint(rewrite.words):
        return False
    degrees = _DEGREES_RE.search(_clean(original.text), max(0, entity.start - 16), entity.start)
    if degrees is None:
        return False
    number = degrees.group(1)
    return any(
        f" {number} {unit} " in rewrite.joined or f" {number} degrees {unit} " in rewrite.joined for unit in units
    )


def _kept(entity: Entity, rewrite: _Text, question: _Text, original: _Text) -> bool:
    if _found(entity, rewrite, original.words) or _given_name_kept(entity, rewrite):
        return True
    if _degree_unit_kept(entity, rewrite, original):
        return True
    if _halves_kept(entity, rewrite, original):
        return True
    # Words the question states may go ("В России 11 часовых поясов" -> "Одиннадцать часовых поясов").
    missing = [w for w in entity.core if w not in rewrite.words and w not in question.words]
    if (
        missing
        and all(_other_form(w, entity, rewrite) for w in missing)
        and (len(missing) < len(entity.core) or all(_inflected(w, rewrite) for w in missing))
    ):
        return True
    if missing and all(next(word_mentions(w), None) is not None for w in missing):
        return True  # a name made of number words: the numbers check's
    first = entity.words[0]
    if first.isdigit() and len(entity.words) > 1 and entity.core - {first} <= rewrite.words:
        # "16 Bundesländer" -> "sechzehn Bundesländer": the count written in words.
        return Fraction(int(first)) in _values_of(rewrite.text)
    # A name the question half states ("Boeing" of "Boeing 747") is kept by its other words.
    rest = entity.core - question.words
    if rest and rest <= rewrite.words:
        return True
    # ... or by the half the question states ("where was Napoleon born": "Napoleon Bonaparte" ->
    # "Napoleon"), written as a name of its own and never inside another name ("Ibn Battuta" is not
    # "Ibn Juzayy").
    asked = entity.core & question.words
    if not asked or not rest or not asked <= rewrite.words:
        return False
    own = set(entity.words)
    holders = [set(other.words) for other in rewrite.entities if asked & set(other.words)]
    return bool(holders) and all(words <= own for words in holders)


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
        if order is None and _DIGIT_RE.search(item.original):
            # Numbers traded places, or a unit changed, in a text without names.
            view = _view(item.rewrite, lang)
            order = _swapped_in_place(original, view) or (
                _roles_swapped(original, view) if item.task in ROLE_TASKS else None
            )
        return EntityVerdict([], [], order)
    rewrite = _view(item.rewrite, lang)
    question = _view(_asked(item.question), lang)
    alternatives = offers_alternatives(item.question)
    wanted = [
        e for e in dict((e.folded, e) for e in original.entities).values() if alternatives or not _found(e, question)
    ]
    dropped = [e for e in wanted if not _kept(e, rewrite, question, original)]
    evidence = _view("\n".join(f"{ev.title}\n{ev.text}" for ev in item.evidence), lang) if item.evidence else None
    renumbered = _renumbered(original, rewrite)
    # A number changed to what the evidence states is a correction, judged below and by the numbers check.
    if renumbered is not None and not (corrections and evidence is not None and renumbered[1].core <= evidence.words):
        return EntityVerdict([], [], f"number changed: {renumbered[0].text} -> {renumbered[1].text}")
    if dropped:
        clean = _clean(item.original)
        dropped = [e for e in dropped if not _gloss(e, clean, rewrite) and not _qualifier(e, clean, original, rewrite)]
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
        # ... unless that name is what the question asks about ("Who played Rose?": "Rose ... was played by").
        if _opens_with(item.original, wanted[0]) and wanted[0].core.isdisjoint(question.words):
            # The first name in bold is the rewrite's answer: the opening name itself keeps it.
            bold = _bold_answer(item.rewrite, wanted, lang)
            if bold is not None and bold is not wanted[0] and not _found(wanted[0], _view(bold.text, lang)):
                return EntityVerdict([], [], f"answer changed: {wanted[0].text} -> {bold.text}")
        invented = _new_bold_answer(item.rewrite, original, question, lang)
        if invented is not None:
            # A new answer the evidence states is a correction ("the CEO is X" -> "Y, since 2014").
            source = source_of(invented, item.evidence) if corrections else ""
            if not source:
                return EntityVerdict([], [], f"answer changed: {wanted[0].text} -> {invented}")
            fixes.append(Correction.of(wanted[0].text, invented, source))
    order = _order_changed(item.original, rewrite)
    if order is not None:
        return EntityVerdict([], [], order)
    if not fixes:
        swapped = _swapped_in_place(original, rewrite) or (
            _roles_swapped(original, rewrite) if item.task in ROLE_TASKS else None
        )
        if swapped is not None:
            # A month or unit changed to what the evidence states is a correction ("28 June" -> "28 July").
            changed = _UNIT_CHANGE_RE.fullmatch(swapped)
            source = ""
            if changed is not None and corrections:
                number, before, after = changed.groups()
                source = source_of(f"{number} {after}", item.evidence)
            if not source:
                return EntityVerdict([], [], swapped)
            fixes.append(Correction.of(f"{number} {before}", f"{number} {after}", source))
    return EntityVerdict([], [], corrections=fixes)


_UNIT_CHANGE_RE = re.compile(r"changed after (\S+): (\S+) -> (\S+)")


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
