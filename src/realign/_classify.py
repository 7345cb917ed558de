"""LLM task classifiers: a chat prompt, a raw completion prompt, and the embedded-then-LLM cascade.

Whatever the model answers is normalised to a known task name (case, quotes, backticks, extra
words, a description instead of a name); anything else becomes ``default``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._exceptions import FatalLLMError, LLMError
from ._llm import OpenAIChat
from ._models import TaskPrediction
from ._tasks import DEFAULT_TASK, TASKS, Task
from ._templates import Prompts
from ._types import ChatRequest, Classifier

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
    """Shared part of the chat and completion classifiers: the prompt and the answer's normalisation."""

    def __init__(self, tasks: Mapping[str, Task] | None, prompts: Prompts | None, template: str) -> None:
        self.tasks = dict(tasks if tasks is not None else TASKS)
        self._prompts = prompts or Prompts()
        self._template = template
        self.source = template.removeprefix("classify_")

    def _prompt(self, instruction: str) -> str:
        return self._prompts.render(self._template, {"tasks": list(self.tasks.values()),
                                                     "instruction": instruction.strip()})

    def _prediction(self, answer: str) -> TaskPrediction:
        name = normalise_task(answer, self.tasks)
        if name is None:
            return TaskPrediction(task=DEFAULT_TASK, confidence=0.0, source=self.source)
        return TaskPrediction(task=name, confidence=1.0, source=self.source)


class LLMClassifier(_PromptClassifier):
    """Classifies with a chat model: greedy decoding, a short answer."""

    def __init__(self, llm: Any, *, tasks: Mapping[str, Task] | None = None, prompts: Prompts | None = None,
                 max_tokens: int = 20) -> None:
        super().__init__(tasks, prompts, "classify_chat")
        self.llm = llm
        self.max_tokens = max_tokens
        self.source = "llm"

    async def classify(self, instruction: str) -> TaskPrediction:
        request = ChatRequest((("user", self._prompt(instruction)),), n=1, temperature=0.0, top_p=1.0,
                              max_tokens=self.max_tokens)
        completion = await self.llm.complete(request)
        return self._prediction(completion.choices[0].text if completion.choices else "")


class CompletionClassifier(_PromptClassifier):
    """Classifies with a raw prompt on ``/v1/completions`` (no chat template), as a fine-tuned
    classifier served by vLLM expects."""

    def __init__(self, chat: OpenAIChat, *, tasks: Mapping[str, Task] | None = None,
                 prompts: Prompts | None = None, max_tokens: int = 50) -> None:
        super().__init__(tasks, prompts, "classify_completion")
        self.chat = chat  # reuses its client, retry policy and error translation
        self.max_tokens = max_tokens

    async def classify(self, instruction: str) -> TaskPrediction:
        text = await self.chat.complete_text(self._prompt(instruction), max_tokens=self.max_tokens)
        return self._prediction(text)


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
