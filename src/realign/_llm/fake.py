"""A scripted LLM for tests and offline demos; it plugs in wherever :class:`OpenAIChat` does."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from .._exceptions import LLMError
from .._models import Usage
from .._types import ChatRequest, Choice, Completion

__all__ = ["FakeLLM"]

Reply = str | Choice | Completion | BaseException


class FakeLLM:
    """An LLM that answers from a script instead of a server.

    ``replies`` is either a list of replies served in order (each a reply text, a ``Choice``, a whole
    ``Completion`` or an exception to raise) or a function of the request returning one of those.
    With neither, every request gets :attr:`DEFAULT_REPLY`, a fixed well-formed reply that reads
    nothing of the request (so it does not depend on the prompt templates). Each
    text reply becomes one choice; for ``n > 1`` up to ``n`` queued texts are used. Every request is
    recorded in ``requests``.
    """

    #: The rewrite of :attr:`DEFAULT_REPLY`: a fixed text, whatever the prompt says.
    DEFAULT_REWRITE = "This is FakeLLM's default reply: give it replies to script the rewrites."
    #: What a FakeLLM without a script answers, to every request and with any prompt templates:
    #: well-formed in the rewrite protocol (it reads nothing of the request).
    DEFAULT_REPLY = f"Reasoning: FakeLLM has no scripted replies.\nRevised response:\n{DEFAULT_REWRITE}"

    def __init__(
        self,
        replies: Iterable[Reply] | Callable[[ChatRequest], Reply] | None = None,
        *,
        identity: str = "fake|fake-model",
        usage: Usage | None = None,
    ) -> None:
        self._func: Callable[[ChatRequest], Reply] | None = None
        self._queue: deque[Reply] = deque()
        if callable(replies):
            self._func = replies
        elif replies is not None:
            self._queue.extend(replies)
        else:
            self._func = self._default_reply
        self._identity = identity
        self._usage = usage or Usage(prompt_tokens=100, completion_tokens=50)
        self.requests: list[ChatRequest] = []

    @property
    def identity(self) -> str:
        return self._identity

    def _default_reply(self, request: ChatRequest) -> str:
        return self.DEFAULT_REPLY

    async def aclose(self) -> None:
        """Nothing to release; here because every :class:`~realign.LLM` can be closed."""

    def enqueue(self, *replies: Reply) -> None:
        """Add replies to the end of the script."""
        self._queue.extend(replies)

    async def complete(self, request: ChatRequest) -> Completion:
        self.requests.append(request)
        if self._func is not None:
            return self._completion(self._func(request))
        if not self._queue:
            raise LLMError("FakeLLM has no scripted reply left", code="fake_exhausted")
        first = self._queue.popleft()
        if not isinstance(first, str):
            return self._completion(first)
        texts = [first]
        while len(texts) < request.n and self._queue and isinstance(self._queue[0], str):
            texts.append(str(self._queue.popleft()))
        return Completion([Choice(t) for t in texts], self._usage_for(len(texts)))

    def _completion(self, reply: Reply) -> Completion:
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, Completion):
            return reply
        choice = reply if isinstance(reply, Choice) else Choice(reply)
        return Completion([choice], self._usage_for(1))

    def _usage_for(self, choices: int) -> Usage:
        u = self._usage
        return Usage(
            prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens * choices,
            cached_tokens=u.cached_tokens,
            calls=1,
        )
