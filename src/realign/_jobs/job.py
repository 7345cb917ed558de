"""Whole-file jobs: read a dataset, run every row through the pipeline, write it back in its shape."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._exceptions import InputError
from .._gc import run_gc
from .._io.files import AtomicWriter, read_rows
from .._io.shapes import Extracted, Shape, ShapeError, detect_shape
from .._models import Example, Usage, is_undecided
from .._pipeline import Pipeline, VerifyCounts, gather_all, ordered_map
from .._record import Outcome, Record, TurnOutcome
from .cost import Price, split_cost
from .progress import Progress
from .turns import TurnExample, turn_examples

log = logging.getLogger("realign")

__all__ = [
    "RunStats",
    "annotate_file",
    "checked_rows",
    "format_counts",
    "let_signals_in",
    "previous_record",
    "process_rows",
    "reformat_file",
    "retrieve_file",
    "rows_of",
    "shaped_rows",
    "turns_of",
]


#: Rejections of a reply that held no rewrite to check: not a check's verdict, and counted apart from them.
REPLY_FAILURES = frozenset({"parse_error", "truncated"})


@dataclass
class RunStats:
    """Counts for the run summary."""

    rows: int = 0
    tags: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    tasks: Counter[str] = field(default_factory=Counter)
    shapes: Counter[str] = field(default_factory=Counter)
    #: (check, task) -> rejected candidates, over every candidate (not only the kept originals)
    rejections: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: assistant turns of multi-turn conversations that were processed, by tag and by reason
    turn_tags: Counter[str] = field(default_factory=Counter)
    turn_reasons: Counter[str] = field(default_factory=Counter)
    usage: Usage = field(default_factory=Usage)
    #: the --verify judge's share of ``usage``, as the rows record it
    verify_usage: Usage = field(default_factory=Usage)
    #: evidence-backed corrections (``realign.corrections``), and the rows or turns that have any
    corrections: int = 0
    corrected: int = 0
    #: requests sent (retries and hedges included), when the job counted them apart from its rows' calls (the
    #: actors of a Ray job); :meth:`summary`'s ``attempts`` wins over it
    attempts: int | None = None
    started: float = field(default_factory=time.monotonic)

    def add(self, record: Record, usage: Usage) -> None:
        # A row passed through whole (tool_call, non_text_input...) has no task: named as the report names it.
        task = record.task or "unknown"
        self.rows += 1
        self.tags[record.tag or "original"] += 1
        self.reasons[record.reason or "rewritten"] += 1
        self.tasks[task] += 1
        for rejection in record.rejected:
            if not is_undecided(rejection.reason):  # a rewrite lost to a failed call: counted as the row's reason
                self.rejections[(rejection.reason, task)] += 1
        for outcome in (record, *(record.turns or ())):
            if outcome.corrections:
                self.corrections += len(outcome.corrections)
                self.corrected += 1
        for turn in record.turns or ():
            self.turn_tags[turn.tag or "original"] += 1
            self.turn_reasons[turn.reason or "rewritten"] += 1
            for rejection in turn.rejected:
                if not is_undecided(rejection.reason):
                    self.rejections[(rejection.reason, str(turn.task))] += 1
        self.usage += usage
        if record.verify_usage is not None:
            self.verify_usage += record.verify_usage

    def undecided(self) -> str | None:
        """What of the run is left undecided (rows, and turns of conversations, that ended with
        ``llm_error``, or with ``error:<Exception>`` on a Ray actor: they kept their original and a re-run
        retries only those), or None when every row was decided."""
        failed = sum(count for reason, count in self.reasons.items() if is_undecided(reason))
        # A multi-turn row records a failed turn on the turn, not the row.
        turns = sum(count for reason, count in self.turn_reasons.items() if is_undecided(reason))
        parts = [f"{failed} of {self.rows} rows"] if failed else []
        if turns:  # "0 of 2 rows and 1 turns" read as if nothing had failed
            parts.append(f"{turns} {'turn' if turns == 1 else 'turns'} of conversations")
        return " and ".join(parts) or None

    def _rejections_by_check(self, *, replies: bool = False) -> Counter[str]:
        """Refused candidates by check or, with ``replies``, by what was wrong with the reply itself
        (``parse_error``, ``truncated``: no rewrite reached the checks)."""
        totals: Counter[str] = Counter()
        for (check, _), count in self.rejections.items():
            if (check in REPLY_FAILURES) == replies:
                totals[check] += count
        return totals

    def summary(
        self,
        price: Price | None = None,
        *,
        batch: bool = False,
        verify: VerifyCounts | None = None,
        verify_price: Price | None = None,
        attempts: int | None = None,
    ) -> str:
        """The run summary. ``verify``: what the pipeline's verifier did (its usage is part of ``usage``),
        priced at ``verify_price`` (default: ``price``, the judge being the rewriting model).
        ``attempts``: the requests sent (retries included), shown beside the calls when they differ."""
        elapsed = time.monotonic() - self.started
        attempts = self.attempts if attempts is None else attempts
        rewritten = self.tags.get("rewrite", 0)
        share = f"{100 * rewritten / self.rows:.1f}%" if self.rows else "-"
        lines = [
            f"rows: {self.rows}  rewritten: {rewritten} ({share})  kept: {self.tags.get('original', 0)}",
            "by reason: " + format_counts(self.reasons),
            "by task: " + format_counts(self.tasks),
            *self._turn_lines(),
            "rejected candidates by check: " + format_counts(self._rejections_by_check()),
            "rejected candidates by check and task: "
            + format_counts(
                Counter({f"{k}/{t}": v for (k, t), v in self.rejections.items() if k not in REPLY_FAILURES})
            ),
            "unusable replies (no rewrite to check): " + format_counts(self._rejections_by_check(replies=True)),
            f"tokens: {self.usage.prompt_tokens} in ({self.usage.cached_tokens} cached), "
            f"{self.usage.completion_tokens} out; LLM calls: {self.usage.calls}"
            + (f" ({attempts} attempts)" if attempts is not None and attempts != self.usage.calls else ""),
            *([_verify_line(verify)] if verify is not None else []),
            # What a reviewer must check against its sources before training on the output (in the report too).
            *(
                [f"corrections: {self.corrections} in {self.corrected} rows or turns (from evidence)"]
                if self.corrections
                else []
            ),
            self._cost_line(price, batch, verify, verify_price),
            f"wall time: {elapsed:.1f}s",
        ]
        return "\n".join(lines)

    def _cost_line(
        self, price: Price | None, batch: bool, verify: VerifyCounts | None, verify_price: Price | None
    ) -> str:
        judged = verify.usage if verify is not None else self.verify_usage
        dollars = split_cost(self.usage, judged, price, price if verify_price is None else verify_price, batch=batch)
        if dollars is None:
            return "cost: unknown (no price known)"
        return f"cost: ${dollars:,.4f}"

    def retrieval_summary(self, price: Price | None = None) -> str:
        """The summary of ``realign retrieve``: rows, tasks and what the searches found (per row, or per
        assistant turn of a conversation); tokens and cost only when an LLM classifier made calls."""
        found = Counter({reason.removeprefix("retrieval "): n for reason, n in self.reasons.items()})
        lines = [
            f"rows: {self.rows}",
            "by task: " + format_counts(self.tasks),
            "retrieval: " + format_counts(found),
        ]
        if self.usage.calls:
            lines.append(
                f"classifier tokens: {self.usage.prompt_tokens} in ({self.usage.cached_tokens} cached), "
                f"{self.usage.completion_tokens} out; LLM calls: {self.usage.calls}"
            )
            if price:
                lines.append(f"cost: ${price.cost(self.usage):,.4f}")
        lines.append(f"wall time: {time.monotonic() - self.started:.1f}s")
        return "\n".join(lines)

    def _turn_lines(self) -> list[str]:
        turns = sum(self.turn_tags.values())
        if not turns:
            return []
        rewritten = self.turn_tags.get("rewrite", 0)
        return [
            f"assistant turns of conversations: {turns}  rewritten: {rewritten} ({100 * rewritten / turns:.1f}%)"
            f"  kept: {self.turn_tags.get('original', 0)}",
            "turns by reason: " + format_counts(self.turn_reasons),
        ]


def _verify_line(verify: VerifyCounts) -> str:
    usage = verify.usage
    return (
        f"verify: {verify.judged} candidates judged, {verify.refused} refused (filter:verify)"
        f"{f', {verify.referred} referred, {verify.overruled} overruled' if verify.refer else ''}; "
        f"{usage.calls} calls, {usage.prompt_tokens} tokens in, {usage.completion_tokens} out (counted above)"
    )


#: Rows between two yields to the event loop in a loop that never waits otherwise (an offline classifier).
YIELD_EVERY = 256


async def let_signals_in(number: int) -> None:
    """Yield to the event loop every ``YIELD_EVERY`` rows. Ctrl-C and SIGTERM reach a run as a cancellation
    of its task, which only lands where the task waits: a loop that never waits would finish the whole file,
    write its output and only then report the signal as an interruption."""
    if number % YIELD_EVERY == 0:
        await asyncio.sleep(0)


def format_counts(counter: Counter[str]) -> str:
    """``a 3, b 1``: a counter's entries, most common first (``-`` when empty)."""
    return ", ".join(f"{k} {v}" for k, v in counter.most_common()) or "-"


