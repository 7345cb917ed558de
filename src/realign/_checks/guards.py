"""The built-in checks ("guards"): each asks one question of a rewrite and rejects it on a "no".

Every guard is a :class:`Guard`: it has a ``name`` (the rejection reason is ``filter:<name>``), a
default set of tasks it applies to, and ``tasks=`` / ``skip_tasks=`` to change that. A guard passes
rows it does not apply to and rows whose rewrite is the original unchanged (adaptive rewriting).

Most guards look for something the *original* has and ask whether the rewrite kept it (the final
answer, the chosen option, the verdict, the code, the numbers, the language), or for something the
rewrite has and the original had not (leaked prompt scaffolding, a refusal). Comparing with the
original is what keeps them from rejecting faithful rewrites of unusual rows.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from fractions import Fraction
from typing import ClassVar

from .._text import final_answer, has_code, has_open_fence, hash_answer
from .._tokens import count_tokens
from .._types import CheckInput
from .lang import detect_language, written_in_other_language
from .numbers import (
    DIGIT_RE,
    DateMention,
    Mention,
    any_same,
    dates,
    fold_case,
    latex_to_text,
    letter_words,
    mentions,
    reading_may_raise,
    value_set,
    word_mentions,
)

__all__ = [
    "CodeFidelity",
    "CodePresence",
    "FinalAnswer",
    "Guard",
    "LanguageConsistency",
    "LeakedScaffolding",
    "LengthRatio",
    "NumbersKept",
    "OptionKept",
    "OrderKept",
    "Refusal",
    "Truncation",
    "VerdictKept",
]


class Guard:
    """Base of the built-in checks: a named rule that applies to some tasks.

    ``tasks`` replaces the guard's default task set; ``skip_tasks`` replaces its default list of
    tasks to leave alone (``None`` keeps a default). Subclasses implement :meth:`check`.
    """

    name: ClassVar[str] = "guard"
    #: the tasks the guard applies to when ``tasks`` is not given; ``None`` means every task
    default_tasks: ClassVar[frozenset[str] | None] = None
    #: the tasks it leaves alone when ``skip_tasks`` is not given
    default_skip_tasks: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, tasks: Iterable[str] | None = None, skip_tasks: Iterable[str] | None = None) -> None:
        self.tasks = frozenset(tasks) if tasks is not None else self.default_tasks
        self.skip_tasks = frozenset(skip_tasks) if skip_tasks is not None else self.default_skip_tasks

    def applies(self, task: str) -> bool:
        """Whether the guard looks at rows of ``task`` at all."""
        return task not in self.skip_tasks and (self.tasks is None or task in self.tasks)

    def __call__(self, item: CheckInput) -> bool:
        if item.rewrite == item.original or not self.applies(item.task):
            return True
        return self.check(item)

    def check(self, item: CheckInput) -> bool:
        """True keeps the rewrite. Only called for rows the guard applies to."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# --- shared text helpers ------------------------------------------------------------------------

