"""The answer checks: the final answer, the multiple-choice option and the verdict are kept."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from fractions import Fraction

from .._text import final_answer, fold_case, hash_answer
from .._types import CheckInput
from .base import Guard, Verdict, one_line, refuse
from .entities import entities, find_entity
from .markup import CACHE_SIZE, WORDS_RE, norm, plain, plain_head, prose
from .numbers import any_same, latex_to_text, mentions, value_set, word_mentions

__all__ = ["FinalAnswer", "OptionKept", "VerdictKept"]


# --- final answer -------------------------------------------------------------------------------

_OPTION_LETTER_RE = re.compile(r"^\W*[A-Ha-h]\W*$")
_ARTICLES = frozenset({"a", "an", "the"})

#: tasks whose text is not an answer to a question: an "Answer: ..." there is content (a quiz's
#: answer key, a line of a letter), so only #### and \boxed markers are read
_PHRASE_TASKS_SKIP = frozenset(
    {
        "question_generation",
        "data_generation",
        "story_generation",
        "poem_generation",
        "email_generation",
        "roleplay",
        "text_to_text_translation",
        "instructional_rewriting",
        "language_polishing",
        "paraphrasing",
        "text_correction",
    }
)


_SHORT_ANSWER_WORDS = 4
_SHORT_ANSWER_CHARS = 40  # CJK text has no spaces: a long sentence is one "word"


def _short_answer(text: str) -> str | None:
    """A whole answer of a few words and no sentence ("Tokyo", "206.", "x = 6"), else None."""
    # Only * _ # > and white space can go, so more other characters than the limit mean no short
    # answer: look at the beginning of a long text before taking its markdown out.
    kept = "".join(text[: 4 * _SHORT_ANSWER_CHARS].split())
    if len(kept) - sum(map(kept.count, "*_#>")) > _SHORT_ANSWER_CHARS:
        return None
    bare = plain(text).strip()
    if "\n" in bare or len(bare.split()) > _SHORT_ANSWER_WORDS or len(bare) > _SHORT_ANSWER_CHARS:
        return None
    if any(mark in bare.rstrip("\u3002.") for mark in "\u3001\u3002\uff0c"):
        return None  # a CJK sentence of clauses (no spaces to count), not a short answer
    return bare or None


@functools.lru_cache(maxsize=CACHE_SIZE)
def _original_answer(text: str, phrases: bool) -> tuple[str, str] | None:
    """Like :func:`~realign._text.final_answer`, and an original that is only a short answer is its own answer."""
    found = final_answer(text, phrases)
    if found is None and phrases:
        short = _short_answer(text)
        return None if short is None else ("short", short)
    return found


def _answer_values(answer: str) -> list[frozenset[Fraction]]:
    text = latex_to_text(answer)
    found = sorted([*mentions(text), *word_mentions(text)], key=lambda m: m.start)
    return [m.alternatives for m in found]


def _answer_words(answer: str) -> set[str]:
    text = latex_to_text(plain(answer)).lower()
    return {w for w in WORDS_RE.findall(text) if w not in _ARTICLES}


def _same_answer(original: str, rewrite: str, *, leading: bool = True) -> bool:
    """Whether the rewrite's answer states the original's.

    With numbers: every number of the original's answer is in the rewrite's, and (``leading``)
    the rewrite's answer leads with one of them (so "5, not 6" does not pass for 6; "70 km/h
    (19.4 m/s)" does pass for 70). Without numbers: the original's words are among the rewrite's.
    """
    want, got = _answer_values(original), _answer_values(rewrite)
    if want:
        if not got:
            return False
        have = {v for alts in got for v in alts}
        wanted = {v for alts in want for v in alts}
        kept = all(any(any_same(v, have) for v in alts) for alts in want)
        return kept and (not leading or any(any_same(v, wanted) for v in got[0]))
    words = _answer_words(original)
    return bool(words) and words <= _answer_words(rewrite)


# Scripts written without spaces between words (Han, kana, Thai) or gluing particles to them (Hangul).
_UNSPACED_RE = re.compile(
    "[\u0e00-\u0e7f\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]"
)


# Punctuation, symbols and spaces: what is left is letters (with Thai and Indic vowel marks) and digits.
_NOT_LETTER_RE = re.compile(r"[\W_]+(?<![\u0e00-\u0e7f\u0900-\u097f])")


def _beyond_question(word: str, question: str) -> list[str]:
    """The runs of two characters or more of an unspaced ``word`` that are not the question's own
    (a character belongs to the question when a pair of characters it is in does)."""
    pairs = {question[i : i + 2] for i in range(len(question) - 1)}
    asked = [False] * len(word)
    for i in range(len(word) - 1):
        if word[i : i + 2] in pairs:
            asked[i] = asked[i + 1] = True
    runs = re.split("\0+", "".join("\0" if a else c for a, c in zip(asked, word, strict=True)))
    return [run for run in runs if len(run) >= 2]


def _own_part_kept(answer: str, question: str, rewrite: str) -> bool:
    """Whether a short answer's own part is in the rewrite: not its words that restate the question
    ("عاصمة المغرب هي الرباط." to "ما هي عاصمة المغرب؟" answers الرباط), nor, in scripts without
    spaces, the runs of characters the question has ("《红楼梦》的作者是曹雪芹。" answers 曹雪芹,
    "세종대왕입니다." 세종대왕); a number, or a number word of another language ("Quinze", "Seis"),
    may be stated in digits or words."""
    flat = "".join(plain(rewrite).split())
    if _UNSPACED_RE.search(answer):
        # Read as characters, not words: Thai vowel marks and CJK text give no words to compare.
        pieces = _beyond_question(_NOT_LETTER_RE.sub("", answer), question)
        return bool(pieces) and all(piece in flat for piece in pieces)
    own = _answer_words(answer) - _answer_words(question)
    if not own:
        return False  # the answer only restates the question: nothing of its own to find
    values: set[Fraction] | None = None
    for word in own - _answer_words(rewrite):
        wanted = value_set(word)
        if not wanted:
            return False
        values = value_set(rewrite) if values is None else values
        if wanted.isdisjoint(values):
            return False
    return True


# Where a stated answer's own words end and its justification starts: "B) Mars, because ...",
# "0 °C, which is ...", "36; ten percent is 24".
_ANSWER_REASON_RE = re.compile(
    r"\s*(?:[,;:]\s*(?:because|since|as|which|who|where|so|but|while|although|though|given|meaning|due"
    r"|this|that|it|parce|porque|weil|perch[eé])\b|\s(?:because|since)\b|;|\s[-\u2013\u2014]\s).*$",
    re.IGNORECASE | re.DOTALL,
)
_PARENTHESES_RE = re.compile(r"\([^()]*\)")


def _answer_head(answer: str) -> str:
    """A stated answer without its justification, and without what it adds in parentheses."""
    head = _ANSWER_REASON_RE.sub("", answer).strip()
    bare = _PARENTHESES_RE.sub(" ", head).strip()
    return bare or head or answer


def _names_kept(answer: str, rewrite: str) -> bool | None:
    """For a short answer that names something (a person, a place): whether the rewrite names the
    same, whatever words carry it ("L'ha scritta Dante Alighieri." -> "... di Dante Alighieri");
    None when the answer names nothing or has a number (then its words are compared)."""
    if any(c.isdigit() for c in answer):
        return None
    names = entities(answer)
    if not names:
        return None
    return all(find_entity(e, rewrite) for e in names)


_OPTION_PREFIX_RE = re.compile(r"^\W*([A-Ha-h])\s*[).:]\s+\S")


def _same_letter(answer: str, stated: str) -> bool:
    """An option stated with its letter ("C) Carbon dioxide") restated as the letter alone ("C")."""
    prefix = _OPTION_PREFIX_RE.match(answer)
    letter = _OPTION_LETTER_RE.match(stated)
    return prefix is not None and letter is not None and prefix.group(1).lower() in stated.lower()


def _tail(text: str, lines: int = 3) -> str:
    return "\n".join([ln for ln in text.splitlines() if ln.strip()][-lines:])


class FinalAnswer(Guard):
    """Reject a rewrite whose final answer differs from the original's.

    The original's answer is its ``#### N`` line (GSM8K), else its last ``\\boxed{...}``, else its
    last "The answer is X" / "Answer: X" / "Final answer: X" (in answer-giving tasks only). Numbers
    are compared as values (``1,000`` = ``1000.0`` = ``$1,000``; ``\\frac{1}{2}`` = ``1/2`` = ``0.5``).
    An original that is only a short answer ("Tokyo", "206.") is its own answer. A ``####`` line in
    the original must be kept as a ``####`` line. When the rewrite has no answer marker at all, the
    answer must appear in its last lines.
    """

    name = "final_answer"

    def check(self, item: CheckInput) -> bool | Verdict:
        phrases = item.task not in _PHRASE_TASKS_SKIP
        original = _original_answer(item.original, phrases)
        if original is None or _OPTION_LETTER_RE.match(original[1]):
            return True  # no answer to keep, or an option letter: the option guard's business
        kind, answer = original
        lost = f"answer {one_line(answer)!r}"
        if kind == "hash":
            stated = hash_answer(item.rewrite)
            if stated is None:
                return refuse(f"{lost}: the rewrite has no #### line")
            return _same_answer(answer, stated) or refuse(f"{lost} became {one_line(stated)!r} (#### line)")
        if kind == "short":
            # A bare answer is usually expanded into sentences: look for it anywhere.
            named = _names_kept(answer, item.rewrite)
            kept = named if named is not None else _same_answer(answer, item.rewrite, leading=False)
            kept = kept or _own_part_kept(answer, item.question, item.rewrite)
            return kept or refuse(f"{lost} not found in the rewrite")
        if kind == "phrase":
            answer = _answer_head(answer)  # "B) Mars, because ..." states B) Mars
        rewrite = final_answer(item.rewrite, phrases=True)
        if rewrite is not None and _same_letter(answer, rewrite[1]):
            return True  # "C) Carbon dioxide" restated as "C": the option guard reads the letter
        if rewrite is not None:
            named = _names_kept(answer, rewrite[1]) if kind == "phrase" else None
            kept = named if named is not None else _same_answer(answer, rewrite[1])
            return kept or refuse(f"{lost} became {one_line(rewrite[1])!r}")
        # No marker: the answer must be among the closing lines' numbers or words.
        kept = _same_answer(answer, _tail(item.rewrite), leading=False)
        return kept or refuse(f"{lost} not stated, nor in the rewrite's last lines")


# --- multiple-choice option ---------------------------------------------------------------------

_OPTION_LINE_RE = re.compile(
    r"^[ \t]*(?:[-*][ \t]+)?(?:\(\s*(?P<a>[A-Ha-h])\s*\)|(?P<b>[A-Ha-h])\s*[).:])[ \t]+(?P<text>\S[^\n]*)$",
    re.MULTILINE,
)
_OPTION_INLINE_RE = re.compile(
    r"(?:(?<=\s)|^)\(?(?P<l>[A-H])[).:]\s*(?P<text>[^\n]+?)(?=\s+\(?[A-H][).:]\s|\s*$)", re.MULTILINE
)
_LETTER_END = r"(?=[).:\],;*]|\s*$|\s+[-–—]|\s*\n)"
_EXPLICIT_CHOICE_RE = re.compile(
    r"(?:\banswer\b|\bcorrect\s+(?:option|choice|answer|response)|\bright\s+(?:option|answer)"
    r"|\b(?:choose|select|pick)|\bbest\s+(?:option|answer|choice))"
    r"\s*(?:is|would be|=|:)?\s*(?:\*\*)?\s*(?:option|choice)?\s*[(\[]?\s*(?P<l>[A-H])\s*" + _LETTER_END,
    re.IGNORECASE,
)
_LEADING_CHOICE_RE = re.compile(r"^[\s*_#>]*(?:option\s+)?[(\[]?(?P<l>[A-H])\s*(?:[).:\]]|\*\*|$)", re.IGNORECASE)


def _options(question: str) -> dict[str, str]:
    """The options a multiple-choice question lists, letter -> text; empty when it lists none."""
    found: dict[str, str] = {}
    for m in _OPTION_LINE_RE.finditer(question):
        found.setdefault((m["a"] or m["b"]).upper(), m["text"].strip())
    if len(found) < 2:
        found = {m["l"]: m["text"].strip() for m in _OPTION_INLINE_RE.finditer(question)}
    if len(found) < 2:
        # "(a) Dickens (b) Shakespeare (c) Austen" on one line, in either case.
        found = {m["l"].upper(): m["text"].strip() for m in _OPTION_PAREN_INLINE_RE.finditer(question)}
    return found if {"A", "B"} <= found.keys() else {}


_OPTION_PAREN_INLINE_RE = re.compile(r"\((?P<l>[A-Ha-h])\)\s*(?P<text>[^()\n]+?)(?=\s*\([A-Ha-h]\)|\s*$)")
# A letter the text names as an option: "(option D)", "option D", "**(c)**".
_NAMED_LETTER_RE = re.compile(r"\boption\s+\(?(?P<a>[A-Ha-h])\b|\(\s*(?P<b>[A-Ha-h])\s*\)|\*\*(?P<c>[A-H])[).:]?\*\*")


def _named_letters(text: str, options: Mapping[str, str]) -> set[str]:
    """Every letter ``text`` names as an option: "(option D)", "**(c)**", "**B**", "the answer is B"."""
    named = {(m["a"] or m["b"] or m["c"]).upper() for m in _NAMED_LETTER_RE.finditer(text)}
    named.update(m["l"].upper() for m in _EXPLICIT_CHOICE_RE.finditer(text))
    return named & options.keys()


def _choice(text: str, options: Mapping[str, str]) -> str | None:
    """The option ``text`` picks: an explicit "the answer is B", else a leading "B)", else the one
    option whose text the first line quotes."""
    explicit = [m["l"].upper() for m in _EXPLICIT_CHOICE_RE.finditer(text) if m["l"].upper() in options]
    if explicit:
        return explicit[-1]
    lead = _LEADING_CHOICE_RE.match(text)
    if lead and lead["l"].upper() in options:
        return lead["l"].upper()
    first_line = norm(next((ln for ln in text.splitlines() if ln.strip()), ""))
    quoted = [k for k, v in options.items() if len(v) >= 2 and norm(v) in first_line]
    return quoted[0] if len(quoted) == 1 else None


def _mentions_option(text: str, letter: str, option_text: str) -> bool:
    if re.search(rf"(?:\(\s*{letter}\s*\)|\b{letter}\)|\boption\s+{letter}\b|\*\*{letter}\*\*)", text):
        return True
    return len(option_text) >= 2 and norm(option_text) in norm(text)


class OptionKept(Guard):
    """Reject a rewrite that picks a different option of a multiple-choice question.

    Applies when the question lists options (``A) ...``, ``(a) ...``, ``A. ...``) and the original's
    pick can be read. A rewrite that picks no option must still name the original's.
    """

    name = "option"

    def check(self, item: CheckInput) -> bool | Verdict:
        options = _options(item.question)
        if not options:
            return True
        picked = _choice(item.original, options)
        if picked is None:
            return True
        # Another letter named as an option, and never the original's ("1945 (option D)" for "C) 1945"):
        # the rewrite picks another option even when it keeps the original's text.
        # One letter alone: several may be an enumeration ("(a) first, (b) second").
        named_letters = _named_letters(item.rewrite, options)
        if len(named_letters) == 1 and picked not in named_letters:
            return refuse(f"option {picked} became {named_letters.pop()}")
        repicked = _choice(item.rewrite, options)
        if repicked is not None:
            return repicked == picked or refuse(f"option {picked} became {repicked}")
        named = _mentions_option(item.rewrite, picked, options[picked])
        return named or refuse(f"option {picked} ({one_line(options[picked], 40)}) not named")


# --- verdict ------------------------------------------------------------------------------------

# Truth verdicts of other languages (German, French, Spanish, Portuguese, Italian, Dutch, Polish,
# Russian, Ukrainian, the Scandinavian languages, Turkish, Indonesian), negations before the word
# they negate: the longest phrase read at a place wins ("nicht wahr" over "wahr").
_FALSE_WORDS = (
    "falsch,unwahr,nicht wahr,nicht richtig,stimmt nicht,unrichtig,inkorrekt,faux,fausse,pas vrai,inexact,"
    "mythe,un mythe,falso,falsa,incorrecto,incorrecta,no es cierto,no es verdad,mito,errado,errada,incorreto,"
    "incorreta,não é verdade,não é verdadeiro,non è vero,non vero,sbagliato,errato,onwaar,niet waar,onjuist,"
    "klopt niet,nieprawda,fałsz,fałszywe,fałszywy,fałszywa,nie jest prawdą,неверно,не верно,неправда,"
    "не правда,ложь,ложно,миф,невірно,хибно,міф,falskt,falsk,inte sant,ikke sandt,ikke sant,stämmer inte,"
    "yanlış,doğru değil,salah,tidak benar"
)
_TRUE_WORDS = (
    "wahr,richtig,korrekt,stimmt,vrai,vraie,c'est exact,verdadero,verdadera,cierto,cierta,correcto,correcta,"
    "verdadeiro,verdadeira,verdade,correto,correta,vero,corretto,juist,klopt,prawda,prawdziwe,prawdziwy,"
    "prawdziwa,верно,правда,истина,вірно,sant,sandt,stämmer,doğru,benar"
)
_PARTIAL_WORDS = (
    "teilweise wahr,teilweise richtig,teils wahr,partiellement vrai,en partie vrai,parcialmente cierto,"
    "parcialmente verdadero,parcialmente verdadeiro,parzialmente vero,gedeeltelijk waar,częściowo prawdziwe,"
    "częściowo prawda,частично верно,частично правда,delvis sant,delvis sandt"
)
_VERDICT_VOCAB: Mapping[str, Mapping[str, str]] = {
    "truth": {
        "partially true": "partial",
        "partly true": "partial",
        "half true": "partial",
        "mostly true": "partial",
        "partially correct": "partial",
        "misleading": "partial",
        "not enough information": "unknown",
        "not enough evidence": "unknown",
        "insufficient evidence": "unknown",
        "insufficient information": "unknown",
        "unverifiable": "unknown",
        "cannot be determined": "unknown",
        "can't be determined": "unknown",
        "not true": "false",
        "isn't true": "false",
        "not correct": "false",
        "not accurate": "false",
        "untrue": "false",
        "incorrect": "false",
        "inaccurate": "false",
        "false": "false",
        "wrong": "false",
        "refuted": "false",
        "myth": "false",
        "no": "false",
        "true": "true",
        "correct": "true",
        "accurate": "true",
        "supported": "true",
        "yes": "true",
        # Other languages: words that say nothing else where a verdict is stated (words that also
        # mean something else, Dutch "waar" also "where", are read only as an opening: _OTHER_YES).
        **{word: "false" for word in _FALSE_WORDS.split(",")},
        **{word: "true" for word in _TRUE_WORDS.split(",")},
        **{word: "partial" for word in _PARTIAL_WORDS.split(",")},
    },
    "sentiment": {
        "positive": "positive",
        "negative": "negative",
        "neutral": "neutral",
        "mixed": "mixed",
    },
    "language": {
        lang: lang
        for lang in (
            "english spanish french german italian portuguese dutch swedish danish norwegian "
            "finnish polish czech russian ukrainian greek turkish arabic hebrew hindi bengali "
            "chinese mandarin cantonese japanese korean vietnamese thai indonesian malay swahili latin"
        ).split()
    },
    "code": {
        lang: lang
        for lang in (
            "python javascript typescript java kotlin scala c++ c# ruby php perl rust golang swift "
            "haskell sql html css bash shell powershell lua matlab julia dart elixir erlang clojure "
            "fortran cobol assembly objective-c"
        ).split()
    },
}
_FAMILY_RES = {
    family: re.compile(
        r"(?<![\w+#-])(" + "|".join(re.escape(w) for w in sorted(vocab, key=len, reverse=True)) + r")(?![\w+#-])",
        re.IGNORECASE,
    )
    for family, vocab in _VERDICT_VOCAB.items()
}
# The vocabulary as fold_case writes a match ("yanlış" is read as "yanlis").
_FOLDED_VOCAB = {family: {fold_case(w): v for w, v in vocab.items()} for family, vocab in _VERDICT_VOCAB.items()}
#: task -> the verdict families its answers use
_VERDICT_TASKS: Mapping[str, tuple[str, ...]] = {
    "fact_verification": ("truth",),
    "sentiment_analysis": ("sentiment",),
    "language_classification": ("language",),
    "code_language_classification": ("code",),
    "general_classification": ("truth", "sentiment"),
    "topic_classification": (),
}
_LABEL_RE = re.compile(
    r"(?:verdict|label|sentiment|classification|category|class|topic|language|rating|conclusion"
    r"|answer|(?:the\s+)?(?:claim|statement)\s+is|this\s+(?:claim|statement|review|text)\s+is)"
    r"[*_\s]*[:：]?[*_\s]*(?P<value>[^\n.;]{1,60})",
    re.IGNORECASE,
)
# "No. 4", "No 4": the number sign, not a verdict.
_NOISE_RE = re.compile(
    r"\btrue\s+or\s+false\b|\byes\s+or\s+no\b|\bno\s+(?=\w+\s+\w)|\bno\.?[ \t]*(?=\d)", re.IGNORECASE
)
_LEAD_WORDS = 12
# Yes and no of other languages, read only as a whole first sentence or clause ("Ja, das stimmt.",
# "**Nein.**"): as the first word of a sentence they may be other words ("Non-stick", "Sim cards").
_OTHER_YES = frozenset("ja oui sí sì sim tak да так evet waar".split())
_OTHER_NO = frozenset("nein non não nee nej nei nie нет ні hayır".split())
# ... or a dash after a space ("**Nein** – Wale sind ..."), never a hyphen ("Non-stick").
_YES_NO_RE = re.compile(
    r"^[\s*_#>]*(?:(yes|no)\b|(" + "|".join(sorted(_OTHER_YES | _OTHER_NO)) + r")(?=\s*[,.!:;]|\*\*|_|\s*$|\s+[-–—]))",
    re.IGNORECASE,
)
# Chinese, Japanese and Korean verdicts, read only as the opening word of the text, before a mark
# (no spaces separate CJK words: "对于" opens many a sentence that is no verdict).
_CJK_VERDICTS: Mapping[str, str] = {
    **dict.fromkeys("正确 对 是的 正しい 참 맞습니다".split(), "true"),
    **dict.fromkeys("错误 错 不对 不正确 不是 誤り 間違い 正しくない 거짓 틀렸습니다".split(), "false"),
    **dict.fromkeys("部分正确 部分的に正しい".split(), "partial"),
}
_CJK_VERDICT_RE = re.compile(
    r"^[\s*_#>✅❌]*(" + "|".join(sorted(_CJK_VERDICTS, key=len, reverse=True)) + r")(?:です|だ|的)?"
    r"(?=[\s,.!:;，。！：、*_]|$)"
)
_LEADING_MARKS_RE = re.compile(r"[\s*_#>]*")
_YES_NO_HEAD = 120
_SHORT_LABEL_WORDS = 4


def _yes_no(text: str) -> re.Match[str] | None:
    """``_YES_NO_RE.match(plain(text))``, reading only the beginning of a long text."""
    head = plain_head(text, _YES_NO_HEAD)
    # The match reads the leading marks and at most 4 characters after them.
    marks = _LEADING_MARKS_RE.match(head)
    if len(head) == _YES_NO_HEAD and (marks is None or marks.end() + 4 > len(head)):
        head = plain(text)
    return _YES_NO_RE.match(head)


def _said(opening: re.Match[str]) -> str:
    """ "yes" or "no", for an opening ``_YES_NO_RE`` matched (in any of its languages)."""
    word = fold_case(opening[1] or opening[2])
    return "yes" if word == "yes" or word in _OTHER_YES else "no"


def _family_verdict(text: str, family: str) -> str | None:
    m = _FAMILY_RES[family].search(_NOISE_RE.sub(" ", text))
    # fold_case: the regex matches "ſ", "ı", "İ" and the Kelvin sign as ASCII letters; lower() keeps them.
    return _FOLDED_VOCAB[family].get(fold_case(m.group(1))) if m else None


def _lead(text: str) -> str:
    """The first words of ``text``, where a verdict is stated."""
    return " ".join(plain(prose(text)).split()[:_LEAD_WORDS])


def _verdict(text: str, family: str) -> str | None:
    """The verdict ``text`` gives in ``family``: a labelled one ("Verdict: False") else a leading one."""
    for m in _LABEL_RE.finditer(plain(text)):
        found = _family_verdict(m["value"], family)
        if found is not None:
            return found
    if family == "truth":
        opening = _yes_no(text)
        if opening is not None and opening[2]:
            return "true" if _said(opening) == "yes" else "false"  # "Ja, das stimmt.", "Nein."
        cjk = _CJK_VERDICT_RE.match(plain_head(text, _YES_NO_HEAD))
        if cjk is not None:
            return _CJK_VERDICTS[cjk[1]]  # "错误。", "正しいです。"
    return _family_verdict(_lead(text), family)


def _short_label(text: str) -> str | None:
    """A whole answer that is just a label ("Sports", "Spam."), normalised; None for longer text."""
    words = WORDS_RE.findall(plain(text).lower())
    return " ".join(words) if 0 < len(words) <= _SHORT_LABEL_WORDS else None


def _label_kept(label: str, rewrite: str) -> bool:
    """Whether ``rewrite`` states ``label`` un-negated ("spam" is not kept by "not spam")."""
    pattern = rf"(?<!\bnot)(?<!\bnon)(?<!\bno) {re.escape(label)} "
    return re.search(pattern, norm(rewrite)) is not None


class VerdictKept(Guard):
    """Reject a rewrite that flips or drops the original's verdict.

    In classification tasks and fact verification the verdict is read from a label ("Verdict:
    False", "Sentiment: positive") or the first words: true/false (with yes/no, correct/incorrect,
    partially true, not enough information), sentiment, a human or programming language. An
    original that is only a short label ("Sports") must be found in the rewrite. In every other
    task, an original opening with Yes or No must not become the opposite.
    """

    name = "verdict"

    def check(self, item: CheckInput) -> bool | Verdict:
        families = _VERDICT_TASKS.get(item.task)
        if families is None:
            return self._yes_no_kept(item)
        options = _options(item.question)
        picked = _choice(item.original, options) if options else None
        if picked is not None:
            return self._option_verdict_kept(item, families, options, picked)
        for family in families:
            verdict = _verdict(item.original, family)
            if verdict is not None:
                stated = _verdict(item.rewrite, family)
                return stated == verdict or refuse(f"{family} verdict {verdict!r} became {stated or 'none'!r}")
        label = _short_label(item.original)
        if label is None or _label_kept(label, item.rewrite):
            return True
        return refuse(f"label {one_line(label, 40)!r} not stated")

    @staticmethod
    def _option_verdict_kept(
        item: CheckInput, families: tuple[str, ...], options: Mapping[str, str], picked: str
    ) -> bool | Verdict:
        """A multiple-choice answer's verdict is the option it picks ("B) False"): the rewrite's is
        the option it picks ("the answer is (B)"), else its own. Options that are no verdicts
        ("C) 1986") leave the pick to the option check; the answer's other words ("reactor No. 4")
        are then no verdict."""
        for family in families:
            verdict = _family_verdict(options[picked], family)
            if verdict is not None:
                repicked = _choice(item.rewrite, options)
                stated = _family_verdict(options[repicked], family) if repicked else _verdict(item.rewrite, family)
                return stated == verdict or refuse(f"{family} verdict {verdict!r} became {stated or 'none'!r}")
        return True

    @staticmethod
    def _yes_no_kept(item: CheckInput) -> bool | Verdict:
        opening = _yes_no(item.original)
        if opening is None:
            return True
        said = _said(opening)
        reopening = _yes_no(item.rewrite)
        if reopening is not None:
            resaid = _said(reopening)
            return resaid == said or refuse(f"opens with {said!r}, the rewrite with {resaid!r}")
        flipped = _verdict(item.rewrite, "truth")
        if flipped is None or flipped == ("true" if said == "yes" else "false"):
            return True
        return refuse(f"opens with {said!r}, the rewrite's verdict is {flipped!r}")
