"""The OpenAI Batch API mode: half-price answers for a whole file, delivered through the response cache.

The pipeline never talks to the Batch API. A batch run is the ordinary pipeline run over the same
rows, with the answers put into the response cache beforehand under the very keys the pipeline
looks up (``request_key(identity, request, salt)``):

1. **collect** - run the pipeline with ``llm=runner.collector()`` and the real cache. The pipeline
   consults the cache first; on a miss it hands the collector the request *and* its cache key
   (``complete_keyed``). The collector appends the request's Batch API line to an input file in the
   state folder at once (a new file at 50,000 requests or 190 MB), notes the key in the state
   folder's ledger and raises ``LLMError(code="batch_pending")`` so the row falls back. That output
   is thrown away. No prompt stays in memory, and no key either: memory is flat however many rows.
2. **submit** - ``runner.run(collector)`` uploads those files, creates the batches, waits, then
   streams each output file line by line into the cache.
3. **write** - run the normal pipeline with the same cache and, in place of the LLM, the real one
   (to send what the Batch API could not answer online) or :class:`FailedRequests` (those rows keep
   their original with the batch's own reason: ``llm_error:batch_expired``, ``llm_error:invalid_value``...).
   Every other request is served from the cache, so checks, selection and writing are exactly as in
   an online run.

Replies that need a re-ask (unparsable text) produce new requests only in step 3; a second round of
1-2 (``run_batch_rounds(..., rounds=2)``) collects those too, so step 3 makes no call at all when
every batch request succeeded::

    runner = BatchRunner(chat, cache, state_dir)
    report = await run_batch_rounds(
        lambda llm: Pipeline(llm, cache=cache, ...), lambda: examples, runner, rounds=2)
    pipeline = Pipeline(FailedRequests(runner), cache=cache, ...)   # step 3, served from the cache

The state folder holds the input files, one small JSON state file per file (its file and batch ids,
saved *before* waiting) and ``ledger.sqlite`` (which file each key went into, and how it ended). A
run that is interrupted and started again finds its keys in the ledger and polls the batches it
already created instead of paying for them twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import time
import uuid
import weakref
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import openai
from openai.types import Batch, FileObject
from openai.types.chat import ChatCompletion

from .._exceptions import FatalLLMError, LLMError, UsageError
from .._io.files import atomic_file
from .._jobs.job import format_counts
from .._models import Example, Usage
from .._pipeline import Pipeline
from .._types import ChatRequest, Choice, Completion
from .cache import Cache
from .openai_chat import OpenAIChat, usage_of

__all__ = [
    "NOT_SUBMITTED_CODE",
    "PENDING_CODE",
    "BatchReport",
    "BatchRunner",
    "BatchTimeoutError",
    "FailedRequests",
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
#: The reason of a request no batch ever held (a re-ask that came up after the last round).
NOT_SUBMITTED_CODE = "batch_not_submitted"
LEDGER_NAME = "ledger.sqlite"


class BatchTimeoutError(FatalLLMError):
    """Batches were still running after ``max_wait`` seconds. They keep running on the server; the
    same run started again resumes polling them (nothing is submitted twice)."""


def batch_body(chat: OpenAIChat, request: ChatRequest) -> dict[str, Any]:
    """The ``body`` of one Batch API line: exactly the body ``chat`` sends online for ``request``."""
    return chat.request_body(request)


# ----------------------------------------------------------------------------- state on disk


_ANSWERED: Final = "ok"


class _Ledger:
    """``ledger.sqlite`` in the state folder: which input file (chunk) each key went into, and how
    its request ended. Deduplicating, resuming and the per-key failure reasons are lookups here, not
    sets and dicts that grow with the dataset.

    ``outcome`` is NULL while no answer is known, ``"ok"`` once answered, else why it failed. The
    rows of answered keys are dropped when their batch is finished (their answers are in the cache).
    Writes are committed every ``_COMMIT_EVERY`` so another run sharing the folder is never blocked long.
    """

    _COMMIT_EVERY = 10_000

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=60.0, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(f"cannot open batch ledger {path}: {exc}") from exc
        # Closed when the ledger is closed or garbage-collected, whichever comes first.
        self._close = weakref.finalize(self, db.close)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS requests (key TEXT PRIMARY KEY, chunk TEXT NOT NULL, outcome TEXT) "
                "WITHOUT ROWID"
            )
            db.execute("CREATE INDEX IF NOT EXISTS requests_chunk ON requests (chunk)")
            db.commit()
        except sqlite3.Error as exc:
            self._close()
            raise UsageError(f"cannot open batch ledger {path}: {exc}") from exc
        self._db = db
        self._writes = 0

    def chunk_of(self, key: str) -> str | None:
        row = self._db.execute("SELECT chunk FROM requests WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def reason(self, key: str) -> str | None:
        """Why the key's request got no answer; None when unknown or answered."""
        row = self._db.execute("SELECT outcome FROM requests WHERE key = ?", (key,)).fetchone()
        return None if row is None or row[0] in (None, _ANSWERED) else str(row[0])

    def claim(self, key: str, chunk: str) -> str | None:
        """Put a key never seen before into ``chunk`` (None); else leave it and return its chunk."""
        if self._write("INSERT OR IGNORE INTO requests (key, chunk, outcome) VALUES (?, ?, NULL)", key, chunk):
            return None
        return self.chunk_of(key)

    def assign(self, key: str, chunk: str) -> None:
        self._write("INSERT OR REPLACE INTO requests (key, chunk, outcome) VALUES (?, ?, NULL)", key, chunk)

    def answer(self, key: str, chunk: str) -> bool:
        """Mark the key of ``chunk`` answered; False when ``chunk`` does not hold it."""
        return self._write("UPDATE requests SET outcome = ? WHERE key = ? AND chunk = ?", _ANSWERED, key, chunk) > 0

    def fail(self, key: str, chunk: str, reason: str) -> bool:
        """Note why the key of ``chunk`` got no answer; False when ``chunk`` does not hold it."""
        # An answer wins over a stray error line for the same key.
        if self._write(
            "UPDATE requests SET outcome = ? WHERE key = ? AND chunk = ? AND outcome IS NOT ?",
            reason,
            key,
            chunk,
            _ANSWERED,
        ):
            return True
        return self.chunk_of(key) == chunk

    def settle(self, chunk: str, reason: str) -> None:
        """Give every key of ``chunk`` without a result line ``reason``."""
        self._write("UPDATE requests SET outcome = ? WHERE chunk = ? AND outcome IS NULL", reason, chunk)

    def outcomes(self, chunk: str) -> tuple[int, Counter[str]]:
        """The keys of ``chunk`` answered, and the failed ones counted by reason code."""
        rows = self._db.execute(
            "SELECT substr(outcome, 1, instr(outcome || ':', ':') - 1), COUNT(*) FROM requests "
            "WHERE chunk = ? GROUP BY 1",
            (chunk,),
        ).fetchall()
        answered = sum(n for code, n in rows if code == _ANSWERED)
        return answered, Counter({str(code): n for code, n in rows if code not in (None, _ANSWERED)})

    def forget_answered(self, chunk: str) -> None:
        self._write("DELETE FROM requests WHERE chunk = ? AND outcome = ?", chunk, _ANSWERED)

    def _write(self, sql: str, *params: str) -> int:
        """Run one write; the number of rows it changed."""
        changed = self._db.execute(sql, params).rowcount
        self._writes += 1
        if self._writes >= self._COMMIT_EVERY:
            self.commit()
        return changed

    def commit(self) -> None:
        self._db.commit()
        self._writes = 0

    def close(self) -> None:
        if self._close.alive:
            self._db.commit()
            self._close()