_FENCED_RE = re.compile(
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
_CACHE_SIZE = 64


def _prose(text: str) -> str:
    """``text`` without code and URLs: what the prose guards should read."""
    if "```" in text:
        text = _FENCED_RE.sub("\n", text)
    if "`" in text:
        text = _INLINE_CODE_RE.sub(" ", text)
    return _URL_RE.sub(" ", text) if "://" in text or "www." in text else text


def _plain(text: str) -> str:
    """``text`` without markdown emphasis and heading marks, for matching words."""
    return _MARKDOWN_RE.sub("", text)


def _plain_head(text: str, size: int) -> str:
    """``_plain(text)[:size]``, reading only the beginning of a long text.

    Markdown marks are taken out where they stand, looking at most one character ahead, or through a
    run of spaces; so cut just after a space, the beginning of a text comes out as it would whole,
    and when that gives ``size`` characters they are the answer.
    """
    cut = 2 * size
    if len(text) > 2 * cut:
        space = _SPACE_RE.search(text, cut)
        if space is not None:
            head = _plain(text[: space.end()])
            if len(head) >= size:
                return head[:size]
    return _plain(text)[:size]


# --- the paper's two checks ---------------------------------------------------------------------

#: count_tokens remembering the last texts: an original is counted again for every candidate
_count_tokens_cached = functools.lru_cache(maxsize=_CACHE_SIZE)(count_tokens)


class LengthRatio(Guard):
    """Reject a rewrite that lost too much: at most ``min_ratio`` times the original's tokens.

    Token counts are the offline estimate of :func:`realign._tokens.count_tokens`.
    """

    name = "length"

    def __init__(
        self, min_ratio: float = 0.5, *, tasks: Iterable[str] | None = None, skip_tasks: Iterable[str] | None = None
    ) -> None:
        super().__init__(tasks=tasks, skip_tasks=skip_tasks)
        self.min_ratio = min_ratio

    def check(self, item: CheckInput) -> bool:
        limit = self.min_ratio * _count_tokens_cached(item.original)
        # Every whitespace-separated chunk holds at least one token: when the chunks alone pass,
        # counting is not needed.
        return len(item.rewrite.split()) > limit or count_tokens(item.rewrite) > limit

    def __repr__(self) -> str:
        return f"LengthRatio(min_ratio={self.min_ratio})"


class CodePresence(Guard):
    """Reject when one side has code and the other does not (code dropped, or code invented)."""

    name = "code_presence"

    def check(self, item: CheckInput) -> bool:
        return has_code(item.original) == has_code(item.rewrite)


# --- truncation ---------------------------------------------------------------------------------


class Truncation(Guard):
    """Reject a rewrite the model did not finish: cut at the token limit, or a code fence left open.

    An open fence counts only when the original's fences were balanced.
    """

    name = "truncation"

    def check(self, item: CheckInput) -> bool:
        if item.finish_reason == "length":
            return False
        return not has_open_fence(item.rewrite) or has_open_fence(item.original)


# --- leaked scaffolding -------------------------------------------------------------------------

#: the tags the prompts use as delimiters; a rewrite containing one copied the prompt's frame
DEFAULT_LEAK_TAGS = (
    "question",
    "response",
    "evidence",
    "criteria",
    "answer",
    "original",
    "original_response",
    "revised_response",
    "rewrite",
    "reasoning",
)
#: labels of the reply protocol and the prompt, at the start of a line
DEFAULT_LEAK_LABELS = (
    "Reasoning",
    "Revised response",
    "Revised answer",
    "Rewritten response",
    "Reformatted response",
    "Original response",
    "Original answer",
    "Task type",
    "Criteria",
    "Format criteria",
)
_META_PATTERNS = (  # each with words one of which any match contains (see _keywords)
    # Talk about the rewriting itself, which must never reach the training data.
    r"\bhere(?:'s| is| are)\s+(?:the|a|my|your)\s+(?:revised|rewritten|reformatted|restructured|improved"
    r"|updated|polished|edited)\b",
    r"\bI(?:'ve| have)?\s+(?:re-?formatted|rewritten|rewrote|revised|restructured|reorganized|reorganised)"
    r"\s+(?:the|your|this)\b",
    r"\b(?:the|your)\s+original\s+(?:response|answer)\b",
    r"\b(?:revised|rewritten|reformatted)\s+(?:response|answer|version)\b",
    r"\b(?:following|according to|as per|per)\s+the\s+(?:given\s+|provided\s+)?(?:format(?:ting)?\s+)?criteria\b",
    r"\bformat(?:ting)?\s+criteria\b",
    r"\bthe\s+criteria\s+(?:do|does|don't|doesn't|fit|apply)\b",
    r"^\s*<{3}[^<>\n]*>{3}\s*$",  # <<<RESPONSE>>>
    r"^\s*={3,}\s*[A-Za-z][\w ]*?\s*={3,}\s*$",  # === RESPONSE ===
    r"^\s*-{3,}\s*(?:BEGIN|END)\b[^\n]*$",  # --- BEGIN RESPONSE ---
)
#: For each of _META_PATTERNS, what every match of it contains: groups of lowercase keywords, one of
#: each group. A keyword of letters only stands as a whole word in every match (between characters
#: that are not letters) and is looked up among the words; any other is looked up as text.
_META_KEYWORDS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("here",), ("revised", "rewritten", "reformatted", "restructured", "improved", "updated", "polished", "edited")),
    (("reformatted", "formatted", "rewritten", "rewrote", "revised", "restructured", "reorganized", "reorganised"),),
    (("original",), ("response", "answer")),
    (("revised", "rewritten", "reformatted"), ("response", "answer", "version")),
    (("criteria",),),
    (("criteria",), ("format", "formatting")),
    (("criteria",),),
    (("<<<",), (">>>",)),
    (("===",),),
    (("---",), ("begin", "end")),
)
_Keywords = tuple[tuple[bool, tuple[str, ...]], ...]  # (whole words?, keywords) for each group


def _ascii_keywords(words: Iterable[str]) -> tuple[str, ...] | None:
    """``words`` lowercased as keywords, or None when one is empty or not ASCII (a case-insensitive
    match of a non-ASCII word may be spelled in ways lowercasing does not bring together)."""
    found = tuple(words)
    if not found or not all(w.isascii() and w for w in found):
        return None
    return tuple(w.lower() for w in found)


def _keyword_groups(groups: Iterable[tuple[str, ...]]) -> _Keywords:
    return tuple((all(w.isalpha() for w in group), group) for group in groups)


