"""The garbage collector during a run of many rows.

A run keeps hundreds of requests in flight for a second or more each, so nearly every object a row
makes is still alive at the next young-generation collection (every 700 net allocations by
default): it is scanned there, promoted, and scanned again by the older generations, whose
collections also walk everything the process had before the run. At 100 rows in flight that is
about a tenth of realign's own CPU per row (benchmarks/scale.py). While a run goes on, young
collections run every 10,000 allocations instead: most of a row's objects are gone by then, and
the older generations, counted in young collections, are reached far less often. The thresholds
are given back when the last run ends; a process that switched the collector off, or set its own
young threshold above ours, is left alone.

(``gc.freeze()`` of the objects found at the start was measured too: it saves a little more, but
cyclic garbage made before the run then outlives it, which moves finalizers - ResourceWarnings of
files someone forgot to close, for one - to some later moment.)
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["run_gc"]

_YOUNG_THRESHOLD = 10_000

_lock = threading.Lock()
_runs = 0
_saved: tuple[int, int, int] | None = None  # the thresholds to give back; None: not changed


@contextlib.contextmanager
def run_gc() -> Iterator[None]:
    """Collector thresholds for the duration of a run (runs may nest or overlap)."""
    global _runs, _saved
    with _lock:
        if _runs == 0:
            young, middle, old = gc.get_threshold()
            if gc.isenabled() and 0 < young < _YOUNG_THRESHOLD:
                _saved = (young, middle, old)
                gc.set_threshold(_YOUNG_THRESHOLD, middle, old)
        _runs += 1
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0 and _saved is not None:
                if gc.get_threshold()[0] == _YOUNG_THRESHOLD:  # unless someone set their own meanwhile
                    gc.set_threshold(*_saved)
                _saved = None
