"""The dry run: what a reformat run would do and cost, without a key, a server or a single call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .._models import Usage
from .._protocol import RewritePrompt
from .._tasks import Task
from .._tokens import count_tokens
from .cost import Price
from .job import example_of, format_counts, rows_of

__all__ = ["Plan", "plan_file"]

# A reply is a short "Reasoning:" part plus the rewrite, which the criteria make somewhat longer
# than the original (headings, steps, a final line). Both figures are estimates for the plan only.
_REASONING_TOKENS = 60
_GROWTH = 1.3
_EVIDENCE_TOKENS = 750


@dataclass
class Plan:
    """What a dry run found."""

    rows: int = 0
    shapes: Counter[str] = field(default_factory=Counter)
    tasks: Counter[str] = field(default_factory=Counter)
    classified: int = 0
    to_rewrite: int = 0
    passed: Counter[str] = field(default_factory=Counter)
    retrieval: int = 0
    usage: Usage = field(default_factory=Usage)
    example: str | None = None

    def report(self, model: str, price: Price | None, *, search: bool) -> str:
        lines = [
            f"dry run: no call made; model {model}",
            f"rows: {self.rows}  ({format_counts(self.shapes)})",
            f"to rewrite: {self.to_rewrite}  passed through: {sum(self.passed.values())}  ("
            + format_counts(self.passed)
            + ")",
            f"tasks ({self.classified} rows classified by the embedded classifier): " + format_counts(self.tasks),
            f"rows needing retrieval: {self.retrieval}" + ("" if search else " (no --search given: none will run)"),
            f"estimated tokens: {self.usage.prompt_tokens:,} prompt, {self.usage.completion_tokens:,} completion "
            f"in {self.usage.calls:,} requests",
        ]
        if price is None:
            lines.append(f"estimated cost: unknown price for {model}; give --price-in and --price-out ($/1M tokens)")
        else:
            online, batch = price.cost(self.usage), price.cost(self.usage, batch=True)
            lines.append(
                f"estimated cost: {_dollars(online)} online, {_dollars(batch)} with --batch "
                f"(at ${price.input}/1M in, ${price.output}/1M out; provider prompt caching may lower it)"
            )
        if self.example:
            lines += ["", "example prompt:", self.example]
        return "\n".join(lines)


def _dollars(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.4f}"


def plan_file(
    source: str | Path,
    prompt: RewritePrompt,
    tasks: Mapping[str, Task],
    *,
    n: int = 1,
    retrieval_tasks: frozenset[str],
    search: bool = False,
    reclassify: bool = False,
) -> Plan:
    """Stream ``source`` and count what a run would do; render one prompt as an example."""
    from .._classify.embedded import EmbeddedClassifier

    classifier = EmbeddedClassifier(tasks)
    plan = Plan()
    for item in rows_of(source, None):
        plan.rows += 1
        plan.shapes[item.shape.name] += 1
        if item.data.pass_reason is not None:
            plan.passed[item.data.pass_reason] += 1
            continue
        example = example_of(item, reclassify=reclassify)
        name = example.task
        if name is None:
            name = classifier.predict(example.question).task
            plan.classified += 1
        task = tasks.get(name) or tasks["default"]
        plan.tasks[task.name] += 1
        if not example.response.strip() or not example.question.strip():
            plan.passed["empty_response"] += 1
        elif not task.rewrite or not prompt.criteria.has(task.name):
            plan.passed["task_not_rewritten"] += 1
        else:
            _count_request(plan, prompt, task.name, example.question, example.response, n)
            if task.name in retrieval_tasks and example.evidence is None:
                plan.retrieval += 1
                if search:  # evidence is capped at ~3,000 characters: about 750 tokens
                    plan.usage += Usage(prompt_tokens=_EVIDENCE_TOKENS)
    return plan


def _count_request(plan: Plan, prompt: RewritePrompt, task: str, question: str, response: str, n: int) -> None:
    plan.to_rewrite += 1
    messages = prompt.messages(task, question, response, [])
    prompt_tokens = sum(count_tokens(text) + 4 for _, text in messages)  # ~4 tokens of chat framing a message
    completion = int(_REASONING_TOKENS + _GROWTH * count_tokens(response))
    plan.usage += Usage(prompt_tokens=prompt_tokens, completion_tokens=n * completion, calls=1)
    if plan.example is None:
        plan.example = "\n\n".join(f"[{role}]\n{text}" for role, text in messages)
