"""``realign report``: one self-contained HTML page to review a reformat output row by row.

The page carries everything inline (CSS, JS, SVG charts); it loads nothing from the network. The rows
are embedded once, as JSON in a ``<script type="application/json">`` tag, and rendered by the page's
script a page at a time, so a 10k-row report stays a single file of roughly the dataset's size and
the word diff is only computed for the rows on screen.

Everything taken from the data is escaped for where it goes: ``html.escape`` in the HTML Python
writes, ``<``/``>``/``&`` as ``\\u003c``... inside the JSON, and ``textContent`` in the browser.
"""

from __future__ import annotations

import html
import json
import math
import os  # noqa: F401  -- tests/test_report.py patches realign._report.os.replace (the rename is in _io)
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from .._exceptions import InputError, UsageError
from .._io.files import atomic_file, read_rows
from .._jobs.cost import price_for, split_cost
from .._jobs.job import SourceRow, previous_record, rows_of, shaped_rows
from .._models import Usage, is_undecided
from .._record import Outcome, Record

__all__ = ["ReportSummary", "write_report"]

_GUARD_PREFIX = "filter:"
_EVIDENCE_CHARS = 300  # evidence is context for the reviewer, not the point: keep the file small
_SCATTER_POINTS = 2000  # more dots add bytes, not information
_TEMPLATE = "template.html"


@dataclass
class ReportSummary:
    """The counts the report shows. ``by_reason`` counts rewritten rows under ``"rewritten"`` as the run summary
    does (and, as it does, a conversation with a turn left undecided beside rewritten ones under that turn's
    ``llm_error:<code>``); guards are the reasons starting with ``filter:``."""

    rows: int = 0
    rewritten: int = 0
    by_task: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    rewritten_by_task: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: float | None = None
    #: assistant turns of multi-turn conversations reformatted turn by turn, and how many were rewritten
    turns: int = 0
    turns_rewritten: int = 0
    #: dollars by task, for rows whose model (or the given prices) has a known price
    cost_by_task: dict[str, float] = field(default_factory=dict)
    #: evidence-backed corrections (``realign.corrections``), and the rows (or turns) that have any
    corrections: int = 0
    corrected: int = 0

    @property
    def kept(self) -> int:
        return self.rows - self.rewritten

    @property
    def guards(self) -> Counter[str]:
        """Rows kept because a guard (``filter:<guard>``) blocked every rewrite, by guard name."""
        return Counter(
            {k.removeprefix(_GUARD_PREFIX): v for k, v in self.by_reason.items() if k.startswith(_GUARD_PREFIX)}
        )

    def text(self) -> str:
        """The summary for a terminal, a few short lines."""
        lines = [
            f"rows: {self.rows:,}  rewritten: {self.rewritten:,} ({_percent(self.rewritten, self.rows)})"
            f"  kept: {self.kept:,}",
            "by task: " + _counts(self.by_task),
            "by reason: " + _counts(self.by_reason),  # as the run summary's line
            "refused candidates: " + _counts(self.rejected),
            f"tokens: {self.prompt_tokens:,} in ({self.cached_tokens:,} cached), {self.completion_tokens:,} out",
            f"cost: ${self.cost:,.4f}" if self.cost is not None else "cost: unknown (no price known for the model)",
        ]
        if self.turns:
            lines.insert(1, f"assistant turns: {self.turns:,}  rewritten: {self.turns_rewritten:,}")
        if self.corrections:
            lines.insert(-2, f"corrections: {self.corrections:,} in {self.corrected:,} rows or turns (from evidence)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {count:,}" for key, count in counter.most_common()) or "-"


@dataclass
class _Collected:
    summary: ReportSummary = field(default_factory=ReportSummary)
    rows: list[dict[str, Any]] = field(default_factory=list)
    tasks: dict[str, int] = field(default_factory=dict)  # name -> index in the page data
    lengths: list[tuple[int, int]] = field(default_factory=list)  # (original, final) words of rewritten rows
    has_metadata: bool = False
    prices: tuple[float | None, float | None] = (None, None)  # --price-in, --price-out


