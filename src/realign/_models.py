"""Public data models: what goes into realign and what comes out."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Candidate", "Evidence", "Example", "Result", "TaskPrediction", "Usage"]


class Evidence(BaseModel):
    """One piece of retrieved reference text, with where it came from."""

    # Extra keys (a search API's score, a date) are dropped: rows carry evidence from many sources.
    model_config = ConfigDict(frozen=True, extra="ignore")

    text: str
    title: str = ""
    url: str = ""


class Example(BaseModel):
    """One (instruction, response) pair to reformat.

    ``task`` skips classification when given; ``evidence`` skips retrieval when given (an empty list
    means "no evidence, do not search").
    """

    model_config = ConfigDict(extra="forbid")

    question: str
    response: str
    task: str | None = None
    evidence: list[Evidence] | None = None
    id: Any = None


class TaskPrediction(BaseModel):
    """A classifier's answer: the task, how sure it is (0-1) and which classifier said so."""

    model_config = ConfigDict(frozen=True)

    task: str
    confidence: float = 1.0
    source: str = "given"


class Usage(BaseModel):
    """Tokens spent on a row (or a run), as the API reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            calls=self.calls + other.calls,
        )


class Candidate(BaseModel):
    """One rewrite the model proposed, and what the checks said of it."""

    text: str | None
    reasoning: str = ""
    finish_reason: str | None = None
    #: None when the candidate passed every check, else why it failed (``parse_error``, ``filter:length``...)
    rejected: str | None = None


Tag = Literal["rewrite", "original"]


class Result(BaseModel):
    """The outcome for one example.

    ``response`` is what goes into the training set: the rewrite when ``tag == "rewrite"``, else the
    original. ``reason`` says why the original was kept (None when rewritten).
    """

    response: str
    tag: Tag
    reason: str | None
    task: str
    original: str
    evidence: list[Evidence] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    confidence: float | None = None
    retrieval: str | None = None
    id: Any = None
