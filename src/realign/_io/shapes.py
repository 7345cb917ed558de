"""Dataset row shapes: find the (question, response) pair in a row and put a new response back.

Four shapes are recognised, per file from its first row:

- ``realign``  ``{"items": [{"from": "human", "value": Q, "category"?}, {"from": "gpt", "value": A}]}``
- ``sharegpt`` ``{"conversations": [{"from": "human", "value": Q}, {"from": "gpt", "value": A}]}``
- ``alpaca``   ``{"instruction": I, "input": X?, "output": A}`` (the question is I, then X)
- ``openai``   ``{"messages": [{"role": "system"?}, {"role": "user", ...}, {"role": "assistant", ...}]}``

Rows keep every other field; only the response text changes.

A turn-list row with more than one exchange is a conversation: ``Extracted.turns`` lists every turn
(system and tool turns included) with its index and a normalised role, and ``Shape.apply_turns``
replaces the text of chosen assistant turns, leaving every other turn as it was.

Tool use is valid input in every turn-list shape: an assistant turn that calls a tool (OpenAI ``tool_calls``
or ``function_call``, its ``content`` null or absent; ShareGPT ``"from": "function_call"``) and a tool's
result (``tool``, ``function``, ``observation``). So is OpenAI content given as a list of parts: the text
parts are the turn's text, and a turn with other parts (an image, audio) is marked ``non_text``: nothing we
cannot see is ever rewritten, nor an answer given about it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

__all__ = ["SHAPES", "Extracted", "Shape", "TurnText", "detect_shape"]

Row = dict[str, Any]

_USER = {"human", "user"}
_ASSISTANT = {"gpt", "assistant", "bot", "model"}
_CALL = {"function_call"}  # ShareGPT's assistant turn that calls a tool (its value is the call)
_TOOL = {"tool", "function", "observation", "ipython"}


@dataclass(frozen=True, slots=True)
class TurnText:
    """One turn of a conversation: its index in the row's turn list, its role and its text.

    ``role`` is normalised: ``system``, ``user``, ``assistant``, ``tool``, or the row's own speaker
    name for anything else. ``text`` is None for a turn without text (an assistant tool call).
    ``tool_call``: an assistant turn that calls a tool; its text is never rewritten. ``non_text``: the turn
    holds parts other than text (an image, audio); ``text`` is then its text parts only.
    """

    index: int
    role: str
    text: str | None
    tool_call: bool = False
    non_text: bool = False


@dataclass(frozen=True, slots=True)
class Extracted:
    """What a row holds. ``pass_reason`` is set for rows that are passed through unchanged.

    For a multi-turn conversation ``pass_reason`` is ``multi_turn`` (what a run that leaves
    conversations alone writes) and ``turns`` holds the whole conversation. A single exchange whose answer
    calls a tool passes as ``tool_call``; one whose question holds an image (or audio...) as ``non_text_input``
    (``question`` is then its text parts), one whose answer does as ``non_text_response``.
    """

    question: str
    response: str
    category: str | None = None
    pass_reason: str | None = None
    turns: tuple[TurnText, ...] = ()


def _text_of(value: Any) -> tuple[str | None, bool]:
    """A turn's text, and whether it holds anything but text. The text is a string, or that of the OpenAI
    form of a list of content parts (``[{"type": "text", "text": ...}, {"type": "image_url", ...}]``): its text
    parts joined as the API joins them, any other typed part (an image, audio, a file) making the turn
    non-text. None for anything else (no text, a list that is not of typed parts)."""
    if isinstance(value, str):
        return value, False
    if isinstance(value, list) and value and all(_is_part(part) for part in value):
        texts = [part["text"] for part in value if _is_text_part(part)]
        return "".join(texts), len(texts) < len(value)
    return None, False


def _is_part(part: Any) -> bool:
    return (
        isinstance(part, dict) and isinstance(part.get("type"), str) and (part["type"] != "text" or _is_text_part(part))
    )


def _is_text_part(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)


class ShapeError(ValueError):
    """A row that does not fit its file's shape; the message says what is wrong."""