def write_report(
    source: str | Path,
    output: str | Path,
    *,
    title: str | None = None,
    price_in: float | None = None,
    price_out: float | None = None,
) -> ReportSummary:
    """Write an HTML review of the reformat output ``source`` to ``output`` and return its counts.

    Dollars are the rows' recorded ``cost``, else their tokens at the price of their ``model`` (the
    built-in table), ``price_in``/``price_out`` (dollars per 1M tokens) overriding it.

    Raises :class:`InputError` for a file that cannot be read (or holds no ``realign`` metadata) and
    :class:`UsageError` for an output that cannot be written.
    """
    source, output = Path(source), Path(output)
    _check_output(source, output)
    rows = shaped_rows(_shard_rows(source), source) if source.is_dir() else rows_of(source)
    collected = _collect(rows, source, (price_in, price_out))
    page = _render(
        _template(),
        {
            "TITLE": html.escape(title or f"ReAlign review · {source.name}"),
            "SUBTITLE": _subtitle(source, collected.summary),
            "SUMMARY": _summary_html(collected.summary),
            "CHARTS": _charts_html(collected),
            "DATA": _script_json({"tasks": list(collected.tasks), "rows": collected.rows}),
        },
    )
    _write_atomic(output, page)
    return collected.summary


def _shard_rows(folder: Path) -> Iterator[tuple[int, Any]]:
    """The rows of a folder of Parquet shards (what ``--engine ray`` writes to an output without an extension),
    shard after shard in name order, numbered from 1 across them."""
    shards = sorted(path for path in folder.iterdir() if path.suffix.lower() == ".parquet" and path.is_file())
    if not shards:
        raise InputError(
            "a folder with no .parquet shard in it: give the output file or shard folder of a run", path=folder
        )
    number = 0
    for shard in shards:
        for _, row in read_rows(shard):
            number += 1
            yield number, row


def _check_output(source: Path, output: Path) -> None:
    if output.is_dir():
        raise UsageError(f"cannot write {output}: it is a folder; give a file name such as report.html")
    if not output.parent.is_dir():
        raise UsageError(f"cannot write {output}: folder {output.parent} does not exist")
    if source.exists() and output.resolve() == source.resolve():
        raise UsageError("-o HTML must not be the input file")


# Reading ------------------------------------------------------------------------------------------------------


def _collect(rows: Iterable[SourceRow], source: Path, prices: tuple[float | None, float | None]) -> _Collected:
    collected = _Collected(prices=prices)
    for item in rows:
        record = previous_record(item) if isinstance(item.row.get("realign"), Mapping) else None
        if record is not None:
            collected.has_metadata = True
        collected.rows.append(_entry(item, record or Record(), collected))
    if collected.rows and not collected.has_metadata:
        raise InputError("no row has a 'realign' object: report on the output of `realign reformat`", path=source)
    return collected


def _entry(item: SourceRow, record: Record, collected: _Collected) -> dict[str, Any]:
    """Count one row and return its compact form for the page (short keys: the JSON is most of the file)."""
    summary = collected.summary
    task = record.task or item.data.category or "unknown"
    rewritten = record.rewritten
    reason = _reason(record)
    final = item.data.response
    original = record.original if rewritten and record.original is not None else final
    summary.rows += 1
    summary.by_task[task] += 1
    summary.by_reason[reason or "rewritten"] += 1
    rejected = [r.reason for r in record.rejected if r.reason]
    summary.rejected.update(rejected)
    _add_usage(summary, record, task, collected.prices)
    words = (_words(original), _words(final))
    entry: dict[str, Any] = {
        "n": item.line,
        "t": collected.tasks.setdefault(task, len(collected.tasks)),
        "q": item.data.question,
        "f": final,
        "wo": words[0],
        "wf": words[1],
    }
    if rewritten:
        summary.rewritten += 1
        summary.rewritten_by_task[task] += 1
        collected.lengths.append(words)
        entry.update(g=1, o=original)
        if reason:  # the page's reason filter finds the row by it
            entry["r"] = reason
    else:
        entry.update(g=0, r=reason)
        if item.data.pass_reason == "tool_call" and isinstance(turns := item.row.get(item.shape.key), list):
            # The answer is a call, not text: show what it calls rather than an empty response.
            call = next((c for c in map(_calls, reversed(turns)) if c), "")
            if call:
                entry["c"] = call
    _optional(entry, record, summary)
    if record.turns and item.data.turns:
        entry["th"] = thread = _thread(item, record, collected)
        # A conversation's length change is that of its reformatted turns, all together.
        turns = [t for t in thread if "g" in t]
        entry["wo"] = sum(_words(t.get("o", t["f"])) for t in turns)
        entry["wf"] = sum(_words(t["f"]) for t in turns)
        entry.pop("o", None)
        if rewritten:
            collected.lengths[-1] = (entry["wo"], entry["wf"])
    return entry


