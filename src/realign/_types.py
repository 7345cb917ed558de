"""The seams of the pipeline: each is one method (and ``aclose``), injected through the ``Pipeline`` constructor.

- :class:`LLM` - ``complete(request) -> Completion`` (the rewriter and the LLM classifier use it)
- :class:`Classifier` - ``classify(instruction) -> TaskPrediction``
- :class:`SearchClient` - ``search(query) -> list[Evidence]``
- :data:`Check` - ``check(item) -> bool | (bool, "why")`` (True keeps the rewrite)
- :class:`Verifier` - ``verify(item) -> Judgement``: a second opinion on a rewrite the checks passed
  (and, as a :class:`Referee`, ``refer(item, flagged) -> Judgement`` on one only soft checks refused)

Clients also have ``aclose()``, which releases what they hold (connections, files); closing is part
of the seam, so whoever owns a client closes it without asking whether it can. Two optional seams
refine an LLM: :class:`Identified` (an ``identity`` that keys the response cache) and
:class:`DeferredLLM` (answers that arrive later through the cache: the Batch API).
:func:`missing_members` says what an object lacks to fill a seam.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, runtime_checkable

from ._models import Correction, Evidence, Overruled, TaskPrediction, Usage

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
    "DeferredLLM",
    "Identified",
    "Judgement",
    "Referee",
    "SearchClient",
    "TextLLM",
    "Verifier",
    "identity_of",
    "missing_members",
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
    """A chat model: ``complete`` answers one request, ``aclose`` releases its connections.

    An exception that is not a :class:`~realign.RealignError` fails the row that asked
    (``llm_error:<ExceptionName>``), not the run. To be used with a cache, an LLM also needs an
    ``identity`` (see :class:`Identified`).
    """

    async def complete(self, request: ChatRequest) -> Completion: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Identified(Protocol):
    """Has an ``identity``: a string naming every setting that changes its answers (endpoint, model,
    extra parameters; never a key). The response cache keys answers by it, so two clients that
    answer differently must not share one."""

    @property
    def identity(self) -> str: ...


@runtime_checkable
class DeferredLLM(Protocol):
    """An LLM whose answers arrive later, through the response cache (the Batch API's collector).

    A pipeline with a cache hands it each request that missed the cache *and* the key its answer
    will be stored under (``complete_keyed``), instead of calling ``complete``; it calls no API, so
    no rate limit applies. It raises ``LLMError`` for a request it cannot answer now.
    """

    async def complete_keyed(self, request: ChatRequest, key: str) -> Completion: ...


@runtime_checkable
class TextLLM(Protocol):
    """A model behind a raw text-completion endpoint (``/v1/completions``: no chat template), as the
    :class:`~realign.CompletionClassifier` needs; :class:`~realign.OpenAIChat` is one."""

    @property
    def identity(self) -> str: ...

    async def complete_text(self, prompt: str, *, max_tokens: int, logprobs: int | None = None) -> Completion: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Classifier(Protocol):
    """Maps an instruction to one task name."""

    async def classify(self, instruction: str) -> TaskPrediction: ...

    async def aclose(self) -> None: ...


#: Sends one request (to whichever endpoint a caller uses) and returns its completion.
Send = Callable[[ChatRequest], Awaitable[Completion]]


@runtime_checkable
class Budget(Protocol):
    """A run's shared bounds on model calls: the response cache, the concurrency limit and the rate
    limits. ``spend`` answers ``request`` from the cache (keyed by ``identity`` and ``salt``) or sends
    it with ``send`` inside the bounds; the completion's ``usage`` is what the call cost. ``defer``: the
    caller's model answers later through the cache (the Batch API's collector): a miss is handed to it
    with its key instead of being sent."""

    async def spend(
        self, identity: str, request: ChatRequest, send: Send, *, salt: str = "", defer: DeferredLLM | None = None
    ) -> Completion: ...


@runtime_checkable
class BudgetUser(Protocol):
    """A collaborator that makes model calls of its own (an LLM classifier): the pipeline hands it its
    :class:`Budget` when built, so those calls share the run's limits, cache and bill."""

    def use_budget(self, budget: Budget) -> None: ...


@dataclass(frozen=True, slots=True)
class Judgement:
    """A :class:`Verifier`'s answer: ``ok`` keeps the rewrite; else ``detail`` says why not (the rejection's
    ``detail``). ``usage`` is what the verifier's model calls cost (nothing when served from the cache).

    ``corrections``: on a row with evidence, the changes of fact the verifier found and checked against the
    texts (each old value in the original, the new one in the rewrite and in the evidence); an accepted row
    records them instead of the pipeline's own reading. None (the default): the verifier stated none, and the
    pipeline's reading stands."""

    ok: bool
    detail: str | None = None
    usage: Usage = field(default_factory=Usage)
    corrections: tuple[Correction, ...] | None = None


@runtime_checkable
class Verifier(Protocol):
    """A second opinion on a rewrite that passed the checks (``--verify``): does it keep every fact and the
    final answer of the original? A refusal becomes ``filter:verify``. Raising ``LLMError`` leaves the row
    undecided (it keeps its original with ``llm_error:<code>``, and a re-run asks again)."""

    async def verify(self, item: CheckInput) -> Judgement: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Referee(Verifier, Protocol):
    """A :class:`Verifier` that also decides referrals (``refer`` / ``--refer``): a candidate refused only by
    checks whose verdict is a judgement call (:data:`~realign.REFERABLE_CHECKS`) is shown to it with the
    checks' concerns (``flagged``: each check's name and detail). ``ok`` accepts the candidate, overruling
    the checks, and ``detail`` is then the reason recorded with them; a refusal keeps the check's."""

    async def refer(self, item: CheckInput, flagged: Sequence[Overruled]) -> Judgement: ...


@runtime_checkable
class SearchClient(Protocol):
    """Finds evidence for a query. Raises ``SearchError`` (or ``FatalSearchError``) on failure;
    any other exception makes the row go on without evidence (retrieval ``failed``)."""

    async def search(self, query: str) -> list[Evidence]: ...

    async def aclose(self) -> None: ...


def identity_of(obj: object) -> str | None:
    """``obj.identity`` when it has one (see :class:`Identified`), else None."""
    return obj.identity if isinstance(obj, Identified) else None


def missing_members(obj: object, seam: type) -> list[str]:
    """The methods and properties of ``seam`` (a protocol above, or ``Cache``) that ``obj`` lacks."""
    members = sorted(
        name
        for base in seam.__mro__
        if base not in (Protocol, Generic, object)
        for name, value in vars(base).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    )
    return [name for name in members if not hasattr(obj, name)]


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
