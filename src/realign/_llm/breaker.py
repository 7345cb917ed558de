"""The early stop: a run whose endpoint is unreachable or failing on nearly every request stops.

Retries make a single failure cheap to survive, but they also make a dead endpoint expensive to
notice: six attempts with backoff take half a minute per request, and a run of a thousand rows
would mark every row ``llm_error`` after many minutes. The breaker watches two things:

- **Unreachable.** Attempts that got no HTTP answer at all (connection refused, DNS, timeouts)
  while no attempt of the run has ever been answered: after ``unreachable_after`` of them in a row
  the endpoint is taken to be wrong or down, within seconds (the first retries wait 1-2 s each).
- **Failing.** Requests that failed after all their retries, over a window of the last ``window``
  finished requests: when ``failing_share`` of a full window failed, or the first
  ``unreachable_after`` requests of the run failed with none succeeding, the endpoint is failing
  on nearly every request. Rows that fail among rows that succeed (a few bad rows, a flaky server)
  never fill a window, so such a run goes on and reports those rows.

Only failures the endpoint is responsible for count (rate limits, 5xx, timeouts, connection
errors, unreadable replies); a row rejected for its own content (too long for the context, a 400)
says nothing about the endpoint, nor does a 429 that a client without retries did not wait out (the
server is up and pacing the run: the client tells the breaker nothing of it).

Search clients keep one too (``fatal`` names the error it raises): a search backend that never
answers would otherwise cost every row its retries and leave the whole output without evidence.

A tripped breaker stays tripped for ``cooldown`` seconds, long enough for the run it stopped to end,
then starts counting afresh: a client kept in a notebook works again once the server is back,
without being built anew (its next run would otherwise be refused at once, forever).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable

from .._exceptions import FatalLLMError, RealignError

__all__ = ["Breaker"]


def _llm_stopped(reason: str) -> RealignError:
    return FatalLLMError(reason, code="stopped")


class Breaker:
    """Counts attempts and finished requests of one client; :meth:`check` raises once it has tripped."""

    def __init__(
        self,
        endpoint: str,
        *,
        unreachable_after: int = 3,
        window: int = 20,
        failing_share: float = 0.9,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        fatal: Callable[[str], RealignError] = _llm_stopped,
        retried: bool = True,
    ) -> None:
        self.endpoint = endpoint
        #: whether requests are retried before they fail (not with max retries 0): said in the stop's message
        self.retried = retried
        self._fatal = fatal
        self.unreachable_after, self.window, self.failing_share = unreachable_after, window, failing_share
        self.cooldown, self._clock = cooldown, clock
        self._reset()

    def _reset(self) -> None:
        self._answered = False  # some attempt got an HTTP answer
        self._succeeded = False  # some request succeeded
        self._unanswered = 0  # attempts in a row without an HTTP answer, before any answer
        self._recent: deque[str | None] = deque(maxlen=self.window)  # None: succeeded, else the error code
        self._tripped_at = 0.0
        self.reason: str | None = None

    def _trip(self, reason: str) -> None:
        self.reason, self._tripped_at = reason, self._clock()

    def check(self) -> None:
        """Raise ``fatal(reason)`` (:class:`FatalLLMError` by default) if the breaker has tripped (and its
        cool-down has not passed)."""
        if self.reason is None:
            return
        if self._clock() - self._tripped_at >= self.cooldown:
            self._reset()  # a later run: the endpoint gets a fresh trial
            return
        raise self._fatal(self.reason)

    def answered(self) -> None:
        """An attempt got an HTTP answer (any status): the endpoint is reachable."""
        self._answered = True

    def unanswered(self, error: str) -> None:
        """An attempt got no HTTP answer (``error`` says why: cannot connect, timed out)."""
        if self._answered or self.reason is not None:
            return
        self._unanswered += 1
        if self._unanswered >= self.unreachable_after:
            self._trip(f"{self.endpoint} is unreachable: {error} on {self._unanswered} attempts, none answered")

    def finished(self, code: str | None) -> None:
        """A request ended: ``code`` None when it succeeded, else its ``llm_error`` code."""
        if code is None:
            self._succeeded = True
        self._recent.append(code)
        if self.reason is not None or code is None:
            return
        failed = [c for c in self._recent if c is not None]
        first_all_failed = not self._succeeded and len(failed) >= self.unreachable_after
        window_failed = len(self._recent) == self.window and len(failed) >= self.failing_share * self.window
        if first_all_failed or window_failed:
            common = ", ".join(f"{c} {n}" for c, n in Counter(failed).most_common())
            self._trip(
                f"{self.endpoint} is failing on nearly every request: {len(failed)} of the last "
                f"{len(self._recent)} failed {'after their retries' if self.retried else 'without retries'} ({common})"
            )
