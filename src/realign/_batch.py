"""The OpenAI Batch API mode: half-price answers for a whole file, delivered through the response cache.

The pipeline never talks to the Batch API. A batch run is the ordinary pipeline run over the same
rows, with the answers put into the response cache beforehand under the very keys the pipeline
looks up (``request_key(identity, request, salt)``):

1. **collect** - run the pipeline with ``llm=RequestCollector(chat.identity)`` and the real cache.
   The pipeline consults the cache first; on a miss it hands the collector the request *and* its
   cache key (``complete_keyed``), and the collector records both and raises
   ``LLMError(code="batch_pending")`` so the row falls back. That output is thrown away.
2. **submit** - ``BatchRunner.run(collector.requests)`` writes the Batch API JSONL, uploads it,
   creates the batches, waits, downloads the output and stores every answer in the cache.
3. **write** - run the normal pipeline with the real LLM and the same cache. Every first request is
   served from the cache, so checks, selection and writing are exactly as in an online run.

Replies that need a re-ask (unparsable text) produce new requests only in step 3; a second round of
1-2 (``run_batch_rounds(..., rounds=2)``) collects those too, so step 3 makes no call at all when
every batch request succeeded::

    runner = BatchRunner(chat, cache, state_dir)
    report = await run_batch_rounds(
        lambda llm: Pipeline(llm, cache=cache, ...), lambda: examples, runner, rounds=2)
    pipeline = Pipeline(chat, cache=cache, ...)   # step 3: the usual run, served from the cache

The runner writes its state (input files, file and batch ids, the keys of each batch) into
``state_dir`` *before* waiting: a run that is interrupted and started again polls the batches it
already created for those keys instead of paying for them twice.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from openai.types import Batch
from openai.types.chat import ChatCompletion

from ._cache import Cache
from ._exceptions import FatalLLMError, LLMError, UsageError
from ._llm import OpenAIChat, _usage
from ._models import Example, Usage
from ._pipeline import Pipeline
from ._types import LLM, ChatRequest, Choice, Completion

__all__ = [
    "PENDING_CODE",
    "BatchReport",
    "BatchRunner",
    "BatchTimeoutError",
    "RequestCollector",
    "batch_body",
    "run_batch_rounds",
]

log = logging.getLogger("realign")

ENDPOINT: Final = "/v1/chat/completions"
#: The API's caps are 50,000 requests and 200 MB per input file; the byte cap keeps a margin.
MAX_REQUESTS_PER_FILE = 50_000
MAX_BYTES_PER_FILE = 190 * 1024 * 1024
#: The 24 h completion window, plus time for validation and finalizing.
DEFAULT_MAX_WAIT = 25 * 3600.0
_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
#: The ``LLMError.code`` of a deferred request: collect-run rows end as ``llm_error:batch_pending``.
PENDING_CODE = "batch_pending"


class BatchTimeoutError(FatalLLMError):
    """Batches were still running after ``max_wait`` seconds. They keep running on the server; the
    same run started again resumes polling them (nothing is submitted twice)."""


# ----------------------------------------------------------------------------- step 1: collect


class RequestCollector:
    """An :class:`~realign.LLM` that answers nothing and records what it was asked (the collect step).

    Use it in a :class:`~realign.Pipeline` that has a cache: the pipeline then calls
    :meth:`complete_keyed` with each request that missed the cache and the key its answer will be
    looked up under. ``requests`` holds the ``(key, request)`` pairs, each key once, in order of
    arrival. Every call raises ``LLMError(code=code)``, so the row keeps its original with the
    reason ``llm_error:<code>``. In the final run, a collector with ``code="batch_failed"`` in
    place of the real LLM keeps the rows whose batch request failed instead of asking online.
    """

    def __init__(self, identity: str, *, code: str = PENDING_CODE) -> None:
        self._identity = identity
        self._code = code
        self._seen: set[str] = set()
        self.requests: list[tuple[str, ChatRequest]] = []

    @property
    def identity(self) -> str:
        """The identity of the LLM that will answer (the cache keys depend on it)."""
        return self._identity

    async def complete_keyed(self, request: ChatRequest, key: str) -> Completion:
        """Record ``request`` under its cache ``key`` and defer it."""
        if key not in self._seen:  # identical rows share a key; the Batch API needs unique ids
            self._seen.add(key)
            self.requests.append((key, request))
        raise LLMError("no answer from the Batch API (yet)", code=self._code)

    async def complete(self, request: ChatRequest) -> Completion:
        """Only reached without a cache key, where a deferred answer could never be found again."""
        raise UsageError("RequestCollector needs a Pipeline with a cache: batch answers are delivered through it")


# ----------------------------------------------------------------------------- the report


@dataclass
class BatchReport:
    """What one or more batch submissions achieved.

    ``submitted`` and ``succeeded`` count requests; ``failed`` maps each cache key that got no answer
    to why (``batch_expired``, ``http_400: ...``, ``batch_failed: ...``). ``usage`` is the tokens of
    the answers, billed at half the online price.
    """

    submitted: int = 0
    succeeded: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    batch_ids: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the end-of-run summary."""
        reasons = Counter(reason.split(":", 1)[0] for reason in self.failed.values())
        failed = ", ".join(f"{k} {v}" for k, v in reasons.most_common()) or "-"
        return (f"batch: {self.submitted} requests in {len(self.batch_ids)} batch(es), {self.succeeded} answered, "
                f"{len(self.failed)} failed ({failed}); tokens at batch price: {self.usage.prompt_tokens} in, "
                f"{self.usage.completion_tokens} out")


