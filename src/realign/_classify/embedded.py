"""The embedded task classifier: offline, deterministic, fast, built only from what ships in the package.

Three parts vote on every instruction:

- **cue rules**: hand-written patterns (``"translate ... into French"``, ``"proofread"``, a stack trace
  plus "why") that add a fixed log-odds bonus to one task. They carry most of the accuracy on real
  instructions, which are far more varied than any small training set.
- **a multinomial naive Bayes model** over word unigrams and bigrams plus a few structural flags (code
  pasted in, a passage pasted in, blanks, answer options...), trained on the labelled examples in
  ``_data/classifier_examples.jsonl`` (about 80 per task, a fifth of them not in English). The
  built-in table ships ready-built (``_data/classifier_table.pickle``, by ``python -m
  realign._classify.fit``) and is loaded at the first prediction (~0.1 s with the cue rules, once per
  process; a run that never needs the classifier never pays it); a custom task table or examples
  are trained at their first prediction instead (~0.3-0.5 s).
- **a logistic regression** over the same features, fitted offline on the same examples only and shipped
  as weights (``_data/classifier_linear.json``, see ``linear.py``), added into the naive Bayes table at
  build time: it weighs what tells tasks apart, which carries better to phrasings unlike our examples.

The cue rules live in ``_data/classifier_cues.txt`` (data, not code: its header explains the format).
Besides English they know the request words of Spanish, French, German, Portuguese, Italian, Russian,
Chinese, Japanese and Korean (and a few of Dutch, Polish, Turkish, Indonesian, Vietnamese, Arabic and
Hindi): a request is classified by what it asks, whatever its language, and is a translation or a
language question only when it asks for one. Chinese, Japanese and Korean are tokenised one
character at a time, which gives naive Bayes too many votes there; outside ASCII the model counts half.
Only the request itself is read closely: the first line and the last line (where people put the ask
around a pasted text), capped in length, so a 100 kB paste costs no more than a short question. The
score of a task is ``naive_bayes_log_likelihood / temperature + 0.5 * regression_logit + rule bonuses``;
the confidence is the softmax probability of the winner (below 0.5 on one real instruction in ten of
the ReAlign development set, where it is right about a third of the time: a cue for a cascade to hand
the row to an LLM).
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import pickle
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import chain, pairwise, repeat

from .._exceptions import UsageError
from .._models import TaskPrediction
from .._tasks import DEFAULT_TASK, TASKS, Task
from .linear import LinearWeights, fit_softmax

__all__ = [
    "EmbeddedClassifier",
    "built_table",
    "examples_digest",
    "fit_linear_weights",
    "load_examples",
    "table_digest",
]

#: Rows of labelled examples: ``{"instruction": ..., "category": ...}`` or ``(instruction, task)``.
ExampleRows = Iterable[Mapping[str, str] | tuple[str, str]]

_EXAMPLES_FILE = "classifier_examples.jsonl"
_CUES_FILE = "classifier_cues.txt"
_LINEAR_FILE = "classifier_linear.json"
# The built-in model's table, built offline (``python -m realign._classify.fit``): loading it takes a
# tenth of the time building it does. A pickle of plain tuples, floats and strings only (read with an
# unpickler that refuses every class): JSON took six times longer to load (float parsing).
_TABLE_FILE = "classifier_table.pickle"

# Naive Bayes smoothing, and the temperature its log-likelihood is divided by before the rule bonuses
# are added: naive Bayes is overconfident, and on unseen phrasings the rules are the better judge.
# Chosen by 5-fold cross-validation on the training examples and on tuning sets, never on the
# held-out benchmark set.
_ALPHA = 0.1
_TEMPERATURE = 6.0
# Outside plain ASCII (other languages, mostly) the model counts half: in Chinese, Japanese and Korean
# every character is a token, so a request has several times the features of the same request in
# English; in the other languages most words come from one or two examples, whose weights add up to
# a confident wrong guess ("Unterschied" pulled a German question about viruses to the ML tutor). The
# rules carry those languages. (Chosen on the multilingual development set, checked on the new
# examples' non-ASCII rows fitted without them; it was CJK only before those 1,200 examples.)
_NON_ASCII_WEIGHT = 0.5
# The logistic regression fitted on the same examples (see linear.py) is added to the naive Bayes
# score with this weight: it tells apart the tasks naive Bayes confuses on phrasings unlike our
# examples (+3 to +4 points on real instructions without the cue rules tuned on them), and past about
# 0.5 it starts to outvote the cue rules, which carry the other languages.
_LINEAR_WEIGHT = 0.5
# Rules for one task stop adding up past this, so a text full of one cue word cannot drown the rest.
_RULE_CAP = 6.0

# Only this much of the input is looked at; the request sits at the start or the end.
_HEAD_CHARS = 600
_TAIL_CHARS = 300
_FIRST_LINE_TOKENS = 48
_LAST_LINE_TOKENS = 32
_CODE_SCAN_CHARS = 4000
_SHORT_LAST_LINE = 12
_REQUEST_CHARS = 400
# A question within this many characters of the start, followed by at least this many of text.
_ASK_CHARS = 150
_INLINE_PASSAGE_CHARS = 120
# Features seen by at least this many classes are stored as full rows (faster to add up)...
_DENSE_MIN_CLASSES = 8
# ... and features seen by this many are dropped: words like "the" or "me" say nothing about the task
# (cross-validated accuracy moves by half a point) and were a third of the scoring time.
_STOPWORD_CLASSES = 20

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# One CJK character is one token (those scripts have no spaces); anything else is a run of letters
# and digits, keeping an inner apostrophe ("don't") so contractions stay one cue word.
# Combining marks (Devanagari vowel signs, Thai tones, decomposed accents) belong to their word.
_MARKS = "\u0300-\u036f\u0900-\u0963\u0966-\u0dff\u0e00-\u0e7f"  # not the danda (U+0964, U+0965)
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+(?:[{_MARKS}]+[^\W_{_CJK}]*)*(?:'[^\W_{_CJK}]+)?")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?")
# Each branch starts with a literal or an anchor so the scan stays fast (no leading ``\w+``).
_CODE_HINT = re.compile(
    r"```|[;{}]\s*$|^\s*(?:def|class|function|import|from \w+ import|#include|public|private|static|"
    r"return|var|let|const|fn|func|package|SELECT|echo|sub|end)\b|=>|[=!]==?(?!=)\s*\S|\+\+|::|->|"
    r"\(\)|\)\s*[{:;]\s*$|</?[a-zA-Z][\w-]*(?:\s[^<>]*)?>|\$\w+|console\.log|print\(|"
    r"System\.out|std::|\bnull\b|\bNone\b|\[\w*\]\s*=|^\s{2,}\S|^[a-z_]\w*\s*=\s*[^=\s]|"
    r"<-|\brange\(|\bfor \w+ in \w|\.[a-z_]\w*\(|&&|\|\||\w\[\w*\]",
    re.MULTILINE,
)
# Keywords that give away a snippet of code too short for _CODE_HINT; searched only when a text asks
# about a language. Each branch starts with a literal, which keeps the scan fast.
_CODE_WORDS = re.compile(
    r"(?:select|insert|update|delete)\b[^\n]{0,60}\b(?:from|into|set|where)\b|def \w+|function \w*\(|puts |echo |"
    r"printf?\(|console\.log|#include|public static|fn \w+|func \w+|(?:let|var|const) \w+ ?=|println|system\.out|"
    r"import \w+;"
)
# Pasted code almost always holds one of these; text without any skips the slower scan for code.
_CODE_CHARS = re.compile(r"[`{};=<>$()\[\]&|+]|::|:[ \t]*\n|\n[ \t]")
_WIDE_SCRIPT = re.compile(rf"[{_CJK}]")
_INLINE_CODE = re.compile(r"`[^`\n]*[(){}\[\]=;.<>$/][^`\n]*`")
_BLANK = re.compile(r"_{2,}|\[mask\]|\(\s*\)\s*[.?]|(?<!\w)[a-z]_[a-z]{1,4}_")
_OPTIONS = re.compile(r"(?:^|[\s(])(?:[a-d]|[A-D])\s*[).:]\s+\S")
_DIGIT = re.compile(r"\d")
_ARITHMETIC = re.compile(r"\d\s*[-+*/×÷^=x]\s*[\d(x]|\^\d")
# Word problems: "how many ..." and its kin in the other languages the cue rules know.
_WORD_PROBLEM = re.compile(
    r"how (?:many|much|far|long|old)\b|what (?:is|was) (?:the|his|her|their)\b|find\b|cu[áa]nt[oa]s?\b|"
    r"cu[áa]l (?:es|ser[áa]|fue) (?:el|la|su)\b|combien\b|quel(?:le)? (?:est|sera) (?:la|le|sa|son)\b|"
    r"wie ?viele?\b|wie (?:lange|schnell|weit|hoch|gro[ßs])\b|quant[oaie]s?\b|qual (?:é|será) (?:a|o|sua|seu)\b|"
    r"qual è (?:la|il)\b|сколько|какова?\b|чему равн|多少|几|いくら|何[個人円本枚日]|求め|몇|얼마"
)
# French and Italian elisions ("l'histoire", "dell'esame"): the word after the apostrophe is the token.
_ELISION = re.compile(
    r"\b(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu|dell|all|nell|dall|sull|coll|un|quell|anch|com)'(?=\w)"
)
_QUOTED = re.compile(r"[\"“«「『]([^\"”»」』]{20,})[\"”»」』]")
_UNIT = re.compile(r"(?<=\d)[^\W\d_]+$")
# A Latin word glued to CJK text ("用Python写", "有bug") is spaced off, so ``\b`` finds its edges.
_CJK_LATIN = re.compile(rf"(?<=[{_CJK}])(?=[a-z0-9])|(?<=[a-z0-9])(?=[{_CJK}])")
_COLON = re.compile(r"[:：]")
# A CJK first line is read up to its colon when at least this many tokens (characters) follow it.
_MIN_TAIL = 8
# Stem triggers ("recomend*") stand for every word that starts with the same _STEM letters.
_STEM = 5


@dataclass(frozen=True, slots=True, eq=False)  # identity hash: rules are dict keys on the hot path
class _Rule:
    """One cue: when a trigger word occurs, ``needs`` holds and ``pattern`` matches, add ``weight``.

    No triggers: the rule is always tried. No pattern: the triggers (and ``needs``) suffice.
    """

    task: str
    weight: float
    triggers: frozenset[str]
    pattern: re.Pattern[str] | None
    needs: str = ""
    whole: bool = False  # search the whole input, not just the request lines

    def matches(self, view: _View) -> bool:
        if self.needs and self.needs not in view.flags:
            return False
        if self.pattern is None:
            return True
        return self.pattern.search(view.focus if self.whole else view.request) is not None


def _trigger_key(trigger: str) -> str:
    """A trigger as looked up in :attr:`_View.words`.

    ``stem*`` stands for any word that begins with the stem's first _STEM letters, ``*head`` for a
    text holding ``head`` inside a word (the head of a German compound: "Liebes*gedicht*").
    """
    if trigger.startswith("*") or not trigger.endswith("*"):
        return trigger
    if len(trigger) <= _STEM:
        raise ValueError(f"trigger stem {trigger!r} is shorter than {_STEM} letters")
    return trigger[:_STEM] + "*"


class _CueParser:
    """Reads ``_data/classifier_cues.txt`` (its header documents the format)."""

    def __init__(self) -> None:
        self.macros: dict[str, str] = {}
        self.rules: list[_Rule] = []
        self._head: tuple[str, float, dict[str, str]] | None = None
        self._triggers: list[str] = []
        self._alternatives: list[str] = []

    def parse(self, text: str) -> list[_Rule]:
        for number, line in enumerate(text.splitlines(), 1):
            try:
                self._line(line.rstrip())
            except (ValueError, re.error) as exc:
                raise ValueError(f"{_CUES_FILE} line {number}: {exc}") from exc
        self._flush()
        return self.rules

    def _line(self, line: str) -> None:
        if not line.strip() or line.startswith("#"):
            return
        if line.startswith("@"):
            name, _, value = line[1:].partition("=")
            self.macros[name.strip()] = value.strip()
        elif line.startswith("== "):
            self._flush()
            task, weight, *options = line[3:].split()
            self._head = (task, float(weight), dict(option.split("=", 1) for option in options))
        elif self._head is None:
            raise ValueError("cue line outside a rule")
        elif line.startswith("triggers:"):
            words = self._expand(line.removeprefix("triggers:")).split()
            self._triggers.extend(map(_trigger_key, words))
        elif line.startswith("| "):
            self._alternatives.append(line[2:].strip())
        else:
            raise ValueError(f"cannot read {line!r}")

    def _expand(self, pattern: str) -> str:
        for name, value in self.macros.items():
            pattern = pattern.replace(f"<<{name}>>", value)
        if "<<" in pattern:
            raise ValueError(f"unknown macro in {pattern!r}")
        return pattern

    def _flush(self) -> None:
        if self._head is None:
            return
        task, weight, options = self._head
        pattern = None
        if self._alternatives:
            joined = "|".join(f"(?:{self._expand(alternative)})" for alternative in self._alternatives)
            pattern = re.compile(joined, re.MULTILINE)
        whole = options.pop("scope", "request") == "all"
        needs = options.pop("needs", "")
        if options:
            raise ValueError(f"unknown rule options {sorted(options)}")
        self.rules.append(_Rule(task, weight, frozenset(self._triggers), pattern, needs, whole))
        self._head, self._triggers, self._alternatives = None, [], []


@lru_cache(maxsize=1)
def _cue_rules() -> tuple[_Rule, ...]:
    text = (resources.files("realign") / "_data" / _CUES_FILE).read_text(encoding="utf-8")
    return tuple(_CueParser().parse(text))


@lru_cache(maxsize=1)
def _heads() -> re.Pattern[str] | None:
    """One search for every ``*head`` trigger of the cue rules (a literal alternation: a fast scan)."""
    heads = sorted({key[1:] for rule in _cue_rules() for key in rule.triggers if key.startswith("*")})
    if not heads:
        return None
    return re.compile("|".join(map(re.escape, sorted(heads, key=len, reverse=True))))


# --------------------------------------------------------------------------------------------------
# Turning an instruction into what the rules and the model look at
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _View:
    """The parts of an instruction the classifier reads."""

    focus: str  # the lowercased input: whole when short, head + tail when long
    request: str  # its first and last lines, where people put the ask; most rules read only this
    words: frozenset[str]  # every token of ``focus``: which rules are worth trying
    tokens: tuple[str, ...]  # model tokens: first line, and last line when it reads like a request
    flags: frozenset[str]
    ascii_only: bool = True  # mostly English: the regression's intercept applies


def _clip(text: str) -> str:
    if len(text) <= _HEAD_CHARS + _TAIL_CHARS:
        return text
    return text[:_HEAD_CHARS] + "\n" + text[-_TAIL_CHARS:]


def _lines(text: str) -> list[str]:
    return [line for line in map(str.strip, text.splitlines()) if line]


def _code_level(text: str) -> int:
    """2: code is pasted in; 1: one hint of code (a snippet too short to be sure); 0: prose."""
    sample = text[:_CODE_SCAN_CHARS]
    if _CODE_CHARS.search(sample) is None:  # fast path: plain prose
        return 0
    if "```" in sample or _INLINE_CODE.search(sample):
        return 2
    # two hints make code: one alone is often prose ("C++", "a -> b")
    hints = _CODE_HINT.finditer(sample)
    if next(hints, None) is None:
        return 0
    return 2 if next(hints, None) is not None else 1


def _is_passage(focus: str, lines: list[str], tokens: list[str]) -> bool:
    """Whether a text to work on is pasted in (on later lines, or long, or a long quotation)."""
    if len(lines) > 1 and sum(len(line.split()) for line in lines[1:]) >= 15:
        return True
    if len(tokens) >= 45:
        return True
    quoted = _QUOTED.search(focus) if '"' in focus or "“" in focus else None
    return quoted is not None and len(quoted.group(1).split()) >= 12


# The cheap ``in`` tests in front of the regexes below skip most inputs at C speed.
def _exercise_flags(focus: str) -> set[str]:
    """Flags for exercises: blanks to fill, lettered answer options, arithmetic, word problems."""
    flags: set[str] = set()
    if ("_" in focus or "[mask]" in focus or "(" in focus) and _BLANK.search(focus):
        flags.add("blank")
    if ("b)" in focus or "b." in focus or "b:" in focus) and len(_OPTIONS.findall(focus)) >= 2:
        flags.add("options")
    if _DIGIT.search(focus) is None:
        return flags
    flags.add("digits")
    if _ARITHMETIC.search(focus):
        flags.add("arithmetic")
    if _WORD_PROBLEM.search(focus) and len(_NUMBER.findall(focus)) >= 2:
        flags.add("word_problem")
    return flags


def _flags(raw: str, focus: str, lines: list[str], tokens: list[str], wide: bool) -> set[str]:
    """Structural facts about the input, used both as model features and as rule conditions."""
    level = _code_level(raw)
    code = level == 2
    passage = not code and _is_passage(focus, lines, tokens)
    flags = {"code" if code else "nocode", "passage" if passage else "nopassage"}
    if level == 1:
        flags.add("code_hint")
    elif level == 0 and "lang" in focus and _CODE_WORDS.search(focus):
        flags.add("code_words")  # "what language is this? SELECT * FROM t": too short to count as code
    if passage and lines[-1].endswith(("?", "？")):
        flags.add("passage_question")
    if not code:
        # "What is X? <a paragraph about X>": a question with its passage on the same line.
        ask = focus.find("?", 0, _ASK_CHARS)
        if ask > 0 and len(focus) - ask > _INLINE_PASSAGE_CHARS and "\n" not in focus[:ask]:
            flags.add("question_then_text")
    if not code:
        flags |= _exercise_flags(focus)
    if len(tokens) <= 3:
        flags.add("short")
    if wide:
        flags.add("cjk")
    return flags


def _tokens(line: str) -> list[str]:
    """The words of a line; "l'histoire" is "histoire"."""
    if "'" in line:
        line = _ELISION.sub("", line)
    return _TOKEN.findall(line)


def _ask(line: str, tokens: list[str]) -> list[str]:
    """The tokens of a CJK first line up to its colon, when a text to work on follows ("翻译成英文：...").

    Each CJK character is a token, so a pasted sentence would otherwise outvote the request.
    """
    colon = _COLON.search(line)
    if colon is None:
        return tokens
    head = _tokens(line[: colon.start()])
    if len(head) >= 2 and len(tokens) - len(head) >= _MIN_TAIL:
        return head
    return tokens


def _view(instruction: str) -> _View:
    raw = _clip(instruction.replace("\r", "").replace("’", "'").replace("‘", "'"))
    focus = raw.lower()
    ascii_only = focus.isascii()  # most English: no stems, no CJK handling to do
    wide = not ascii_only and _WIDE_SCRIPT.search(focus, 0, 200) is not None
    if wide:
        focus = _CJK_LATIN.sub(" ", focus)
    lines = _lines(focus)
    line_tokens = [_tokens(line) for line in lines]
    first: list[str] = []
    if lines:
        first = (_ask(lines[0], line_tokens[0]) if wide else line_tokens[0])[:_FIRST_LINE_TOKENS]
    last: list[str] = []
    if len(lines) > 1:
        # The last line counts only when it reads like a request (a question, or short), not like the
        # tail of a pasted passage, whose words say nothing about the task.
        last = line_tokens[-1][-_LAST_LINE_TOKENS:]
        if not lines[-1].endswith(("?", "？")) and len(last) > _SHORT_LAST_LINE:
            last = []
    tokens = first + last
    flags = _flags(raw, focus, lines, tokens, wide)
    request = "\n".join((lines[0][:_REQUEST_CHARS], lines[-1][-_REQUEST_CHARS:])) if len(lines) > 1 else focus
    words = set(chain.from_iterable(line_tokens))
    if "'" in focus:  # "python's" also counts as "python" when deciding which rules to try
        words.update([word.partition("'")[0] for word in words if "'" in word])
    if not ascii_only:  # ... every longer word also counts as its stem ("посоветуешь": "посовет*")
        words.update([word[:_STEM] + "*" for word in words if len(word) > _STEM])
    heads = _heads()
    if heads is not None:  # ... "liebesgedicht" also counts as "*gedicht"
        words.update(["*" + head for head in heads.findall(focus)])
    if "digits" in flags:  # ... and "5kg", "10n" count as their units
        words.update([unit.group() for word in words if word[0].isdigit() and (unit := _UNIT.search(word))])
    return _View(focus, request, frozenset(words), tuple(tokens), frozenset(flags), ascii_only)


def _features(view: _View) -> list[str]:
    """Model features: unigrams, bigrams and the structural flags (marked with ``#``)."""
    toks = view.tokens
    feats = list(dict.fromkeys(toks))
    feats.extend(dict.fromkeys(map(" ".join, pairwise(toks))))
    feats.extend("#" + flag for flag in view.flags)
    return feats


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Model:
    """A trained naive Bayes table plus the rules that apply to its tasks."""

    labels: tuple[str, ...]
    # Naive Bayes log P(feature | class) / temperature, stored for speed as feature -> (sparse, dense).
    # A rare feature keeps only the classes that saw it, ``sparse`` = ((class, log((count + alpha) /
    # alpha)), ...), and ``unseen`` (per class: log(alpha / (class total + alpha * vocabulary))) is
    # added once per such feature. A common feature (seen by many classes) keeps its whole row in
    # ``dense``, ``unseen`` included, so it is added with one C-level ``map``.
    # A third item per feature: 1 when it is a naive Bayes feature (``unseen`` is added for it), 0 when
    # only the logistic regression has weights for it (a word every task uses, dropped from naive Bayes).
    weights: Mapping[str, tuple[tuple[tuple[int, float], ...], tuple[float, ...], int]]
    unseen: tuple[float, ...]
    bias: tuple[float, ...]  # per class: the logistic regression's intercept (zeros without it)
    rules_by_trigger: Mapping[str, tuple[_Rule, ...]]
    triggers: frozenset[str]  # the keys of ``rules_by_trigger``
    untriggered: Mapping[_Rule, None]  # rules tried on every input (an ordered set)
    index: Mapping[str, int]
    # per rule, what the hot loop needs: (needs, bound pattern.search or None, whole, class, weight)
    records: Mapping[_Rule, tuple[str, Callable[[str], object] | None, bool, int, float]]

    def scores(self, view: _View) -> list[float]:
        """Per-class score: naive Bayes log-likelihood / temperature + rule bonuses."""
        # The regression's intercept leans towards `default` and `open_qa`, the tasks of short requests
        # whose words it does not know: fine in English, wrong for a short request in another language,
        # most of whose words no example has (3 of 173 rows of our multilingual set lost to it).
        totals = list(self.bias) if view.ascii_only else [0.0] * len(self.bias)
        known = 0
        lookup = self.weights.get
        rows: list[Sequence[float]] = [totals]
        for feat in _features(view):
            found = lookup(feat)
            if found is None:
                continue
            entries, row, naive = found
            if row:
                rows.append(row)
                continue
            known += naive
            for cls, weight in entries:
                totals[cls] += weight
        rows.append([unseen * known for unseen in self.unseen])
        # A dozen full rows per request: summed column by column in one pass (C loops), not one list each.
        scores: list[float] = list(map(sum, zip(*rows, strict=True)))
        if not view.ascii_only:
            scores = [score * _NON_ASCII_WEIGHT for score in scores]
        for cls, bonus in self._rule_bonus(view).items():
            scores[cls] += bonus
        return scores

    def _rule_bonus(self, view: _View) -> dict[int, float]:
        # Most words trigger nothing: intersecting the sets (in C) leaves only the few that do.
        hits = view.words & self.triggers
        fired: Mapping[_Rule, None] = self.untriggered
        if hits:
            fired = dict.fromkeys(chain.from_iterable(map(self.rules_by_trigger.__getitem__, hits)))
            fired.update(self.untriggered)
        bonus: dict[int, float] = {}
        penalties: list[tuple[int, float]] = []
        flags, focus, request = view.flags, view.focus, view.request
        records = self.records
        # rule.matches(view), inlined: this loop is a third of the run time
        for needs, search, whole, cls, weight in map(records.__getitem__, fired):
            if needs and needs not in flags:
                continue
            if search is not None and search(focus if whole else request) is None:
                continue
            if weight > 0:
                total = bonus.get(cls, 0.0) + weight
                bonus[cls] = total if total < _RULE_CAP else _RULE_CAP
            else:
                penalties.append((cls, weight))
        # Penalties come off after the cap, so the result does not depend on the order the rules
        # fired in (the order of a set of words changes from one process to the next).
        for cls, weight in penalties:
            bonus[cls] = bonus.get(cls, 0.0) + weight
        return bonus


#: The naive Bayes table with the regression folded in: feature -> (sparse, dense, naive flag).
_Weights = dict[str, tuple[tuple[tuple[int, float], ...], tuple[float, ...], int]]
#: What ``_table`` builds: (weights, unseen, bias).
_Table = tuple[_Weights, tuple[float, ...], tuple[float, ...]]


def _train(
    rows: Sequence[tuple[str, str]],
    labels: Sequence[str],
    rules: Iterable[_Rule],
    linear: LinearWeights | None = None,
) -> _Model:
    return _with_rules(_table(rows, labels, linear), labels, rules)


def _table(rows: Sequence[tuple[str, str]], labels: Sequence[str], linear: LinearWeights | None) -> _Table:
    index = {label: i for i, label in enumerate(labels)}
    counts: dict[str, dict[int, int]] = {}
    class_totals = [0] * len(labels)
    for text, label in rows:
        cls = index[label]
        for feat in _features(_view(text)):
            per_class = counts.setdefault(feat, {})
            per_class[cls] = per_class.get(cls, 0) + 1
            class_totals[cls] += 1
    vocab = len(counts)
    # Dividing every log-probability by the temperature here saves doing it per prediction.
    log_alpha = math.log(_ALPHA)
    unseen = tuple((log_alpha - math.log(total + _ALPHA * vocab)) / _TEMPERATURE for total in class_totals)
    naive: dict[str, dict[int, float]] = {
        feat: {cls: (math.log(n + _ALPHA) - log_alpha) / _TEMPERATURE for cls, n in per_class.items()}
        for feat, per_class in counts.items()
        if len(per_class) < _STOPWORD_CLASSES
    }
    extra: dict[str, dict[int, float]] = {}
    bias = [0.0] * len(labels)
    if linear is not None:  # added to the naive Bayes weights of the same features: free per prediction
        table, intercept = linear
        bias[: len(intercept)] = [_LINEAR_WEIGHT * b for b in intercept]
        for feat, pairs in table.items():
            target = naive.get(feat)
            if target is None:
                target = extra.setdefault(feat, {})
            for column, value in pairs:
                key = int(column)
                target[key] = target.get(key, 0.0) + _LINEAR_WEIGHT * value
    weights: _Weights = {}
    for is_naive, source in ((1, naive), (0, extra)):
        for feat, by_class in source.items():
            entries = tuple(sorted(by_class.items()))
            if len(entries) < _DENSE_MIN_CLASSES:
                weights[feat] = (entries, (), is_naive)
                continue
            row = list(unseen) if is_naive else [0.0] * len(labels)
            for cls, weight in entries:
                row[cls] += weight
            weights[feat] = ((), tuple(row), is_naive)
    return weights, unseen, tuple(bias)


def _with_rules(table: _Table, labels: Sequence[str], rules: Iterable[_Rule]) -> _Model:
    weights, unseen, bias = table
    index = {label: i for i, label in enumerate(labels)}
    by_trigger: dict[str, list[_Rule]] = {}
    untriggered: list[_Rule] = []
    records = {}
    for rule in rules:
        if rule.task not in index:
            continue
        search = rule.pattern.search if rule.pattern is not None else None
        records[rule] = (rule.needs, search, rule.whole, index[rule.task], rule.weight)
        if not rule.triggers:
            untriggered.append(rule)
        for trigger in rule.triggers:
            by_trigger.setdefault(trigger, []).append(rule)
    return _Model(
        labels=tuple(labels),
        weights=weights,
        unseen=unseen,
        bias=bias,
        rules_by_trigger={k: tuple(v) for k, v in by_trigger.items()},
        triggers=frozenset(by_trigger),
        untriggered=dict.fromkeys(untriggered),
        index=index,
        records=records,
    )


# --------------------------------------------------------------------------------------------------
# Public surface
# --------------------------------------------------------------------------------------------------


def load_examples() -> list[tuple[str, str]]:
    """The shipped labelled examples, as ``(instruction, task)`` pairs."""
    path = resources.files("realign") / "_data" / _EXAMPLES_FILE
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append((str(row["instruction"]), str(row["category"])))
    return rows


def _normalise_rows(examples: ExampleRows) -> list[tuple[str, str]]:
    rows = []
    for number, row in enumerate(examples, 1):
        try:
            text, task = row if isinstance(row, tuple) else (row["instruction"], row["category"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(
                f"example {number} must be {{'instruction': ..., 'category': ...}} or (instruction, task)"
            ) from exc
        rows.append((str(text), str(task)))
    return rows


def _check_table(tasks: Mapping[str, Task], extra: Sequence[tuple[str, str]]) -> None:
    """The user errors of a task table and its examples, found at construction (before any build)."""
    if not tasks:
        raise UsageError("the task table is empty: give the embedded classifier at least one task")
    unknown = sorted({task for _, task in extra if task not in tasks})
    if unknown:
        raise UsageError(f"examples name tasks that are not in the task table: {', '.join(unknown)}")


def _training_rows(tasks: Mapping[str, Task]) -> list[tuple[str, str]]:
    builtin = [(text, task) for text, task in load_examples() if task in tasks]
    # Every task also learns from its own description, so a custom task with no examples still has a
    # few words to go on.
    described = [(task.description, name) for name, task in tasks.items()]
    return builtin + described


def _build(tasks: Mapping[str, Task], extra: Sequence[tuple[str, str]]) -> _Model:
    _check_table(tasks, extra)
    # The shipped regression weights were fitted on the built-in table: a table that keeps it whole and
    # in order (custom tasks after it, as criteria folders make) keeps them, its new tasks getting naive
    # Bayes alone; a table without some built-in task gets naive Bayes and the rules only.
    linear = _linear_weights() if _extends_builtin_table(tasks) else None
    return _train(_training_rows(tasks) + list(extra), list(tasks), _cue_rules(), linear)


def examples_digest() -> str:
    """What the regression weights were fitted on: the examples file and the task table."""
    digest = hashlib.sha256((resources.files("realign") / "_data" / _EXAMPLES_FILE).read_bytes())
    for name, task in TASKS.items():
        digest.update(f"\n{name}\t{task.description}".encode())
    return digest.hexdigest()


def fit_linear_weights() -> dict[str, object]:
    """Fit the logistic regression on the shipped examples: the content of ``_data/classifier_linear.json``.

    Deterministic; about 30 s of pure Python. Run ``python -m realign._classify.fit``
    after changing the examples, the task table or the features (a test checks the digest).
    """
    labels = list(TASKS)
    index = {label: i for i, label in enumerate(labels)}
    rows = [(_features(_view(text)), index[task]) for text, task in _training_rows(TASKS)]
    table, bias = fit_softmax(rows, len(labels))
    return {
        "about": "softmax regression on realign's own classifier examples (linear.py); do not edit by hand",
        "examples_sha256": examples_digest(),
        "labels": labels,
        "bias": bias,
        "weights": {feat: [[cls, w] for cls, w in pairs] for feat, pairs in sorted(table.items())},
    }


def _linear_weights() -> LinearWeights | None:
    """The shipped regression weights, or None when the file is absent or fitted on another table.

    Not cached: the model built from them is, and 50,000 small lists kept alive would slow every
    later garbage collection of the run.
    """
    path = resources.files("realign") / "_data" / _LINEAR_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data["labels"] != list(TASKS):
        return None
    # json gives ints and floats already: converting 50,000 pairs would double the load time
    return data["weights"], data["bias"]


def _is_builtin_table(tasks: Mapping[str, Task]) -> bool:
    """Whether ``tasks`` is the built-in table (e.g. default criteria): then the shared model serves."""
    return tasks is TASKS or (tasks.keys() == TASKS.keys() and all(tasks[name] == TASKS[name] for name in TASKS))


def _extends_builtin_table(tasks: Mapping[str, Task]) -> bool:
    """Whether ``tasks`` begins with the built-in table, same names, order and descriptions (the columns
    and the words the regression was fitted on); whether a task is rewritten does not matter here."""
    names = list(tasks)[: len(TASKS)]
    return names == list(TASKS) and all(tasks[name].description == TASKS[name].description for name in names)


def table_digest() -> str:
    """What the built-in table is built from: the examples, the task table and the regression weights."""
    digest = hashlib.sha256(examples_digest().encode())
    digest.update((resources.files("realign") / "_data" / _LINEAR_FILE).read_bytes())
    return digest.hexdigest()


def built_table() -> dict[str, object]:
    """The built-in model's table, built now: the content of ``_data/classifier_table.pickle``."""
    weights, unseen, bias = _table(_training_rows(TASKS), list(TASKS), _linear_weights())
    return {
        "about": "realign's embedded classifier table (embedded.py, fit.py); do not edit by hand",
        "built_from": table_digest(),
        "labels": list(TASKS),
        "unseen": unseen,
        "bias": bias,
        "weights": dict(sorted(weights.items())),  # the same bytes whatever the hash seed
    }


class _PlainUnpickler(pickle.Unpickler):
    """Reads plain containers only: a pickle naming any class or function is refused."""

    def find_class(self, module: str, name: str) -> object:
        raise pickle.UnpicklingError(f"{_TABLE_FILE} may hold plain data only, not {module}.{name}")


def _shipped_table() -> _Table | None:
    """The shipped built-in table, or None when it is absent or stale (then the table is built)."""
    path = resources.files("realign") / "_data" / _TABLE_FILE
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        data = _PlainUnpickler(handle).load()
    if data["labels"] != list(TASKS) or data["built_from"] != table_digest():
        return None
    return data["weights"], data["unseen"], data["bias"]


@lru_cache(maxsize=1)
def _default_model() -> _Model:
    table = _shipped_table()
    if table is None:
        return _build(TASKS, ())
    return _with_rules(table, list(TASKS), _cue_rules())


def _softmax_top(scores: Sequence[float]) -> tuple[int, float]:
    """The index of the best score and its softmax probability."""
    top = max(scores)
    best = scores.index(top)
    total = sum(map(math.exp, map(operator.sub, scores, repeat(top))))
    return best, 1.0 / total


class EmbeddedClassifier:
    """Offline task classifier: cue rules plus a small naive Bayes model, no network, no download.

    ``tasks`` restricts (or extends) the task table; ``examples`` adds labelled instructions, e.g. for
    custom tasks (rows ``{"instruction": ..., "category": ...}`` or ``(instruction, task)`` pairs).
    Construction is cheap: the model is built on the first prediction (:attr:`built` says whether it
    has been), and with neither argument (or the built-in table) one model per process is shared.
    """

    source = "embedded"

    def __init__(self, tasks: Mapping[str, Task] | None = None, examples: ExampleRows | None = None) -> None:
        extra = _normalise_rows(examples) if examples is not None else []
        table = TASKS if tasks is None else tasks
        _check_table(table, extra)
        # The model is built on the first prediction, not here: a run whose rows all carry their
        # category never needs it, and building it (parsing the cue rules, training) is most of the
        # start-up of a short run.
        self._shared = not extra and _is_builtin_table(table)
        self._table = table
        self._extra = extra
        self._built: _Model | None = None
        self._labels = tuple(table)
        self._fallback = DEFAULT_TASK if DEFAULT_TASK in table else self._labels[0]

    @property
    def _model(self) -> _Model:
        model = self._built
        if model is None:
            model = self._built = _default_model() if self._shared else _build(self._table, self._extra)
        return model

    @property
    def built(self) -> bool:
        """Whether the model has been built yet (it is, on the first prediction)."""
        return self._built is not None

    @property
    def tasks(self) -> tuple[str, ...]:
        """The task names this classifier can answer."""
        return self._labels

    def predict(self, instruction: str) -> TaskPrediction:
        """The most likely task for ``instruction`` and the model's probability for it."""
        if not instruction or instruction.isspace():  # isspace: what strip() strips, without a copy
            return TaskPrediction(task=self._fallback, confidence=0.0, source=self.source)
        model = self._built or self._model
        best, prob = _softmax_top(model.scores(_view(instruction)))
        return TaskPrediction(task=model.labels[best], confidence=round(prob, 4), source=self.source)

    def predict_many(self, instructions: Iterable[str]) -> list[TaskPrediction]:
        """:meth:`predict` for each instruction, in order."""
        return [self.predict(text) for text in instructions]

    def scores(self, instruction: str) -> dict[str, float]:
        """Every task's raw score (higher is likelier); for inspection and debugging."""
        raw = self._model.scores(_view(instruction))
        return dict(zip(self._model.labels, raw, strict=True))

    async def classify(self, instruction: str) -> TaskPrediction:
        """The :class:`~realign.Classifier` seam: same as :meth:`predict`."""
        return self.predict(instruction)

    async def aclose(self) -> None:
        """Nothing to release (the model lives in memory); here because every classifier can be closed."""
