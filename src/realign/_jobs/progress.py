"""A one-line progress display on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, TextIO

from .._io.files import container_of
from .._models import Usage
from .cost import Price

__all__ = ["Counts", "Progress", "count_rows"]


class Counts(Protocol):
    """What the display reads of a run's counts (``RunStats`` has them); a protocol, so that this
    module does not import the job module that imports it."""

    @property
    def rows(self) -> int: ...

    @property
    def tags(self) -> Mapping[str, int]: ...

    @property
    def usage(self) -> Usage: ...


def count_rows(path: str | Path) -> int | None:
    """Rows in a file, cheaply: non-empty lines of JSONL, Parquet metadata; None for JSON arrays."""
    kind = container_of(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        if kind == "jsonl":
            rows = 0
            with open(path, "rb") as handle:
                for line in handle:
                    rows += bool(line.strip())
            return rows
    except OSError:
        return None
    return None


class Progress:
    """Redraws ``done/total, rewritten, kept, tokens, $, ETA`` at most every ``interval`` seconds."""

    def __init__(
        self,
        total: int | None,
        price: Price | None,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        interval: float = 0.25,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total, self.price, self.interval = total, price, interval
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, stats: Counts, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        elapsed = now - self.started
        done, rewritten, usage = stats.rows, stats.tags.get("rewrite", 0), stats.usage
        parts = [
            f"{done:,}" + (f"/{self.total:,}" if self.total else "") + " rows",
            f"rewritten {rewritten:,}",
            f"kept {done - rewritten:,}",
            f"tokens {usage.prompt_tokens:,} in / {usage.completion_tokens:,} out",
        ]
        if self.price is not None:
            parts.append(f"${self.price.cost(usage):,.2f}")
        if self.total and done:
            remaining = elapsed / done * (self.total - done)
            parts.append(f"ETA {_clock(remaining)}")
        self.stream.write("\r\033[K" + "  ".join(parts))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