def _thread(item: SourceRow, record: Record, collected: _Collected) -> list[dict[str, Any]]:
    """A conversation as the page shows it: every turn in order (``ro`` role, ``f`` text as written, ``c`` the
    tools an assistant turn calls); each
    reformatted assistant turn also has ``g`` (1: rewritten), ``o`` (its original), ``r`` (why it was kept),
    ``t`` (its task), ``x`` (refused candidates), ``v`` (checks the judge overruled, --refer), ``k`` (corrections
    from evidence) and ``er`` (the failed call of an ``llm_error``)."""
    summary = collected.summary
    outcomes = {turn.turn: turn for turn in record.turns or ()}
    raw = item.row.get(item.shape.key)
    thread: list[dict[str, Any]] = []
    for turn in item.data.turns:
        shown: dict[str, Any] = {"ro": turn.role, "f": turn.text or ""}
        if turn.tool_call and isinstance(raw, list) and turn.index < len(raw):
            call = _calls(raw[turn.index])
            if call:
                shown["c"] = call  # what the turn asked the tool: a reviewer judges the next answer by it
        outcome = outcomes.get(turn.index)
        if outcome is not None:
            summary.turns += 1
            rejected = [r.reason for r in outcome.rejected if r.reason]
            summary.rejected.update(rejected)
            shown["t"] = collected.tasks.setdefault(outcome.task or "unknown", len(collected.tasks))
            if outcome.rewritten:
                summary.turns_rewritten += 1
                shown.update(g=1, o=outcome.original if outcome.original is not None else shown["f"])
            else:
                shown.update(g=0, r=_reason(outcome) or "unknown")
            if outcome.rejected:
                shown["x"] = _refused(outcome)
            if outcome.overruled:
                shown["v"] = _overruled(outcome)
            if outcome.corrections:
                shown["k"] = _corrections(outcome, summary)
            if outcome.error:
                shown["er"] = outcome.error
        thread.append(shown)
    return thread


def _calls(turn: Any) -> str:
    """The tool calls of an assistant turn, one ``name(arguments)`` a line (OpenAI ``tool_calls`` or
    ``function_call``); empty when it holds none (a ShareGPT ``function_call`` turn: its text is the call)."""
    if not isinstance(turn, dict):
        return ""
    calls = turn.get("tool_calls")
    if not isinstance(calls, list):
        calls = [turn["function_call"]] if isinstance(turn.get("function_call"), dict) else []
    lines = []
    for call in calls:
        function = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):  # some datasets store them as an object, not JSON text
            arguments = json.dumps(arguments, ensure_ascii=False)
        lines.append(f"{function.get('name', '?')}({arguments})")
    return "\n".join(lines)


def _reason(record: Outcome) -> str | None:
    if record.rewritten:
        # Null, but for a conversation with a turn left undecided (llm_error:...) beside its rewritten ones: the
        # row is undecided, counted under that turn's reason as the run summary counts it (a re-run asks again).
        return record.reason
    if record.tag is None:  # e.g. the output of `realign classify`: nothing was tried yet
        return "not_reformatted"
    return record.reason or "unknown"