class Shape:
    """Turn-list shapes (``items``, ``conversations``, ``messages``) share one implementation."""

    def __init__(self, name: str, key: str, speaker: str, text: str) -> None:
        self.name, self.key, self.speaker, self.text = name, key, speaker, text

    def matches(self, row: Row) -> bool:
        return isinstance(row.get(self.key), list)

    def _turns(self, row: Row) -> list[dict[str, Any]]:
        turns = row.get(self.key)
        if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
            raise ShapeError(f"'{self.key}' must be a list of objects")
        return [t for t in turns if t.get(self.speaker) != "system"]

    def _role(self, turn: dict[str, Any]) -> str:
        speaker = turn.get(self.speaker)
        if speaker in _USER:
            return "user"
        if speaker in _ASSISTANT or speaker in _CALL:
            return "assistant"
        if speaker in _TOOL:
            return "tool"
        return str(speaker)

    def _calls_tool(self, turn: dict[str, Any]) -> bool:
        """An assistant turn that calls a tool (OpenAI ``tool_calls``/``function_call``, ShareGPT's
        ``function_call`` turn): it is never rewritten."""
        return turn.get(self.speaker) in _CALL or bool(turn.get("tool_calls") or turn.get("function_call"))

    def _textless(self, turn: dict[str, Any]) -> bool:
        """A tool result, or an assistant turn that calls tools: its text may be absent (OpenAI's null)."""
        return turn.get(self.speaker) in _TOOL or self._calls_tool(turn)

    def extract(self, row: Row) -> Extracted:
        turns = self._turns(row)
        read = [_text_of(turn.get(self.text)) for turn in turns]
        for turn, (text, _) in zip(turns, read, strict=True):
            if text is None and not (turn.get(self.text) is None and self._textless(turn)):
                raise ShapeError(
                    f"every turn of '{self.key}' needs a string '{self.text}' (or a list of content parts)"
                )
        if not turns:
            return Extracted("", "", _category(row.get("category")), "no_response")
        first = turns[0]
        category = _category(first.get("category", row.get("category")))
        question = (read[0][0] or "") if first.get(self.speaker) in _USER else ""
        if len(turns) > 2:
            return Extracted(question, read[-1][0] or "", category, "multi_turn", self.conversation(row))
        if len(turns) < 2 or self._role(turns[1]) != "assistant":
            return Extracted(question, "", category, "no_response")
        answer, answer_non_text = read[1]
        if self._calls_tool(turns[1]):
            return Extracted(question, answer or "", category, "tool_call")
        if read[0][1]:  # the question shows what we cannot see: its answer may be about it
            return Extracted(question, answer or "", category, "non_text_input")
        if answer_non_text:
            return Extracted(question, answer or "", category, "non_text_response")
        return Extracted(question, answer or "", category)

    def conversation(self, row: Row) -> tuple[TurnText, ...]:
        """Every turn of the row, system and tool turns included, in order."""
        out = []
        for index, turn in enumerate(row[self.key]):
            role = "system" if turn.get(self.speaker) == "system" else self._role(turn)
            text, non_text = _text_of(turn.get(self.text))
            out.append(TurnText(index, role, text, role == "assistant" and self._calls_tool(turn), non_text))
        return tuple(out)

    def apply(self, row: Row, response: str) -> Row:
        out = dict(row)
        out[self.key] = turns = copy.copy(row[self.key])
        last = max(i for i, t in enumerate(turns) if self._role(t) == "assistant")
        turns[last] = {**turns[last], self.text: response}
        return out

    def apply_turns(self, row: Row, texts: dict[int, str]) -> Row:
        """The row with the text of the turns at the given indexes replaced; every other turn kept."""
        out = dict(row)
        out[self.key] = turns = copy.copy(row[self.key])
        for index, text in texts.items():
            turns[index] = {**turns[index], self.text: text}
        return out


def _category(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise ShapeError(f"'category' must be a string, not {type(value).__name__}")


class AlpacaShape(Shape):
    def __init__(self) -> None:
        super().__init__("alpaca", "instruction", "", "")

    def matches(self, row: Row) -> bool:
        return "instruction" in row and "items" not in row and "messages" not in row

    def extract(self, row: Row) -> Extracted:
        instruction, extra, output = row.get("instruction"), row.get("input") or "", row.get("output")
        if not isinstance(instruction, str) or not isinstance(extra, str):
            raise ShapeError("'instruction' and 'input' must be strings")
        question = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        if output is None:
            return Extracted(question, "", _category(row.get("category")), "no_response")
        if not isinstance(output, str):
            raise ShapeError("'output' must be a string")
        return Extracted(question, output, _category(row.get("category")))

    def apply(self, row: Row, response: str) -> Row:
        return {**row, "output": response}

    def conversation(self, row: Row) -> tuple[TurnText, ...]:
        return ()

    def apply_turns(self, row: Row, texts: dict[int, str]) -> Row:
        raise ShapeError("an alpaca row has no turns")


SHAPES: tuple[Shape, ...] = (
    Shape("realign", "items", "from", "value"),
    Shape("sharegpt", "conversations", "from", "value"),
    Shape("openai", "messages", "role", "content"),
    AlpacaShape(),
)


def detect_shape(row: Any) -> Shape | None:
    """The shape a row has, or None."""
    if not isinstance(row, dict):
        return None
    return next((s for s in SHAPES if s.matches(row)), None)