# ----------------------------------------------------------------------------- step 2: submit


def batch_body(request: ChatRequest, model: str, extra_body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``body`` of one Batch API line: the same parameters an online call sends."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": role, "content": content} for role, content in request.messages],
        "n": request.n,
        "temperature": request.temperature,
        "top_p": request.top_p,
    }
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    return {**body, **(extra_body or {})}  # like the SDK, extra_body wins


@dataclass
class _Chunk:
    """One input file and its batch; saved as ``<id>.json`` in the state folder after every step."""

    id: str
    identity: str
    keys: list[str]
    file_id: str | None = None
    batch_id: str | None = None

    @classmethod
    def load(cls, path: Path) -> _Chunk | None:
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            log.warning("ignoring unreadable batch state %s: %s", path, exc)
            return None


class BatchRunner:
    """Submits requests to the OpenAI Batch API and stores the answers in the response cache.

    ``chat`` gives the client, model and identity (cache keys and batch bodies match what its online
    calls would use); ``state_dir`` keeps the input files and batch ids so an interrupted run resumes.
    ``progress`` receives one status line per poll. Errors of the SDK are translated like online
    calls (bad key: :class:`~realign.FatalLLMError`); waiting longer than ``max_wait`` seconds raises
    :class:`BatchTimeoutError`.
    """

    def __init__(
        self,
        chat: OpenAIChat,
        cache: Cache,
        state_dir: str | Path,
        *,
        poll_interval: float = 30.0,
        max_wait: float = DEFAULT_MAX_WAIT,
        progress: Callable[[str], None] | None = None,
        max_requests_per_file: int = MAX_REQUESTS_PER_FILE,
        max_bytes_per_file: int = MAX_BYTES_PER_FILE,
    ) -> None:
        if poll_interval <= 0 or max_wait <= 0 or max_requests_per_file < 1 or max_bytes_per_file < 1:
            raise UsageError("poll_interval, max_wait and the per-file caps must be positive")
        self.chat, self.cache, self.state_dir = chat, cache, Path(state_dir)
        self.poll_interval, self.max_wait, self.progress = poll_interval, max_wait, progress
        self.max_requests_per_file, self.max_bytes_per_file = max_requests_per_file, max_bytes_per_file

    @property
    def identity(self) -> str:
        """The identity the cache keys are computed with (the online LLM's)."""
        return self.chat.identity

    async def run(self, requests: Sequence[tuple[str, ChatRequest]]) -> BatchReport:
        """Answer ``(cache key, request)`` pairs through the Batch API and store the answers in the cache.

        Keys already in a batch of an earlier, interrupted run are polled, not submitted again.
        """
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create batch state folder {self.state_dir}: {exc}") from exc
        chunks = self._resumable({key for key, _ in requests})
        covered = {key for chunk in chunks for key in chunk.keys}
        chunks += self._plan([(k, r) for k, r in _unique(requests) if k not in covered])
        if not chunks:
            return BatchReport()
        report = BatchReport(submitted=sum(len(c.keys) for c in chunks))
        for chunk in chunks:
            await self._submit(chunk)
        report.batch_ids = [c.batch_id for c in chunks if c.batch_id]
        await self._wait(chunks, report)
        return report

    # -- state ------------------------------------------------------------------------------

    def _path(self, chunk: _Chunk, suffix: str = ".json") -> Path:
        return self.state_dir / f"{chunk.id}{suffix}"

    def _save(self, chunk: _Chunk) -> None:
        # Written to a temporary file and renamed: a kill mid-write never leaves half a state file.
        path = self._path(chunk)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(chunk)), encoding="utf-8")
        os.replace(tmp, path)

    def _resumable(self, wanted: set[str]) -> list[_Chunk]:
        """Unfinished chunks of this endpoint and model that hold any of the wanted keys."""
        found = []
        for path in sorted(self.state_dir.glob("batch-*.json")):
            if path.name.endswith(".done.json"):
                continue
            chunk = _Chunk.load(path)
            if chunk is None or chunk.identity != self.identity or wanted.isdisjoint(chunk.keys):
                continue
            if chunk.batch_id is None and not self._path(chunk, ".jsonl").exists():
                continue  # never submitted and its input is gone: its keys are planned afresh
            found.append(chunk)
        if found:
            log.info("resuming %d batch(es) from %s", len(found), self.state_dir)
        return found

    def _finish(self, chunk: _Chunk) -> None:
        """Keep the ids for the record; drop the input file (it can be 190 MB)."""
        self._path(chunk, ".jsonl").unlink(missing_ok=True)
        os.replace(self._path(chunk), self._path(chunk, ".done.json"))

    # -- planning and submitting --------------------------------------------------------------

    def _plan(self, requests: Sequence[tuple[str, ChatRequest]]) -> list[_Chunk]:
        """Split into input files under both caps, write each file and its state."""
        chunks = []
        for lines in self._split(requests):
            keys = [key for key, _ in lines]
            digest = hashlib.sha256("\n".join([self.identity, *keys]).encode()).hexdigest()[:16]
            chunk = _Chunk(id=f"batch-{digest}", identity=self.identity, keys=keys)
            self._path(chunk, ".jsonl").write_bytes(b"".join(line for _, line in lines))
            self._save(chunk)
            chunks.append(chunk)
        return chunks

    def _split(self, requests: Sequence[tuple[str, ChatRequest]]) -> Iterator[list[tuple[str, bytes]]]:
        current: list[tuple[str, bytes]] = []
        size = 0
        for key, request in requests:
            line = self._line(key, request)
            if current and (len(current) >= self.max_requests_per_file or size + len(line) > self.max_bytes_per_file):
                yield current
                current, size = [], 0
            current.append((key, line))
            size += len(line)
        if current:
            yield current

    def _line(self, key: str, request: ChatRequest) -> bytes:
        # The cache key is the custom_id: results come back in any order and join on it directly.
        line = {"custom_id": key, "method": "POST", "url": ENDPOINT,
                "body": batch_body(request, self.chat.model, self.chat.extra_body)}
        return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")

    async def _submit(self, chunk: _Chunk) -> None:
        """Upload and create what is missing, saving after each step so a crash repeats neither."""
        if chunk.batch_id is not None:
            return
        if chunk.file_id is None:
            data = self._path(chunk, ".jsonl").read_bytes()
            upload = functools.partial(self.chat.client.files.create,
                                       file=(f"{chunk.id}.jsonl", data, "application/jsonl"), purpose="batch")
            uploaded = await self.chat._retrying(upload)
            chunk.file_id = uploaded.id
            self._save(chunk)
        create = functools.partial(self.chat.client.batches.create,
                                   input_file_id=chunk.file_id, endpoint=ENDPOINT, completion_window="24h")
        batch = await self.chat._retrying(create)
        chunk.batch_id = batch.id
        self._save(chunk)

    # -- waiting and collecting ---------------------------------------------------------------

    async def _wait(self, chunks: list[_Chunk], report: BatchReport) -> None:
        """Poll until every batch ends, collecting each as soon as it does; bounded by ``max_wait``."""
        started = time.monotonic()
        latest: dict[str, Batch | None] = {}  # chunk id -> its batch as last seen (None: not found)
        pending = list(chunks)
        while True:
            still = []
            for chunk in pending:
                batch = latest[chunk.id] = await self._retrieve(chunk)
                if batch is not None and batch.status not in _TERMINAL:
                    still.append(chunk)
                    continue
                await self._collect(chunk, batch, report)
                self._finish(chunk)
            pending = still
            elapsed = time.monotonic() - started
            self._report_progress(list(latest.values()), elapsed)
            if not pending:
                return
            if elapsed >= self.max_wait:
                raise BatchTimeoutError(
                    f"{len(pending)} batch(es) still running after {self.max_wait:.0f}s; they go on on the "
                    f"server: run again with the same arguments to resume waiting (state in {self.state_dir})",
                    code="batch_timeout")
            await asyncio.sleep(min(self.poll_interval, self.max_wait - elapsed))

    async def _retrieve(self, chunk: _Chunk) -> Batch | None:
        """The batch, or None when the server no longer knows it (another key, or deleted)."""
        assert chunk.batch_id is not None  # _submit ran first
        try:
            return await self.chat._retrying(self.chat.client.batches.retrieve, chunk.batch_id)
        except FatalLLMError as exc:
            if exc.code != "not_found":
                raise
            log.warning("batch %s not found on %s; its requests count as failed", chunk.batch_id, self.chat.base_url)
            return None

    def _report_progress(self, batches: list[Batch | None], elapsed: float) -> None:
        if self.progress is None:
            return
        statuses = Counter(b.status if b else "not_found" for b in batches)
        counts = [b.request_counts for b in batches if b is not None and b.request_counts is not None]
        done, failed = sum(c.completed for c in counts), sum(c.failed for c in counts)
        total = sum(c.total for c in counts)
        states = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        self.progress(f"batch: {len(batches)} batch(es): {states}; requests {done}/{total} completed, "
                      f"{failed} failed; waited {elapsed / 60:.1f} min")

    async def _collect(self, chunk: _Chunk, batch: Batch | None, report: BatchReport) -> None:
        """Store the answers of an ended batch; every key without one is reported with why."""
        keys = set(chunk.keys)
        outcome: dict[str, str | None] = {}  # key -> None (answered) or the failure reason
        for file_id in _result_files(batch):
            for key, reason in self._store(await self._download(file_id), keys, report):
                if reason is None or key not in outcome:  # an answer wins over a stray error line
                    outcome[key] = reason
        default = _batch_reason(batch)
        for key in chunk.keys:
            reason = outcome.get(key, default)
            if reason is None:
                report.succeeded += 1
            else:
                report.failed[key] = reason

    async def _download(self, file_id: str) -> str:
        content = await self.chat._retrying(self.chat.client.files.content, file_id)
        return content.text

    def _store(self, text: str, keys: set[str], report: BatchReport) -> Iterator[tuple[str, str | None]]:
        """Parse output lines; cache each answer. Yields (key, None) or (key, failure reason)."""
        for number, raw in enumerate(text.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
                key = line["custom_id"]
            except (ValueError, KeyError, TypeError):
                log.warning("batch output line %d is not a result line; skipped", number)
                continue
            if key not in keys:
                log.warning("batch output names an unknown custom_id %r; skipped", key)
                continue
            completion, reason = _parse_result(line)
            if completion is not None:
                self.cache.put(key, completion)
                report.usage += completion.usage
            yield key, reason


def _unique(requests: Iterable[tuple[str, ChatRequest]]) -> list[tuple[str, ChatRequest]]:
    seen: dict[str, ChatRequest] = {}
    for key, request in requests:
        seen.setdefault(key, request)
    return list(seen.items())


def _result_files(batch: Batch | None) -> list[str]:
    """Output and error files; an expired or cancelled batch may still have a partial output."""
    if batch is None:
        return []
    return [f for f in (batch.output_file_id, batch.error_file_id) if f]


def _batch_reason(batch: Batch | None) -> str:
    """Why a request with no line in any output file got no answer."""
    if batch is None:
        return "batch_not_found"
    if batch.status == "failed":
        errors = batch.errors.data if batch.errors and batch.errors.data else []
        detail = "; ".join(filter(None, (e.message or e.code for e in errors)))
        return f"batch_failed: {detail}" if detail else "batch_failed"
    if batch.status == "completed":
        return "missing_from_output"
    return f"batch_{batch.status}"  # batch_expired, batch_cancelled


def _parse_result(line: dict[str, Any]) -> tuple[Completion | None, str | None]:
    """One output line: (the completion, None) when answered, else (None, why not)."""
    error = line.get("error")
    if error:
        return None, _error_reason(error, "error")
    response = line.get("response") or {}
    status = response.get("status_code")
    body = response.get("body") or {}
    if status != 200:
        return None, _error_reason(body.get("error") if isinstance(body, dict) else None, f"http_{status}")
    try:
        parsed = ChatCompletion.model_validate(body)
    except ValueError:
        return None, "bad_response: not a chat.completion"
    choices = [Choice(c.message.content or "", c.finish_reason) for c in parsed.choices]
    if not choices:
        return None, "bad_response: no choices"
    return Completion(choices, _usage(parsed.usage)), None


def _error_reason(error: Any, fallback: str) -> str:
    if not isinstance(error, dict):
        return fallback
    code = error.get("code") or fallback
    message = error.get("message")
    return f"{code}: {message}" if message and code != "batch_expired" else str(code)


# ----------------------------------------------------------------------------- rounds


Rows = Iterable[Example] | AsyncIterable[Example]


async def run_batch_rounds(
    make_pipeline: Callable[[LLM], Pipeline],
    source_rows: Callable[[], Rows],
    runner: BatchRunner,
    rounds: int = 2,
) -> BatchReport:
    """Collect and submit up to ``rounds`` times; the final writing run is the caller's.

    ``make_pipeline(llm)`` must build the pipeline of the final run around ``llm`` (same cache,
    criteria, n, temperature... as that run); ``source_rows()`` must yield the same examples each
    time it is called. A round collects the requests still missing from the cache: the first round
    the first request of each row, the next the re-asks of replies that did not parse and the
    requests whose batch failed. Collaborators (search client...) are not closed here.

    The prompts must come out the same in every run, or the final run misses the cache: search
    results should be cached or stored in the rows first (``realign retrieve``), and an LLM
    classifier (which calls online in every round) should be deterministic (temperature 0).
    """
    if rounds < 1:
        raise UsageError("rounds must be at least 1")
    total = BatchReport()
    for number in range(1, rounds + 1):
        collector = RequestCollector(runner.identity)
        pipeline = make_pipeline(collector)
        async for _ in pipeline.astream(source_rows()):
            pass  # the collect run's rows are placeholders; only the requests matter
        if not collector.requests:
            break
        log.info("batch round %d: %d request(s) to submit", number, len(collector.requests))
        _merge(total, await runner.run(collector.requests))
    # A key that failed in one round and was answered in a later one is no failure.
    total.failed = {key: reason for key, reason in total.failed.items() if runner.cache.get(key) is None}
    return total


def _merge(total: BatchReport, report: BatchReport) -> None:
    total.submitted += report.submitted
    total.succeeded += report.succeeded
    total.failed.update(report.failed)
    total.usage += report.usage
    total.batch_ids += report.batch_ids

