"""The embedded task classifier: offline, deterministic, fast, built only from what ships in the package.

Two parts vote on every instruction:

- **cue rules**: hand-written patterns (``"translate ... into French"``, ``"proofread"``, a stack trace
  plus "why") that add a fixed log-odds bonus to one task. They carry most of the accuracy on real
  instructions, which are far more varied than any small training set.
- **a multinomial naive Bayes model** over word unigrams and bigrams plus a few structural flags (code
  pasted in, a passage pasted in, blanks, answer options...), trained at load time on the labelled
  examples in ``_data/classifier_examples.jsonl`` (35-43 per task; training takes ~0.2 s, once per
  process).

The cue rules live in ``_data/classifier_cues.txt`` (data, not code: its header explains the format).
Only the request itself is read closely: the first line and the last line (where people put the ask
around a pasted text), capped in length, so a 100 kB paste costs no more than a short question. The
score of a task is ``naive_bayes_log_likelihood / temperature + sum(rule bonuses)``; the confidence is
the softmax probability of the winner (below 0.5 on roughly one instruction in ten of our held-out
set, where it is right about half the time: a cue for a cascade to hand the row to an LLM).
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import chain, pairwise, repeat

from ._exceptions import UsageError
from ._models import TaskPrediction
from ._tasks import DEFAULT_TASK, TASKS, Task

__all__ = ["EmbeddedClassifier", "load_examples"]

#: Rows of labelled examples: ``{"instruction": ..., "category": ...}`` or ``(instruction, task)``.
ExampleRows = Iterable[Mapping[str, str] | tuple[str, str]]

_EXAMPLES_FILE = "classifier_examples.jsonl"
_CUES_FILE = "classifier_cues.txt"

# Naive Bayes smoothing, and the temperature its log-likelihood is divided by before the rule bonuses
# are added: naive Bayes is overconfident, and on unseen phrasings the rules are the better judge.
# Chosen by 5-fold cross-validation on the training examples and on tuning sets, never on the
# held-out benchmark set.
_ALPHA = 0.1
_TEMPERATURE = 6.0
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
# Features seen by at least this many classes are stored as full rows (faster to add up)...
_DENSE_MIN_CLASSES = 8
# ... and features seen by this many are dropped: words like "the" or "me" say nothing about the task
# (cross-validated accuracy moves by half a point) and were a third of the scoring time.
_STOPWORD_CLASSES = 20

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# One CJK character is one token (those scripts have no spaces); anything else is a run of letters
# and digits, keeping an inner apostrophe ("don't") so contractions stay one cue word.
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+(?:'[^\W_{_CJK}]+)?")
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
# Pasted code almost always holds one of these; text without any skips the slower scan for code.
_CODE_CHARS = re.compile(r"[`{};=<>$()\[\]&|+]|::|:[ \t]*\n|\n[ \t]")
_WIDE_SCRIPT = re.compile(rf"[{_CJK}]")
_INLINE_CODE = re.compile(r"`[^`\n]*[(){}\[\]=;.<>$/][^`\n]*`")
_BLANK = re.compile(r"_{2,}|\[mask\]|\(\s*\)\s*[.?]|(?<!\w)[a-z]_[a-z]{1,4}_")
_OPTIONS = re.compile(r"(?:^|[\s(])(?:[a-d]|[A-D])\s*[).:]\s+\S")
_DIGIT = re.compile(r"\d")
_ARITHMETIC = re.compile(r"\d\s*[-+*/×÷^=x]\s*[\d(x]|\^\d")
_WORD_PROBLEM = re.compile(r"how (?:many|much|far|long|old)\b|what (?:is|was) (?:the|his|her|their)\b|find\b")
_QUOTED = re.compile(r"[\"“«「『]([^\"”»」』]{20,})[\"”»」』]")


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
            self._triggers.extend(line.removeprefix("triggers:").split())
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


def _clip(text: str) -> str:
    if len(text) <= _HEAD_CHARS + _TAIL_CHARS:
        return text
    return text[:_HEAD_CHARS] + "\n" + text[-_TAIL_CHARS:]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _has_code(text: str) -> bool:
    sample = text[:_CODE_SCAN_CHARS]
    if _CODE_CHARS.search(sample) is None:  # fast path: plain prose
        return False
    if "```" in sample or _INLINE_CODE.search(sample):
        return True
    # two hints make code: one alone is often prose ("C++", "a -> b")
    hints = _CODE_HINT.finditer(sample)
    return next(hints, None) is not None and next(hints, None) is not None


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


def _flags(raw: str, focus: str, lines: list[str], tokens: list[str]) -> set[str]:
    """Structural facts about the input, used both as model features and as rule conditions."""
    code = _has_code(raw)
    passage = not code and _is_passage(focus, lines, tokens)
    flags = {"code" if code else "nocode", "passage" if passage else "nopassage"}
    if passage and lines[-1].endswith(("?", "？")):
        flags.add("passage_question")
    if not code:
        flags |= _exercise_flags(focus)
    if len(tokens) <= 3:
        flags.add("short")
    if _WIDE_SCRIPT.search(focus, 0, 200):
        flags.add("cjk")
    return flags


def _view(instruction: str) -> _View:
    raw = _clip(instruction.replace("\r", "").replace("’", "'").replace("‘", "'"))
    focus = raw.lower()
    lines = _lines(focus)
    line_tokens = [_TOKEN.findall(line) for line in lines]
    first = line_tokens[0][:_FIRST_LINE_TOKENS] if lines else []
    last: list[str] = []
    if len(lines) > 1:
        # The last line counts only when it reads like a request (a question, or short), not like the
        # tail of a pasted passage, whose words say nothing about the task.
        last = line_tokens[-1][-_LAST_LINE_TOKENS:]
        if not lines[-1].endswith(("?", "？")) and len(last) > _SHORT_LAST_LINE:
            last = []
    tokens = first + last
    flags = _flags(raw, focus, lines, tokens)
    request = "\n".join((lines[0][:_REQUEST_CHARS], lines[-1][-_REQUEST_CHARS:])) if len(lines) > 1 else focus
    words = set(chain.from_iterable(line_tokens))
    # "python's" also counts as "python" when deciding which rules to try
    words.update([word.partition("'")[0] for word in words if "'" in word])
    return _View(focus, request, frozenset(words), tuple(tokens), frozenset(flags))


def _features(view: _View) -> list[str]:
    """Model features: unigrams, bigrams and the structural flags (marked with ``#``)."""
    toks = view.tokens
    feats = list(dict.fromkeys(toks))
    feats.extend(dict.fromkeys(f"{a} {b}" for a, b in pairwise(toks)))
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
    weights: Mapping[str, tuple[tuple[tuple[int, float], ...], tuple[float, ...]]]
    unseen: tuple[float, ...]
    rules_by_trigger: Mapping[str, tuple[_Rule, ...]]
    untriggered: tuple[_Rule, ...]  # rules that depend on flags only
    index: Mapping[str, int]

    def scores(self, view: _View) -> list[float]:
        """Per-class score: naive Bayes log-likelihood / temperature + rule bonuses."""
        totals = [0.0] * len(self.labels)
        known = 0
        lookup = self.weights.get
        for feat in _features(view):
            found = lookup(feat)
            if found is None:
                continue
            entries, row = found
            if row:
                totals = list(map(operator.add, totals, row))
                continue
            known += 1
            for cls, weight in entries:
                totals[cls] += weight
        scores = list(map(operator.add, totals, map(operator.mul, self.unseen, repeat(known))))
        for cls, bonus in self._rule_bonus(view).items():
            scores[cls] += bonus
        return scores

    def _rule_bonus(self, view: _View) -> dict[int, float]:
        fired: dict[_Rule, None] = {}
        for token in view.words:
            for rule in self.rules_by_trigger.get(token, ()):
                fired[rule] = None
        for rule in self.untriggered:
            fired[rule] = None
        bonus: dict[int, float] = {}
        flags, focus, request = view.flags, view.focus, view.request
        for rule in fired:  # rule.matches(view), inlined: this loop is a fifth of the run time
            if rule.needs and rule.needs not in flags:
                continue
            pattern = rule.pattern
            if pattern is not None and pattern.search(focus if rule.whole else request) is None:
                continue
            cls = self.index[rule.task]
            bonus[cls] = min(_RULE_CAP, bonus.get(cls, 0.0) + rule.weight)
        return bonus


def _train(rows: Sequence[tuple[str, str]], labels: Sequence[str], rules: Iterable[_Rule]) -> _Model:
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
    weights: dict[str, tuple[tuple[tuple[int, float], ...], tuple[float, ...]]] = {}
    for feat, per_class in counts.items():
        if len(per_class) >= _STOPWORD_CLASSES:
            continue
        entries = tuple(
            (cls, (math.log(n + _ALPHA) - log_alpha) / _TEMPERATURE) for cls, n in sorted(per_class.items())
        )
        if len(entries) < _DENSE_MIN_CLASSES:
            weights[feat] = (entries, ())
            continue
        row = list(unseen)
        for cls, weight in entries:
            row[cls] += weight
        weights[feat] = ((), tuple(row))
    by_trigger: dict[str, list[_Rule]] = {}
    untriggered: list[_Rule] = []
    for rule in rules:
        if rule.task not in index:
            continue
        if not rule.triggers:
            untriggered.append(rule)
        for trigger in rule.triggers:
            by_trigger.setdefault(trigger, []).append(rule)
    return _Model(
        labels=tuple(labels),
        weights=weights,
        unseen=unseen,
        rules_by_trigger={k: tuple(v) for k, v in by_trigger.items()},
        untriggered=tuple(untriggered),
        index=index,
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


def _build(tasks: Mapping[str, Task], extra: Sequence[tuple[str, str]]) -> _Model:
    labels = list(tasks)
    if not labels:
        raise UsageError("the task table is empty: give the embedded classifier at least one task")
    builtin = [(text, task) for text, task in load_examples() if task in tasks]
    # Every task also learns from its own description, so a custom task with no examples still has a
    # few words to go on.
    described = [(task.description, name) for name, task in tasks.items()]
    unknown = sorted({task for _, task in extra if task not in tasks})
    if unknown:
        raise UsageError(f"examples name tasks that are not in the task table: {', '.join(unknown)}")
    return _train(builtin + described + list(extra), labels, _cue_rules())


@lru_cache(maxsize=1)
def _default_model() -> _Model:
    return _build(TASKS, ())


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
    With neither, a model trained once per process is shared, so construction is cheap.
    """

    source = "embedded"

    def __init__(self, tasks: Mapping[str, Task] | None = None, examples: ExampleRows | None = None) -> None:
        extra = _normalise_rows(examples) if examples is not None else []
        table = TASKS if tasks is None else tasks
        if tasks is None and not extra:
            self._model = _default_model()
        else:
            self._model = _build(table, extra)
        labels = self._model.labels
        self._fallback = DEFAULT_TASK if DEFAULT_TASK in self._model.index else labels[0]

    @property
    def tasks(self) -> tuple[str, ...]:
        """The task names this classifier can answer."""
        return self._model.labels

    def predict(self, instruction: str) -> TaskPrediction:
        """The most likely task for ``instruction`` and the model's probability for it."""
        if not instruction or not instruction.strip():
            return TaskPrediction(task=self._fallback, confidence=0.0, source=self.source)
        scores = self._model.scores(_view(instruction))
        best, prob = _softmax_top(scores)
        return TaskPrediction(task=self._model.labels[best], confidence=round(prob, 4), source=self.source)

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
