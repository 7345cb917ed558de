"""Several OpenAI-compatible servers serving one model: the fewest-in-flight choice and the rotation.

Each request goes to the replica with the fewest requests in flight (ties: the one that served the
fewest calls, so a quiet fleet still shares evenly). A replica that refuses connections, or answers
with a server error several times in a row, leaves the rotation for a cooldown that doubles on
each new failure (up to a cap); after it, one probe request at a time is sent to it until one is
answered, and then it is back in full.
"""

from __future__ import annotations

import logging
import time
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


class ReplicaPool:
    """Chooses a replica per request and keeps failing ones out of the rotation for a while."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        failures_to_leave: int = 3,
        cooldown: float = 2.0,
        max_cooldown: float = 60.0,
    ) -> None:
        self.replicas = [Replica(url, cooldown=cooldown) for url in urls]
        self.failures_to_leave = failures_to_leave
        self.base_cooldown, self.max_cooldown = cooldown, max_cooldown

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

    def answered(self, replica: Replica) -> None:
        """The replica answered (any HTTP answer but a 5xx): it is healthy."""
        if replica.failures:
            if replica.failures >= self.failures_to_leave and len(self.replicas) > 1:
                log.warning("replica %s answers again: back in the rotation", replica.url)
            replica.failures, replica.down_until, replica.cooldown = 0, 0.0, self.base_cooldown

    def failed(self, replica: Replica, *, refused: bool) -> None:
        """The replica refused a connection (``refused``) or answered with a server error."""
        replica.errors += 1
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
            "refuses connections" if refused else "keeps failing",
            replica.cooldown,
        )
        replica.cooldown = min(self.max_cooldown, replica.cooldown * 2)

    def summary(self) -> str:
        """``url: N calls, E errors`` for each replica, in the order given."""
        return ", ".join(f"{r.url}: {r.calls} calls, {r.errors} errors" for r in self.replicas)