@dataclass(frozen=True, slots=True)
class SourceRow:
    """A row read from a file, with where it came from and what it holds."""

    line: int
    row: dict[str, Any]
    shape: Shape
    data: Extracted
    path: str = ""


def rows_of(path: str | Path, stats: RunStats | None = None) -> Iterator[SourceRow]:
    """Stream a file's rows, each checked against the shape its file's first row has."""
    return shaped_rows(read_rows(path), path, stats)


def checked_rows(path: str | Path) -> Iterator[SourceRow]:
    """Stream a file's rows as :func:`rows_of` does, each one's ``realign`` object (an earlier run's) read too: the
    check a run makes of every row before its first call, so a row it could not process stops it before anything
    is paid for (its file and line), not when its turn comes."""
    for item in rows_of(path):
        previous_record(item)
        yield item


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return "literal"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def _is_jsonl(path: str | Path) -> bool:
    return Path(path).suffix.lower() in (".jsonl", ".ndjson")


def shaped_rows(
    rows: Iterable[tuple[int, Any]], path: str | Path, stats: RunStats | None = None
) -> Iterator[SourceRow]:
    """Check each ``(line, row)`` against the shape of the first row and extract its contents.

    ``rows`` is closed when this ends, however it ends: a reader's file must not stay open while the
    error a bad row raised is kept (a notebook keeps the last one, and with it this frame)."""
    try:
        yield from _shaped(rows, path, stats)
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


