"""``realign classify``: label every row with its task, or evaluate a classifier on labelled rows."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._classify.llm import CascadeClassifier, CompletionClassifier, LLMClassifier
from .._exceptions import InputError, UsageError
from .._io.files import read_rows
from .._llm.cache import SQLiteCache
from .._llm.ratelimit import RateLimiter
from .._models import Usage
from .._pipeline import Pipeline, ordered_map
from .._record import TurnOutcome
from .._tasks import GROUPS, Task
from .._templates import Criteria
from .._types import Classifier
from .job import RunStats, SourceRow, annotate_file, example_of, format_counts, turns_of

if TYPE_CHECKING:
    from .._llm.openai_chat import OpenAIChat

__all__ = ["EvalReport", "build_classifier", "classify_command", "evaluate"]

log = logging.getLogger("realign")


@dataclass
class EvalReport:
    """Accuracy figures of a classifier on labelled rows."""

    total: int = 0
    correct: int = 0
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)  # (gold, predicted)
    groups: dict[str, str] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def macro_f1(self) -> float:
        labels = {gold for gold, _ in self.pairs} | {pred for _, pred in self.pairs}
        scores = []
        for label in labels:
            tp = self.pairs[(label, label)]
            fp = sum(n for (g, p), n in self.pairs.items() if p == label and g != label)
            fn = sum(n for (g, p), n in self.pairs.items() if g == label and p != label)
            scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
        return sum(scores) / len(scores) if scores else 0.0

    def by_group(self) -> dict[str, tuple[int, int]]:
        """group -> (correct, total), by the gold task's group."""
        out: dict[str, list[int]] = {}
        for (gold, pred), n in self.pairs.items():
            cell = out.setdefault(self.groups.get(gold, "custom"), [0, 0])
            cell[0] += n if gold == pred else 0
            cell[1] += n
        return {g: (c, t) for g, (c, t) in out.items()}

    def text(self, top: int = 10) -> str:
        lines = [f"rows: {self.total}  accuracy: {self.accuracy:.1%}  macro-F1: {self.macro_f1():.3f}", "by group:"]
        order = [*GROUPS, "custom"]
        for group, (correct, total) in sorted(self.by_group().items(), key=lambda kv: order.index(kv[0])):
            lines.append(f"  {group:<16} {correct / total:6.1%}  ({correct}/{total})")
        confusions = [(pair, n) for pair, n in self.pairs.most_common() if pair[0] != pair[1]][:top]
        if confusions:
            lines.append("most frequent confusions (gold -> predicted):")
            lines += [f"  {n:4d}  {gold} -> {pred}" for (gold, pred), n in confusions]
        return "\n".join(lines)


async def evaluate(classifier: Classifier, path: str, tasks: dict[str, Task], window: int = 64) -> EvalReport:
    """Run ``classifier`` over labelled JSONL rows ``{"instruction", "category"}``."""
    report = EvalReport(groups={name: task.group for name, task in tasks.items()})

    def labelled() -> Any:
        for line, row in read_rows(path):
            if (
                not isinstance(row, dict)
                or not isinstance(row.get("instruction"), str)
                or not isinstance(row.get("category"), str)
            ):
                raise InputError("need an object with string 'instruction' and 'category'", path=path, line=line)
            yield row

    async def predict(row: dict[str, Any]) -> str:
        return (await classifier.classify(row["instruction"])).task

    async for row, predicted in ordered_map(predict, labelled(), window):
        report.total += 1
        report.correct += predicted == row["category"]
        report.pairs[(row["category"], predicted)] += 1
    return report


async def classify_command(args: argparse.Namespace) -> int:
    async with contextlib.AsyncExitStack() as stack:
        return await _classify_command(args, stack)


