"""A small offline language identifier, good enough to notice a rewrite that switched language.

Two stages: the writing system first (Han, kana, Hangul, Cyrillic, Arabic, ... are decisive on
their own), then, for Latin and Cyrillic text, profiles of very common function words. It answers
only when it is sure; the language guard does nothing on an uncertain answer, so a wrong guess
costs a missed detection, never a rejected good rewrite.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .._tokens import non_ascii_chars
from .._types import CheckInput
from .base import Guard, Verdict, refuse
from .numbers import fold_case, letter_words

__all__ = ["LanguageConsistency", "LanguageGuess", "detect_language", "english_switch", "written_in_other_language"]


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """``lang`` is an ISO 639-1 code, or ``"und"`` when the words do not decide it.

    ``confident`` says the writing system (``script``) is certain; the language is certain only
    when it is also not ``"und"``.
    """

    lang: str
    script: str
    confident: bool


_UNDETERMINED = LanguageGuess("und", "und", False)

# Scripts that identify a language (or a family we treat as one) without looking at words.
_SCRIPTS: tuple[tuple[str, str], ...] = (
    ("hangul", "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"),
    ("kana", "\u3040-\u30ff"),
    ("han", "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"),
    ("cyrillic", "\u0400-\u04ff"),
    ("greek", "\u0370-\u03ff"),
    ("arabic", "\u0600-\u06ff\u0750-\u077f"),
    ("hebrew", "\u0590-\u05ff"),
    ("devanagari", "\u0900-\u097f"),
    ("thai", "\u0e00-\u0e7f"),
    ("latin", "A-Za-z\u00c0-\u024f"),
)
_SCRIPT_RE = re.compile("|".join(f"(?P<{name}>[{chars}]+)" for name, chars in _SCRIPTS))
_LATIN_RUN_RE = re.compile(f"[{dict(_SCRIPTS)['latin']}]+")
_OTHER_SCRIPT_RE = re.compile("[" + "".join(chars for name, chars in _SCRIPTS if name != "latin") + "]")
_SCRIPT_LANG = {"hangul": "ko", "greek": "el", "arabic": "ar", "hebrew": "he", "devanagari": "hi", "thai": "th"}

# Function words: frequent, short, and together characteristic of one language. Words in several
# profiles are weighted down (see _weights); one-letter words appear only where distinctive.
_STOPWORDS: Mapping[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "the and of to is in that it for with as was on are be this by not or have from which you but "
        "they his at an were their has will would can there what when these how its than into also "
        "been",
        "es": "el los las que del por para con una es se lo como más pero sus le ya fue este entre cuando "
        "muy sin sobre también hay son está puede esta estos donde al porque así están y la de en un "
        "su nos les mi tu",
        "fr": "le les des est une que qui dans pour pas sur au avec ce il sont du mais ou se leur aux elle "
        "être cette nous vous fait plus été ces où et la de en un je on ne sa son ses ils par chez "
        "ont était comme très aussi leurs dont tout mon",
        "de": "der die und das ist nicht ein eine zu den von mit sich des auf für im dem auch es wird bei "
        "werden aus sind einer wie nach oder kann",
        "it": "il di che è per una sono gli della con non le del si nel alla anche come più ma questo degli "
        "delle ci essere ha stato tra dei la in un lo sul senza quando dal nella sulla questa ogni "
        "molto tutto suo sua sempre",
        "pt": "os que do da em um uma para com não no na dos das se mais ao como mas foi pelo pela são "
        "também ser está isso você de o e seu sua muito quando porque já",
        "nl": "de het een en van is dat op te in zijn niet met voor ook aan er maar als bij wordt om dit "
        "uit worden hij kan naar",
        "sv": "och att det är som en på av för med den till inte har de om ett var men sig jag kan från "
        "eller vid också blev efter vara ska vill när mycket nu hon han dem deras",
        "da": "og at det er som en på af for med den til ikke har de om et var men sig jeg kan fra eller "
        "ved også blev hvor efter være skal vil når meget nu hun han dem deres",
        "pl": "nie na się to że do jest jak co ale po tak za od jego przez są dla być już może tylko oraz w "
        "z i który która które ze aby jednak bardzo został zostały",
        "tr": "ve bir bu da de için ile çok ne gibi daha olarak var olan ama sonra kadar değil her ise ya "
        "en şey az bunu şu kendi hem mi mı ki diye ancak ayrıca sadece tüm",
        "id": "yang dan di ini itu dengan untuk dari tidak dalam akan pada ada juga ke karena bisa oleh "
        "saya adalah atau sudah mereka",
        "ca": "els dels amb va hi fins seva seu però això aquest aquesta també molt quan perquè és",
        "ro": "și în cu nu că pe din care pentru mai sunt au fost sau dar acest această fi lui unei de la un se ca",
        "cs": "je se na že to do ve jako pro ale jsou by jeho tak od po bylo být také nebo v byly který "
        "která které jak při až už aby mezi",
        "vi": "và của là có không được trong cho những một các với người này đã để khi thì cũng",
        "ru": "и в не на что с по как это он из но к у за от так для же все она был только или его бы уже также",
        "uk": "і в не на що з та як це він до але за від так для же всі вона був тільки або його вже також є",
    }.items()
}
_WORD_RE = re.compile(r"[^\W\d_]+")
# Text that is not prose in any human language: code, URLs, markup.
_NOT_PROSE_RE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`|https?://\S+|<[^>\n]{1,40}>", re.DOTALL)
_CACHE_SIZE = 64  # texts whose reading is remembered: a row's original and its candidates

_MIN_WORDS = 6  # fewer words than this and nobody can tell (think "OK", "Paris", "42")
_DOMINANT = 0.75  # share of the text a script must hold to decide the language alone
_MIN_HIT_SHARE = 0.15  # share of words that must be function words of the winner
_MARGIN = 2.0  # the winner must have this many times the runner-up's hits
_MIN_SCORE = 2.5  # and at least this many (weighted) function words


def _script_units(text: str) -> Counter[str]:
    """How much text each script holds, in rough word units (1 CJK character = 1 unit)."""
    if text.isascii() or _OTHER_SCRIPT_RE.search(text) is None:
        # Latin script only (the scripts' characters do not overlap): count its runs.
        runs = len(_LATIN_RUN_RE.findall(text))
        return Counter({"latin": runs}) if runs else Counter()
    units: Counter[str] = Counter()
    for m in _SCRIPT_RE.finditer(text):
        script = m.lastgroup or "und"
        span = m.end() - m.start()
        units[script] += span if script in ("han", "kana") else 1
    return units


def _cjk_lang(units: Counter[str]) -> str:
    # Japanese mixes kanji with kana; Chinese has no kana; Korean is in Hangul.
    if units["hangul"] >= max(units["han"], units["kana"]):
        return "ko"
    return "ja" if units["kana"] >= 0.1 * units["han"] else "zh"


# A character of a script outside ASCII (of another script, or an accented Latin letter).
_NON_ASCII_SCRIPT_RE = re.compile("[" + "".join(c for name, c in _SCRIPTS if name != "latin") + "\u00c0-\u024f]")


def _is_letter(char: str) -> bool:
    return char.isalnum() and not char.isdecimal()  # what [^\W\d_] matches, outside ASCII


def _latin_only(chars: frozenset[str]) -> bool:
    """Whether text whose non-ASCII characters are ``chars`` has only Latin-script letters (A-Za-z
    and \u00c0-\u024f but × and ÷, which are in the script and no letters) and no character of
    another script: then its words are its Latin runs."""
    return not any(
        _OTHER_SCRIPT_RE.match(c) or c in "×÷" or (_is_letter(c) and not "\u00c0" <= c <= "\u024f") for c in chars
    )


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _reading(text: str) -> tuple[Counter[str], int, dict[str, float]]:
    """What the detector reads in ``text``, once: the units of each script of its prose, its number
    of words, and the function-word score of every language.

    Code, URLs and tags are taken out first. Each language's score adds its weights in the order
    of the words, so it is the same float whichever languages are compared.
    """
    prose = _NOT_PROSE_RE.sub(" ", text) if "`" in text or "://" in text or "<" in text else text
    chars = non_ascii_chars(prose)
    if not any(_is_letter(c) or _NON_ASCII_SCRIPT_RE.match(c) for c in chars):
        # All its letters are ASCII (any other character, typeset quotes and dashes, separates
        # words): its words are its runs of ASCII letters, lowercased as fold_case does.
        words: Sequence[str] = letter_words(fold_case(prose))
    else:
        found = _WORD_RE.findall(prose)
        # One lower() of the words joined by spaces lowercases each as on its own (a space is
        # neither cased nor case-ignorable, so even a final sigma comes out the same).
        words = " ".join(found).lower().split(" ") if found else []
    latin_words = Counter({"latin": len(words)}) if words else Counter()
    units = latin_words if _latin_only(chars) else _script_units(prose)  # the words are the Latin runs, or not
    scores = dict.fromkeys(_STOPWORDS, 0.0)
    for word in filter(_WEIGHTS.__contains__, words):
        for lang, weight in _WEIGHTS[word]:
            scores[lang] += weight
    return units, len(words), scores


def _ranked(scores: Mapping[str, float], candidates: tuple[str, ...]) -> list[tuple[str, float]]:
    """The scores of ``candidates``, best first (ties in the order of ``candidates``)."""
    return sorted(((lang, scores[lang]) for lang in candidates), key=lambda kv: kv[1], reverse=True)


def _top_two(scores: Mapping[str, float], candidates: tuple[str, ...]) -> tuple[str, float, float]:
    """The best of ``candidates`` (the first on a tie), its score and the runner-up's: what
    ``_ranked`` gives first and second, without sorting every language."""
    best, top, second = candidates[0], scores[candidates[0]], float("-inf")
    for lang in candidates[1:]:
        score = scores[lang]
        if score > top:
            best, top, second = lang, score, top
        elif score > second:
            second = score
    return best, top, second


def _clear_winner(score: float, rival: float, words: int | None) -> bool:
    # words=None skips the density test: enough when the question is only "this or that language?"
    dense = words is None or score >= _MIN_HIT_SHARE * words
    return score >= _MIN_SCORE and dense and score >= _MARGIN * rival


def _words_lang(scores: Mapping[str, float], words: int, candidates: tuple[str, ...]) -> LanguageGuess | None:
    best, top, second = _top_two(scores, candidates)
    if not _clear_winner(top, second, words):
        return None
    return LanguageGuess(best, "cyrillic" if best in ("ru", "uk") else "latin", True)


def _weights() -> dict[str, tuple[tuple[str, float], ...]]:
    # A word shared by k profiles counts 1/k for each: "de" says little, "the" says English.
    owners: dict[str, list[str]] = {}
    for lang, words in _STOPWORDS.items():
        for word in words:
            owners.setdefault(word, []).append(lang)
    return {word: tuple((lang, 1 / len(langs)) for lang in langs) for word, langs in owners.items()}


_WEIGHTS = _weights()
_LATIN_LANGS = tuple(lang for lang in _STOPWORDS if lang not in ("ru", "uk"))
_ALL_LANGS = tuple(_STOPWORDS)


# Remembered for a few texts: the language check and the entity check read the same original.
@functools.lru_cache(maxsize=_CACHE_SIZE)
def detect_language(text: str) -> LanguageGuess:
    """Guess the human language of ``text``; ``confident`` is False when it cannot tell.

    Code blocks, inline code, URLs and tags are ignored. Danish and Norwegian share one profile
    (``da``): function words cannot tell them apart.
    """
    units, words, scores = _reading(text)
    total = sum(units.values())
    if total < _MIN_WORDS:
        return _UNDETERMINED
    script, count = units.most_common(1)[0]
    cjk = units["han"] + units["kana"] + units["hangul"]
    if cjk >= _DOMINANT * total:
        return LanguageGuess(_cjk_lang(units), "cjk", True)
    if count < _DOMINANT * total:
        return LanguageGuess("und", "mixed", False)
    if script in _SCRIPT_LANG:
        return LanguageGuess(_SCRIPT_LANG[script], script, True)
    if script == "cyrillic":
        return _words_lang(scores, words, ("ru", "uk")) or LanguageGuess("und", "cyrillic", True)
    return _words_lang(scores, words, _LATIN_LANGS) or LanguageGuess("und", "latin", True)


_SHORT_WORDS = 12  # below this many words a text is too short for detect_language's density test
_SHORT_MIN_SCORE = 1.0  # a short text's leading language needs this many (weighted) function words


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _short_lead(text: str) -> tuple[str | None, Mapping[str, float], int]:
    """The language whose function words lead ``text``'s by a clear margin, with the scores and the
    number of words; None when no language leads."""
    _, words, scores = _reading(text)
    best, top, second = _top_two(scores, _ALL_LANGS)
    if top < _SHORT_MIN_SCORE or top < _MARGIN * second:
        return None, scores, words
    # Two different function words at least: one ("per", "die") may be a word of another language.
    hits = _STOPWORDS[best].intersection(_WORD_RE.findall(text.lower()))
    return (best if len(hits) >= 2 else None), scores, words


_ACCENTED_RE = re.compile(r"[\u00df-\u00f6\u00f8-\u024f]")  # a lowercase Latin letter with a mark


def _not_english(text: str, lead: str | None, scores: Mapping[str, float]) -> bool:
    """Whether a short text is clearly not English: another language's function words lead, or it
    has no English function word but an accented letter ("pintó", "Stolicą"), or it is written in
    another script."""
    if lead is not None:
        return lead != "en"
    if scores["en"] > 0:
        return False
    units = _script_units(text)
    total = sum(units.values())
    if total and units["latin"] < (1 - _DOMINANT) * total:
        return True  # another script
    return bool(_ACCENTED_RE.search(text))


# A quoted or italic title ("« Le Déjeuner sur l'herbe »", "*Pan Tadeusz*"): a name, whose words are
# not those of the sentence around it.
_TITLE_RE = re.compile(
    r"«[^»\n]{1,80}»|“[^”\n]{1,80}”|„[^“”\n]{1,80}[“”]|\"[^\"\n]{1,80}\"|(?<![*\w])\*[^*\n]{1,80}\*(?![*\w])"
)


def _untitled(text: str) -> str:
    """``text`` without its quoted and italic titles, for reading the language of a short answer."""
    return _TITLE_RE.sub(" ", text) if any(c in text for c in '«“„"*') else text


def english_switch(original: str, rewrite: str) -> bool:
    """Whether a short answer was translated to English, or from it.

    Short answers ("Lo pintó Pablo Picasso en 1937.") are below what :func:`detect_language` will
    judge; a switch to English is the usual way a rewriter changes a short answer's language. One
    text must read clearly as English (its function words, two at least, and none of the other's
    leading language) and the other clearly not (see :func:`_not_english`).
    """
    if min(_reading(original)[1], _reading(rewrite)[1]) >= _SHORT_WORDS:
        return False  # long enough for detect_language to judge (known before reading the leads)
    original, rewrite = _untitled(original), _untitled(rewrite)
    before, before_scores, _ = _short_lead(original)
    after, after_scores, _ = _short_lead(rewrite)
    if before == after == "en":
        return False  # English on both sides
    if after == "en" and _not_english(original, before, before_scores):
        return before is None or after_scores[before] == 0
    if before == "en" and _not_english(rewrite, after, after_scores):
        return after is None or before_scores[after] == 0
    return False


# English words of no other profile ("an" and "can" are also German and Turkish words), question
# words, and the verbs with which a short answer is most often put in English ("was written by").
_ENGLISH_ONLY = frozenset(w for w, owners in _WEIGHTS.items() if owners == (("en", 1.0),)) - {"an", "can"} | {
    *"who whom whose where why".split(),
    *"wrote written published painted born died played sang sung located known called named built founded".split(),
    *"became discovered invented composed directed stands lies".split(),
}
_ENGLISH_WORDS = _STOPWORDS["en"] | _ENGLISH_ONLY
_OTHER_WORDS = frozenset().union(*(words for lang, words in _STOPWORDS.items() if lang != "en")) - _ENGLISH_WORDS
# What an English question or answer is bound to have: every English function word but the few that
# are as common in German, Dutch or Italian ("in", "is") or Finnish ("on": "is").
_ENGLISH_MARKS = _ENGLISH_WORDS - {"in", "is", "an", "can", "on"}
_UNMARKED_MIN_WORDS = 8  # the question and the original together: enough for one English word to show
_LOWER_WORD_RE = re.compile(r"(?<![^\W\d_])[^\W\d_A-Z\u00c0-\u00de][^\W\d_]*")
# Question words of other languages, none an English word: a question that asks with one is not
# English, however short ("Hvem malte Skrik?", "Kto napisał ...?"). Read as the question's lowercase
# words and its sentences' first words (a capitalised word elsewhere may be a name); words that are
# also names ("Kim", "Wat", "Chi") are left out.
_OTHER_QUESTION_WORDS = frozenset(
    (
        "wer wo wann warum welche welcher welches wieviel qui quel quelle quels quand combien pourquoi où "
        "quién quien quiénes dónde donde cuándo cuando cuál cual cuáles cuántos cuántas qué quem onde qual "
        "quais quantos quantas quale quali quanti quante perché wie waar wanneer welke waarom hvem "
        "hva hvor hvilken hvilket hvordan hvorfor vem vad hur vilken vilket varför kuka mikä missä milloin "
        "kuinka miksi kto gdzie kiedy ile jaki jaka który która dlaczego nerede hangi neden siapa "
        "dimana kapan berapa mengapa bagaimana nani wapi lini gani ngapi upi ipi"
    ).split()
)


def _asks_in_other_language(question: str) -> bool:
    """Whether a question, whatever its length, shows it is not English: it asks with a question
    word of another language."""
    bare = _MARKS_RE.sub("", question)
    words = set(_LOWER_WORD_RE.findall(bare))
    words.update(m[1].lower() for m in _QUESTION_OPENER_RE.finditer(bare))
    return not _OTHER_QUESTION_WORDS.isdisjoint(words)


# A particle of a name between two capitalised words ("Johann Wolfgang von Goethe", "Vasco da Gama").
_NAME_PARTICLE_RE = re.compile(
    r"(?<=[^\W\d_]) (von|van|der|den|de|da|di|del|della|du|la|le|dos|das|do|zu|ten|ter|bin|ibn|al|el|y)"
    r"(?= [A-Z\u00c0-\u00de])"
)
_MARKS_RE = re.compile(r"[*_`]+")
_SENTENCE_OPENER_RE = re.compile(r"(?:^|[.!?:]\s+)([A-Z][a-z]+)")
_QUESTION_OPENER_RE = re.compile(r"(?:^|[.!?:¿]\s*)[\W_]*([^\W\d_]+)")


def _own_words(text: str) -> set[str]:
    """The lowercase words of ``text`` outside names ("von" in "Johann Wolfgang von Goethe" is part
    of the name, not a word of its language), and an English function word opening a sentence
    ("The", "It": no name)."""
    bare = _MARKS_RE.sub("", text)
    if " " in bare:
        bare = _NAME_PARTICLE_RE.sub(lambda m: " " if _capitalised_before(bare, m.start()) else m[0], bare)
    own = set(_LOWER_WORD_RE.findall(bare))
    own.update(w for w in (m[1].lower() for m in _SENTENCE_OPENER_RE.finditer(bare)) if w in _ENGLISH_ONLY)
    return own


def _capitalised_before(text: str, end: int) -> bool:
    """Whether the word that ends at ``end`` in ``text`` is capitalised."""
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:end][:1].isupper()


def translated_to_english(question: str, original: str, rewrite: str) -> bool:
    """Whether a short answer to a question asked in another language was put into English, though
    neither text has the function words :func:`english_switch` needs ("Johann Wolfgang von Goethe
    schrieb den Faust." -> "Faust was written by Goethe.").

    The question and the original have no English word, and either the question asks with a question
    word of another language ("Hvem malte Skrik?" / "Edvard Munch.": an answer of names alone is in
    the question's language), or together they have eight words at least (English text of that length
    without "the", "of", "by", "who", ... is rare) and a function word of another language or an
    accented letter; the rewrite's own words (not its names: "Les Misérables" is a title, "von" in
    "Johann Wolfgang von Goethe" part of a name) have two English words, one of them only English
    ("The" opening a sentence counts), and no function word of another language.
    """
    if min(_reading(original)[1], _reading(rewrite)[1]) >= _SHORT_WORDS:
        return False  # long enough for detect_language to judge
    # Read in ASCII letter runs (remembered: other checks read the same): an accented word falls
    # apart, which can only make an English word appear ("był" -> "by"), never hide one.
    before, asking = letter_words(fold_case(original)), letter_words(fold_case(question))
    if not _ENGLISH_MARKS.isdisjoint(before) or not _ENGLISH_MARKS.isdisjoint(asking):
        return False
    # A question in another language: an answer of names alone ("Edvard Munch.") is in it too. Else
    # eight words at least, and something of another language: a function word, an accented letter.
    unmarked = not _asks_in_other_language(question) and (
        len(before) + len(asking) < _UNMARKED_MIN_WORDS
        or (
            _OTHER_WORDS.isdisjoint(before)
            and _OTHER_WORDS.isdisjoint(asking)
            and not _ACCENTED_RE.search(original.lower())
            and not _ACCENTED_RE.search(question.lower())
        )
    )
    if unmarked:
        return False
    own = _own_words(rewrite)
    return len(own & _ENGLISH_WORDS) >= 2 and bool(own & _ENGLISH_ONLY) and own.isdisjoint(_OTHER_WORDS)


_SWITCH_MIN_UNITS = 2  # of the original's script: "東京。" is a whole answer
_SWITCH_MIN_WORDS = 3  # lowercase Latin words of two letters or more: prose, not a name or a unit


def script_switch(original: str, rewrite: str) -> str | None:
    """A short answer written in another script (Japanese, Russian, Greek, ...) rewritten in Latin
    prose: the original has no Latin letter, the rewrite no letter of the original's script and three
    lowercase words ("富士山の標高は3,776メートルです。" -> "Mount Fuji is 3,776 metres high."). Names and
    numbers alone ("Mount Fuji, 3,776 m") are no switch. The original's script, else None."""
    if original.isascii() or (not rewrite.isascii() and _OTHER_SCRIPT_RE.search(rewrite)):
        return None
    units = _script_units(original)
    if units["latin"] or sum(units.values()) < _SWITCH_MIN_UNITS:
        return None
    words = [w for w in _own_words(rewrite) if len(w) >= 2]
    if len(words) < _SWITCH_MIN_WORDS:
        return None
    script = units.most_common(1)[0][0]
    return "cjk" if script in ("han", "kana", "hangul") else script


