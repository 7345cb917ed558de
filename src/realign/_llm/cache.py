"""A persistent response cache: SQLite on disk, one row per request, committed as it arrives.

Every finished request is stored before its row is written, so a run that is killed (even with
SIGKILL) and started again pays only for the requests that were in flight. The key hashes
everything that changes an answer: endpoint and model (the LLM's ``identity``), the rendered
messages, n and the generation parameters. API keys are never part of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .._exceptions import RealignError, UsageError
from .._loops import PerLoop
from .._models import Evidence, Usage
from .._types import ChatRequest, Choice, Completion, SearchClient, identity_of

__all__ = ["Cache", "CachedSearch", "InFlight", "SQLiteCache", "default_cache_path", "request_key", "sent_and_stored"]


@runtime_checkable
class Cache(Protocol):
    """Stores completions by key. ``get`` returns None on a miss; ``aclose`` releases its storage.

    A cache is often shared by several pipelines (the passes of a Batch API run), so a pipeline
    never closes it: whoever opened it does.
    """

    def get(self, key: str) -> Completion | None: ...

    def put(self, key: str, value: Completion) -> None: ...

    async def aclose(self) -> None: ...


def default_cache_path() -> Path:
    """``$REALIGN_CACHE``, else ``$XDG_CACHE_HOME/realign/cache.sqlite``, else ``~/.cache/realign/...``."""
    explicit = os.environ.get("REALIGN_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "realign" / "cache.sqlite"


def request_key(identity: str, request: ChatRequest, salt: str = "") -> str:
    """A stable hash of everything that changes the reply to ``request``."""
    payload = [identity, request.messages, request.n, request.temperature, request.top_p, request.max_tokens, salt]
    blob = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    # surrogatepass: a lone surrogate in row text hashes too (the key is never decoded)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


class InFlight:
    """Identical requests in flight at once (the same cache key): only the first is sent, the others wait for
    its answer and take it as a cache hit (no usage: paid once). Without it, identical rows of a file each pay
    for the same answer, the cache helping only once the first has come back. A failure of the one request
    is every waiter's; a first request cancelled (its row stopped) leaves a waiter to send its own."""

    def __init__(self) -> None:
        # Futures belong to one event loop: a pipeline run again under another asyncio.run gets a new table.
        self._pending: PerLoop[dict[str, asyncio.Future[Completion]]] = PerLoop(dict)

    async def once(self, key: str, send: Callable[[], Awaitable[Completion]]) -> Completion:
        pending = self._pending.get()
        first = pending.get(key)
        if first is not None:
            try:
                answer = await asyncio.shield(first)  # this row stopping must not stop the one that sends
            except asyncio.CancelledError:
                if not first.cancelled():
                    raise  # this row was cancelled
            else:
                return Completion(answer.choices, Usage())
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        pending[key] = future
        try:
            completion = await send()
        except BaseException as exc:
            if pending.get(key) is future:
                del pending[key]
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # read here: no "exception never retrieved" when no one waited
            else:
                future.cancel()
            raise
        if pending.get(key) is future:
            del pending[key]
        future.set_result(completion)
        return completion

    async def stored(self, key: str, cache: Cache, send: Callable[[], Awaitable[Completion]]) -> Completion:
        """``send()``'s answer stored in ``cache`` (:func:`sent_and_stored`), sent once for identical requests."""
        return await self.once(key, lambda: sent_and_stored(cache, key, send))


async def sent_and_stored(cache: Cache, key: str, send: Callable[[], Awaitable[Completion]]) -> Completion:
    """``send()``'s answer, stored in ``cache`` under ``key`` when it has choices (an empty reply is never
    kept: a re-run asks again)."""
    completion = await send()
    if completion.choices:
        cache.put(key, completion)
    return completion


class SQLiteCache:
    """A :class:`Cache` in one SQLite file (WAL mode, safe to share between runs)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (only power loss can drop the last commits).
            self._db.execute("PRAGMA synchronous=NORMAL")
            for table in ("completions", "searches"):
                self._db.execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(f"cannot open cache {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        # Shipped to another process (a Ray worker) as its path: it opens the same file there.
        return (SQLiteCache, (self.path,))

    def _execute(self, sql: str, values: tuple[str, ...]) -> tuple[str, ...] | None:
        """Run one statement, its first row; a failing database (disk full...) stops the run in one line."""
        try:
            with self._lock:
                row: tuple[str, ...] | None = self._db.execute(sql, values).fetchone()
                return row
        except sqlite3.Error as exc:
            raise RealignError(f"the response cache {self.path} failed: {exc} (free space, or use --no-cache)") from exc

    def get(self, key: str) -> Completion | None:
        row = self._execute("SELECT value FROM completions WHERE key = ?", (key,))
        if row is None:
            return None
        data = json.loads(row[0])
        # A third item, when present, is the choice's token log-probabilities.
        choices = [Choice(c[0], c[1], tuple(map(tuple, c[2])) if len(c) > 2 else None) for c in data["choices"]]
        # A hit costs nothing now, so it reports no usage. The usage ``put`` stored is not read back:
        # it is only there for whoever inspects the cache file.
        return Completion(choices, Usage())

    def put(self, key: str, value: Completion) -> None:
        choices = [[c.text, c.finish_reason, *([c.logprobs] if c.logprobs else [])] for c in value.choices]
        data = {"choices": choices, "usage": value.usage.model_dump()}
        self._execute("INSERT OR REPLACE INTO completions (key, value) VALUES (?, ?)", (key, _dumps(data)))

    def get_evidence(self, key: str) -> list[Evidence] | None:
        """Search results stored under ``key``, or None."""
        row = self._execute("SELECT value FROM searches WHERE key = ?", (key,))
        return None if row is None else [Evidence.model_validate(item) for item in json.loads(row[0])]

    def put_evidence(self, key: str, evidence: list[Evidence]) -> None:
        blob = _dumps([e.model_dump() for e in evidence])
        self._execute("INSERT OR REPLACE INTO searches (key, value) VALUES (?, ?)", (key, blob))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    async def aclose(self) -> None:
        self.close()


def _dumps(value: object) -> str:
    """JSON text SQLite can store: a lone surrogate in row text becomes a JSON escape."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value)
    return text


class CachedSearch:
    """A :class:`~realign.SearchClient` that stores every successful search in the response cache.

    Re-runs (and the passes of a Batch API run) then see the same evidence, so their prompts, and
    the cache keys of their rewrites, stay the same. ``name`` identifies the backend (``serper``,
    ``local:/path/idx.db``...): the same query on another backend is another entry.
    """

    def __init__(self, client: SearchClient, cache: SQLiteCache, name: str) -> None:
        self.client, self.cache = client, cache
        # A client's identity names every setting that changes its results (a local index: its content).
        self.name = identity_of(client) or name

    async def search(self, query: str) -> list[Evidence]:
        key = hashlib.sha256(json.dumps([self.name, query]).encode("utf-8")).hexdigest()
        found = self.cache.get_evidence(key)
        if found is None:
            found = await self.client.search(query)  # failures raise and are not stored
            self.cache.put_evidence(key, found)
        return found

    async def aclose(self) -> None:
        await self.client.aclose()