class _Lookup:
    """What the keyword checks read of a text: its case-folded form, and its words when asked."""

    __slots__ = ("_words", "folded")

    def __init__(self, text: str) -> None:
        self.folded = fold_case(text)
        self._words: frozenset[str] | None = None

    @property
    def words(self) -> frozenset[str]:
        if self._words is None:
            self._words = frozenset(letter_words(self.folded))
        return self._words

    def has_any(self, whole_words: bool, keywords: Collection[str]) -> bool:
        if not whole_words:
            return any(keyword in self.folded for keyword in keywords)
        return not self.words.isdisjoint(keywords)

    def may_match(self, keywords: _Keywords | None) -> bool:
        """False when a group of ``keywords`` has none of its keywords here."""
        return keywords is None or all(self.has_any(whole, group) for whole, group in keywords)


class LeakedScaffolding(Guard):
    """Reject a rewrite that carries the prompt's or the protocol's scaffolding.

    Three kinds, each counted only when the original does not contain it too: delimiter tags
    (``<response>``...), protocol labels at the start of a line (``Reasoning:``...), and meta talk
    about the rewriting ("Here is the revised response", "the original answer"...). ``tags``,
    ``labels`` and ``extra_patterns`` (regular expressions) replace or extend the defaults.
    """

    name = "leak"

    def __init__(
        self,
        *,
        tags: Sequence[str] = DEFAULT_LEAK_TAGS,
        labels: Sequence[str] = DEFAULT_LEAK_LABELS,
        extra_patterns: Sequence[str] = (),
        tasks: Iterable[str] | None = None,
        skip_tasks: Iterable[str] | None = None,
    ) -> None:
        super().__init__(tasks=tasks, skip_tasks=skip_tasks)
        patterns = [*_META_PATTERNS, *extra_patterns]
        if tags:
            patterns.append(r"</?\s*(?:" + "|".join(map(re.escape, tags)) + r")\s*>")
        if labels:
            label = "|".join(re.escape(lab).replace(r"\ ", r"\s+") for lab in labels)
            patterns.append(r"^[\s>#*_]*(?:" + label + r")[\s*_]*:")
        self._patterns = tuple(re.compile(p, re.IGNORECASE | re.MULTILINE) for p in patterns)
        # For each pattern, what every match of it contains (see _META_KEYWORDS), or None: a pattern
        # whose keywords are not in the case-folded rewrite cannot match it (see fold_case), and is
        # skipped. A tag stands between "<" or "/" or spaces and spaces or ">"; a label's first word
        # between marks or spaces and spaces or ":".
        keywords: list[_Keywords | None] = [*map(_keyword_groups, _META_KEYWORDS)]
        keywords += [None for _ in extra_patterns]
        if tags:
            names = _ascii_keywords(tags)
            keywords.append(None if names is None else _keyword_groups([("<",), (">",), names]))
        if labels:
            firsts = _ascii_keywords(lab.split()[0] if lab.split() else lab for lab in labels)
            keywords.append(None if firsts is None else _keyword_groups([(":",), firsts]))
        self._keywords = tuple(keywords)
        # A pattern with a group of whole words cannot match a rewrite that has none of the words of
        # all such groups: most rewrites, which then need only the other patterns looked at.
        self._any_words = frozenset(w for k in keywords if k for whole, group in k if whole for w in group)
        self._checks = tuple(zip(self._patterns, self._keywords, strict=True))
        self._wordless = tuple((p, k) for p, k in self._checks if not k or not any(whole for whole, _ in k))

    def check(self, item: CheckInput) -> bool:
        rewrite = _Lookup(item.rewrite)
        checks = self._wordless if not rewrite.has_any(True, self._any_words) else self._checks
        for pattern, keywords in checks:
            if rewrite.may_match(keywords) and pattern.search(item.rewrite) and not pattern.search(item.original):
                return False
        return True


# --- refusal ------------------------------------------------------------------------------------

