"""Multi-turn conversations: one example per assistant turn, and the ``realign.turns`` entries.

Each assistant turn is rewritten on its own request: its question is the user turn before it, and
every turn before it (the system message included) is its context. The context carries the
*original* text of earlier turns, never their rewrites, so a row's turns are independent: they run
concurrently, their requests (and cache keys) do not depend on how other turns came out, and the
Batch API sends them all in one round. See benchmarks/README.md: Multi-turn for the measurements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from .._io.shapes import TurnText
from .._models import Example, Message
from .._record import TurnOutcome

__all__ = ["TurnExample", "turn_examples"]


@dataclass(frozen=True, slots=True)
class TurnExample:
    """One assistant turn to process: its index in the conversation and its example.

    ``example`` is None for a turn that is not rewritten whatever its task (``reason`` says why:
    ``tool_call`` for an assistant turn that calls a tool, ``non_text_response`` for one with an image or
    audio part, ``non_text_input`` for one after any turn with such a part: we do not see it, and the answer
    may be about it).
    """

    turn: int
    example: Example | None
    reason: str | None = None


def turn_examples(
    turns: Sequence[TurnText],
    mode: str,
    *,
    category: str | None = None,
    previous: Sequence[TurnOutcome] = (),
    reclassify: bool = False,
    from_original: bool = False,
    row_id: Any = None,
) -> list[TurnExample]:
    """The assistant turns of a conversation that ``mode`` (``all``, ``last``, ``none``) rewrites.

    A turn's task is the row's ``category`` when it has one, else the task an earlier ``classify`` or
    ``retrieve`` run wrote for that turn (unless ``reclassify``); its evidence is reused the same way.
    ``from_original``: turns an earlier ``reformat`` rewrote are read as their ``original`` (the response
    and the context of later turns alike), so a second pass starts from the conversation as it first was.
    """
    earlier = {entry.turn: entry for entry in previous}  # an earlier run's entries
    if from_original:
        first = {i: e.original for i, e in earlier.items() if e.original is not None}
        turns = [replace(t, text=first.get(t.index, t.text)) for t in turns]
    assistant = [t for t in turns if t.role == "assistant"]
    if mode == "none" or not assistant:
        return []
    chosen = assistant[-1:] if mode == "last" else assistant
    out = []
    for turn in chosen:
        before = turns[: turn.index]
        if turn.tool_call or turn.text is None:
            out.append(TurnExample(turn.index, None, "tool_call"))
            continue
        if turn.non_text:
            out.append(TurnExample(turn.index, None, "non_text_response"))
            continue
        if any(t.non_text for t in before):
            out.append(TurnExample(turn.index, None, "non_text_input"))
            continue
        asked = next((t for t in reversed(before) if t.role == "user" and t.text is not None), None)
        context = [
            Message(role=t.role, content=t.text) for t in before if t is not asked and t.text is not None and t.text
        ]
        old = earlier.get(turn.index, TurnOutcome(turn=turn.index))
        task = category if category is not None else (None if reclassify else old.task)
        evidence = old.evidence
        if not evidence and old.retrieval not in ("ok", "empty", "given"):
            evidence = None  # retrieval failed or never ran for this turn: search again
        example = Example(
            question=asked.text if asked is not None and asked.text is not None else "",
            response=turn.text,
            task=task,
            evidence=evidence,
            id=row_id,
            context=context,
        )
        out.append(TurnExample(turn.index, example))
    return out