@dataclass
class _Chunk:
    """One input file and its batch; saved as ``<id>.json`` in the state folder after every step."""

    id: str
    identity: str
    count: int
    file_id: str | None = None
    batch_id: str | None = None

    @classmethod
    def load(cls, path: Path) -> _Chunk | None:
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            log.warning("ignoring unreadable batch state %s: %s", path, exc)
            return None


# ----------------------------------------------------------------------------- step 1: collect


class RequestCollector:
    """An :class:`~realign.LLM` that answers nothing and writes what it is asked to Batch API input
    files (the collect step). Make one with :meth:`BatchRunner.collector`.

    Use it in a :class:`~realign.Pipeline` that has a cache: the pipeline then calls
    :meth:`complete_keyed` with each request that missed the cache and the key its answer will be
    looked up under. The collector writes the request's line (``custom_id`` = the key) to the current
    input file in the runner's state folder, starting a new file at the runner's per-file caps, and
    records the key in the ledger. A key met twice (identical rows) is written once; a key already in
    an unfinished batch of an earlier run is not written again, that batch is polled instead
    (``resumed``). Every call raises ``LLMError(code=code)``, so the row keeps its original with the
    reason ``llm_error:<code>``.

    Only counts and file names stay in memory: ``count`` (requests written), ``files`` (the ids of the
    input files written) and ``resumed`` (ids of earlier batches to poll). :meth:`close` (or leaving a
    ``with`` block) finishes the last file; :meth:`abort` drops an unfinished one.
    """

    def __init__(self, runner: BatchRunner, *, code: str = PENDING_CODE) -> None:
        self._runner = runner
        self._code = code
        self._ledger = runner._open_ledger()
        self._in_flight = {chunk.id for chunk in runner._unfinished()}
        self._mine: set[str] = set()  # the ids of the files this collector wrote
        self.count = 0
        self.files: list[str] = []
        self.resumed: set[str] = set()
        self._out: IO[bytes] | None = None
        self._chunk: _Chunk | None = None
        self._size = 0
        self._closed = False

    @property
    def identity(self) -> str:
        """The identity of the LLM that will answer (the cache keys depend on it)."""
        return self._runner.identity

    async def complete_keyed(self, request: ChatRequest, key: str) -> Completion:
        """Write ``request`` to an input file under its cache ``key`` and defer it."""
        self.add(key, request)
        raise LLMError("no answer from the Batch API (yet)", code=self._code)

    async def complete(self, request: ChatRequest) -> Completion:
        """Only reached without a cache key, where a deferred answer could never be found again."""
        raise UsageError("RequestCollector needs a Pipeline with a cache: batch answers are delivered through it")

    async def aclose(self) -> None:
        """Same as :meth:`close`."""
        self.close()

    def add(self, key: str, request: ChatRequest) -> None:
        """Write one request (once per key) unless an unfinished batch already holds its key."""
        if self._closed:
            raise UsageError("this RequestCollector is closed")
        line = self._runner._line(key, request)
        runner = self._runner
        if self._chunk is not None and (
            self._chunk.count >= runner.max_requests_per_file or self._size + len(line) > runner.max_bytes_per_file
        ):
            self._seal()
        if self._chunk is None:  # the next file's id; the file itself is made with its first line
            self._chunk = _Chunk(id=f"batch-{uuid.uuid4().hex[:16]}", identity=self.identity, count=0)
            self._mine.add(self._chunk.id)
        owner = self._ledger.claim(key, self._chunk.id)
        if owner is not None:
            if owner in self._mine:
                return  # identical rows share a key; the Batch API needs unique ids
            if owner in self._in_flight:
                self.resumed.add(owner)
                return
            self._ledger.assign(key, self._chunk.id)  # its earlier batch ended without answering it
        if self._out is None:
            self._out = runner._path(self._chunk.id, ".jsonl.part").open("wb")
        self._out.write(line)
        self._chunk.count += 1
        self._size += len(line)
        self.count += 1

    def _seal(self) -> None:
        """Finish the current file: its final name, its state, its keys committed to the ledger."""
        assert self._chunk is not None
        if self._out is None:  # no line written yet: no file
            self._chunk = None
            return
        self._out.close()
        runner = self._runner
        os.replace(runner._path(self._chunk.id, ".jsonl.part"), runner._path(self._chunk.id, ".jsonl"))
        runner._save(self._chunk)
        self._ledger.commit()
        self.files.append(self._chunk.id)
        self._out, self._chunk, self._size = None, None, 0

    def close(self) -> None:
        """Finish the last file; the collector takes no more requests."""
        if self._closed:
            return
        try:
            if self._chunk is not None:
                self._seal()
        finally:
            self._closed = True
            self._ledger.close()

    def abort(self) -> None:
        """Drop the unfinished file (a failed collect run); finished files stay and can be resumed."""
        if self._closed:
            return
        self._closed = True
        if self._out is not None and self._chunk is not None:
            self._out.close()
            self._runner._path(self._chunk.id, ".jsonl.part").unlink(missing_ok=True)
        self._ledger.close()

    def __enter__(self) -> RequestCollector:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


