"""Progress of a run on stderr: a bar in a terminal or notebook, a plain line every few seconds elsewhere.

The bar is tqdm's (small, no dependencies of its own, and it measures the terminal so the line never
wraps). When stderr is a file or a pipe (CI, nohup) a bar's carriage returns would be noise, so a
plain line is logged every ``interval`` seconds instead.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, TextIO

from .._io.files import container_of
from .._models import Usage
from .cost import Price, split_cost

__all__ = ["LOG_INTERVAL", "Counts", "Progress", "count_rows", "in_notebook"]

#: seconds between two plain progress lines when stderr is not a terminal
LOG_INTERVAL = 10.0
#: rows from which a notebook shows a bar (a handful of rows finish before a bar would help)
NOTEBOOK_ROWS = 100

Mode = Literal["auto", "bar", "notebook", "log", "off"]


class Counts(Protocol):
    """What the display reads of a run's counts (``RunStats`` has them); a protocol, so that this
    module does not import the job module that imports it."""

    @property
    def rows(self) -> int: ...

    @property
    def tags(self) -> Mapping[str, int]: ...

    @property
    def reasons(self) -> Mapping[str, int]: ...

    @property
    def usage(self) -> Usage: ...

    @property
    def verify_usage(self) -> Usage: ...


def count_rows(path: str | Path) -> int | None:
    """Rows in a file, cheaply: non-empty lines of JSONL, Parquet metadata; None for JSON arrays."""
    kind = container_of(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetFile(path) as parquet:
                return int(parquet.metadata.num_rows)
        if kind == "jsonl":
            rows = 0
            with open(path, "rb") as handle:
                for line in handle:  # lines end as the reader ends them: "\n", "\r\n" or a lone "\r"
                    rows += sum(bool(part.strip()) for part in line.splitlines())
            return rows
    except OSError:
        return None
    return None


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (where tqdm's widget bar renders)."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def errors_of(reasons: Mapping[str, int]) -> int:
    """Rows kept because a call or a check failed (``llm_error:...``, ``check_error:...``)."""
    return sum(count for reason, count in reasons.items() if reason.startswith(("llm_error:", "check_error:")))


class Progress:
    """Shows a run's progress: rows done/total, %, rate, elapsed, ETA, rewritten vs kept, retries,
    errors, tokens and dollars.

    ``mode`` ``auto`` picks a bar when ``stream`` is a terminal, a notebook bar in a Jupyter kernel
    (for inputs of at least 100 rows) and plain lines every ``interval`` seconds otherwise; ``off``
    shows nothing. ``retries`` reads the LLM client's retry count, when it keeps one.
    """

    def __init__(
        self,
        total: int | None,
        price: Price | None,
        *,
        stream: TextIO | None = None,
        mode: Mode = "auto",
        interval: float = LOG_INTERVAL,
        retries: Callable[[], int] | None = None,
        verify_price: Price | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.total, self.price, self.interval, self.retries = total, price, interval, retries
        #: the --verify judge's price when it is another model's (default: ``price``)
        self.verify_price = verify_price
        self.mode: Mode = self._pick(mode)
        self.started = time.monotonic()
        self._last = self.started
        self._bar: Any = None
        self._shown = 0
        self._logged = False

    def _pick(self, mode: Mode) -> Mode:
        if mode != "auto":
            return mode
        if in_notebook():
            return "notebook" if (self.total or 0) >= NOTEBOOK_ROWS else "off"
        isatty = getattr(self.stream, "isatty", None)
        return "bar" if isatty is not None and isatty() else "log"

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def update(self, stats: Counts, *, force: bool = False) -> None:
        """Show ``stats``: a bar redraws (tqdm limits the redraws), a log line waits its interval."""
        if self.mode == "off":
            return
        if self.mode == "log":
            now = time.monotonic()
            if force or now - self._last >= self.interval:
                self._last, self._logged = now, True
                self.stream.write(self.line(stats) + "\n")
                self.stream.flush()
            return
        bar = self._bar or self._open_bar()
        bar.set_postfix_str(self._postfix(stats), refresh=False)
        bar.update(stats.rows - self._shown)
        self._shown = stats.rows
        if force:
            bar.refresh()

    async def ticker(self, stats: Counts) -> None:
        """Redraw every ``interval`` (a second for a bar) even while no row finishes: a row stuck in
        retries must not freeze the elapsed time, nor silence the log."""
        period = self.interval if self.mode == "log" else 1.0
        while True:
            await asyncio.sleep(period)
            self.update(stats, force=self.mode != "log")

    def close(self, stats: Counts | None = None) -> None:
        """The final state; a bar is closed so that a message after it starts on its own line."""
        if self.mode == "off":
            return
        if self.mode == "log":
            # The last line only after earlier ones: a run shorter than the interval (or one that failed
            # at once) goes straight to its summary or error.
            if stats is not None and self._logged:
                self.stream.write(self.line(stats) + "\n")
                self.stream.flush()
            return
        if stats is not None:
            self.update(stats)
        if self._bar is not None:
            self._bar.close()

    def line(self, stats: Counts) -> str:
        """The plain progress line: ``realign: 120/400 rows (30%), 4.1 rows/s, errors 0, ...``."""
        elapsed = time.monotonic() - self.started
        done = stats.rows
        share = f" ({100 * done / self.total:.0f}%)" if self.total else ""
        parts = [
            f"realign: {done:,}" + (f"/{self.total:,}" if self.total else "") + f" rows{share}",
            _rate(done, elapsed),
            f"errors {errors_of(stats.reasons):,}",
        ]
        if self.retries is not None:
            parts.append(f"retries {self.retries():,}")
        parts.append(f"rewritten {stats.tags.get('rewrite', 0):,}")
        parts.append(f"elapsed {_clock(elapsed)}")
        if self.total and done:
            parts.append(f"ETA {_clock(elapsed / done * max(self.total - done, 0))}")
        return ", ".join(parts)

    def _postfix(self, stats: Counts) -> str:
        rewritten = stats.tags.get("rewrite", 0)
        usage = stats.usage
        parts = [f"rewritten {rewritten:,}", f"kept {stats.rows - rewritten:,}"]
        if self.retries is not None:
            parts.append(f"retries {self.retries():,}")
        parts.append(f"errors {errors_of(stats.reasons):,}")
        parts.append(f"{_short(usage.prompt_tokens + usage.completion_tokens)} tok")
        judge_price = self.price if self.verify_price is None else self.verify_price
        dollars = split_cost(usage, stats.verify_usage, self.price, judge_price)
        if dollars is not None:
            parts.append(f"${dollars:,.2f}")
        return ", ".join(parts)

    def _open_bar(self) -> Any:
        if self.mode == "notebook":
            try:
                from tqdm.notebook import tqdm as notebook_tqdm

                self._bar = notebook_tqdm(total=self.total, unit="row", desc="realign")
                return self._bar
            except ImportError:  # no ipywidgets: the text bar below renders in a notebook too
                self.mode = "bar"
        from tqdm import tqdm

        # dynamic_ncols: the bar shrinks to the terminal's width, also after a resize; tqdm trims the
        # line to that width, so it never wraps.
        self._bar = tqdm(
            total=self.total, unit="row", desc="realign", file=self.stream, dynamic_ncols=True, mininterval=0.25
        )
        return self._bar


def _rate(done: int, elapsed: float) -> str:
    """``4.1 rows/s``; a slow run (long rows, a busy server) in rows a minute or an hour, so that one
    row every minute reads ``1.0 rows/min``, not ``0.0 rows/s``."""
    per_second = done / elapsed if elapsed > 0 else 0.0
    if per_second >= 0.05 or done == 0:
        return f"{per_second:,.1f} rows/s"
    if per_second * 60 >= 0.05:
        return f"{per_second * 60:,.1f} rows/min"
    return f"{per_second * 3600:,.1f} rows/h"


def _short(number: int) -> str:
    """``950``, ``12.3k``, ``4.56M``: a token count that keeps the bar short."""
    if number < 1_000:
        return str(number)
    if number < 1_000_000:
        return f"{number / 1_000:.1f}k"
    return f"{number / 1_000_000:.2f}M"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
