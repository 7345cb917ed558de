"""The checks on what a rewrite adds: the prompt's scaffolding leaked into it, or a refusal."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence

from .._types import CheckInput
from .base import Guard, Verdict, one_line, refuse
from .markup import plain, plain_head
from .numbers import fold_case, letter_words

__all__ = ["DEFAULT_LEAK_LABELS", "DEFAULT_LEAK_TAGS", "LeakedScaffolding", "Refusal", "is_refusal"]


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
        self._tag_pattern: re.Pattern[str] | None = None
        if tags:
            patterns.append(r"</?\s*(?:" + "|".join(map(re.escape, tags)) + r")\s*>")
        if labels:
            label = "|".join(re.escape(lab).replace(r"\ ", r"\s+") for lab in labels)
            patterns.append(r"^[\s>#*_]*(?:" + label + r")[\s*_]*:")
        self._patterns = tuple(re.compile(p, re.IGNORECASE | re.MULTILINE) for p in patterns)
        if tags:
            self._tag_pattern = self._patterns[len(_META_PATTERNS) + len(extra_patterns)]
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

    def check(self, item: CheckInput) -> bool | Verdict:
        rewrite = _Lookup(item.rewrite)
        checks = self._wordless if not rewrite.has_any(True, self._any_words) else self._checks
        for pattern, keywords in checks:
            if not rewrite.may_match(keywords):
                continue
            if pattern is self._tag_pattern:
                leaked = _new_tag(pattern, item.rewrite, item.original)
                if leaked is not None:
                    return refuse(f"scaffolding leaked: {leaked!r}")
                continue
            found = pattern.search(item.rewrite)
            if found and not pattern.search(item.original):
                return refuse(f"scaffolding leaked: {one_line(found.group()) or 'a blank frame line'!r}")
        return True


def _new_tag(pattern: re.Pattern[str], rewrite: str, original: str) -> str | None:
    """The first delimiter tag of ``rewrite`` that ``original`` does not hold itself. Each tag is judged
    on its own: an original with ``<answer>`` lets ``<answer>`` through, not ``</response>``."""
    found = [m.group() for m in pattern.finditer(rewrite)]
    if not found:
        return None
    held = {_tag_key(m.group()) for m in pattern.finditer(original)}
    return next((tag for tag in found if _tag_key(tag) not in held), None)


def _tag_key(tag: str) -> str:
    return "".join(tag.split()).casefold()


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
    return _opening_refusal(text) is not None


def _opening_refusal(text: str) -> re.Match[str] | None:
    return _REFUSAL_RE.search(plain_head(text.strip(), _REFUSAL_HEAD))


class Refusal(Guard):
    """Reject a rewrite that refuses or apologises instead of answering.

    Not applied to the ``rejecting`` task (refusing is the answer there) nor when the original
    itself refuses or apologises anywhere.
    """

    name = "refusal"
    default_skip_tasks = frozenset({"rejecting"})

    def check(self, item: CheckInput) -> bool | Verdict:
        found = _opening_refusal(item.rewrite)
        if found is None or _REFUSAL_RE.search(plain(item.original)):
            return True
        return refuse(f"opens with a refusal: {one_line(found.group())!r}")
