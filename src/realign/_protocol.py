"""The rewrite wire format: build the request for a row, parse the model's reply.

The model answers in two labelled parts, ``Reasoning:`` then ``Revised response:``; the text after
the second label is the rewrite. Labels are matched at the start of a line, in any case, with
markdown emphasis or heading marks around them (``**Revised response:**``, ``### Revised Response``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ._models import Evidence, Message
from ._templates import Criteria, Prompts
from ._text import final_answer, has_code
from ._tokens import count_tokens
from ._types import ChatRequest

__all__ = [
    "DEFAULT_CONTEXT_TOKENS",
    "ParsedReply",
    "RewritePrompt",
    "context_window",
    "has_final_answer",
    "parse_reply",
]

#: Token budget of the earlier conversation in a turn's prompt (see benchmarks/README.md: Multi-turn).
DEFAULT_CONTEXT_TOKENS = 3000
_ROLES = frozenset({"system", "user", "assistant", "tool"})
# The prompt's own tags inside a turn's text would close the block early or open a fake one: they are shown with
# look-alike brackets instead, so row text can never break the prompt's structure.
_CONTEXT_TAG = re.compile(
    r"<(/?)(conversation|system|user|assistant|tool|turn|question|response|criteria|evidence)(\s*)>", re.IGNORECASE
)
_CLIP_MARK = "[...] "

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


def _neutralise(text: str) -> str:
    return _CONTEXT_TAG.sub(lambda m: f"\u2039{m.group(1)}{m.group(2)}{m.group(3)}\u203a", text)


def _clip_head(text: str, budget: int) -> str:
    """The end of ``text`` within about ``budget`` tokens (the end of a turn is nearest the question)."""
    if count_tokens(text) <= budget:
        return text
    chars = max(0, budget * 3)  # ~3 characters a token even for dense text: under the budget
    return _CLIP_MARK + text[-chars:] if chars else ""


def context_window(context: Sequence[Message], budget: int) -> tuple[list[Message], int]:
    """The turns of ``context`` that go into a prompt, and how many older turns were left out.

    The system message is kept first (clipped to half the budget); then the newest turns, newest
    first, as long as they fit; the oldest are left out first. When even the newest turn does not fit
    whole, its end is kept. Role names other than system/user/assistant/tool become ``turn`` and the
    context's own tags inside the text are neutralised: the block stays data whatever a row holds.
    """
    if budget <= 0 or not context:
        return [], len(context)
    system = [m for m in context if m.role == "system"]
    turns = [m for m in context if m.role != "system"]
    kept_system: list[Message] = []
    left = budget
    for message in system:
        text = _clip_head(message.content, left // 2)
        if text:
            kept_system.append(Message(role="system", content=_neutralise(text)))
            left -= count_tokens(text) + 4
    kept: list[Message] = []
    for message in reversed(turns):
        cost = count_tokens(message.content) + 4  # ~4 tokens of tags a turn
        if cost > left:
            if not kept:
                text = _clip_head(message.content, left - 4)
                if text:
                    kept.append(_safe(message, text))
            break
        kept.append(_safe(message, message.content))
        left -= cost
    kept.reverse()
    return kept_system + kept, len(turns) - len(kept)


def _safe(message: Message, text: str) -> Message:
    role = message.role if message.role in _ROLES else "turn"
    return Message(role=role, content=_neutralise(text))


class RewritePrompt:
    """Renders the chat request that asks for a rewrite of one row."""

    def __init__(self, prompts: Prompts, criteria: Criteria, *, context_tokens: int = DEFAULT_CONTEXT_TOKENS) -> None:
        self.prompts = prompts
        self.criteria = criteria
        self.context_tokens = context_tokens
        # The system prompt is the same for every row: render it once.
        self._system = prompts.render("rewrite_system", {})

    def messages(
        self,
        task: str,
        question: str,
        response: str,
        evidence: Sequence[Evidence],
        conversation: Sequence[Message] = (),
    ) -> tuple[tuple[str, str], ...]:
        """The request's messages; ``conversation`` is the turns before ``question`` (multi-turn rows)."""
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
        turns, omitted = context_window(conversation, self.context_tokens)
        variables = {**context, "criteria": criteria, "evidence": list(evidence), "context": turns, "omitted": omitted}
        user = self.prompts.render(name, variables)
        return (("system", self._system), ("user", user))

    def reask(self, request: ChatRequest, reply: str, problem: str) -> ChatRequest:
        """The same request with the unparsable reply and a correction appended."""
        followup = self.prompts.render("reask", {"problem": problem})
        messages = (*request.messages, ("assistant", reply), ("user", followup))
        return ChatRequest(messages, 1, request.temperature, request.top_p, request.max_tokens)
