"""LLM task classifiers: a chat prompt, a raw completion prompt, and the embedded-then-LLM cascade.

Whatever the model answers is read for task names (case, quotes, backticks, extra words, a name
written with spaces, a description instead of a name). One name is the answer; several make it
ambiguous (the first named wins, with confidence 1/k, and a cascade keeps its embedded guess); none
gives ``default`` with confidence 0. When the server returns token log-probabilities (the
completion endpoint does), the confidence is the probability the model gave the name it wrote.

Model calls go through a :class:`~realign.Budget`: the pipeline's, once the classifier is handed to
a :class:`~realign.Pipeline` (the run's concurrency, rate limits, cache and token count), else a
small one of the classifier's own (its ``cache`` and ``concurrency``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from .._exceptions import FatalLLMError, LLMError
from .._llm.budget import OwnBudget, caller_identity
from .._llm.cache import Cache
from .._models import TaskPrediction
from .._tasks import DEFAULT_TASK, TASKS, Task
from .._templates import Prompts
from .._types import (
    LLM,
    Budget,
    BudgetUser,
    ChatRequest,
    Choice,
    Classifier,
    Completion,
    TextLLM,
)

__all__ = [
    "CascadeClassifier",
    "CompletionClassifier",
    "LLMClassifier",
    "classify_prompt",
    "named_tasks",
    "normalise_task",
]

_WORD = re.compile(r"[a-z0-9]+")
_PUNCTUATION = re.compile(r"[`'\"*.:,;!()\[\]{}<>]")


def named_tasks(answer: str, tasks: Mapping[str, Task] = TASKS) -> list[str]:
    """The task names a model's answer mentions, in the order it mentions them.

    The answer's first line being exactly a name (after stripping case, quotes, backticks and
    punctuation) is that one name. Otherwise every name inside the answer counts, also written with
    spaces ("open qa"), except one that is only part of a longer name found at the same place
    (``text_to_code_translation`` names one task, not two); failing that, a task's description.
    """
    text = answer.strip().lower()
    if not text:
        return []
    cleaned = _PUNCTUATION.sub(" ", text.splitlines()[0]).strip()
    candidate = re.sub(r"[\s-]+", "_", cleaned)
    if candidate in tasks:
        return [candidate]
    joined = "_".join(_WORD.findall(text))
    spans = [
        (match.start(1), match.end(1), name)
        for name in tasks
        for match in re.finditer(rf"(?:^|_)({re.escape(name)})(?=_|$)", joined)
    ]
    inside = {
        span
        for span in spans
        for other in spans
        if other[1] - other[0] > span[1] - span[0] and other[0] <= span[0] and span[1] <= other[1]
    }
    found = [name for _, _, name in sorted(set(spans) - inside)]
    if not found:
        described = [(text.find(task.description.lower().rstrip(".")), name) for name, task in tasks.items()]
        found = [name for at, name in sorted(described) if at >= 0]
    return list(dict.fromkeys(found))


def normalise_task(answer: str, tasks: Mapping[str, Task] = TASKS) -> str | None:
    """The one task name a model's answer means; None when it names none, or several (ambiguous)."""
    found = named_tasks(answer, tasks)
    return found[0] if len(found) == 1 else None


def _name_probability(choice: Choice, name: str) -> float | None:
    """The probability the model gave the tokens that spell ``name`` (from the start of its answer),
    or None without log-probabilities."""
    if not choice.logprobs:
        return None
    written, total = "", 0.0
    for token, logprob in choice.logprobs:
        written += token
        total += logprob
        if name in "_".join(_WORD.findall(written.lower())):
            break
    return math.exp(total)


def classify_prompt(
    instruction: str,
    tasks: Mapping[str, Task] = TASKS,
    *,
    template: str = "classify_chat",
    prompts: Prompts | None = None,
) -> str:
    """The prompt a classifier sends for ``instruction`` (``template``: ``classify_chat`` for
    :class:`LLMClassifier`, ``classify_completion`` for :class:`CompletionClassifier`); the dry run counts it."""
    return (prompts or Prompts()).render(template, {"tasks": list(tasks.values()), "instruction": instruction.strip()})


