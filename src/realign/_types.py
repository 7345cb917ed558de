"""The seams of the pipeline: each is one method, injected through the ``Pipeline`` constructor.

- :class:`LLM` - ``complete(request) -> Completion`` (the rewriter and the LLM classifier use it)
- :class:`Classifier` - ``classify(instruction) -> TaskPrediction``
- :class:`SearchClient` - ``search(query) -> list[Evidence]``
- :data:`Check` - ``check(item) -> bool | (bool, "why")`` (True keeps the rewrite)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ._models import Evidence, TaskPrediction, Usage

__all__ = [
    "LLM",
    "Budget",
    "BudgetUser",
    "ChatRequest",
    "Check",
    "CheckInput",
    "CheckResult",
    "Choice",
    "Classifier",
    "Completion",
    "SearchClient",
]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat-completion request, independent of any SDK."""

    messages: tuple[tuple[str, str], ...]
    """(role, content) pairs."""
    n: int = 1
    temperature: float = 0.3
    top_p: float = 1.0
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    """One choice of a completion: its text and why generation stopped (``"length"`` = cut off).

    ``logprobs``: (token, log-probability) of each generated token, when the server returned them.
    """

    text: str
    finish_reason: str | None = "stop"
    logprobs: tuple[tuple[str, float], ...] | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """What an :class:`LLM` returns for one request."""

    choices: list[Choice]
    usage: Usage = field(default_factory=Usage)


@runtime_checkable
class LLM(Protocol):
    """A chat model. ``identity`` names the endpoint and model (it keys the cache)."""

    @property
    def identity(self) -> str: ...

    async def complete(self, request: ChatRequest) -> Completion: ...


@runtime_checkable
class Classifier(Protocol):
    """Maps an instruction to one task name."""

    async def classify(self, instruction: str) -> TaskPrediction: ...


#: Sends one request (to whichever endpoint a caller uses) and returns its completion.
Send = Callable[[ChatRequest], Awaitable[Completion]]


@runtime_checkable
class Budget(Protocol):
    """A run's shared bounds on model calls: the response cache, the concurrency limit and the rate
    limits. ``spend`` answers ``request`` from the cache (keyed by ``identity`` and ``salt``) or sends
    it with ``send`` inside the bounds; the completion's ``usage`` is what the call cost."""

    async def spend(self, identity: str, request: ChatRequest, send: Send, *, salt: str = "") -> Completion: ...


@runtime_checkable
class BudgetUser(Protocol):
    """A collaborator that makes model calls of its own (an LLM classifier): the pipeline hands it its
    :class:`Budget` when built, so those calls share the run's limits, cache and bill."""

    def use_budget(self, budget: Budget) -> None: ...


@runtime_checkable
class SearchClient(Protocol):
    """Finds evidence for a query. Raises ``SearchError`` (or ``FatalSearchError``) on failure."""

    async def search(self, query: str) -> list[Evidence]: ...


@dataclass(frozen=True, slots=True)
class CheckInput:
    """What a check sees of one candidate rewrite."""

    task: str
    question: str
    original: str
    rewrite: str
    finish_reason: str | None = "stop"
    evidence: Sequence[Evidence] = ()


#: What a check answers: True keeps the rewrite; False, or ``(False, "why")`` with a one-line
#: explanation, refuses it (``(True, ...)`` keeps).
CheckResult = bool | tuple[bool, str | None]

#: A check: answers whether the rewrite may be kept (see :data:`CheckResult`). Its ``name``
#: attribute (or ``__name__``) becomes the rejection reason ``filter:<name>``.
Check = Callable[[CheckInput], CheckResult]
