"""Objects that belong to one event loop (a lock, a semaphore, a connection pool), made again on another.

asyncio's locks and semaphores bind to the loop they first wait on, and a connection keeps the loop it
was opened on: a :class:`~realign.Pipeline` run a second time under a new ``asyncio.run`` (a script that
runs one batch after another) would otherwise fail every request of the second run with ``RuntimeError``
("bound to a different event loop", "Event loop is closed"), each row ending ``llm_error:RuntimeError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["PerLoop"]

T = TypeVar("T")


class PerLoop(Generic[T]):
    """The value ``make()`` built for the running event loop; built again when the loop is another."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._loop: asyncio.AbstractEventLoop | None = None
        self._value: T | None = None

    def get(self) -> T:
        """The running loop's value (call from a coroutine)."""
        loop = asyncio.get_running_loop()
        if self._value is None or self._loop is not loop:
            self._value, self._loop = self._make(), loop
        return self._value

    @property
    def current(self) -> T | None:
        """The value last built, if any, without building one (to close it)."""
        return self._value
