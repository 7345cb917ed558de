"""Several OpenAI-compatible servers serving one model: the fewest-in-flight choice, the rotation, hedging.

Each request goes to the replica with the fewest requests in flight (ties: the one that served the
fewest calls, so a quiet fleet still shares evenly). A replica that refuses connections, or answers
with a server error several times in a row, leaves the rotation for a cooldown that doubles on
each new failure (up to a cap); after it, one probe request at a time is sent to it until one is
answered, and then it is back in full.

A replica can also fail silently: it accepts the connection and never answers (a wedged GPU worker,
a proxy whose backend is gone). Waiting ``--timeout`` for each of its requests stalls a run whose
output is written in order. The pool therefore keeps the latency of recent answers (the tail at
scale: Dean and Barroso's hedged requests, as gRPC and Envoy offer them): a request unanswered after
a delay well above what the fleet's answers take (twice their 95th percentile, at least
``hedge_floor``; four times the slowest answer while fewer than ``hedge_samples`` were seen) is sent
again to another replica in the rotation, the first answer wins and the
other request is cancelled. A replica whose requests keep losing to their hedge (``failures_to_leave``
in a row) counts as failing and leaves the rotation like one answering 5xx (outlier ejection; the
probe after its cooldown is hedged too). Hedges are bounded: at most one per request, and no more
hedges in flight than half the requests in flight, so a fleet that is slow everywhere is not sent
twice the work.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["Replica", "ReplicaPool"]

log = logging.getLogger("realign")


@dataclass
class Replica:
    """One endpoint of a fleet and its counters."""

    url: str
    in_flight: int = 0
    calls: int = 0
    errors: int = 0
    #: failures since the last answer (a refused connection or a 5xx); 0 = healthy
    failures: int = 0
    down_until: float = 0.0
    cooldown: float = field(default=0.0, repr=False)
    #: calls that were hedges of a request first sent to another replica
    hedges: int = 0
    #: its calls cancelled because their hedge, on another replica, was answered first
    lost: int = 0
    #: when it last answered (``time.monotonic()``; 0: never)
    answered_at: float = 0.0


class ReplicaPool:
    """Chooses a replica per request and keeps failing ones out of the rotation for a while."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        failures_to_leave: int = 3,
        cooldown: float = 2.0,
        max_cooldown: float = 60.0,
        hedge_floor: float = 0.5,
        hedge_samples: int = 20,
    ) -> None:
        self.replicas = [Replica(url, cooldown=cooldown) for url in urls]
        self.failures_to_leave = failures_to_leave
        self.base_cooldown, self.max_cooldown = cooldown, max_cooldown
        #: the shortest hedge delay (seconds), and the answers to see before hedging at all
        self.hedge_floor, self.hedge_samples = hedge_floor, hedge_samples
        self._latencies: deque[float] = deque(maxlen=256)  # seconds, of the fleet's recent answers
        self._delay: float | None = None  # the hedge delay, recomputed every few answers
        self._since_delay = 0
        #: requests in flight (first sends), and hedges in flight
        self.requests_in_flight = 0
        self.hedges_in_flight = 0

    def __len__(self) -> int:
        return len(self.replicas)

    def _usable(self, replica: Replica, now: float) -> bool:
        if replica.down_until > now:
            return False
        # Back from a cooldown but not yet answering: one probe at a time.
        return replica.failures < self.failures_to_leave or replica.in_flight == 0

    def pick(self, exclude: Iterable[Replica] = ()) -> Replica:
        """The replica for the next request; when every one is out, the one due back first."""
        if len(self.replicas) == 1:
            return self.replicas[0]
        now = time.monotonic()
        skip = {id(r) for r in exclude}
        usable = [r for r in self.replicas if id(r) not in skip and self._usable(r, now)]
        if usable:
            return min(usable, key=lambda r: (r.in_flight, r.calls))
        others = [r for r in self.replicas if id(r) not in skip] or self.replicas
        return min(others, key=lambda r: (r.down_until, r.in_flight))

    def any_usable(self, exclude: Iterable[Replica] = ()) -> bool:
        """Whether a replica other than those in ``exclude`` is in the rotation now."""
        now = time.monotonic()
        skip = {id(r) for r in exclude}
        return any(id(r) not in skip and self._usable(r, now) for r in self.replicas)

    def answered(self, replica: Replica, seconds: float | None = None) -> None:
        """The replica answered (any HTTP answer but a 5xx): it is healthy. ``seconds``: how long the
        answer took, when it was a completion (the hedge delay is drawn from these)."""
        replica.answered_at = time.monotonic()
        if seconds is not None:
            self._latencies.append(seconds)
            self._since_delay += 1
        if replica.failures:
            if replica.failures >= self.failures_to_leave and len(self.replicas) > 1:
                log.warning("replica %s answers again: back in the rotation", replica.url)
            replica.failures, replica.down_until, replica.cooldown = 0, 0.0, self.base_cooldown

    def failed(self, replica: Replica, *, refused: bool) -> None:
        """The replica refused a connection (``refused``) or answered with a server error."""
        replica.errors += 1
        self._strike(replica, refused=refused)

    def _strike(self, replica: Replica, *, refused: bool) -> None:
        replica.failures = max(replica.failures + 1, self.failures_to_leave if refused else 0)
        if replica.failures < self.failures_to_leave or len(self.replicas) == 1:
            return
        now = time.monotonic()
        if replica.down_until > now:  # already out: requests sent before it left do not extend it
            return
        replica.down_until = now + replica.cooldown
        log.warning(
            "replica %s %s: out of the rotation for %g s",
            replica.url,
            "refuses connections" if refused else "keeps failing or not answering",
            replica.cooldown,
        )
        replica.cooldown = min(self.max_cooldown, replica.cooldown * 2)

    def hedge_delay(self) -> float | None:
        """Seconds to wait for an answer before hedging a request; None before any answer was seen.

        Twice the 95th percentile of recent answers once ``hedge_samples`` were seen; before that, four times
        the slowest answer yet (a short run, or a run's first seconds, still gets its silent replica's requests
        hedged, later than a percentile would allow)."""
        seen = len(self._latencies)
        if seen == 0:
            return None
        if seen < self.hedge_samples:
            return max(self.hedge_floor, 4.0 * max(self._latencies))
        if self._delay is None or self._since_delay >= 16:  # a sort per 16 answers, not per request
            ordered = sorted(self._latencies)
            p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
            self._delay, self._since_delay = max(self.hedge_floor, 2.0 * p95), 0
        return self._delay

    def may_hedge(self, holder: Replica) -> bool:
        """Whether a request held by ``holder`` may be hedged now: another replica is in the rotation
        and hedges in flight stay within half the requests in flight."""
        if self.hedges_in_flight + 1 > max(1, self.requests_in_flight // 2):
            return False
        return self.any_usable([holder])

    def lost_hedge(self, replica: Replica) -> None:
        """A request to ``replica`` was answered by its hedge first: as good as a timeout, for the
        replica's standing (a slow one loses now and then, a silent one every time). Not an error:
        the request was cancelled, not failed."""
        replica.lost += 1
        self._strike(replica, refused=False)

    def silent_outlier(self, replica: Replica, since: float) -> bool:
        """Whether ``replica`` answered nothing since ``since`` while another replica did: a timeout of
        its own, not a fleet too busy to answer in time."""
        if len(self.replicas) == 1 or replica.answered_at >= since:
            return False
        return any(r.answered_at >= since for r in self.replicas if r is not replica)

    def summary(self) -> str:
        """``url: N calls, E errors`` for each replica, in the order given; then ``H hedges`` (its calls that
        hedged another replica's request) and ``L lost to a hedge`` (its calls cancelled because their
        hedge was answered first), when there are any."""
        return ", ".join(
            f"{r.url}: {r.calls} calls, {r.errors} errors"
            + (f", {r.hedges} hedges" if r.hedges else "")
            + (f", {r.lost} lost to a hedge" if r.lost else "")
            for r in self.replicas
        )
