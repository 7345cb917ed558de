"""How many requests of one client may be in flight when its server cannot keep up.

A local server (llama.cpp, Ollama, one vLLM on a small GPU) often answers one or a few requests at a
time and queues the rest. With more requests in flight than it can answer within ``--timeout``, the
queued ones time out, are sent again, and queue behind the abandoned ones the server still works on:
each wave wastes more of the server's time, and the run crawls on while every row's retries run out
(the early stop never trips, because some requests do get answered). This is congestion collapse,
and the cure is the one TCP uses: a multiplicative decrease when a request times out, an additive
increase while requests are answered.

- No bound at first: the run's ``--concurrency`` alone governs a server that keeps up, and the hot
  path costs one comparison.
- A timed-out attempt halves the bound to half the requests then in flight (at least one), once per
  round: attempts sent before the last cut were sent under the old bound, so their timeouts say
  nothing new.
- Each run of answered requests as long as the bound raises it by one.
- At a bound of one, a timeout is worth a warning of its own: the server may need a higher
  ``--timeout``. It does not stop the run: a server that does not cancel abandoned requests works
  through them first, and that backlog looks the same from here as a server too slow for any
  request (the early stop still ends a run whose requests all fail).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque

__all__ = ["AdaptiveLimit"]

log = logging.getLogger("realign")


class AdaptiveLimit:
    """An in-flight bound that shrinks when requests time out and grows back while they are answered."""

    def __init__(self, endpoint: str, *, enabled: bool = True) -> None:
        self.endpoint = endpoint
        self.enabled = enabled  # off: only counts, never bounds (a benchmark's baseline)
        self.limit: float = math.inf
        self.in_flight = 0
        self._round = 0  # bumped by each cut; an attempt remembers the round it was sent in
        self._answered_since_growth = 0
        self._warned_at_one = False
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> int:
        """Wait for a slot; the round it was granted in (hand it to :meth:`timed_out`)."""
        if not self._waiters and self.in_flight < self.limit:
            self.in_flight += 1
            return self._round
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # a slot was handed over: hand it on
                self.release()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise
        return self._round

    def release(self) -> None:
        """An attempt ended, whatever its outcome."""
        self.in_flight -= 1
        self._wake()

    def answered(self) -> None:
        """An attempt got an answer in time (any HTTP status)."""
        if self.limit == math.inf:
            return
        self._answered_since_growth += 1
        if self._answered_since_growth >= self.limit:
            self._answered_since_growth = 0
            self.limit += 1
            self._wake()

    def timed_out(self, sent_in: int, timeout: float) -> None:
        """An attempt sent in round ``sent_in`` got no answer within ``timeout`` seconds."""
        if sent_in != self._round or not self.enabled:
            return
        if self.limit == 1 and not self._warned_at_one:
            self._warned_at_one = True
            log.warning(
                "%s: a request sent alone got no answer within %g s: if the server is this slow for every "
                "request, raise --timeout",
                self.endpoint,
                timeout,
            )
        cut = max(1, self.in_flight // 2)  # in_flight still counts this attempt
        self._round += 1
        self._answered_since_growth = 0
        if cut >= self.limit:
            return
        self.limit = cut
        log.warning(
            "%s: requests time out after %g s with %d in flight: sending at most %d at once from now on "
            "(a lower --concurrency avoids the lost attempts; a higher --timeout allows longer answers)",
            self.endpoint,
            timeout,
            self.in_flight,
            cut,
        )

    def _wake(self) -> None:
        # The slot is counted for the waiter before it runs, so no newcomer can take it meanwhile.
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)