_REFUSAL_RE = re.compile(
    # Every branch starts with a word starting with one of these letters, or one of these characters:
    # the lookahead lets the engine give up at once elsewhere.
    r"(?:\b(?=[iwsaldjem])|(?=[抱对很我申お죄]))(?:"
    r"\b(?:I|we)\s*(?:cannot|can(?:'|’)?t|can not|am unable to|(?:'|’)m unable to|am not able to"
    r"|(?:'|’)m not able to|won(?:'|’)t|will not|must decline to|(?:do not|don(?:'|’)t) feel comfortable)"
    r"\s+(?:help|assist|provide|fulfil|fulfill|comply|do that|answer|complete|create|write|rewrite"
    r"|reformat|support|continue|engage|generate|give|share|process)"
    r"|\bI\s*(?:'|’)?m sorry,? but\b|\bI am sorry,? but\b|\bI apologi[sz]e,? but\b|\bsorry,? (?:but )?I can"
    r"|\bas an AI(?: language model)?,? I (?:cannot|can(?:'|’)t|am not able|do not|don(?:'|’)t)"
    r"|\blo siento,? (?:pero )?no puedo|\bd[ée]sol[ée],? (?:mais )?je ne peux pas|\bje ne peux pas vous aider"
    r"|\bes tut mir leid|\bmi dispiace,? (?:ma )?non posso|\bdesculpe,? (?:mas )?n[ãa]o posso"
    r"|抱歉|对不起|很遗憾，?我(?:不能|无法)|我无法(?:帮助|提供|回答)|申し訳(?:ありません|ございません)"
    r"|お答えできません|죄송합니다)",
    re.IGNORECASE,
)
_REFUSAL_HEAD = 240  # a refusal replaces the answer, so it sits at the very beginning


def is_refusal(text: str) -> bool:
    """Whether ``text`` opens with a refusal or an apology instead of an answer."""
    return bool(_REFUSAL_RE.search(_plain_head(text.strip(), _REFUSAL_HEAD)))


class Refusal(Guard):
    """Reject a rewrite that refuses or apologises instead of answering.

    Not applied to the ``rejecting`` task (refusing is the answer there) nor when the original
    itself refuses or apologises anywhere.
    """

    name = "refusal"
    default_skip_tasks = frozenset({"rejecting"})

    def check(self, item: CheckInput) -> bool:
        return not is_refusal(item.rewrite) or bool(_REFUSAL_RE.search(_plain(item.original)))


# --- final answer -------------------------------------------------------------------------------

_OPTION_LETTER_RE = re.compile(r"^\W*[A-Ha-h]\W*$")
_WORDS_RE = re.compile(r"[^\W_]+")
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
    plain = _plain(text).strip()
    if "\n" in plain or len(plain.split()) > _SHORT_ANSWER_WORDS or len(plain) > _SHORT_ANSWER_CHARS:
        return None
    return plain or None


@functools.lru_cache(maxsize=_CACHE_SIZE)
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
    text = latex_to_text(_plain(answer)).lower()
    return {w for w in _WORDS_RE.findall(text) if w not in _ARTICLES}


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

    def check(self, item: CheckInput) -> bool:
        phrases = item.task not in _PHRASE_TASKS_SKIP
        original = _original_answer(item.original, phrases)
        if original is None or _OPTION_LETTER_RE.match(original[1]):
            return True  # no answer to keep, or an option letter: the option guard's business
        kind, answer = original
        if kind == "hash":
            stated = hash_answer(item.rewrite)
            return stated is not None and _same_answer(answer, stated)
        if kind == "short":
            # A bare answer is usually expanded into sentences: look for it anywhere.
            return _same_answer(answer, item.rewrite, leading=False)
        rewrite = final_answer(item.rewrite, phrases=True)
        if rewrite is not None:
            return _same_answer(answer, rewrite[1])
        # No marker: the answer must be among the closing lines' numbers or words.
        return _same_answer(answer, _tail(item.rewrite), leading=False)


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
_TEXT_NORM_RE = re.compile(r"(?:[^\w%.]|\.(?!\d))+")


def _options(question: str) -> dict[str, str]:
    """The options a multiple-choice question lists, letter -> text; empty when it lists none."""
    found: dict[str, str] = {}
    for m in _OPTION_LINE_RE.finditer(question):
        found.setdefault((m["a"] or m["b"]).upper(), m["text"].strip())
    if len(found) < 2:
        found = {m["l"]: m["text"].strip() for m in _OPTION_INLINE_RE.finditer(question)}
    return found if {"A", "B"} <= found.keys() else {}


def _norm(text: str) -> str:
    return " " + _TEXT_NORM_RE.sub(" ", _plain(text).lower()).strip() + " "


def _choice(text: str, options: Mapping[str, str]) -> str | None:
    """The option ``text`` picks: an explicit "the answer is B", else a leading "B)", else the one
    option whose text the first line quotes."""
    explicit = [m["l"].upper() for m in _EXPLICIT_CHOICE_RE.finditer(text) if m["l"].upper() in options]
    if explicit:
        return explicit[-1]
    lead = _LEADING_CHOICE_RE.match(text)
    if lead and lead["l"].upper() in options:
        return lead["l"].upper()
    first_line = _norm(next((ln for ln in text.splitlines() if ln.strip()), ""))
    quoted = [k for k, v in options.items() if len(v) >= 2 and _norm(v) in first_line]
    return quoted[0] if len(quoted) == 1 else None


def _mentions_option(text: str, letter: str, option_text: str) -> bool:
    if re.search(rf"(?:\(\s*{letter}\s*\)|\b{letter}\)|\boption\s+{letter}\b|\*\*{letter}\*\*)", text):
        return True
    return len(option_text) >= 2 and _norm(option_text) in _norm(text)