# ----------------------------------------------------------------------------- step 3: the final pass


class FailedRequests:
    """The LLM of the final writing pass when requests the Batch API did not answer stay unanswered.

    Every request that reaches it missed the cache, so its batch request failed (or was never in a
    batch: a re-ask that came up after the last round). It raises ``LLMError`` whose code is the
    reason the batch gave for that key, so the row keeps its original with ``llm_error:batch_expired``,
    ``llm_error:batch_failed``, ``llm_error:invalid_value``, ``llm_error:missing_from_output``...;
    the whole reason is the message. ``calls`` counts the requests it turned down.
    """

    def __init__(self, runner: BatchRunner) -> None:
        self._runner = runner
        self._ledger: _Ledger | None = None
        self.calls = 0

    @property
    def identity(self) -> str:
        return self._runner.identity

    def reason(self, key: str) -> str:
        """Why the request under cache ``key`` got no answer from the Batch API."""
        if self._ledger is None:
            self._ledger = self._runner._open_ledger()
        return self._ledger.reason(key) or NOT_SUBMITTED_CODE

    async def complete_keyed(self, request: ChatRequest, key: str) -> Completion:
        self.calls += 1
        reason = self.reason(key)
        raise LLMError(f"no answer from the Batch API: {reason}", code=reason.split(":", 1)[0].strip())

    async def complete(self, request: ChatRequest) -> Completion:
        raise UsageError("FailedRequests needs a Pipeline with a cache: batch answers are delivered through it")

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()

    async def aclose(self) -> None:
        """Same as :meth:`close`."""
        self.close()