def _refused(record: Outcome) -> list[list[str]]:
    """Refused candidates for the page: ``[reason, detail, text]`` each (text empty when not kept)."""
    return [[r.reason or "", r.detail or "", r.text or ""] for r in record.rejected]


def _corrections(record: Outcome, summary: ReportSummary) -> list[list[str]]:
    """The facts a rewrite corrected from its evidence, ``[from, to, source]`` each, counted in the summary: a
    reviewer checks each against its source before training on the row."""
    summary.corrections += len(record.corrections)
    summary.corrected += 1
    return [[c.before, c.after, c.source] for c in record.corrections]


def _overruled(record: Outcome) -> list[list[str]]:
    """--refer: the checks the judge overruled, ``[check, detail, reason]`` each (the audit trail)."""
    return [[o.check, o.detail or "", o.reason] for o in record.overruled]


def _optional(entry: dict[str, Any], record: Record, summary: ReportSummary) -> None:
    """Fields most rows lack are only written when present."""
    if record.rejected:
        entry["x"] = _refused(record)
    if record.overruled:
        entry["v"] = _overruled(record)
    if record.corrections:
        entry["k"] = _corrections(record, summary)
    if record.confidence is not None:
        entry["cf"] = round(record.confidence, 3)  # not "c": that is a tool call's text
    if record.error:
        entry["er"] = record.error  # which call failed and why, beside its llm_error reason
    if record.evidence:
        entry["e"] = [[e.title, e.url, e.text[:_EVIDENCE_CHARS]] for e in record.evidence]


def _add_usage(summary: ReportSummary, record: Record, task: str, prices: tuple[float | None, float | None]) -> None:
    cost = record.cost
    if record.usage is not None:
        summary.prompt_tokens += record.usage.prompt_tokens
        summary.completion_tokens += record.usage.completion_tokens
        summary.cached_tokens += record.usage.cached_tokens
        price = price_for(record.model or "", price_in=prices[0], price_out=prices[1])
        # A separate --verify judge's share of the usage at its own price (its model's list price).
        judge_price = price_for(record.verify_model) if record.verify_model else price
        if cost is None:
            cost = split_cost(record.usage, record.verify_usage or Usage(), price, judge_price)
    if cost is not None:
        summary.cost = (summary.cost or 0.0) + cost
        summary.cost_by_task[task] = summary.cost_by_task.get(task, 0.0) + cost


def _words(text: str) -> int:
    return len(text.split())


# Summary HTML ----------------------------------------------------------------------------------------------------


def _subtitle(source: Path, summary: ReportSummary) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{html.escape(str(source))} · {summary.rows:,} rows · generated {when}"


def _summary_html(summary: ReportSummary) -> str:
    return _cards(summary) + '<div class="tables">' + _task_table(summary) + _reason_tables(summary) + "</div>"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _card(label: str, value: str, note: str = "", kind: str = "") -> str:
    note_html = f'<div class="card-note">{note}</div>' if note else ""
    return (
        f'<div class="card {kind}"><div class="card-label">{label}</div>'
        f'<div class="card-value">{value}</div>{note_html}</div>'
    )


def _cards(summary: ReportSummary) -> str:
    share = summary.rewritten / summary.rows if summary.rows else 0.0
    meter = f'<div class="meter" aria-hidden="true"><span style="width:{100 * share:.1f}%"></span></div>'
    guarded = sum(summary.guards.values())
    cards = [
        _card("Rows", f"{summary.rows:,}"),
        _card("Rewritten", f"{summary.rewritten:,}", _percent(summary.rewritten, summary.rows) + meter, "accent"),
        _card("Kept original", f"{summary.kept:,}", _percent(summary.kept, summary.rows)),
        _card("Guard blocks", f"{guarded:,}", f"{len(summary.guards)} guard(s)"),
        _card("Tokens in", _short(summary.prompt_tokens), f"{_short(summary.cached_tokens)} cached"),
        _card("Tokens out", _short(summary.completion_tokens)),
    ]
    if summary.turns:
        cards.insert(
            3,
            _card(
                "Assistant turns",
                f"{summary.turns_rewritten:,} / {summary.turns:,}",
                "rewritten, in conversations (" + _percent(summary.turns_rewritten, summary.turns) + ")",
            ),
        )
    if summary.corrections:
        cards.append(
            _card("Corrections", f"{summary.corrections:,}", f"from evidence, in {summary.corrected:,} rows or turns")
        )
    if summary.cost is not None:
        cards.append(_card("Cost", f"${summary.cost:,.4f}" if summary.cost < 1 else f"${summary.cost:,.2f}"))
    return '<div class="cards">' + "".join(cards) + "</div>"


