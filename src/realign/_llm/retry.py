"""Retry pieces shared by the LLM client and the search clients.

One :class:`RetryPolicy`, one reading of a server's requested wait (:func:`parse_retry_after`), one
backoff (:func:`backoff_seconds`) and one :class:`PauseGate`: a 429 is about the account, not the
request that got it, so it pauses every request of the client that saw it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from .._exceptions import UsageError

__all__ = ["PauseGate", "RetryPolicy", "backoff_seconds", "parse_retry_after"]


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried: ``attempts`` in all, waits from ``initial`` doubling up to
    ``maximum`` seconds plus up to ``jitter`` seconds; a server's retry-after is honoured up to
    ``max_retry_after`` seconds."""

    attempts: int = 6
    initial: float = 1.0
    maximum: float = 60.0
    jitter: float = 1.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise UsageError("RetryPolicy.attempts must be at least 1")


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait, or None when it did not say (or said nonsense).

    Reads ``retry-after-ms`` (milliseconds, OpenAI's), then ``retry-after`` in seconds or as an
    HTTP date. Header names are matched case-insensitively; a date in the past means 0.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    milliseconds = _seconds(lowered.get("retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000.0
    value = lowered.get("retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    return seconds if seconds is not None else _until(value)


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _until(http_date: str) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def backoff_seconds(policy: RetryPolicy, attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    ``initial`` doubling up to ``maximum`` plus up to ``jitter`` random seconds (so a burst of rows
    does not retry in lockstep); a server's ``retry_after`` replaces that. Capped at ``max_retry_after``.
    """
    if retry_after is None:
        delay = min(policy.maximum, policy.initial * 2.0 ** (attempt - 1)) + random.uniform(0, policy.jitter)
    else:
        delay = max(retry_after, 0.0)
    return min(delay, policy.max_retry_after)


class PauseGate:
    """A pause shared by every request of one client: after :meth:`pause`, :meth:`wait` holds each
    request back until the pause is over. Pauses never shorten one already running."""

    def __init__(self) -> None:
        self._resume_at = 0.0  # monotonic time before which no request is sent

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now (or longer, if already paused longer)."""
        self._resume_at = max(self._resume_at, time.monotonic() + seconds)

    async def wait(self) -> None:
        """Return once no pause is running."""
        remaining = self._resume_at - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)
