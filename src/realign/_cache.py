"""A persistent response cache: SQLite on disk, one row per request, committed as it arrives.

Every finished request is stored before its row is written, so a run that is killed (even with
SIGKILL) and started again pays only for the requests that were in flight. The key hashes
everything that changes an answer: endpoint and model (the LLM's ``identity``), the rendered
messages, n and the generation parameters. API keys are never part of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from ._exceptions import UsageError
from ._models import Usage
from ._types import ChatRequest, Choice, Completion

__all__ = ["Cache", "SQLiteCache", "default_cache_path", "request_key"]


@runtime_checkable
class Cache(Protocol):
    """Stores completions by key. ``get`` returns None on a miss."""

    def get(self, key: str) -> Completion | None: ...

    def put(self, key: str, value: Completion) -> None: ...


def default_cache_path() -> Path:
    """``$REALIGN_CACHE``, else ``$XDG_CACHE_HOME/realign/cache.sqlite``, else ``~/.cache/realign/...``."""
    explicit = os.environ.get("REALIGN_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "realign" / "cache.sqlite"


def request_key(identity: str, request: ChatRequest, salt: str = "") -> str:
    """A stable hash of everything that changes the reply to ``request``."""
    payload = [identity, request.messages, request.n, request.temperature, request.top_p,
               request.max_tokens, salt]
    blob = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


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
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(f"cannot open cache {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM completions WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        choices = [Choice(text, finish) for text, finish in data["choices"]]
        # A hit costs nothing now; the original usage is kept for reports under "cached".
        return Completion(choices, Usage())

    def put(self, key: str, value: Completion) -> None:
        data = {"choices": [[c.text, c.finish_reason] for c in value.choices],
                "usage": value.usage.model_dump()}
        blob = json.dumps(data, ensure_ascii=False)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO completions (key, value) VALUES (?, ?)", (key, blob))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