def _short(number: int) -> str:
    """12,345 -> 12.3k: token counts run into the millions and only their size matters at a glance."""
    for size, unit in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if number >= size:
            return f"{number / size:.1f}{unit}"
    return str(number)


def _filter_button(kind: str, value: str, label: str | None = None) -> str:
    """A table cell that filters the rows below; the page's script wires ``data-filter-*`` buttons."""
    return (
        f'<button type="button" class="link" data-filter-{kind}="{html.escape(value)}">'
        f"{html.escape(label or value)}</button>"
    )


def _task_table(summary: ReportSummary) -> str:
    body = []
    priced = summary.cost is not None
    for task, rows in summary.by_task.most_common():
        done = summary.rewritten_by_task[task]
        share = done / rows if rows else 0.0
        cost = f"<td class='num'>${summary.cost_by_task.get(task, 0.0):,.4f}</td>" if priced else ""
        body.append(
            f"<tr><td>{_filter_button('task', task)}</td><td class='num'>{rows:,}</td>"
            f"<td class='num'>{done:,}</td><td class='share'>"
            f"<span class='bar' style='width:{100 * share:.0f}%'></span>"
            f"<span class='share-label'>{100 * share:.0f}%</span></td>{cost}</tr>"
        )
    head = ("Task", "Rows", "Rewritten", "Share", *(("Cost",) if priced else ()))
    return _table("By task", head, body)


def _reason_tables(summary: ReportSummary) -> str:
    kept = [(r, n) for r, n in summary.by_reason.most_common() if r != "rewritten" and not r.startswith(_GUARD_PREFIX)]
    why = [f"<tr><td>{_filter_button('reason', r)}</td><td class='num'>{n:,}</td></tr>" for r, n in kept]
    guards = [
        f"<tr><td>{_filter_button('reason', _GUARD_PREFIX + g, g)}</td><td class='num'>{n:,}</td></tr>"
        for g, n in summary.guards.most_common()
    ]
    tables = _table("Why rows were kept or left undecided", ("Reason", "Rows"), why) + _table(
        "Guards", ("Guard", "Rows blocked"), guards
    )
    if summary.rejected:
        # One row per reason: a check's name (filter:...) or the reply itself (parse_error, truncated: not checks).
        rejected = [
            f"<tr><td>{html.escape(r)}</td><td>{_refused_by(r)}</td><td class='num'>{n:,}</td></tr>"
            for r, n in summary.rejected.most_common()
        ]
        tables += _table("Refused candidates", ("Reason", "Refused by", "Candidates"), rejected)
    return tables


def _refused_by(reason: str) -> str:
    """Who refused a candidate: the --verify judge (filter:verify), a check (filter:..., or check_error:... when
    it raised), the reply itself (parse_error, truncated), or no one: a call failed after the checks passed it
    (llm_error:..., a judge that did not answer), and the row was left undecided."""
    if reason == _GUARD_PREFIX + "verify":
        return "judge (--verify)"
    if is_undecided(reason):
        return "a failed call (row undecided)"
    return "check" if reason.startswith((_GUARD_PREFIX, "check_error:")) else "reply"


def _table(caption: str, head: tuple[str, ...], body: list[str]) -> str:
    if not body:
        return f'<section class="panel"><h3>{caption}</h3><p class="empty">None.</p></section>'
    cells = "".join(f"<th scope='col'{' class=num' if i else ''}>{h}</th>" for i, h in enumerate(head))
    return (
        f'<section class="panel"><h3>{caption}</h3><div class="table-wrap"><table><thead><tr>{cells}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div></section>"
    )