class OptionKept(Guard):
    """Reject a rewrite that picks a different option of a multiple-choice question.

    Applies when the question lists options (``A) ...``, ``(a) ...``, ``A. ...``) and the original's
    pick can be read. A rewrite that picks no option must still name the original's.
    """

    name = "option"

    def check(self, item: CheckInput) -> bool:
        options = _options(item.question)
        if not options:
            return True
        picked = _choice(item.original, options)
        if picked is None:
            return True
        repicked = _choice(item.rewrite, options)
        if repicked is not None:
            return repicked == picked
        return _mentions_option(item.rewrite, picked, options[picked])


# --- verdict ------------------------------------------------------------------------------------

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
_NOISE_RE = re.compile(r"\btrue\s+or\s+false\b|\byes\s+or\s+no\b|\bno\s+(?=\w+\s+\w)", re.IGNORECASE)
_LEAD_WORDS = 12
_YES_NO_RE = re.compile(r"^[\s*_#>]*(yes|no)\b", re.IGNORECASE)
_LEADING_MARKS_RE = re.compile(r"[\s*_#>]*")
_YES_NO_HEAD = 120
_SHORT_LABEL_WORDS = 4


def _yes_no(text: str) -> re.Match[str] | None:
    """``_YES_NO_RE.match(_plain(text))``, reading only the beginning of a long text."""
    head = _plain_head(text, _YES_NO_HEAD)
    # The match reads the leading marks and at most 4 characters after them.
    marks = _LEADING_MARKS_RE.match(head)
    if len(head) == _YES_NO_HEAD and (marks is None or marks.end() + 4 > len(head)):
        head = _plain(text)
    return _YES_NO_RE.match(head)


def _family_verdict(text: str, family: str) -> str | None:
    m = _FAMILY_RES[family].search(_NOISE_RE.sub(" ", text))
    return _VERDICT_VOCAB[family][m.group(1).lower()] if m else None


def _lead(text: str) -> str:
    """The first words of ``text``, where a verdict is stated."""
    return " ".join(_plain(_prose(text)).split()[:_LEAD_WORDS])


def _verdict(text: str, family: str) -> str | None:
    """The verdict ``text`` gives in ``family``: a labelled one ("Verdict: False") else a leading one."""
    for m in _LABEL_RE.finditer(_plain(text)):
        found = _family_verdict(m["value"], family)
        if found is not None:
            return found
    return _family_verdict(_lead(text), family)


def _short_label(text: str) -> str | None:
    """A whole answer that is just a label ("Sports", "Spam."), normalised; None for longer text."""
    words = _WORDS_RE.findall(_plain(text).lower())
    return " ".join(words) if 0 < len(words) <= _SHORT_LABEL_WORDS else None


def _label_kept(label: str, rewrite: str) -> bool:
    """Whether ``rewrite`` states ``label`` un-negated ("spam" is not kept by "not spam")."""
    pattern = rf"(?<!\bnot)(?<!\bnon)(?<!\bno) {re.escape(label)} "
    return re.search(pattern, _norm(rewrite)) is not None


class VerdictKept(Guard):
    """Reject a rewrite that flips or drops the original's verdict.

    In classification tasks and fact verification the verdict is read from a label ("Verdict:
    False", "Sentiment: positive") or the first words: true/false (with yes/no, correct/incorrect,
    partially true, not enough information), sentiment, a human or programming language. An
    original that is only a short label ("Sports") must be found in the rewrite. In every other
    task, an original opening with Yes or No must not become the opposite.
    """

    name = "verdict"

    def check(self, item: CheckInput) -> bool:
        families = _VERDICT_TASKS.get(item.task)
        if families is None:
            return self._yes_no_kept(item)
        for family in families:
            verdict = _verdict(item.original, family)
            if verdict is not None:
                return _verdict(item.rewrite, family) == verdict
        label = _short_label(item.original)
        return label is None or _label_kept(label, item.rewrite)

    @staticmethod
    def _yes_no_kept(item: CheckInput) -> bool:
        opening = _yes_no(item.original)
        if opening is None:
            return True
        reopening = _yes_no(item.rewrite)
        if reopening is not None:
            return reopening[1].lower() == opening[1].lower()
        flipped = _verdict(item.rewrite, "truth")
        return flipped is None or flipped == ("true" if opening[1].lower() == "yes" else "false")


# --- order --------------------------------------------------------------------------------------

_ITEM_SPLIT_RE = re.compile(r"\s*(?:,|;|→|->|>|<|\n|\band\b)\s*")
_ITEM_MARKER_RE = re.compile(r"^(?:[-*+]|\d{1,2}[.)])\s+")
_ITEM_KEY_RE = re.compile(r"^[^\W_]+(?:[ '-][^\W_]+){0,2}?(?=\s*(?:[(:–—-]|$))|^[^\W_]+")