# ----------------------------------------------------------------------------- the report


@dataclass
class BatchReport:
    """What one or more batch submissions achieved.

    ``submitted`` and ``succeeded`` count requests; ``failed`` counts those that got no answer and
    ``reasons`` counts them by reason code (``batch_expired``, ``invalid_value``, ``batch_failed``...;
    :meth:`FailedRequests.reason` gives a key's whole reason). ``usage`` is the tokens of the
    answers, billed at half the online price.
    """

    submitted: int = 0
    succeeded: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    usage: Usage = field(default_factory=Usage)
    batch_ids: list[str] = field(default_factory=list)
    #: the batches of a judge model of its own (``run_batch_rounds(..., judge=)``), reported apart: another price
    judge: BatchReport | None = None

    def add(self, other: BatchReport) -> None:
        """Count a later round in: its requests and usage add up, its failures are the ones that stay."""
        self.submitted += other.submitted
        self.succeeded += other.succeeded
        self.usage += other.usage
        self.batch_ids += other.batch_ids
        self.failed, self.reasons = other.failed, other.reasons

    def summary(self) -> str:
        """One line for the end-of-run summary."""
        failed = format_counts(self.reasons)
        return (
            f"batch: {self.submitted} requests in {len(self.batch_ids)} batch(es), {self.succeeded} answered, "
            f"{self.failed} failed ({failed}); tokens at batch price: {self.usage.prompt_tokens} in, "
            f"{self.usage.completion_tokens} out"
        )


# ----------------------------------------------------------------------------- step 2: submit


