"""Rate limits: the client's own ceilings (``--rpm``, ``--tpm``) and the server's, read from its headers.

Each ceiling is a bucket that holds one minute's allowance and refills continuously, so a run starts
at full speed and then settles at the limit instead of bursting into 429s. :class:`HeaderPacer`
reads the server's ``x-ratelimit-*`` headers and slows down before the server would refuse.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping

from .._loops import PerLoop

__all__ = ["HeaderPacer", "RateLimiter", "parse_duration"]


class _Bucket:
    def __init__(self, per_minute: float) -> None:
        self.capacity = per_minute
        self.level = per_minute
        self.rate = per_minute / 60.0
        self.stamp = time.monotonic()

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` is available (0 when it is)."""
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        return max(0.0, (min(amount, self.capacity) - self.level) / self.rate)

    def take(self, amount: float) -> None:
        self.level -= min(amount, self.capacity)


class RateLimiter:
    """Waits until a request of ``tokens`` fits under both limits (either may be None)."""

    def __init__(self, rpm: float | None = None, tpm: float | None = None) -> None:
        self._requests = _Bucket(rpm) if rpm else None
        self._tokens = _Bucket(tpm) if tpm else None
        self._lock = PerLoop(asyncio.Lock)  # a run under another asyncio.run gets a lock of its own loop

    async def acquire(self, tokens: int) -> None:
        async with self._lock.get():  # one waiter at a time keeps the order fair
            wait = max(
                self._requests.wait_for(1) if self._requests else 0.0,
                self._tokens.wait_for(tokens) if self._tokens else 0.0,
            )
            if wait > 0:
                await asyncio.sleep(wait)
                # After sleeping both buckets hold enough (a request larger than a bucket is clamped).
                if self._requests:
                    self._requests.wait_for(1)
                if self._tokens:
                    self._tokens.wait_for(tokens)
            if self._requests:
                self._requests.take(1)
            if self._tokens:
                self._tokens.take(tokens)


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|μs|ns|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9}


def parse_duration(value: str | None) -> float | None:
    """Seconds in a Go-style duration (``6m0s``, ``1.5s``, ``20ms``, ``1h2m``) or a bare number of
    seconds, as servers write their rate-limit reset headers; None when unreadable."""
    if value is None:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _count(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class HeaderPacer:
    """Paces requests from the server's own rate-limit headers, before it answers 429.

    OpenAI (and servers that copy it) send with every answer ``x-ratelimit-remaining-requests``,
    ``x-ratelimit-remaining-tokens``, their ``x-ratelimit-limit-*`` and the ``x-ratelimit-reset-*``
    durations (until the allowance is whole again). When the requests already in flight could use
    up what remains, :meth:`pause_for` says how long to hold new requests back: the time the
    allowance needs to refill by the shortfall, at the rate the headers imply, at most until reset.
    """

    def __init__(self) -> None:
        self.tokens_per_request = 0.0  # a running mean of the tokens one request uses

    def note_tokens(self, tokens: int) -> None:
        if tokens > 0:
            mean = self.tokens_per_request
            self.tokens_per_request = float(tokens) if mean == 0 else 0.9 * mean + 0.1 * tokens

    def pause_for(self, headers: Mapping[str, str], in_flight: int) -> float:
        """Seconds to hold new requests back after an answer with ``headers`` (0: none)."""
        requests = self._pause(headers, "requests", float(in_flight))
        tokens = self._pause(headers, "tokens", in_flight * self.tokens_per_request)
        return max(requests, tokens)

    @staticmethod
    def _pause(headers: Mapping[str, str], kind: str, needed: float) -> float:
        remaining = _count(headers.get(f"x-ratelimit-remaining-{kind}"))
        if remaining is None or remaining > needed:
            return 0.0
        reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}"))
        if reset is None or reset <= 0:
            return 0.0
        limit = _count(headers.get(f"x-ratelimit-limit-{kind}"))
        if limit is None or limit <= remaining:
            return reset
        rate = (limit - remaining) / reset  # refill per second, as the server counts it
        return min(reset, (needed - remaining + 1) / rate)
