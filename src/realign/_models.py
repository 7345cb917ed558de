"""Public data models: what goes into realign and what comes out."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

__all__ = [
    "CHECK_ERROR",
    "FILTER",
    "LLM_ERROR",
    "ROW_ERROR",
    "UNDECIDED",
    "Candidate",
    "Correction",
    "Evidence",
    "Example",
    "KeepReason",
    "Message",
    "Overruled",
    "RecordedClassifier",
    "Result",
    "RetrievalStatus",
    "RowPlan",
    "Tag",
    "TaskPrediction",
    "TaskSource",
    "Usage",
    "is_undecided",
]

# Statuses: the one list of the words realign writes (README "Output") ------------------------------------------

#: A row's (or turn's) outcome: ``rewrite`` when a rewrite was accepted, else ``original`` (the response is kept).
Tag = Literal["rewrite", "original"]

#: How evidence was found: ``given`` (the row or an earlier ``realign retrieve`` brought it), ``ok`` (the search
#: found some), ``empty`` (it found none), ``failed`` (it errored: the next run searches again). None (absent in
#: the file): no retrieval for this row.
RetrievalStatus = Literal["given", "ok", "empty", "failed"]

#: Where a task came from: ``given`` (the row's category or ``Example.task``), ``unknown`` (a given name the task
#: table lacks: ``default`` is used), ``skipped`` (nothing to rewrite, so nothing was classified), or the source of
#: the classifier that answered (``embedded``, ``llm``, ``completion``; a custom classifier may name its own).
TaskSource = Literal["given", "unknown", "skipped", "embedded", "llm", "completion"]

#: What a row's or turn's ``classifier`` records: ``embedded``, ``llm`` (chat or completion) or ``given`` (a
#: custom classifier's own ``source`` otherwise; absent when the row was not classified).
RecordedClassifier = Literal["embedded", "llm", "given"]

#: Why the original was kept, for the reasons without a parameter. ``empty_response``, ``no_response`` and
#: ``multi_turn``: nothing to rewrite (``multi_turn`` only with ``turns="none"``); ``task_not_rewritten``: the
#: task is left alone; ``parse_error`` and ``truncated``: no usable reply (also the ``reason`` of a refused
#: candidate); ``unchanged``: the model returned the response as it was; ``no_candidate``: no reply at all. For a
#: turn of a conversation also ``not_rewritten`` (a turn left alone for no other reason). ``tool_call``: the answer
#: calls a tool; ``non_text_input``: the question (or an earlier turn) holds an image, audio or another part that is
#: not text, which the rewriter would not see; ``non_text_response``: the answer holds such a part.
KeepReason = Literal[
    "empty_response",
    "no_response",
    "multi_turn",
    "tool_call",
    "non_text_input",
    "non_text_response",
    "not_rewritten",
    "task_not_rewritten",
    "parse_error",
    "truncated",
    "unchanged",
    "no_candidate",
]

#: The reasons with a parameter are ``<prefix><name>``: ``filter:<check>`` (a check refused the candidate),
#: ``llm_error:<code>`` (the call failed after its retries), ``check_error:<check>`` (a check raised),
#: ``error:<Exception>`` (a row a Ray actor failed with an unexpected exception: undecided, as ``llm_error``).
FILTER, LLM_ERROR, CHECK_ERROR, ROW_ERROR = "filter:", "llm_error:", "check_error:", "error:"
#: The prefixes of the reasons of a row (or turn) left undecided: it kept its original because a call or its own
#: processing failed, not by a decision, and a re-run asks again (the CLI exits 3).
UNDECIDED = (LLM_ERROR, ROW_ERROR)


def is_undecided(reason: str) -> bool:
    """Whether a row (or turn, or a candidate it lost) with this reason was left undecided: it kept its original
    because a call or the row's own processing failed, not by a decision, and a re-run asks again."""
    return reason.startswith(UNDECIDED)


class Evidence(BaseModel):
    """One piece of retrieved reference text, with where it came from."""

    # Extra keys (a search API's score, a date) are dropped: rows carry evidence from many sources.
    model_config = ConfigDict(frozen=True, extra="ignore")

    text: str
    title: str = ""
    url: str = ""


class Message(BaseModel):
    """One earlier turn of a conversation: ``role`` is ``system``, ``user``, ``assistant`` or ``tool``."""

    model_config = ConfigDict(frozen=True)

    role: str
    content: str


class Example(BaseModel):
    """One (instruction, response) pair to reformat.

    ``task`` skips classification when given; ``evidence`` skips retrieval when given (an empty list
    means "no evidence, do not search"). ``context``: the turns of the conversation before
    ``question``, oldest first, system message included (empty for a single-turn example); the
    prompt carries them as data, within the pipeline's ``context_tokens`` budget.
    """

    model_config = ConfigDict(extra="forbid")

    question: str
    response: str
    task: str | None = None
    evidence: list[Evidence] | None = None
    id: Any = None
    context: list[Message] = Field(default_factory=list)


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