def _items(original: str) -> list[str]:
    """The items an ordering answer lists, as short keys (the name before any detail)."""
    keys = []
    for raw in _ITEM_SPLIT_RE.split(_plain(original)):
        text = _ITEM_MARKER_RE.sub("", raw.strip()).strip(" .")
        m = _ITEM_KEY_RE.match(text)
        if m:
            keys.append(m.group(0).lower())
    return list(dict.fromkeys(keys))


class OrderKept(Guard):
    """Reject a rewrite of an ordering answer that lists the items in another order.

    The original's items (split on commas, arrows, ``and`` or lines) must appear in the rewrite in
    the same order; items the rewrite words differently are not judged.
    """

    name = "order"
    default_tasks = frozenset({"ordering"})

    def check(self, item: CheckInput) -> bool:
        text = _norm(item.rewrite)
        needles = [_norm(key) for key in _items(item.original)]
        # Earliest-next matching finds the items in order whenever any in-order reading exists,
        # so an introduction that names an item early does not count as a reordering.
        position = 0
        for needle in (n for n in needles if n in text):
            found = text.find(needle, position)
            if found < 0:
                return False
            position = found + 1
        return True


# --- code ---------------------------------------------------------------------------------------

_HASH_COMMENT_LANGS = frozenset(
    "python py python3 sh bash shell zsh console ruby rb r yaml yml perl pl toml make makefile "
    "dockerfile powershell ps1 elixir julia nim coffee tcl".split()
)
_SLASH_COMMENT_LANGS = frozenset(
    "c cpp c++ h hpp java javascript js jsx ts tsx typescript go golang rust rs kotlin kt swift "
    "csharp cs c# php scala dart groovy objc objective-c css scss less json5 solidity sol".split()
)
_DASH_COMMENT_LANGS = frozenset("sql mysql postgresql psql plsql lua haskell hs ada elm".split())
_COMMENT_RES = {
    "hash": re.compile(r"(?:^|(?<=\s))#(?![!{\[])[^\n]*", re.MULTILINE),
    "slash": re.compile(r"/\*.*?\*/|(?:^|(?<=\s))//[^\n]*", re.MULTILINE | re.DOTALL),
    "dash": re.compile(r"(?:^|(?<=\s))--[^\n]*", re.MULTILINE),
    "html": re.compile(r"<!--.*?-->", re.DOTALL),
    "none": re.compile(r"(?!)"),
}
_CODE_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_PY_HINT_RE = re.compile(r"^\s*(?:def |import |from \w+ import |class \w+.*:$|print\()", re.MULTILINE)


def _comment_style(tag: str, body: str) -> str:
    tag = tag.lower()
    for style, langs in (("hash", _HASH_COMMENT_LANGS), ("slash", _SLASH_COMMENT_LANGS), ("dash", _DASH_COMMENT_LANGS)):
        if tag in langs:
            return style
    if tag in ("html", "xml", "vue", "svelte"):
        return "html"
    if tag:
        return "none"
    # Untagged: guess from the code itself. Stripping the wrong style could hide a real change
    # (`//` is floor division in Python), so guess only on clear signs.
    if _PY_HINT_RE.search(body) and not re.search(r";\s*$", body, re.MULTILINE):
        return "hash"
    if re.search(r"[;{}]\s*$", body, re.MULTILINE):
        return "slash"
    return "none"


def _code_tokens(code: str, style: str) -> list[str]:
    """Code as tokens, with comments, whitespace and the choice of string quotes taken out."""
    code = _COMMENT_RES[style].sub(" ", code).replace("'", '"')
    return _CODE_TOKEN_RE.findall(code)


def _blocks(text: str) -> list[tuple[str, str]]:
    return [(m["tag"], m["body"]) for m in _FENCED_RE.finditer(text)]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    joined, part = "\x00".join(haystack), "\x00".join(needle)
    return f"\x00{part}\x00" in f"\x00{joined}\x00"