def _shaped(rows: Iterable[tuple[int, Any]], path: str | Path, stats: RunStats | None) -> Iterator[SourceRow]:
    shape: Shape | None = None
    for line, row in rows:
        if not isinstance(row, dict):
            # A JSON array of rows saved as .jsonl reads as one row that is an array: say where it belongs.
            hint = (
                " (a JSON array of rows is a .json file)" if isinstance(row, list) and row and _is_jsonl(path) else ""
            )
            raise InputError(f"row is a JSON {_json_kind(row)}, not an object{hint}", path=path, line=line)
        if shape is None or not shape.matches(row):
            found = detect_shape(row)
            if found is None:
                raise InputError(
                    "row of unknown shape (expected items, conversations, messages or instruction/output)",
                    path=path,
                    line=line,
                )
            if shape is not None and found is not shape:
                raise InputError(
                    f"row has shape {found.name}, but the file's first row has shape {shape.name}", path=path, line=line
                )
            shape = found
        try:
            data = shape.extract(row)
        except ShapeError as exc:
            raise InputError(f"{shape.name} row: {exc}", path=path, line=line) from exc
        if stats is not None:
            stats.shapes[shape.name] += 1
        yield SourceRow(line, row, shape, data, str(path))


def previous_record(source: SourceRow) -> Record:
    """The ``realign`` object an earlier run left in the row (an empty one when there is none)."""
    try:
        return Record.of(source.row) or Record()
    except ValueError as exc:  # pydantic's ValidationError
        problem = str(exc).splitlines()[0]
        raise InputError(f"invalid 'realign' metadata ({problem})", path=source.path, line=source.line) from exc


