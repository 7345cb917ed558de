"""The garbage collector during a run of many rows.

A run keeps hundreds of requests in flight for a second or more each, so nearly every object a row
makes outlives a young-generation collection, is promoted, and is scanned again by the older ones,
along with everything the process had before the run (modules, templates, the checks' tables).
At 100 rows in flight that is about a tenth of realign's own CPU per row (benchmarks/scale.py).
While a run goes on, the objects that existed before it are frozen (never scanned) and young
collections run less often; both are undone when the last run ends, so nothing is leaked and the
host process gets its collector back as it was. A process that froze objects itself, or switched
the collector off, is left alone.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["run_gc"]

# Young collections every 5,000 net allocations instead of 700: most objects of a row die before.
_YOUNG_THRESHOLD = 5000

_lock = threading.Lock()
_runs = 0
_saved: tuple[int, int, int] | None = None  # the thresholds to restore; None: the collector is not ours


@contextlib.contextmanager
def run_gc() -> Iterator[None]:
    """Collector settings for the duration of a run (runs may nest or overlap)."""
    global _runs, _saved
    with _lock:
        young, middle, old = gc.get_threshold()
        if _runs == 0 and gc.isenabled() and gc.get_freeze_count() == 0 and young > 0:
            _saved = (young, middle, old)
            gc.freeze()
            gc.set_threshold(max(young, _YOUNG_THRESHOLD), middle, old)
        _runs += 1
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                gc.unfreeze()
                _saved = None