class CodeFidelity(Guard):
    """Reject a rewrite that changed the original's code, in any task: the rewriter only reformats.

    Each fenced block of the original must appear in the rewrite's code (its blocks joined, so a
    block split in two with prose between still counts) with the same tokens once comments,
    whitespace and quote style are set aside. ``min_similarity`` below 1.0 accepts a block whose
    tokens are mostly kept (difflib ratio); the default 1.0 is exact, because a single changed
    token can change what code does.
    """

    name = "code"

    def __init__(
        self,
        min_similarity: float = 1.0,
        *,
        tasks: Iterable[str] | None = None,
        skip_tasks: Iterable[str] | None = None,
    ) -> None:
        super().__init__(tasks=tasks, skip_tasks=skip_tasks)
        self.min_similarity = min_similarity

    def check(self, item: CheckInput) -> bool:
        original = _blocks(item.original)
        if not original:
            return True
        rewrite_blocks = _blocks(item.rewrite)
        for tag, body in original:
            style = _comment_style(tag, body)
            want = _code_tokens(body, style)
            bodies = [b for _, b in rewrite_blocks] or [item.rewrite]
            have = [tok for b in bodies for tok in _code_tokens(b, style)]
            if want and not self._kept(want, have):
                return False
        return True

    def _kept(self, want: list[str], have: list[str]) -> bool:
        if _contains(have, want):
            return True
        if self.min_similarity >= 1.0:
            return False
        matcher = difflib.SequenceMatcher(None, want, have, autojunk=False)
        matched = sum(block.size for block in matcher.get_matching_blocks())
        return matched / len(want) >= self.min_similarity

    def __repr__(self) -> str:
        return f"CodeFidelity(min_similarity={self.min_similarity})"


# --- questions ----------------------------------------------------------------------------------


class QuestionsKept(Guard):
    """Reject a rewrite of generated questions that has fewer questions than the original: a dropped
    quiz question changes the answer as surely as a changed number, and can hide under the length ratio."""

    name = "questions"
    default_tasks = frozenset({"question_generation"})

    def check(self, item: CheckInput) -> bool:
        return _prose(item.rewrite).count("?") >= _prose(item.original).count("?")


# --- numbers ------------------------------------------------------------------------------------

#: tasks whose answers may drop numbers on purpose (a summary, a title, a new story)
NUMBER_SKIP_TASKS = frozenset(
    {
        "text_summarization",
        "note_summarization",
        "title_generation",
        "story_generation",
        "poem_generation",
        "roleplay",
    }
)
_NOT_SALIENT_RE = re.compile(
    r"^[ \t]*(?:[-*+>][ \t]+)?(?:#{1,6}[ \t]*)?(?:\*\*)?(?:step[ \t]+)?\d{1,2}[.):](?=\s)"  # list markers
    r"|\bstep[ \t]+\d+\b"  # "Step 3"
    r"|\(\d{1,2}\)|(?<=\s)\d{1,2}\)(?=\s)"  # (1) and 1) enumerators
    r"|\[\d+\]|#\d+\b"  # citations [1], #1
    r"|<<[^<>\n]*>>",  # GSM8K calculator annotations <<48/2=24>>
    re.IGNORECASE | re.MULTILINE,
)
# _NOT_SALIENT_RE rewritten to start with a character class, so that the regex engine skips to the
# next place a match can start instead of trying every branch everywhere: each branch checks the
# character read first with a lookbehind. A list marker, which starts its line, is matched from the
# line break before it (a match never holds a line break, so none starts on one), which is put back;
# the text is read with a line break in front so that its first line has one.
_NOT_SALIENT_FAST_RE = re.compile(
    r"(?-i:[\n(\[#<\dsS\u017f])(?:"
    r"(?<=\n)[ \t]*(?:[-*+>][ \t]+)?(?:#{1,6}[ \t]*)?(?:\*\*)?(?:step[ \t]+)?\d{1,2}[.):](?=\s)"
    r"|(?<=s)(?<!\ws)tep[ \t]+\d+\b"
    r"|(?<=\()\d{1,2}\)|(?<=\s\d)\d?\)(?=\s)"
    r"|(?<=\[)\d+\]|(?<=\#)\d+\b"
    r"|(?<=<)<[^<>\n]*>>)",
    re.IGNORECASE,
)


def _not_salient_blank(match: re.Match[str]) -> str:
    return "\n " if match.group().startswith("\n") else " "


def _salient_text(text: str) -> str:
    text = latex_to_text(_prose(text))
    if "<<" not in text and not DIGIT_RE.search(text):
        return text  # every match holds a digit or "<<"
    # The same as _NOT_SALIENT_RE.sub(" ", text).
    return _NOT_SALIENT_FAST_RE.sub(_not_salient_blank, "\n" + text)[1:]


def _date_kept(date: DateMention, rewrite_dates: list[DateMention], values: set[Fraction]) -> bool:
    if any(date.matches(other) for other in rewrite_dates):
        return True
    # Another date written with the same parts is this date changed (March 5 read as May 3);
    # otherwise the rewrite may use a form we do not parse (05.03.2024), so look for the parts.
    if any(date.parts() <= other.parts() for other in rewrite_dates):
        return False
    return all(Fraction(p) in values for p in date.parts())


_Pairs = frozenset[tuple[int, int]]