async def _classify_command(args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> int:
    if not args.eval and (not args.input or not args.output):  # before any client is built
        raise UsageError("classify needs INPUT -o OUTPUT (or --eval LABELLED)")
    criteria = Criteria(args.criteria)
    needs_llm = args.classifier != "embedded"
    classifier = build_classifier(args, criteria, None, stack)
    if args.eval:
        if args.input or args.output:
            raise UsageError("classify --eval LABELLED takes no INPUT or -o")
        # The pipeline only lends an LLM classifier its budget: --concurrency, --rpm and --tpm.
        Pipeline(None, classifier=classifier, criteria=criteria, **_limits(args))
        print((await evaluate(classifier, args.eval, dict(criteria.tasks))).text())
        return 0
    if not args.input or not args.output:
        raise UsageError("classify needs INPUT -o OUTPUT (or --eval LABELLED)")
    stats = await _classify_file(args, classifier, criteria)
    if not args.quiet:
        print(f"rows: {stats.rows}\nby task: " + format_counts(stats.tasks), file=sys.stderr)
        if isinstance(classifier, CascadeClassifier):
            print(f"classifier: {classifier.counts}", file=sys.stderr)
        if needs_llm:
            print(_usage_line(stats.usage), file=sys.stderr)
    return 0


def build_classifier(
    args: argparse.Namespace,
    criteria: Criteria,
    llm: OpenAIChat | None,
    stack: contextlib.AsyncExitStack,
    cache: SQLiteCache | None = None,
) -> Classifier:
    """The classifier the flags ask for; a client it opens is closed with ``stack``."""
    from .._classify.embedded import EmbeddedClassifier

    if args.classifier == "embedded":
        return EmbeddedClassifier(criteria.tasks, criteria.examples or None)
    if args.classifier_model or args.classifier_base_url or llm is None:
        from .._llm.openai_chat import OpenAIChat  # imported here: it imports the openai SDK

        llm = OpenAIChat(
            args.classifier_model or args.model,
            base_url=args.classifier_base_url or args.base_url,
            timeout=args.timeout,
            max_retries=args.max_retries,
        )
        stack.push_async_callback(llm.aclose)
    if args.classifier == "completion":
        return CompletionClassifier(llm, tasks=criteria.tasks, cache=cache)
    chat = LLMClassifier(llm, tasks=criteria.tasks, cache=cache)
    if args.classifier == "llm":
        return chat
    return CascadeClassifier(
        EmbeddedClassifier(criteria.tasks, criteria.examples or None), chat, threshold=args.cascade_threshold
    )


async def _classify_file(args: argparse.Namespace, classifier: Classifier, criteria: Criteria) -> RunStats:
    # The pipeline holds the rules for given categories (kept, unknown -> default or --strict error).
    pipeline = Pipeline(None, classifier=classifier, criteria=criteria, strict=args.strict, **_limits(args))

    spent: list[Usage] = []

    async def label(item: SourceRow) -> dict[str, Any]:
        turns = [t for t in turns_of(item, args.turns, reclassify=args.reclassify) if t.example is not None]
        if turns:  # a conversation: each assistant turn classified with the turns before it in view
            plans = await asyncio.gather(
                *(pipeline.plan(t.example, label_empty=True) for t in turns if t.example is not None)
            )
            spent.extend(p.usage for p in plans if p.usage.calls)
            entries = [
                TurnOutcome(turn=t.turn, task=p.task, confidence=p.confidence, classifier=p.classifier)
                for t, p in zip(turns, plans, strict=True)
            ]
            first = entries[0]
            return {
                "task": first.task,
                "confidence": first.confidence,
                "classifier": first.classifier,
                "turns": entries,
            }
        plan = await pipeline.plan(example_of(item, reclassify=args.reclassify), label_empty=True)
        if plan.usage.calls:
            spent.append(plan.usage)
        return {"task": plan.task, "confidence": plan.confidence, "classifier": plan.classifier}

    # The embedded classifier waits for nothing: rows go one after another, without a task each.
    offline = args.classifier == "embedded"
    stats = await annotate_file(args.input, args.output, label, window=1 if offline else pipeline.window)
    stats.usage = sum(spent, Usage())
    return stats


def _limits(args: argparse.Namespace) -> dict[str, Any]:
    """The pipeline's bounds on model calls, from the flags."""
    return {
        "concurrency": args.concurrency,
        "rate_limiter": RateLimiter(args.rpm, args.tpm) if args.rpm or args.tpm else None,
    }


def _usage_line(usage: Usage) -> str:
    """The tokens and calls the LLM classifier spent (cache hits cost none)."""
    return (
        f"tokens: {usage.prompt_tokens} in ({usage.cached_tokens} cached), "
        f"{usage.completion_tokens} out; LLM calls: {usage.calls}"
    )