def example_of(source: SourceRow, *, reclassify: bool = False, from_original: bool = False) -> Example:
    """The example a row holds; a task or evidence from an earlier ``classify``/``retrieve`` is reused.
    ``from_original``: a row an earlier ``reformat`` rewrote gives its ``realign.original`` as the response."""
    previous = previous_record(source)
    response = source.data.response
    if from_original and previous.original is not None:
        response = previous.original
    task = None if reclassify else (source.data.category or previous.task)
    evidence = previous.evidence
    if not evidence and previous.retrieval not in ("ok", "empty", "given"):
        evidence = None  # retrieval failed or never ran for this row: search again
    try:
        return Example(
            question=source.data.question,
            response=response,
            task=task,
            evidence=evidence,
            id=source.row.get("id"),
        )
    except ValueError as exc:  # pydantic's ValidationError
        problem = str(exc).splitlines()[0]
        raise InputError(f"invalid row ({problem})", path=source.path, line=source.line) from exc


def turns_of(
    source: SourceRow, mode: str, *, reclassify: bool = False, from_original: bool = False
) -> list[TurnExample]:
    """The assistant turns of a multi-turn row that ``mode`` processes (none for other rows)."""
    if source.data.pass_reason != "multi_turn":
        return []
    try:
        return turn_examples(
            source.data.turns,
            mode,
            category=source.data.category,
            previous=previous_record(source).turns or [],
            reclassify=reclassify,
            from_original=from_original,
            row_id=source.row.get("id"),
        )
    except ValueError as exc:  # pydantic's ValidationError
        problem = str(exc).splitlines()[0]
        raise InputError(f"invalid row ({problem})", path=source.path, line=source.line) from exc


def _keep_provenance(outcome: Outcome, earlier: Outcome | None, category: str | None) -> None:
    """A task reused from an earlier run (``classify``, ``retrieve``, a first ``reformat``) reaches the pipeline
    as a given one (confidence 1.0, ``classifier: given``); give the outcome back the confidence and classifier
    that run recorded, so a classify-then-reformat output says where its task came from, as a single run's does.
    A row's own ``category`` is given indeed."""
    if category is None and earlier is not None and outcome.classifier == "given" and outcome.task == earlier.task:
        outcome.confidence, outcome.classifier = earlier.confidence, earlier.classifier


async def _conversation(
    pipeline: Pipeline,
    item: SourceRow,
    turns: list[TurnExample],
    *,
    keep_rejected: bool = True,
    earlier: Sequence[TurnOutcome] = (),
) -> tuple[dict[str, Any], Record, Usage] | None:
    """A multi-turn row with each chosen assistant turn reformatted in its context; None when the row
    has no assistant turn to process. The turns run concurrently: each one's context is original text.

    ``earlier``: the entries an earlier run wrote. A turn it rewrote keeps its first ``original`` (with
    ``from_original``, ``turns_of`` already read such turns as their originals, in the response and in the
    context of later turns); one it rewrote that this run leaves alone keeps its entry."""
    if not turns:
        return None
    originals = {e.turn: e.original for e in earlier if e.original is not None}
    by_entry = {e.turn: e for e in earlier}
    todo = [t for t in turns if t.example is not None]
    results = await gather_all(*(pipeline.areformat_one(t.example) for t in todo if t.example is not None))
    by_turn = {t.turn: r for t, r in zip(todo, results, strict=True)}
    current = {t.index: t.text for t in item.data.turns}  # the turns as the row now reads
    outcomes, usage, judged, texts = [], Usage(), Usage(), {}
    for t in turns:
        first = originals.get(t.turn)
        result = by_turn.get(t.turn)
        if result is None:
            outcomes.append(
                TurnOutcome(turn=t.turn, tag="original", reason=t.reason or "not_rewritten", original=first)
            )
            continue
        outcome = TurnOutcome(turn=t.turn, **dict(Outcome.from_result(result, keep_rejected=keep_rejected)))
        _keep_provenance(outcome, by_entry.get(t.turn), item.data.category)
        if first is not None and result.response != first:
            outcome.original = first  # the turn's text is still not its original: say what was
        outcomes.append(outcome)
        usage += result.usage
        judged += result.verify_usage
        if result.tag == "rewrite" or result.response != current.get(t.turn):
            texts[t.turn] = result.response
    done = {t.turn for t in turns}
    outcomes += [e for e in earlier if e.original is not None and e.turn not in done]  # e.g. turns="last" now
    outcomes.sort(key=lambda outcome: outcome.turn)
    row = item.shape.apply_turns(item.row, texts) if texts else dict(item.row)
    record = Record.of_turns(outcomes, usage, judged)
    row["realign"] = record.to_json()
    return row, record, usage