def _pairs(values: Iterable[Fraction]) -> _Pairs:
    """``values`` as (numerator, denominator) pairs: equal exactly when the values are, and much
    faster to hash than Fractions."""
    return frozenset((v.numerator, v.denominator) for v in values)


def _number_kept(mention: Mention, values: set[Fraction], pairs: _Pairs, alternatives: _Pairs) -> bool:
    # ``pairs`` and ``alternatives`` are those of ``values`` and ``mention.alternatives``: a shared
    # pair is an alternative found among the values, which any_same would find first.
    if not pairs.isdisjoint(alternatives) or any(any_same(v, values) for v in mention.alternatives):
        return True
    return bool(mention.parts) and mention.parts <= values


_OriginalNumbers = tuple[tuple[tuple[DateMention, str], ...], tuple[tuple[Mention, str, _Pairs], ...]]


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _original_numbers(original: str) -> _OriginalNumbers:
    """The dates and the numbers of ``original``'s prose, each with its text (and a number with the
    pairs of its alternatives), in the order judged."""
    text = _salient_text(original)
    found = list(dates(text))
    rest = text
    if found:
        chars = list(text)
        for date in found:
            chars[date.start : date.end] = " " * (date.end - date.start)  # its numbers are judged as a date
        rest = "".join(chars)
    numbers = [*mentions(rest), *word_mentions(rest, vague=False)]
    return (
        tuple((d, text[d.start : d.end]) for d in found),
        tuple((m, rest[m.start : m.end], _pairs(m.alternatives)) for m in numbers),
    )


def _rewrite_numbers(rewrite: str) -> tuple[set[Fraction], list[DateMention]]:
    """Every value ``rewrite`` expresses, and its dates."""
    rewrite = latex_to_text(rewrite)
    rewrite_dates = list(dates(rewrite))
    return value_set(rewrite, rewrite_dates), rewrite_dates


def _missing_numbers(original: str, rewrite: str) -> Iterator[str]:
    """The numbers and dates of ``original``'s prose that ``rewrite`` does not express."""
    # The rewrite is read only when the original has numbers, unless reading it may raise: then it is
    # read first, as it always was, so that the same error comes out.
    rewrite_read = _rewrite_numbers(rewrite) if reading_may_raise(rewrite) else None
    original_dates, original_numbers = _original_numbers(original)
    if not original_dates and not original_numbers:
        return
    values, rewrite_dates = rewrite_read or _rewrite_numbers(rewrite)
    for date, written in original_dates:
        if not _date_kept(date, rewrite_dates, values):
            yield written
    pairs = _pairs(values)
    for mention, written, alternatives in original_numbers:
        if not _number_kept(mention, values, pairs, alternatives):
            yield written


class NumbersKept(Guard):
    """Reject a rewrite that dropped or changed a number or date of the original.

    Applies to every task but those that drop numbers on purpose (``NUMBER_SKIP_TASKS``). Every
    number of the original's prose (digits, or English words from "two" up) must be expressed in
    the rewrite, as digits, words ("three") or another format (1,000 / 1000; 50% / 0.5; 1.5
    million / 1,500,000); dates must keep their day, month and year. Not counted: list and step
    numbers, enumerators, citation marks, calculator annotations, code. ``max_missing`` tolerates
    that many losses.
    """

    name = "numbers"
    default_skip_tasks = NUMBER_SKIP_TASKS

    def __init__(
        self, max_missing: int = 0, *, tasks: Iterable[str] | None = None, skip_tasks: Iterable[str] | None = None
    ) -> None:
        super().__init__(tasks=tasks, skip_tasks=skip_tasks)
        self.max_missing = max_missing

    def check(self, item: CheckInput) -> bool:
        missing = _missing_numbers(item.original, item.rewrite)
        return sum(1 for _ in missing) <= self.max_missing

    def __repr__(self) -> str:
        return f"NumbersKept(max_missing={self.max_missing})"


# --- language -----------------------------------------------------------------------------------


class LanguageConsistency(Guard):
    """Reject a rewrite in another language or script than the original (Spanish stays Spanish).

    Rejects when both texts are clearly in different scripts, or when one text is confidently in a
    language and the other clearly reads as another one. Text that mixes languages (a translation
    with notes, a grammar lesson full of examples) rarely gives a clear reading, and then the
    guard does nothing.
    """

    name = "language"

    def check(self, item: CheckInput) -> bool:
        before, after = detect_language(item.original), detect_language(item.rewrite)
        if before == after:
            # One language (or one undetermined script): a detected language is also the best of the
            # function-word scores, so neither text reads as another language.
            return True
        if before.confident and after.confident and before.script != after.script:
            return False
        if before.lang != "und" and written_in_other_language(item.rewrite, before.lang):
            return False
        return after.lang in ("und", before.lang) or not written_in_other_language(item.original, after.lang)