# Letters and short words that only Ukrainian or only Russian writes, for texts too short to score.
_CYRILLIC_MARKS = {
    "uk": (
        frozenset("іїєґ"),
        frozenset("та що це є року році який яка які від був була було він вона також його її написав".split()),
    ),
    "ru": (
        frozenset("ыэъё"),
        frozenset("что это году был была было он она также его её написал который которая от".split()),
    ),
}
_CYRILLIC_WORD_RE = re.compile("[\u0400-\u04ff]+")


def _cyrillic_marks(text: str) -> set[str]:
    """Which of Ukrainian and Russian ``text`` shows letters or short words of its own."""
    lowered = text.lower()
    words = set(_CYRILLIC_WORD_RE.findall(lowered))
    return {lang for lang, (letters, own) in _CYRILLIC_MARKS.items() if not letters.isdisjoint(lowered) or words & own}


def cyrillic_switch(original: str, rewrite: str) -> tuple[str, str] | None:
    """A text moved between Ukrainian and Russian: each shows letters or words only one of the two
    writes ("написав", "і" -> "написал", "году"), and they differ. ``(before, after)``, else None."""
    if original.isascii() or rewrite.isascii() or not _CYRILLIC_WORD_RE.search(original):
        return None
    before, after = _cyrillic_marks(original), _cyrillic_marks(rewrite)
    if len(before) == 1 and len(after) == 1 and before != after:
        return before.pop(), after.pop()
    return None


