"""LLM task classifiers: a chat prompt, a raw completion prompt, and the embedded-then-LLM cascade.

Whatever the model answers is normalised to a known task name (case, quotes, backticks, extra
words, a description instead of a name); anything else becomes ``default``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping

from .._exceptions import FatalLLMError, LLMError
from .._llm.cache import Cache, request_key
from .._llm.openai_chat import OpenAIChat
from .._models import TaskPrediction
from .._tasks import DEFAULT_TASK, TASKS, Task
from .._templates import Prompts
from .._types import LLM, ChatRequest, Choice, Classifier, Completion

__all__ = ["CascadeClassifier", "CompletionClassifier", "LLMClassifier", "normalise_task"]

_WORD = re.compile(r"[a-z0-9]+")


def normalise_task(answer: str, tasks: Mapping[str, Task] = TASKS) -> str | None:
    """The task name a model's answer means, or None when it names none.

    Tries, in order: the exact name after stripping case, quotes, backticks and punctuation; a task
    name inside the answer (the longest, so ``code_to_text_translation`` beats ``text_to_text``);
    the words of a name written with spaces ("open qa"); a task's description.
    """
    text = answer.strip().lower()
    if not text:
        return None
    first_line = text.splitlines()[0]
    cleaned = re.sub(r"[`'\"*.:,;!()\[\]{}<>]", " ", first_line).strip()
    candidate = re.sub(r"[\s-]+", "_", cleaned)
    if candidate in tasks:
        return candidate
    joined = "_".join(_WORD.findall(text))
    found = [name for name in tasks if re.search(rf"(?:^|_){re.escape(name)}(?:_|$)", joined)]
    if found:
        return max(found, key=len)
    for name, task in tasks.items():
        if task.description.lower().rstrip(".") in text:
            return name
    return None


class _PromptClassifier:
    """Shared part of the chat and completion classifiers: the prompt, the answer's normalisation,
    and the bounds every model call has (the response cache and a concurrency limit)."""

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
        self._limit: asyncio.Semaphore | None = None

    async def classify(self, instruction: str) -> TaskPrediction:
        prompt = self._prompts.render(
            self._template, {"tasks": list(self.tasks.values()), "instruction": instruction.strip()}
        )
        request = ChatRequest((("user", prompt),), n=1, temperature=0.0, top_p=1.0, max_tokens=self.max_tokens)
        key = request_key(self._identity(), request, self._template) if self.cache is not None else None
        hit = self.cache.get(key) if self.cache is not None and key is not None else None
        if hit is not None and hit.choices:
            return self._prediction(hit.choices[0].text)
        if self._limit is None:
            self._limit = asyncio.Semaphore(self.concurrency)
        async with self._limit:
            answer = await self._ask(request)
        if self.cache is not None and key is not None:
            self.cache.put(key, Completion([Choice(answer)]))
        return self._prediction(answer)

    def _identity(self) -> str:
        raise NotImplementedError

    async def _ask(self, request: ChatRequest) -> str:
        raise NotImplementedError

    def _prediction(self, answer: str) -> TaskPrediction:
        name = normalise_task(answer, self.tasks)
        if name is None:
            return TaskPrediction(task=DEFAULT_TASK, confidence=0.0, source=self.source)
        return TaskPrediction(task=name, confidence=1.0, source=self.source)


class LLMClassifier(_PromptClassifier):
    """Classifies with a chat model (any :class:`~realign.LLM`): greedy decoding, a short answer.

    ``cache`` (e.g. the pipeline's :class:`~realign.SQLiteCache`) makes re-runs free; at most
    ``concurrency`` calls are in flight.
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
        self.llm = llm

    def _identity(self) -> str:
        return self.llm.identity

    async def _ask(self, request: ChatRequest) -> str:
        completion = await self.llm.complete(request)
        return completion.choices[0].text if completion.choices else ""


class CompletionClassifier(_PromptClassifier):
    """Classifies with a raw prompt on ``/v1/completions`` (no chat template), as a fine-tuned
    classifier served by vLLM expects (the public ReAlign classifier reads such a prompt)."""

    source = "completion"

    def __init__(
        self,
        chat: OpenAIChat,
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

    async def _ask(self, request: ChatRequest) -> str:
        return await self.chat.complete_text(request.messages[0][1], max_tokens=self.max_tokens)


class CascadeClassifier:
    """The embedded classifier first; rows it is unsure of (confidence < ``threshold``) go to ``fallback``.

    ``counts`` says how many rows each side decided. A fallback that fails keeps the embedded answer.
    """

    def __init__(self, first: Classifier, fallback: Classifier, *, threshold: float = 0.5) -> None:
        self.first, self.fallback, self.threshold = first, fallback, threshold
        self.counts = {"embedded": 0, "llm": 0, "llm_failed": 0}

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
        self.counts["llm"] += 1
        return answer