class TaskPrediction(BaseModel):
    """A classifier's answer: the task, how sure it is (0-1) and which classifier said so.

    ``source`` is ``embedded``, ``llm``, ``completion`` or ``given`` (a custom classifier may name
    itself). An LLM's answer may name no task (``named`` is False: ``task`` is then a fallback with
    confidence 0) or several (``alternatives`` holds the others: the answer is ambiguous and its
    confidence says so). ``usage`` is what the classifier's own model calls cost.
    """

    model_config = ConfigDict(frozen=True)

    task: str
    confidence: float = 1.0
    source: str = "given"
    named: bool = True
    alternatives: tuple[str, ...] = ()
    usage: Usage = Field(default_factory=Usage)


class RowPlan(BaseModel):
    """What the pipeline will do with an example, decided before any rewrite call (:meth:`Pipeline.plan`).

    ``task``, ``confidence`` and ``classifier`` as the row's record will carry them (``classifier`` is None
    when the row was not classified); ``source`` where the task came from (see :data:`TaskSource`);
    ``rewrite`` whether a rewrite is asked for, else ``reason`` says why not (``empty_response``,
    ``task_not_rewritten``); ``retrieval`` whether the task wants evidence the example does not bring (a search
    runs when the pipeline has a search client); ``usage`` what classifying it cost.
    """

    model_config = ConfigDict(frozen=True)

    task: str
    confidence: float | None
    source: str
    classifier: str | None = None
    rewrite: bool
    reason: KeepReason | None = None
    retrieval: bool = False
    usage: Usage = Field(default_factory=Usage)


class Correction(BaseModel):
    """A fact a rewrite changed to what the row's evidence states: ``from`` -> ``to``, and ``source``
    (the URL, else the title, of the evidence that states ``to``).

    On disk: ``{"from": "1988", "to": "1989", "source": "https://..."}``.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    before: str = Field(alias="from")
    after: str = Field(alias="to")
    source: str = ""

    @classmethod
    def of(cls, before: str, after: str, source: str = "") -> Correction:
        return cls.model_validate({"from": before, "to": after, "source": source})

    @model_serializer
    def _on_disk(self) -> dict[str, str]:
        # Written with the JSON names whatever the caller asks (``from`` is a Python keyword).
        return {"from": self.before, "to": self.after, "source": self.source}


class Overruled(BaseModel):
    """A check's refusal that was referred to the --verify judge (``refer``): the ``check``, its ``detail``,
    and the judge's ``reason``. On a candidate the judge accepted it records which check it overruled;
    while a referral waits for the judge, ``reason`` is empty.

    On disk: ``{"check": "entities", "detail": "answer changed: Jim Parsons -> James Joseph", "reason": "..."}``.
    """

    model_config = ConfigDict(frozen=True)

    check: str
    detail: str | None = None
    reason: str = ""


class Candidate(BaseModel):
    """One rewrite the model proposed, and what the checks said of it."""

    text: str | None
    reasoning: str = ""
    finish_reason: str | None = None
    #: None when the candidate passed every check, else why it failed (``parse_error``, ``filter:length``...)
    rejected: str | None = None
    #: the check's own one-line explanation of the failure (e.g. ``missing: 1791, 15``), when it gave one
    detail: str | None = None
    #: facts it changed to what the evidence states (see ``corrections`` of :class:`~realign.Pipeline`)
    corrections: list[Correction] = Field(default_factory=list)
    #: the soft checks' refusals referred to the judge (``refer``), each with the judge's reason once answered
    referred: list[Overruled] = Field(default_factory=list)
    #: the refusals the judge overruled (it accepted the candidate): a subset of ``referred``, with reasons
    overruled: list[Overruled] = Field(default_factory=list)


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
    #: the --verify judge's share of ``usage`` (priced at the judge model's price when that is another model)
    verify_usage: Usage = Field(default_factory=Usage)
    confidence: float | None = None
    retrieval: RetrievalStatus | None = None
    #: Where ``task`` came from: ``embedded``, ``llm`` or ``given`` (None when the row was not classified).
    classifier: str | None = None
    id: Any = None
    #: facts the accepted rewrite changed to what the evidence states
    corrections: list[Correction] = Field(default_factory=list)
    #: the checks' refusals of the accepted rewrite that the --verify judge overruled (``refer``)
    overruled: list[Overruled] = Field(default_factory=list)
    #: for a response kept with ``llm_error:<code>``: the call that failed (``classify``, ``rewrite`` or
    #: ``verify``) and its error's line, so that a reader can tell a dead judge from a dead rewriter
    error: str | None = None