def close_language_switch(original: str, rewrite: str) -> tuple[str, str] | None:
    """A short answer rewritten in a neighbouring language (Portuguese to Spanish): each text's own
    function words lead clearly, and the two leads differ. ``(before, after)``, else None."""
    if min(_reading(original)[1], _reading(rewrite)[1]) >= _SHORT_WORDS:
        return None  # long enough for detect_language to judge
    original, rewrite = _untitled(original), _untitled(rewrite)
    before, _, _ = _short_lead(original)
    after, _, _ = _short_lead(rewrite)
    if before is None or after is None or before == after or "en" in (before, after):
        return None  # English switches are english_switch's
    return before, after


def written_in_other_language(text: str, lang: str) -> bool:
    """Whether ``text`` clearly reads as some language other than ``lang`` (a code from
    :func:`detect_language`).

    Asks less than a full detection: the best language needs a clear lead over ``lang`` only, not
    over every other language (Spanish text may score close to Portuguese, but it is clearly not
    English), so it can speak about text too short or too full of names for a confident guess.
    """
    script = "cyrillic" if lang in ("ru", "uk") else "latin" if lang in _LATIN_LANGS else None
    if script is None:
        return False
    candidates = ("ru", "uk") if script == "cyrillic" else _LATIN_LANGS
    ranked = _ranked(_reading(text)[2], candidates)
    best, top = ranked[0]
    return best != lang and _clear_winner(top, dict(ranked)[lang], None)