class BatchRunner:
    """Submits requests to the OpenAI Batch API and stores the answers in the response cache.

    ``chat`` gives the client, model and identity (cache keys and batch bodies match what its online
    calls would use); ``state_dir`` keeps the input files, batch ids and the ledger so an interrupted
    run resumes. ``progress`` receives one status line per poll. Errors of the SDK are translated like
    online calls (bad key: :class:`~realign.FatalLLMError`); waiting longer than ``max_wait`` seconds
    raises :class:`BatchTimeoutError`.
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

    def collector(self, *, code: str = PENDING_CODE) -> RequestCollector:
        """A :class:`RequestCollector` writing input files for this runner."""
        return RequestCollector(self, code=code)

    async def run(self, requests: RequestCollector | Iterable[tuple[str, ChatRequest]]) -> BatchReport:
        """Answer the requests of a collector (or ``(cache key, request)`` pairs) through the Batch API
        and store the answers in the cache.

        Keys already in a batch of an earlier, interrupted run are polled, not submitted again.
        """
        if isinstance(requests, RequestCollector):
            collector = requests
            collector.close()
        else:
            with self.collector() as collector:
                for key, request in requests:
                    collector.add(key, request)
        if collector.resumed:
            log.info("resuming %d batch(es) from %s", len(collector.resumed), self.state_dir)
        chunks = [
            chunk
            for chunk_id in [*sorted(collector.resumed), *collector.files]
            if (chunk := _Chunk.load(self._path(chunk_id))) is not None
        ]
        if not chunks:
            return BatchReport()
        report = BatchReport(submitted=sum(c.count for c in chunks))
        for chunk in chunks:
            await self._submit(chunk)
        report.batch_ids = [c.batch_id for c in chunks if c.batch_id]
        ledger = self._open_ledger()
        try:
            await self._wait(chunks, report, ledger)
        finally:
            ledger.close()
        return report

    # -- state ------------------------------------------------------------------------------

    def _path(self, chunk_id: str, suffix: str = ".json") -> Path:
        return self.state_dir / f"{chunk_id}{suffix}"

    def _open_ledger(self) -> _Ledger:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create batch state folder {self.state_dir}: {exc}") from exc
        return _Ledger(self.state_dir / LEDGER_NAME)

    def _save(self, chunk: _Chunk) -> None:
        # Atomic: a kill mid-write never leaves half a state file.
        with atomic_file(self._path(chunk.id)) as handle:
            handle.write(json.dumps(asdict(chunk)))

    def _unfinished(self) -> list[_Chunk]:
        """Unfinished chunks of this endpoint and model that can still be submitted or polled."""
        found = []
        for path in sorted(self.state_dir.glob("batch-*.json")):
            if path.name.endswith(".done.json"):
                continue
            chunk = _Chunk.load(path)
            if chunk is None or chunk.identity != self.identity:
                continue
            if chunk.batch_id is None and not self._path(chunk.id, ".jsonl").exists():
                continue  # never submitted and its input is gone: its keys are written afresh
            found.append(chunk)
        return found

    def _finish(self, chunk: _Chunk) -> None:
        """Keep the ids for the record; drop the input file (it can be 190 MB)."""
        self._path(chunk.id, ".jsonl").unlink(missing_ok=True)
        os.replace(self._path(chunk.id), self._path(chunk.id, ".done.json"))

    # -- submitting ---------------------------------------------------------------------------

    def _line(self, key: str, request: ChatRequest) -> bytes:
        # The cache key is the custom_id: results come back in any order and join on it directly.
        line = {"custom_id": key, "method": "POST", "url": ENDPOINT, "body": batch_body(self.chat, request)}
        try:
            return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate in row text: a JSON escape holds it
            return (json.dumps(line, separators=(",", ":")) + "\n").encode("ascii")

    async def _submit(self, chunk: _Chunk) -> None:
        """Upload and create what is missing, saving after each step so a crash repeats neither."""
        if chunk.batch_id is not None:
            return
        if chunk.file_id is None:
            uploaded = await self.chat.with_retries(self._upload, chunk)
            chunk.file_id = uploaded.id
            self._save(chunk)
        batch = await self.chat.with_retries(self._create, chunk.file_id)
        chunk.batch_id = batch.id
        self._save(chunk)

    async def _upload(self, chunk: _Chunk) -> FileObject:
        # A file object is streamed from disk in pieces by the SDK's multipart encoder (bytes or a
        # path would be read whole into memory); each attempt opens the file afresh.
        with self._path(chunk.id, ".jsonl").open("rb") as handle:
            return await self.chat.client.files.create(
                file=(f"{chunk.id}.jsonl", handle, "application/jsonl"), purpose="batch"
            )

    async def _create(self, file_id: str) -> Batch:
        return await self.chat.client.batches.create(input_file_id=file_id, endpoint=ENDPOINT, completion_window="24h")

    # -- waiting and collecting ---------------------------------------------------------------

    async def _wait(self, chunks: list[_Chunk], report: BatchReport, ledger: _Ledger) -> None:
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
                await self._collect(chunk, batch, report, ledger)
            pending = still
            elapsed = time.monotonic() - started
            self._report_progress(list(latest.values()), elapsed)
            if not pending:
                return
            if elapsed >= self.max_wait:
                raise BatchTimeoutError(
                    f"{len(pending)} batch(es) still running after {self.max_wait:.0f}s; they go on on the "
                    f"server: run again with the same arguments to resume waiting (state in {self.state_dir})",
                    code="batch_timeout",
                )
            await asyncio.sleep(min(self.poll_interval, self.max_wait - elapsed))

    async def _retrieve(self, chunk: _Chunk) -> Batch | None:
        """The batch, or None when the server no longer knows it (another key, or deleted)."""
        assert chunk.batch_id is not None  # _submit ran first
        try:
            return await self.chat.with_retries(self.chat.client.batches.retrieve, chunk.batch_id)
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
        self.progress(
            f"batch: {len(batches)} batch(es): {states}; requests {done}/{total} completed, "
            f"{failed} failed; waited {elapsed / 60:.1f} min"
        )

    async def _collect(self, chunk: _Chunk, batch: Batch | None, report: BatchReport, ledger: _Ledger) -> None:
        """Store the answers of an ended batch; every key without one gets a reason in the ledger."""
        for file_id in _result_files(batch):
            # A download cut off midway is retried from the start: storing a line twice is harmless,
            # and the usage counted is that of the one complete pass.
            report.usage += await self.chat.with_retries(self._download, file_id, chunk, ledger)
        ledger.settle(chunk.id, _batch_reason(batch))
        ledger.commit()
        answered, failed = ledger.outcomes(chunk.id)
        report.succeeded += answered
        report.failed += sum(failed.values())
        report.reasons.update(failed)
        self._finish(chunk)
        ledger.forget_answered(chunk.id)
        ledger.commit()

    async def _download(self, file_id: str, chunk: _Chunk, ledger: _Ledger) -> Usage:
        """Stream one output or error file, storing each result line as it arrives; its usage."""
        usage = Usage()
        number = 0
        pending: list[bytes] = []  # the pieces of a line not yet ended
        async with self.chat.client.files.with_streaming_response.content(file_id) as response:
            stream = response.iter_bytes()
            try:
                while True:
                    try:
                        data = await anext(stream)
                    except StopAsyncIteration:
                        break
                    except openai.OpenAIError:
                        raise
                    except Exception as exc:  # the transport's read errors (its own classes): retried as such
                        raise openai.APIConnectionError(
                            message="batch output download interrupted", request=response.http_response.request
                        ) from exc
                    # Split on b"\n" only: JSON text has no raw newline, but may hold U+2028 and the like.
                    start = 0
                    while (end := data.find(b"\n", start)) >= 0:
                        pending.append(data[start:end])
                        number += 1
                        usage += self._store(b"".join(pending), number, chunk, ledger)
                        pending.clear()
                        start = end + 1
                    if start < len(data):
                        pending.append(data[start:])
            finally:
                if isinstance(stream, AsyncGenerator):  # end the transport's generator now, not when collected
                    await stream.aclose()
        if pending:
            usage += self._store(b"".join(pending), number + 1, chunk, ledger)
        ledger.commit()
        return usage

    def _store(self, raw: bytes, number: int, chunk: _Chunk, ledger: _Ledger) -> Usage:
        """Parse one output line; cache an answer, or note why there is none. The answer's usage."""
        if not raw.strip():
            return Usage()
        try:
            line = json.loads(raw)
            key = line["custom_id"]
        except (ValueError, KeyError, TypeError):
            log.warning("batch output line %d is not a result line; skipped", number)
            return Usage()
        completion, reason = _parse_result(line) if isinstance(key, str) else (None, None)
        if not isinstance(key, str) or not (
            ledger.answer(key, chunk.id) if completion is not None else ledger.fail(key, chunk.id, reason or "error")
        ):
            log.warning("batch output names an unknown custom_id %r; skipped", key)
            return Usage()
        if completion is None:
            return Usage()
        self.cache.put(key, completion)
        return completion.usage


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
    return Completion(choices, usage_of(parsed.usage)), None