# Charts (inline SVG) ------------------------------------------------------------------------------------------


def _charts_html(collected: _Collected) -> str:
    summary = collected.summary
    charts = [
        ("Rows by task", _task_chart(summary)),
        ("Length in words: original vs rewrite", _scatter(collected.lengths)),
        ("Length distribution of rewritten rows", _histogram(collected.lengths)),
    ]
    return "".join(
        f'<figure class="panel chart"><figcaption>{caption}</figcaption>{svg}</figure>' for caption, svg in charts
    )


def _svg(width: int, height: int, label: str, body: str) -> str:
    # No xmlns: inline SVG in HTML does not need one, and the page must hold no URL at all.
    return (
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(label)}" '
        f'preserveAspectRatio="xMinYMin meet">{body}</svg>'
    )


def _empty_chart(message: str) -> str:
    return f'<p class="empty">{message}</p>'


def _task_chart(summary: ReportSummary) -> str:
    if not summary.rows:
        return _empty_chart("No rows.")
    label_w, bar_w, row_h, top = 170, 210, 20, 26
    tasks = summary.by_task.most_common()
    most = tasks[0][1]
    parts = [_legend(label_w, (("rewritten", "rewrite"), ("kept", "kept")))]
    for i, (task, rows) in enumerate(tasks):
        y = top + i * row_h
        done = summary.rewritten_by_task[task]
        whole, part = bar_w * rows / most, bar_w * done / most
        name = task if len(task) <= 26 else task[:25] + "…"
        parts.append(
            f"<g><title>{html.escape(task)}: {rows:,} rows, {done:,} rewritten</title>"
            f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end" class="label">{html.escape(name)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{whole:.1f}" height="{row_h - 6}" rx="2" class="kept"/>'
            f'<rect x="{label_w}" y="{y + 3}" width="{part:.1f}" height="{row_h - 6}" rx="2" class="rewrite"/>'
            f'<text x="{label_w + whole + 5:.1f}" y="{y + 13}" class="value">{rows:,}</text></g>'
        )
    return _svg(label_w + bar_w + 50, top + len(tasks) * row_h + 6, "Rows by task", "".join(parts))


def _legend(x: int, items: tuple[tuple[str, str], ...]) -> str:
    out = []
    for i, (label, css) in enumerate(items):
        left = x + i * 110
        out.append(
            f'<rect x="{left}" y="4" width="12" height="12" rx="2" class="{css}"/>'
            f'<text x="{left + 17}" y="14" class="label">{label}</text>'
        )
    return "".join(out)


