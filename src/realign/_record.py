"""The ``realign`` object of an output row: what was decided for it, written and read only here.

Every command that writes rows (``reformat``, ``classify``, ``retrieve``, the Batch API pass) builds a
:class:`Record` and writes :meth:`Record.to_json`; every reader (a second pass, the run summary, the
report) goes through :meth:`Record.of`. The words its fields hold are listed once, in ``_models.py``.

On disk a field is absent rather than null when it does not apply (``tag`` before ``reformat`` ran,
``retrieval`` when no search was needed, ``original`` when the original was kept, ``rejected`` when
no candidate was refused, ``usage`` when nothing was paid); ``task``, ``confidence`` and, once a row
was reformatted, ``reason`` are always written. Keys this version does not know are kept as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from typing_extensions import Self

from ._models import (
    Candidate,
    Correction,
    Evidence,
    Overruled,
    Result,
    RetrievalStatus,
    Tag,
    Usage,
    is_undecided,
)

__all__ = ["Outcome", "Record", "Rejection", "TurnOutcome"]

#: Written as absent, not null, when None.
_ABSENT_WHEN_NONE = (
    "classifier",
    "tag",
    "evidence",
    "retrieval",
    "original",
    "usage",
    "verify_usage",
    "cost",
    "turns",
    "model",
    "verify_model",
    "error",
)


class Rejection(BaseModel):
    """A candidate the checks (or the parser) refused: why, the check's explanation, and what the model wrote.

    ``text`` is the refused rewrite (None when there was none to read: ``parse_error``, ``truncated``) and
    ``reasoning`` the model's reasoning or, for an unreadable reply, the reply itself; both are None when the
    run was told not to keep them (``--no-keep-rejected``).
    """

    model_config = ConfigDict(extra="ignore")

    reason: str
    detail: str | None = None
    text: str | None = None
    reasoning: str | None = None

    @classmethod
    def of(cls, candidate: Candidate, *, keep_text: bool = True) -> Rejection:
        if candidate.rejected is None:
            raise ValueError("the candidate was not rejected")
        if not keep_text:
            return cls(reason=candidate.rejected, detail=candidate.detail)
        return cls(
            reason=candidate.rejected,
            detail=candidate.detail,
            text=candidate.text,
            reasoning=candidate.reasoning or None,
        )


class Outcome(BaseModel):
    """What was decided for one response: the fields a row's record shares with each of its turns.

    ``tag``/``reason`` as in :class:`~realign.Result`; ``original`` is the replaced response (rewritten rows
    only); ``rejected`` the refused candidates; ``usage`` the tokens paid in the run that wrote it.
    """

    model_config = ConfigDict(extra="allow")

    task: str | None = None
    confidence: float | None = None
    #: where ``task`` came from: ``embedded``, ``llm`` or ``given`` (a custom classifier's own name otherwise)
    classifier: str | None = None
    tag: Tag | None = None
    reason: str | None = None
    evidence: list[Evidence] | None = None
    retrieval: RetrievalStatus | None = None
    original: str | None = None
    rejected: list[Rejection] = Field(default_factory=list)
    usage: Usage | None = None
    #: the --verify judge's share of ``usage`` (absent without a judge call): the report prices it at
    #: ``verify_model``'s price when the row names one
    verify_usage: Usage | None = None
    #: dollars paid for it, when the writer knew the price
    cost: float | None = None
    #: facts the rewrite changed to what the evidence states (absent when none)
    corrections: list[Correction] = Field(default_factory=list)
    #: the checks' refusals the --verify judge overruled to accept the rewrite (``--refer``; absent when none)
    overruled: list[Overruled] = Field(default_factory=list)
    #: with ``llm_error:<code>``: which call failed and why (see :attr:`realign.Result.error`)
    error: str | None = None

    #: Fields written even when empty (a turn's entry always lists them)
    _ALWAYS: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _cost_in_usage(cls, value: Any) -> Any:
        # Early readers took a cost from inside ``usage`` too; keep reading it from there.
        if isinstance(value, dict) and value.get("cost") is None and isinstance(value.get("usage"), dict):
            cost = value["usage"].get("cost")
            if isinstance(cost, (int, float)) and not isinstance(cost, bool):
                return {**value, "cost": cost}
        return value

    @field_validator("rejected", mode="before")
    @classmethod
    def _bare_reasons(cls, value: Any) -> Any:
        # Files written before rejected candidates were kept hold only the reason strings.
        if isinstance(value, list):
            return [{"reason": item} if isinstance(item, str) else item for item in value]
        return value

    @model_serializer(mode="wrap")
    def _on_disk(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in _ABSENT_WHEN_NONE:
            if data.get(key) is None:
                data.pop(key, None)
        if self.tag is None and self.reason is None:
            data.pop("reason", None)
        if not self.rejected and ("rejected" not in self._ALWAYS or self.tag is None):
            data.pop("rejected", None)
        if not self.corrections:
            data.pop("corrections", None)
        if not self.overruled:
            data.pop("overruled", None)
        for key in self._ALWAYS if self.tag is not None else ():  # once reformatted
            if data.get(key) is None:
                data[key] = Usage().model_dump() if key == "usage" else []
        for key in ("usage", "verify_usage"):
            if isinstance(data.get(key), dict):
                data[key].pop("calls", None)  # a per-row count of calls is noise; the run summary has them
        return data

    @classmethod
    def from_result(cls, result: Result, *, keep_rejected: bool = True) -> Self:
        """The outcome of a pipeline :class:`~realign.Result` (``keep_rejected=False``: no refused texts)."""
        return cls(
            task=result.task,
            confidence=result.confidence,
            classifier=result.classifier,
            tag=result.tag,
            reason=result.reason,
            evidence=list(result.evidence),
            retrieval=result.retrieval,
            original=result.original if result.tag == "rewrite" else None,
            rejected=[Rejection.of(c, keep_text=keep_rejected) for c in result.candidates if c.rejected],
            usage=result.usage if result.usage.calls else None,
            verify_usage=result.verify_usage if result.verify_usage.calls else None,
            corrections=list(result.corrections) if result.tag == "rewrite" else [],
            overruled=list(result.overruled) if result.tag == "rewrite" else [],
            error=result.error,
        )

    @property
    def rewritten(self) -> bool:
        return self.tag == "rewrite"


class TurnOutcome(Outcome):
    """One assistant turn of a multi-turn conversation: ``turn`` is its index in the row's turn list.

    Once reformatted, ``rejected``, ``evidence`` and ``usage`` are always written (empty when nothing applies);
    ``original`` only when the turn was rewritten, as for a row.
    """

    _ALWAYS: ClassVar[tuple[str, ...]] = ("rejected", "evidence", "usage")

    turn: int


class Record(Outcome):
    """The ``realign`` object of one row.

    For a multi-turn conversation ``turns`` holds one entry per assistant turn processed; the row's
    ``tag`` is ``rewrite`` when any turn was rewritten, its ``reason`` and ``error`` those of the first
    turn left undecided (``llm_error:<code>``) when there is one, else null for a rewritten row and the
    first turn's otherwise; its ``task`` and ``confidence`` those of the first entry with a task (a turn
    that calls a tool has none), its ``usage`` the sum. Absent for single-turn rows.
    """

    turns: list[TurnOutcome] | None = None
    #: the model that wrote the row's rewrites (absent when no call was made): the report prices its usage
    model: str | None = None
    #: the --verify judge's model when it is not ``model`` (the report prices ``verify_usage`` at its price)
    verify_model: str | None = None

    @classmethod
    def of_turns(cls, turns: list[TurnOutcome], usage: Usage, judged: Usage | None = None) -> Record:
        """The record of a conversation from its turns' outcomes; ``usage`` what this run paid for them,
        ``judged`` the --verify judge's share of it."""
        first = turns[0]
        # A turn passed through whole (a tool call, one after an image) has no task: the row's is the first task.
        classified = next((t for t in turns if t.task is not None), first)
        rewritten = any(t.rewritten for t in turns)
        # A turn left undecided (its call failed: a re-run asks again) leaves the row undecided, as a single-turn
        # row's failed call does: the row says so in its reason and error, whatever its other turns did.
        undecided = next((t for t in turns if t.reason is not None and is_undecided(t.reason)), None)
        why = undecided or (None if rewritten else first)
        return cls(
            task=classified.task,
            confidence=classified.confidence,
            classifier=classified.classifier,
            tag="rewrite" if rewritten else "original",
            reason=None if why is None else why.reason,
            error=None if why is None else why.error,
            evidence=[],
            turns=turns,
            usage=usage if usage.calls else None,
            verify_usage=judged if judged is not None and judged.calls else None,
        )

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Record | None:
        """The record a row carries, None when it has none. Raises ``ValueError`` when it is malformed."""
        value = row.get("realign")
        if not isinstance(value, Mapping):
            return None
        return cls.model_validate(dict(value))

    def to_json(self) -> dict[str, Any]:
        """The object as written into the row (plain JSON types)."""
        data: dict[str, Any] = self.model_dump(mode="json")
        return data
