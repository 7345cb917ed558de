"""The dry run: what a reformat run would do and cost, without a key, a server or a single call.

Every row is decided by :meth:`Pipeline.plan`, as in the run; only the counting is here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .._checks.registry import REFERABLE_CHECKS
from .._classify.llm import classify_prompt
from .._models import Evidence, Example, Overruled, Usage
from .._pipeline import Pipeline, classifier_input
from .._protocol import default_max_tokens
from .._tasks import Task
from .._templates import Prompts
from .._tokens import count_tokens
from .._verify import verify_messages
from .cost import Price
from .job import example_of, format_counts, let_signals_in, rows_of, turns_of

__all__ = ["ClassifierPlan", "Plan", "plan_file"]

# A reply is a short "Reasoning:" part plus the rewrite, which the criteria make somewhat longer
# than the original (headings, steps, a final line). Both figures are estimates for the plan only.
_REASONING_TOKENS = 60
_GROWTH = 1.3
_EVIDENCE_TOKENS = 750
# A classifier answers with a task name: a few tokens.
_CLASSIFY_ANSWER_TOKENS = 6
# The judge of --verify answers with a verdict line and one sentence; with evidence, a line for each changed fact.
_VERIFY_ANSWER_TOKENS = 30
_CHANGE_LINES_TOKENS = 30
# A referral (--refer) carries at most one concern per soft check, each detail cut to 300 characters: the upper
# bound counts them all, at full length.
_FLAGGED_DETAIL = "x " * 150


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
    #: the classifier of the real run, and the calls it would make (none for ``embedded``)
    classifier: str = "embedded"
    classify_usage: Usage = field(default_factory=Usage)
    #: multi-turn conversations processed turn by turn, their assistant turns, and the turns to rewrite
    conversations: int = 0
    turns: int = 0
    turns_to_rewrite: int = 0
    #: of ``passed`` and ``retrieval``, the assistant turns' share (the rest are rows)
    turns_passed: int = 0
    turns_retrieval: int = 0
    #: the --verify judge model (None: no verification), and the calls it would make at most
    verify: str | None = None
    verify_usage: Usage = field(default_factory=Usage)
    #: whether the judge also decides referrals (--refer): its prompts are counted with the checks' concerns
    refer: bool = False

    def report(
        self,
        model: str,
        price: Price | None,
        *,
        search: bool,
        classifier_price: Price | None = None,
        verify_price: Price | None = None,
    ) -> str:
        """The dry run's text; ``classifier_price`` prices the classify calls, ``verify_price`` the verify
        calls (default: ``price``)."""
        what = "rows and turns" if self.conversations else "rows"  # each assistant turn is classified on its own
        classified = f"{self.classified} {what} classified by the embedded classifier"
        if self.classifier != "embedded":
            classified = (
                f"{self.classified} {what} classified, estimated by the embedded classifier: "
                f"the real run asks the {self.classifier} classifier"
            )
        lines = [
            f"dry run: no call made; model {model}",
            f"rows: {self.rows}  ({format_counts(self.shapes)})",
            f"to rewrite: {self.to_rewrite}{self._split(self.to_rewrite, self.turns_to_rewrite)}  passed through: "
            f"{sum(self.passed.values())}{self._split(sum(self.passed.values()), self.turns_passed)}  ("
            + format_counts(self.passed)
            + ")",
            *self._turn_lines(),
            f"tasks ({classified}): " + format_counts(self.tasks),
            f"rows needing retrieval: {self.retrieval}{self._split(self.retrieval, self.turns_retrieval)}"
            + ("" if search else " (no --search given: none will run)"),
            f"estimated tokens: {self.usage.prompt_tokens:,} prompt, {self.usage.completion_tokens:,} completion "
            f"in {self.usage.calls:,} requests",
        ]
        if self.classifier != "embedded":
            lines.append(self._classify_line(classifier_price or price))
        if self.verify is not None:
            lines.append(self._verify_line(verify_price or price))
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

    def _split(self, total: int, turns: int) -> str:
        """`` (R rows, T turns)``: what a count mixes when the file holds conversations (their assistant turns
        count one each); nothing otherwise, so the figure right after each label stays the total."""
        if not self.conversations:
            return ""
        rows = total - turns
        return f" ({rows} row{'' if rows == 1 else 's'}, {turns} turn{'' if turns == 1 else 's'})"

    def _turn_lines(self) -> list[str]:
        if not self.conversations:
            return []
        return [
            f"conversations: {self.conversations}  assistant turns: {self.turns}  turns to rewrite: "
            f"{self.turns_to_rewrite} (one request each, the earlier turns in its prompt; counted in 'to rewrite')"
        ]

    def _verify_line(self, price: Price | None) -> str:
        usage = self.verify_usage
        line = (
            f"verify calls (--verify, judge {self.verify}): at most {usage.calls:,} (one per candidate that passes "
            f"the checks{' or is referred to the judge, --refer' if self.refer else ''}), "
            f"estimated {usage.prompt_tokens:,} prompt, {usage.completion_tokens:,} completion tokens"
        )
        if price is None:
            return line + ", cost unknown (no price for the judge model)"
        return (
            line + f", {_dollars(price.cost(usage))} online, {_dollars(price.cost(usage, batch=True))} with --batch "
            "(not in the cost below)"
        )

    def _classify_line(self, price: Price | None) -> str:
        usage = self.classify_usage
        line = (
            f"classify calls ({self.classifier} classifier): {usage.calls:,}, estimated "
            f"{usage.prompt_tokens:,} prompt, {usage.completion_tokens:,} completion tokens"
        )
        if price is None:
            return line + ", cost unknown (no price for the classifier model)"
        return line + f", {_dollars(price.cost(usage))} (online, also with --batch; not in the cost below)"


def _dollars(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.4f}"


@dataclass(frozen=True)
class ClassifierPlan:
    """Which classifier the real run would use, for counting its calls: ``embedded`` (no call), ``llm`` or
    ``completion`` (one call a row without a category), ``cascade`` (one call a row the embedded classifier
    is less sure of than ``threshold``)."""

    kind: str = "embedded"
    threshold: float = 0.5


async def plan_file(
    source: str | Path,
    pipeline: Pipeline,
    *,
    classifier: ClassifierPlan | None = None,
    search: bool = False,
    reclassify: bool = False,
    from_original: bool = False,
    verify: str | None = None,
    refer: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Plan:
    """Stream ``source`` and count what a run would do; render one prompt as an example.

    Each row is decided by ``pipeline.plan``, the rules the run itself follows. ``pipeline`` must classify
    offline (the embedded classifier): no call is made, whatever ``classifier`` the real run will use;
    the classify calls that one would make are counted and their tokens estimated. ``search``: the run
    has a search client (the dry run builds none), so evidence tokens are counted. The assistant turns of
    multi-turn conversations (``pipeline.turns``: all, last or none) count one request each, with the earlier
    conversation in the prompt as the run sends it. ``verify``: the judge model of ``--verify``; its calls are
    counted as if every candidate passed the checks (an upper bound), the rewrite taken as long as the original;
    with ``refer`` (--refer), as if every candidate were referred, its prompt carrying every soft check's concern.
    ``progress`` is called with the rows read so far, every 1,000 rows (a million rows take minutes).
    """
    classifier = classifier or ClassifierPlan()
    plan = Plan(classifier=classifier.kind, verify=verify, refer=refer)
    for item in rows_of(source, None):
        await let_signals_in(plan.rows)  # the embedded classifier never waits
        plan.rows += 1
        if progress is not None and not plan.rows % 1000:
            progress(plan.rows)
        plan.shapes[item.shape.name] += 1
        conversation = turns_of(item, pipeline.turns, reclassify=reclassify, from_original=from_original)
        if conversation:
            plan.conversations += 1
            for turn in conversation:
                plan.turns += 1
                if turn.example is None:
                    plan.passed[turn.reason or "not_rewritten"] += 1
                    plan.turns_passed += 1
                else:
                    await _count_example(plan, pipeline, classifier, turn.example, search, turn=True)
            continue
        if item.data.pass_reason is not None:
            plan.passed[item.data.pass_reason] += 1
            continue
        await _count_example(
            plan, pipeline, classifier, example_of(item, reclassify=reclassify, from_original=from_original), search
        )
    return plan


async def _count_example(
    plan: Plan, pipeline: Pipeline, classifier: ClassifierPlan, example: Example, search: bool, *, turn: bool = False
) -> None:
    row = await pipeline.plan(example)
    if example.task is None and row.source != "skipped":
        plan.classified += 1
        text = classifier_input(example.question, example.context)
        _count_classify_call(plan, classifier, text, row.confidence, pipeline.criteria.tasks)
    plan.tasks[row.task] += 1
    if not row.rewrite:
        plan.passed[row.reason or "kept"] += 1
        plan.turns_passed += turn
        return
    plan.turns_to_rewrite += turn
    _count_request(plan, pipeline, row.task, example)
    searched = row.retrieval and search
    if row.retrieval:
        plan.retrieval += 1
        plan.turns_retrieval += turn
        if search:  # evidence is capped at ~3,000 characters: about 750 tokens
            plan.usage += Usage(prompt_tokens=_EVIDENCE_TOKENS)
    if plan.verify is not None:
        _count_verify(plan, pipeline.prompt.prompts, example, pipeline.n, searched)


def _count_verify(plan: Plan, prompts: Prompts, example: Example, n: int, searched: bool) -> None:
    """The judge's calls for one row: one per candidate, its prompt holding the original twice (the rewrite
    estimated a little longer), the row's evidence or a search's."""
    flagged = [Overruled(check=name, detail=_FLAGGED_DETAIL) for name in sorted(REFERABLE_CHECKS)] if plan.refer else []
    # A row a search will give evidence to is judged with the evidence prompt (and its change lines); the
    # evidence's own text is counted apart.
    evidence = example.evidence or ([Evidence(text="")] if searched else [])
    messages = verify_messages(prompts, example.question, example.response, example.response, evidence, flagged)
    prompt_tokens = sum(count_tokens(text) + 4 for _, text in messages)
    prompt_tokens += int((_GROWTH - 1) * count_tokens(example.response)) + (_EVIDENCE_TOKENS if searched else 0)
    answer = _VERIFY_ANSWER_TOKENS + (_CHANGE_LINES_TOKENS if evidence else 0)
    plan.verify_usage += Usage(prompt_tokens=n * prompt_tokens, completion_tokens=n * answer, calls=n)


def _count_classify_call(
    plan: Plan, classifier: ClassifierPlan, question: str, confidence: float | None, tasks: Mapping[str, Task]
) -> None:
    if classifier.kind == "embedded":
        return
    if classifier.kind == "cascade" and (confidence or 0.0) >= classifier.threshold:
        return  # the cascade's embedded pass is the one just made: it keeps this answer
    template = "classify_completion" if classifier.kind == "completion" else "classify_chat"
    prompt = classify_prompt(question, tasks, template=template)
    plan.classify_usage += Usage(
        prompt_tokens=count_tokens(prompt) + 4, completion_tokens=_CLASSIFY_ANSWER_TOKENS, calls=1
    )


def _count_request(plan: Plan, pipeline: Pipeline, task: str, example: Example) -> None:
    plan.to_rewrite += 1
    messages = pipeline.prompt.messages(task, example.question, example.response, [], example.context)
    prompt_tokens = sum(count_tokens(text) + 4 for _, text in messages)  # ~4 tokens of chat framing a message
    # A reply never runs past the request's max_tokens (the run's own: --max-tokens, else from the original).
    cap = pipeline.max_tokens if pipeline.max_tokens is not None else default_max_tokens(example.response)
    completion = min(cap, int(_REASONING_TOKENS + _GROWTH * count_tokens(example.response)))
    plan.usage += Usage(prompt_tokens=prompt_tokens, completion_tokens=pipeline.n * completion, calls=1)
    if plan.example is None:
        plan.example = "\n\n".join(f"[{role}]\n{text}" for role, text in messages)