class LanguageConsistency(Guard):
    """Reject a rewrite in another language or script than the original (Spanish stays Spanish).

    Rejects when both texts are clearly in different scripts, or when one text is confidently in a
    language and the other clearly reads as another one. Text that mixes languages (a translation
    with notes, a grammar lesson full of examples) rarely gives a clear reading, and then the
    guard does nothing.
    """

    name = "language"

    def check(self, item: CheckInput) -> bool | Verdict:
        before, after = detect_language(item.original), detect_language(item.rewrite)
        if before.confident and after.confident and before.script != after.script:
            return refuse(f"script {before.script} became {after.script}")
        if (
            before.confident
            and after.confident
            and before.script == after.script == "cjk"
            and before.lang != after.lang
        ):
            # Chinese, Japanese and Korean share characters: their readings tell them apart.
            return refuse(f"language {before.lang} became {after.lang}")
        if not after.confident:
            switched = script_switch(item.original, item.rewrite)
            if switched is not None:
                return refuse(f"script {switched} became latin")
        if english_switch(item.original, item.rewrite) or translated_to_english(
            item.question, item.original, item.rewrite
        ):
            return refuse("a short answer translated to or from English")
        close = close_language_switch(item.original, item.rewrite) or cyrillic_switch(item.original, item.rewrite)
        if close is not None:
            return refuse(f"language {close[0]} became {close[1]}")
        if before == after:
            # One language (or one undetermined script): a detected language is also the best of the
            # function-word scores, so neither text reads as another language.
            return True
        if before.lang != "und" and written_in_other_language(item.rewrite, before.lang):
            became = after.lang if after.lang not in ("und", before.lang) else "another language"
            return refuse(f"language {before.lang} became {became}")
        if after.lang in ("und", before.lang) or not written_in_other_language(item.original, after.lang):
            return True
        return refuse(f"the rewrite reads as {after.lang}, the original does not")