def _error_reason(error: Any, fallback: str) -> str:
    if not isinstance(error, dict):
        return fallback
    code = error.get("code") or fallback
    message = error.get("message")
    return f"{code}: {message}" if message and code != "batch_expired" else str(code)


# ----------------------------------------------------------------------------- rounds


Rows = Iterable[Example] | AsyncIterable[Example]


async def run_batch_rounds(
    make_pipeline: Callable[..., Pipeline],
    source_rows: Callable[[], Rows],
    runner: BatchRunner,
    rounds: int = 2,
    *,
    judge: BatchRunner | None = None,
) -> BatchReport:
    """Collect and submit up to ``rounds`` times; the final writing run is the caller's.

    ``make_pipeline(llm)`` must build the pipeline of the final run around ``llm`` (same cache,
    criteria, n, temperature... as that run); ``source_rows()`` must yield the same examples each
    time it is called. A round collects the requests still missing from the cache: the first round
    the first request of each row, the next the re-asks of replies that did not parse, the verify
    requests of rewrites that passed the checks (a pipeline with a verifier: give it the same LLM, so
    they are collected too) and the requests whose batch failed. Collaborators (search client...) are
    not closed here.

    ``judge``: the runner of a verifier's own model (a batch holds one model's requests); then
    ``make_pipeline(llm, judge_llm)`` gets that runner's collector as the judge's LLM, its batches are
    submitted in the same rounds, and the report's ``judge`` holds their figures.

    The report's ``failed`` and ``reasons`` are those of the last round: a request that failed in one
    round is collected again in the next, so what failed last is what stays unanswered.

    The prompts must come out the same in every run, or the final run misses the cache: search
    results should be cached or stored in the rows first (``realign retrieve``), and an LLM
    classifier (which calls online in every round) should be deterministic (temperature 0).
    """
    if rounds < 1:
        raise UsageError("rounds must be at least 1")
    total = BatchReport(judge=BatchReport() if judge is not None else None)
    for number in range(1, rounds + 1):
        with contextlib.ExitStack() as stack:
            collector = stack.enter_context(runner.collector())
            judged = stack.enter_context(judge.collector()) if judge is not None else None
            pipeline = make_pipeline(collector) if judged is None else make_pipeline(collector, judged)
            async for _ in pipeline.astream(source_rows()):
                pass  # the collect run's rows are placeholders; only the requests matter
        parts = [
            (runner, collector, total),
            *([(judge, judged, total.judge)] if judge and judged and total.judge else []),
        ]
        if not any(c.count or c.resumed for _, c, _ in parts):
            break
        for part_runner, part, report in parts:
            log.info(
                "batch round %d: %d request(s) to submit, %d earlier batch(es) to resume",
                number,
                part.count,
                len(part.resumed),
            )
            report.add(await part_runner.run(part))
    return total