def _nice_max(value: float) -> float:
    """The smallest 1/2/5 x 10^k at or above ``value``, so the axis ends on a round number."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _axis_max(values: list[int]) -> float:
    # The 99th percentile, not the max: one 20k-word outlier would squash every other point into a corner.
    ordered = sorted(values)
    return _nice_max(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))])


def _axes(x0: int, y0: int, size: int, top: float, x_label: str, y_label: str, y_top: float | None = None) -> str:
    """Frame, gridlines and tick labels of a ``size`` x ``size`` plot whose lower-left corner is (x0, y0)."""
    y_top = top if y_top is None else y_top
    parts = [f'<rect x="{x0}" y="{y0 - size}" width="{size}" height="{size}" class="frame"/>']
    for i in range(6):
        at = size * i / 5
        parts.append(
            f'<line x1="{x0 + at:.1f}" y1="{y0 - size}" x2="{x0 + at:.1f}" y2="{y0}" class="grid"/>'
            f'<line x1="{x0}" y1="{y0 - at:.1f}" x2="{x0 + size}" y2="{y0 - at:.1f}" class="grid"/>'
            f'<text x="{x0 + at:.1f}" y="{y0 + 15}" text-anchor="middle" class="tick">'
            f"{_tick(top * i / 5)}</text>"
            f'<text x="{x0 - 6}" y="{y0 - at + 4:.1f}" text-anchor="end" class="tick">'
            f"{_tick(y_top * i / 5)}</text>"
        )
    parts.append(
        f'<text x="{x0 + size / 2}" y="{y0 + 34}" text-anchor="middle" class="label">{x_label}</text>'
        f'<text transform="translate(14 {y0 - size / 2}) rotate(-90)" text-anchor="middle" class="label">'
        f"{y_label}</text>"
    )
    return "".join(parts)


def _tick(value: float) -> str:
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def _scatter(lengths: list[tuple[int, int]]) -> str:
    if not lengths:
        return _empty_chart("No rewritten rows.")
    x0, y0, size = 56, 290, 260
    top = _axis_max([v for pair in lengths for v in pair])
    step = max(1, math.ceil(len(lengths) / _SCATTER_POINTS))
    dots = []
    for before, after in lengths[::step]:
        x = x0 + size * min(before, top) / top
        y = y0 - size * min(after, top) / top
        dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" class="dot"/>')
    diagonal = f'<line x1="{x0}" y1="{y0}" x2="{x0 + size}" y2="{y0 - size}" class="diagonal"/>'
    note = f'<text x="{x0 + 6}" y="{y0 - size + 16}" class="tick">above the line: rewrite is longer</text>'
    body = _axes(x0, y0, size, top, "original (words)", "rewrite (words)") + diagonal + "".join(dots) + note
    return _svg(x0 + size + 24, y0 + 44, "Scatter of original vs rewritten length in words", body)


def _histogram(lengths: list[tuple[int, int]]) -> str:
    if not lengths:
        return _empty_chart("No rewritten rows.")
    x0, y0, size, bins = 56, 290, 260, 20
    top = _axis_max([v for pair in lengths for v in pair])
    before = _bin([b for b, _ in lengths], top, bins)
    after = _bin([a for _, a in lengths], top, bins)
    y_top = _nice_max(max(max(before), max(after)))
    width = size / bins
    bars = [_legend(x0, (("original", "kept"), ("rewrite", "rewrite")))]
    for i, (b, a) in enumerate(zip(before, after, strict=True)):
        x = x0 + i * width
        for offset, count, css in ((0.5, b, "kept"), (width / 2, a, "rewrite")):
            h = size * count / y_top
            bars.append(
                f'<rect x="{x + offset:.1f}" y="{y0 - h:.1f}" width="{width / 2 - 0.5:.1f}" height="{h:.1f}" '
                f'class="{css}"><title>{_tick(top * i / bins)}–{_tick(top * (i + 1) / bins)} words: '
                f"{count:,} {'original' if css == 'kept' else 'rewrite'}</title></rect>"
            )
    body = _axes(x0, y0, size, top, "words", "rows", y_top) + "".join(bars)
    return _svg(x0 + size + 24, y0 + 44, "Histogram of response length before and after the rewrite", body)


def _bin(values: list[int], top: float, bins: int) -> list[int]:
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, int(bins * value / top))] += 1
    return counts


# Page ------------------------------------------------------------------------------------------------------------


def _template() -> str:
    return (resources.files("realign") / "_report" / _TEMPLATE).read_text(encoding="utf-8")


_PLACEHOLDER = re.compile(r"@@([A-Z]+)@@")


def _render(template: str, values: Mapping[str, str]) -> str:
    """Fill ``@@NAME@@`` placeholders in one pass, so a placeholder-like string in the data is never expanded."""
    replace: Callable[[re.Match[str]], str] = lambda m: values[m.group(1)]  # noqa: E731 - a one-liner, typed
    return _PLACEHOLDER.sub(replace, template)


# Inside <script> the HTML parser ends the element at the first "</script", whatever the JSON means:
# escaping < > & as JSON \u escapes keeps the value identical and the markup inert.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _script_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_SCRIPT_SAFE)


def _write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file beside ``path``: a failed write never leaves half a report."""
    try:
        # errors="replace": a lone surrogate (valid in JSON, not in UTF-8) must not sink the whole report.
        with atomic_file(path, errors="replace") as handle:
            handle.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
