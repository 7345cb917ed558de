"""Client-side request and token rate limits (``--rpm``, ``--tpm``): two token buckets.

Each bucket holds one minute's allowance and refills continuously, so a run starts at full speed
and then settles at the limit instead of bursting into 429s.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["RateLimiter"]


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
        self._lock: asyncio.Lock | None = None

    async def acquire(self, tokens: int) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one waiter at a time keeps the order fair
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