async def process_rows(
    pipeline: Pipeline,
    rows: Iterable[tuple[int, Any]],
    *,
    source: str | Path,
    reclassify: bool = False,
    keep_rejected: bool = True,
    from_original: bool = False,
    stats: RunStats | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Reformat ``(line, row)`` pairs concurrently; yield the output rows in input order.

    ``keep_rejected=False`` writes refused candidates without their texts. A row an earlier run rewrote keeps
    that run's ``realign.original`` (the true original); it is reformatted as it now reads, or from that
    original with ``from_original=True``."""
    warned = False

    async def process(item: SourceRow) -> tuple[dict[str, Any], Record, Usage]:
        nonlocal warned
        previous = previous_record(item)
        originals = {t.turn: t.original for t in previous.turns or [] if t.original is not None}
        if (previous.original is not None or originals) and not warned:
            warned = True
            how = "reformatted from it" if from_original else "--from-original (from_original=True) starts from it"
            log.warning("%s: rows already reformatted; realign.original keeps their first original; %s", source, how)
        turns = turns_of(item, pipeline.turns, reclassify=reclassify, from_original=from_original)
        done = await _conversation(pipeline, item, turns, keep_rejected=keep_rejected, earlier=previous.turns or [])
        if done is not None:
            return done
        if item.data.pass_reason is not None:
            record = Record(
                task=item.data.category or previous.task,
                tag="original",
                reason=item.data.pass_reason,
                classifier="given" if item.data.category else previous.classifier,
                evidence=[],
            )
            return {**item.row, "realign": record.to_json()}, record, Usage()
        result = await pipeline.areformat_one(example_of(item, reclassify=reclassify, from_original=from_original))
        changed = result.tag == "rewrite" or result.response != item.data.response
        row = item.shape.apply(item.row, result.response) if changed else dict(item.row)
        record = Record.from_result(result, keep_rejected=keep_rejected)
        _keep_provenance(record, previous, item.data.category)
        if previous.original is not None and result.response != previous.original:
            record.original = previous.original  # the row's text is still not the original: say what was
        row["realign"] = record.to_json()
        return row, record, result.usage

    model = getattr(pipeline.llm, "model", None)  # a custom LLM may not name one
    judge = getattr(getattr(pipeline.verifier, "llm", None), "model", None)
    verify_model = judge if isinstance(judge, str) and judge != model else None

    async def processed(item: SourceRow) -> tuple[dict[str, Any], Record, Usage]:
        row, record, usage = await process(item)
        if usage.calls and isinstance(model, str):
            record.model = model  # what the row's tokens are priced at in the report
            if record.verify_usage is not None:
                record.verify_model = verify_model  # the judge's share, at the judge's price
            row["realign"] = record.to_json()
        return row, record, usage

    async for _, (row, record, usage) in ordered_map(processed, shaped_rows(rows, source, stats), pipeline.window):
        if stats is not None:
            stats.add(record, usage)
        yield row


async def reformat_file(
    pipeline: Pipeline,
    source: str | Path,
    output: str | Path,
    *,
    reclassify: bool = False,
    keep_rejected: bool = True,
    from_original: bool = False,
    stats: RunStats | None = None,
    progress: Progress | None = None,
) -> RunStats:
    """Reformat every row of ``source`` into ``output`` (same shape and order, ``realign`` added)."""
    stats = stats or RunStats()
    ticker = asyncio.create_task(progress.ticker(stats)) if progress is not None and progress.enabled else None
    try:
        with AtomicWriter(output, like=source) as writer:
            async for row in process_rows(
                pipeline,
                read_rows(source),
                source=source,
                reclassify=reclassify,
                keep_rejected=keep_rejected,
                from_original=from_original,
                stats=stats,
            ):
                writer.write(row)
                if progress is not None:
                    progress.update(stats)
    finally:
        if ticker is not None:
            ticker.cancel()
            # Not `await ticker` under suppress(CancelledError): a Ctrl-C landing while the run waits here
            # cancels the run's task through the ticker, and suppressing the ticker's cancellation would
            # swallow the run's too (it would then finish with exit 0). asyncio.wait raises only for our own.
            await asyncio.wait([ticker])
        if progress is not None:  # the final state, and a bar ended so a message after it starts on its own line
            progress.close(stats)
    return stats


async def annotate_file(
    source: str | Path,
    output: str | Path,
    annotate: Callable[[SourceRow], Awaitable[dict[str, Any]]],
    *,
    window: int,
) -> RunStats:
    """Write every row of ``source`` to ``output`` with its ``realign`` object updated by ``annotate``
    (which returns the :class:`Record` fields to set), in order: ``window`` rows at once (1: one after
    another). Counts rows by task."""
    stats = RunStats()

    async def process(item: SourceRow) -> tuple[dict[str, Any], Record]:
        fields = await annotate(item)
        record = previous_record(item).model_copy(update=fields)
        return {**item.row, "realign": record.to_json()}, record

    async def rows() -> AsyncIterator[tuple[dict[str, Any], Record]]:
        if window > 1:
            async for _, done in ordered_map(process, rows_of(source, stats), window):
                yield done
        else:  # nothing to wait for (an offline classifier): a task per row would only cost time
            with run_gc():  # as ordered_map's runs: the young collections were a twentieth of the run
                for number, item in enumerate(rows_of(source, stats)):
                    await let_signals_in(number)
                    yield await process(item)

    with AtomicWriter(output, like=source) as writer:
        async for row, record in rows():
            writer.write(row)
            stats.rows += 1
            stats.tasks[str(record.task)] += 1
    return stats


async def retrieve_file(
    pipeline: Pipeline, source: str | Path, output: str | Path, *, reclassify: bool = False
) -> RunStats:
    """Classify and retrieve only: each row gains ``realign.task``, ``confidence``, ``evidence`` and
    ``retrieval``, for inspection before paying for rewrites (``reformat`` reuses that evidence)."""

    statuses: Counter[str] = Counter()
    usage: list[Usage] = []  # the LLM classifier's calls, if any

    async def one(example: Example) -> dict[str, Any]:
        plan = await pipeline.plan(example)
        evidence, status = await pipeline.evidence_for(example, plan)
        statuses[f"retrieval {status or 'not needed'}"] += 1
        usage.append(plan.usage)
        return {
            "task": plan.task,
            "confidence": plan.confidence,
            "classifier": plan.classifier,
            "evidence": evidence,
            "retrieval": status,
        }

    async def retrieve(item: SourceRow) -> dict[str, Any]:
        turns = [t for t in turns_of(item, pipeline.turns, reclassify=reclassify) if t.example is not None]
        if turns:  # a conversation: each assistant turn's own task and evidence, for reformat to reuse
            found = await gather_all(*(one(t.example) for t in turns if t.example is not None))
            entries = [TurnOutcome(turn=t.turn, **fields) for t, fields in zip(turns, found, strict=True)]
            first = entries[0]
            return {
                "task": first.task,
                "confidence": first.confidence,
                "classifier": first.classifier,
                "evidence": [],
                "turns": entries,
            }
        return await one(example_of(item, reclassify=reclassify))

    stats = await annotate_file(source, output, retrieve, window=pipeline.window)
    stats.reasons += statuses
    stats.usage = sum(usage, Usage())
    return stats
