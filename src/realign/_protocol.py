"""The rewrite wire format: build the request for a row, parse the model's reply.

The model answers in two labelled parts, ``Reasoning:`` then ``Revised response:``; the text after
the second label is the rewrite. Labels are matched at the start of a line, in any case, with
markdown emphasis or heading marks around them (``**Revised response:**``, ``### Revised Response``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ._models import Evidence
from ._templates import Criteria, Prompts
from ._text import final_answer, has_code
from ._types import ChatRequest

__all__ = ["ParsedReply", "RewritePrompt", "has_final_answer", "parse_reply"]

_DECOR = r"[ \t>#*_`]*"
_REVISED = re.compile(rf"^{_DECOR}revised[ \t]+response{_DECOR}[ \t]*:?{_DECOR}[ \t]*", re.IGNORECASE | re.MULTILINE)
_REASONING = re.compile(rf"^{_DECOR}reasoning{_DECOR}[ \t]*:?{_DECOR}[ \t]*", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """A reply split into its parts. ``rewrite`` is None when the reply does not parse."""

    rewrite: str | None
    reasoning: str
    problem: str | None = None


def parse_reply(text: str) -> ParsedReply:
    """Split a model reply into reasoning and rewrite; say what is wrong when it does not parse."""
    match = _REVISED.search(text)
    if match is None:
        return ParsedReply(None, text.strip(), "no 'Revised response:' label")
    head = text[: match.start()]
    reasoning_match = _REASONING.search(head)
    reasoning = head[reasoning_match.end() :] if reasoning_match else head
    rewrite = text[match.end() :].strip()
    if not rewrite:
        return ParsedReply(None, reasoning.strip(), "empty revised response")
    return ParsedReply(rewrite, reasoning.strip())


def has_final_answer(text: str) -> bool:
    """The response states a final answer (``#### 42``, ``\\boxed{}``, "The answer is ...").

    The check ``final_answer`` reads answers the same way, so the prompt asks
    to keep a final-answer line exactly when the guard will check one.
    """
    return final_answer(text, phrases=True) is not None


class RewritePrompt:
    """Renders the chat request that asks for a rewrite of one row."""

    def __init__(self, prompts: Prompts, criteria: Criteria) -> None:
        self.prompts = prompts
        self.criteria = criteria
        # The system prompt is the same for every row: render it once.
        self._system = prompts.render("rewrite_system", {})

    def messages(
        self, task: str, question: str, response: str, evidence: Sequence[Evidence]
    ) -> tuple[tuple[str, str], ...]:
        context = {
            "task": task,
            "question": question,
            "response": response,
            "has_code": has_code(response),
            "has_evidence": bool(evidence),
            "has_final_answer": has_final_answer(response),
        }
        criteria = self.criteria.render(task, context)
        name = "rewrite_user_evidence" if evidence else "rewrite_user"
        user = self.prompts.render(name, {**context, "criteria": criteria, "evidence": list(evidence)})
        return (("system", self._system), ("user", user))

    def reask(self, request: ChatRequest, reply: str, problem: str) -> ChatRequest:
        """The same request with the unparsable reply and a correction appended."""
        followup = self.prompts.render("reask", {"problem": problem})
        messages = (*request.messages, ("assistant", reply), ("user", followup))
        return ChatRequest(messages, 1, request.temperature, request.top_p, request.max_tokens)