class _PromptClassifier:
    """Shared part of the chat and completion classifiers: the prompt, reading the answer, and the
    budget every model call is made in."""

    source = "llm"

    def __init__(
        self,
        tasks: Mapping[str, Task] | None,
        prompts: Prompts | None,
        template: str,
        *,
        max_tokens: int,
        cache: Cache | None,
        concurrency: int,
    ) -> None:
        self.tasks = dict(tasks if tasks is not None else TASKS)
        self._prompts = prompts or Prompts()
        self._template = template
        self.max_tokens = max_tokens
        self.cache = cache
        self.concurrency = concurrency
        self._budget: Budget = OwnBudget(cache, concurrency)

    def use_budget(self, budget: Budget) -> None:
        """Make every later call inside ``budget`` (the pipeline's: its limits, cache and bill)."""
        self._budget = budget

    async def classify(self, instruction: str) -> TaskPrediction:
        prompt = classify_prompt(instruction, self.tasks, template=self._template, prompts=self._prompts)
        request = ChatRequest((("user", prompt),), n=1, temperature=0.0, top_p=1.0, max_tokens=self.max_tokens)
        completion = await self._budget.spend(self._identity(), request, self._send, salt=self._template)
        return self._prediction(completion)

    def _identity(self) -> str:
        raise NotImplementedError

    async def _send(self, request: ChatRequest) -> Completion:
        raise NotImplementedError

    def _prediction(self, completion: Completion) -> TaskPrediction:
        choice = completion.choices[0] if completion.choices else Choice("")
        found = named_tasks(choice.text, self.tasks)
        if not found:
            return TaskPrediction(
                task=DEFAULT_TASK, confidence=0.0, source=self.source, named=False, usage=completion.usage
            )
        probability = _name_probability(choice, found[0])
        confidence = (1.0 if probability is None else probability) / len(found)
        return TaskPrediction(
            task=found[0],
            confidence=round(confidence, 4),
            source=self.source,
            alternatives=tuple(found[1:]),
            usage=completion.usage,
        )


class LLMClassifier(_PromptClassifier):
    """Classifies with a chat model (any :class:`~realign.LLM`): greedy decoding, a short answer.

    ``cache`` (e.g. the pipeline's :class:`~realign.SQLiteCache`) makes re-runs free; at most
    ``concurrency`` calls are in flight. A cache keys answers by the LLM's ``identity``
    (:class:`~realign.Identified`): with ``cache=``, an LLM without one is a :class:`~realign.UsageError`.
    """

    def __init__(
        self,
        llm: LLM,
        *,
        tasks: Mapping[str, Task] | None = None,
        prompts: Prompts | None = None,
        max_tokens: int = 20,
        cache: Cache | None = None,
        concurrency: int = 16,
    ) -> None:
        super().__init__(tasks, prompts, "classify_chat", max_tokens=max_tokens, cache=cache, concurrency=concurrency)
        self.identity = caller_identity(llm, cache)
        self.llm = llm

    def _identity(self) -> str:
        return self.identity

    async def aclose(self) -> None:
        """Close the LLM it asks."""
        await self.llm.aclose()

    async def _send(self, request: ChatRequest) -> Completion:
        return await self.llm.complete(request)


class CompletionClassifier(_PromptClassifier):
    """Classifies with a raw prompt on ``/v1/completions`` (no chat template), as a fine-tuned
    classifier served by vLLM expects (the public ReAlign classifier reads such a prompt).

    ``chat`` is any :class:`~realign.TextLLM` (``identity``, ``complete_text``, ``aclose``), such as
    :class:`~realign.OpenAIChat`."""

    source = "completion"

    def __init__(
        self,
        chat: TextLLM,
        *,
        tasks: Mapping[str, Task] | None = None,
        prompts: Prompts | None = None,
        max_tokens: int = 50,
        cache: Cache | None = None,
        concurrency: int = 16,
    ) -> None:
        super().__init__(
            tasks, prompts, "classify_completion", max_tokens=max_tokens, cache=cache, concurrency=concurrency
        )
        self.chat = chat  # reuses its client, retry policy and error translation

    def _identity(self) -> str:
        return self.chat.identity + "|completions"

    async def aclose(self) -> None:
        """Close the model it asks."""
        await self.chat.aclose()

    async def _send(self, request: ChatRequest) -> Completion:
        # One token's log-probability each: enough to say how sure the model was of the name it wrote.
        return await self.chat.complete_text(request.messages[0][1], max_tokens=self.max_tokens, logprobs=1)


class CascadeClassifier:
    """The embedded classifier first; rows it is unsure of (confidence < ``threshold``) go to ``fallback``.

    The embedded guess is kept (with its confidence) when the fallback fails, or answers with no task
    name or several: a vague answer is no better than the guess. ``counts`` says how many rows each
    way went: ``embedded`` (sure enough), ``llm`` (the fallback decided), ``llm_unclear`` (its answer
    named no task or several) and ``llm_failed``.
    """

    def __init__(self, first: Classifier, fallback: Classifier, *, threshold: float = 0.5) -> None:
        self.first, self.fallback, self.threshold = first, fallback, threshold
        self.counts = {"embedded": 0, "llm": 0, "llm_unclear": 0, "llm_failed": 0}

    def use_budget(self, budget: Budget) -> None:
        for side in (self.first, self.fallback):
            if isinstance(side, BudgetUser):
                side.use_budget(budget)

    async def classify(self, instruction: str) -> TaskPrediction:
        guess = await self.first.classify(instruction)
        if guess.confidence >= self.threshold:
            self.counts["embedded"] += 1
            return guess
        try:
            answer = await self.fallback.classify(instruction)
        except FatalLLMError:
            raise
        except LLMError:
            self.counts["llm_failed"] += 1
            return guess
        if not answer.named or answer.alternatives:
            self.counts["llm_unclear"] += 1
            return guess.model_copy(update={"usage": guess.usage + answer.usage})  # the call was made: bill it
        self.counts["llm"] += 1
        return answer

    async def aclose(self) -> None:
        """Close both classifiers."""
        await self.first.aclose()
        await self.fallback.aclose()
