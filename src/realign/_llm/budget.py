"""The bounds of a model-calling collaborator used outside a pipeline (an LLM classifier, a verifier)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from .._exceptions import UsageError
from .._loops import PerLoop
from .._types import LLM, ChatRequest, Completion, DeferredLLM, Send, identity_of
from .cache import Cache, InFlight, request_key, sent_and_stored

__all__ = ["OwnBudget", "caller_identity", "spend_cached"]


async def spend_cached(
    cache: Cache | None,
    identity: str,
    request: ChatRequest,
    salt: str,
    defer: DeferredLLM | None,
    send: Callable[[], Awaitable[Completion]],
    in_flight: InFlight | None = None,
) -> Completion:
    """The cache rule of every :class:`~realign.Budget`: the cached answer to ``request`` if there is one;
    else, with ``defer`` (a Batch API collect run), the request handed to it with the key its answer will
    be stored under; else ``send()``'s answer, stored when it has choices (with ``in_flight``, sent once
    for identical requests in flight at once)."""
    key = request_key(identity, request, salt) if cache is not None else None
    if cache is not None and key is not None:
        hit = cache.get(key)
        if hit is not None and hit.choices:
            return hit
    if defer is not None:
        if key is None:
            raise UsageError(f"{type(defer).__qualname__} answers through the response cache: give a cache")
        return await defer.complete_keyed(request, key)
    if cache is None or key is None:
        return await send()
    if in_flight is None:
        return await sent_and_stored(cache, key, send)
    return await in_flight.stored(key, cache, send)


def caller_identity(llm: LLM, cache: Cache | None) -> str:
    """What keys the answers of a collaborator that asks ``llm`` (an LLM classifier, a verifier): the LLM's
    identity, else one no other collaborator, run or process shares (its answers are then cached for its
    own life only, never mixed up). A cache needs a real identity: UsageError without one."""
    identity = identity_of(llm)
    if cache is not None and identity is None:
        raise UsageError(
            f"a cache keys answers by the LLM's identity, and {type(llm).__qualname__} has none: give it an "
            "`identity` property naming everything that changes its answers (endpoint, model), or drop cache="
        )
    return identity or f"{type(llm).__qualname__}|{uuid.uuid4().hex}"


class OwnBudget:
    """A :class:`~realign.Budget` of one's own: ``cache`` (None: none) and at most ``concurrency`` calls at
    once. A :class:`~realign.Pipeline` replaces it with its own when the collaborator is handed to it."""

    def __init__(self, cache: Cache | None, concurrency: int) -> None:
        self.cache, self.concurrency = cache, concurrency
        # A semaphore binds to the loop it first waits on: a run under another asyncio.run gets its own.
        self._limit = PerLoop(lambda: asyncio.Semaphore(self.concurrency))

    async def spend(
        self, identity: str, request: ChatRequest, send: Send, *, salt: str = "", defer: DeferredLLM | None = None
    ) -> Completion:
        async def bounded() -> Completion:
            async with self._limit.get():
                return await send(request)

        return await spend_cached(self.cache, identity, request, salt, defer, bounded)
