"""The rewrite wire format: build the request for a row, parse the model's reply.

The model answers in two labelled parts, ``Reasoning:`` then ``Revised response:``; the text after
the second label is the rewrite. Labels are matched at the start of a line, in any case, with
markdown emphasis or heading marks around them (``**Revised response:**``, ``### Revised Response``).
"""

from __future__ import annotations

import itertools
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
    "default_max_tokens",
    "has_final_answer",
    "neutralise",
    "parse_reply",
    "placeholders_of",
    "restore_tags",
]

#: Default ``max_tokens`` of a rewrite request: room for the ``Reasoning:`` part and the labels, plus
#: ``REWRITE_MULTIPLE`` times the original's tokens (a format rewrite adds headings and steps, it does
#: not multiply the text), at most ``MAX_TOKENS_CAP``. Without it a server generates until its context
#: is full (llama.cpp: 3,932 tokens and 118 s for one row).
REASONING_TOKENS = 512
REWRITE_MULTIPLE = 4
MAX_TOKENS_CAP = 8192


def default_max_tokens(original: str) -> int:
    """The ``max_tokens`` a rewrite of ``original`` gets when none is given (see ``REASONING_TOKENS``)."""
    return min(MAX_TOKENS_CAP, REASONING_TOKENS + REWRITE_MULTIPLE * count_tokens(original))


#: Token budget of the earlier conversation in a turn's prompt (see benchmarks/README.md: Multi-turn).
DEFAULT_CONTEXT_TOKENS = 3000
_ROLES = frozenset({"system", "user", "assistant", "tool"})
#: Every tag a prompt of ours uses to fence row text (the rewriter's and the verifier's).
_TAGS = "conversation|system|user|assistant|tool|turn|question|response|criteria|evidence|original|rewrite|flagged"
# The prompt's own tags inside a turn's text would close the block early or open a fake one: they are shown with
# look-alike brackets instead, so row text can never break the prompt's structure.
_CONTEXT_TAG = re.compile(rf"<(/?)({_TAGS})(\s*)>", re.IGNORECASE)
_CLIP_MARK = "[...] "

_DECOR = r"[ \t>#*_`]*"
# The label, its marks before (``**``, ``###``) and inside (``**Revised response**:``), and after the
# colon only marks that close the ones it opened (``**Revised response:**``). Marks after the colon
# that open the rewrite's own text (``Revised response: **In short:** X``) belong to the rewrite.
_REVISED = re.compile(
    r"^(?P<lead>[ \t>#*_`]*)revised[ \t]+response(?P<inner>[*_`]*)[ \t]*:?(?P<after>[ \t]*[*_`]*)",
    re.IGNORECASE | re.MULTILINE,
)
_EMPHASIS = re.compile(r"[*_`]+")
#: A placeholder of the prompt's reply format: ``<the complete revised answer, ...>``.
_PLACEHOLDER = re.compile(r"<([A-Za-z][^<>\n]{12,200})>")
_REASONING = re.compile(rf"^{_DECOR}reasoning{_DECOR}[ \t]*:?{_DECOR}[ \t]*", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """A reply split into its parts. ``rewrite`` is None when the reply does not parse."""

    rewrite: str | None
    reasoning: str
    problem: str | None = None


def parse_reply(text: str, placeholders: Sequence[str] = ()) -> ParsedReply:
    """Split a model reply into reasoning and rewrite; say what is wrong when it does not parse.

    The rewrite is the text after the label exactly, markdown included. A rewrite holding one of
    ``placeholders`` (the prompt's own, see :func:`placeholders_of`) is the model repeating its
    instructions, not an answer: it does not parse.
    """
    if not text.strip():  # nothing at all, which "no label" would misdescribe
        return ParsedReply(None, "", "empty reply")
    match = _REVISED.search(text)
    if match is None:
        return ParsedReply(None, text.strip(), "no 'Revised response:' label")
    head = text[: match.start()]
    reasoning_match = _REASONING.search(head)
    reasoning = head[reasoning_match.end() :] if reasoning_match else head
    rewrite = text[_label_end(match) :].strip()
    if not rewrite:
        return ParsedReply(None, reasoning.strip(), "empty revised response")
    folded = rewrite.casefold()
    for placeholder in placeholders:
        if placeholder.casefold() in folded:
            return ParsedReply(None, reasoning.strip(), f"the revised response repeats the placeholder {placeholder!r}")
    return ParsedReply(rewrite, reasoning.strip())


def _label_end(match: re.Match[str]) -> int:
    """Where the rewrite starts: after the label and the marks that close the label's own."""
    opened = "".join(_EMPHASIS.findall(match.group("lead")))
    marks = match.group("after").lstrip(" \t")
    line_end = match.string.find("\n", match.end())
    rest = match.string[match.end() : len(match.string) if line_end < 0 else line_end]
    if not marks or not rest.strip():  # nothing, or marks alone closing the label's line
        return match.end()
    if not match.group("inner") and opened and marks == opened[::-1]:  # **Revised response:** text
        return match.end()
    return match.end() - len(marks)  # Revised response: **In short:** X -> the marks open the text


def placeholders_of(prompt: str) -> tuple[str, ...]:
    """The placeholders of a prompt's reply format (``<the complete revised answer, ...>``), brackets included."""
    return tuple(f"<{m.group(1)}>" for m in _PLACEHOLDER.finditer(prompt) if " " in m.group(1))


_LOOKALIKE_TAG = re.compile(f"\u2039(/?)({_TAGS})(\\s*)\u203a", re.IGNORECASE)


def restore_tags(rewrite: str, original: str) -> str:
    """Undo :func:`_neutralise` in a rewrite for the tags the original itself holds: the model saw
    ``‹/response›`` where the row said ``</response>``, and the data keeps what the row said."""
    if "\u2039" not in rewrite:
        return rewrite

    def back(match: re.Match[str]) -> str:
        tag = f"<{match.group(1)}{match.group(2)}{match.group(3)}>"
        return tag if tag in original else match.group()

    return _LOOKALIKE_TAG.sub(back, rewrite)


def has_final_answer(text: str) -> bool:
    """The response states a final answer (``#### 42``, ``\\boxed{}``, "The answer is ...").

    The check ``final_answer`` reads answers the same way, so the prompt asks
    to keep a final-answer line exactly when the guard will check one.
    """
    return final_answer(text, phrases=True) is not None


def neutralise(text: str) -> str:
    """``text`` with the tags our prompts fence row text with shown with look-alike brackets
    (``<response>`` -> ``‹response›``): row text inside a prompt can never close its block or open a fake one."""
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
            kept_system.append(Message(role="system", content=neutralise(text)))
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
    return Message(role=role, content=neutralise(text))


class RewritePrompt:
    """Renders the chat request that asks for a rewrite of one row."""

    def __init__(self, prompts: Prompts, criteria: Criteria, *, context_tokens: int = DEFAULT_CONTEXT_TOKENS) -> None:
        self.prompts = prompts
        self.criteria = criteria
        self.context_tokens = context_tokens
        # The system prompt is the same for every row: render it once.
        self._system = prompts.render("rewrite_system", {})
        #: the reply format's placeholders: a reply repeating one is not a rewrite (see parse_reply)
        self.placeholders = placeholders_of(self._system)
        self.rehearse()

    def rehearse(self) -> None:
        """Render every template in use against sample rows, each branch of the row's flags: an
        undefined name or a broken user template fails here, as a :class:`TemplateError` naming the
        file, before the first call is paid for (not at the first row of its task, hours in)."""
        if not self.criteria.user_tasks and not self.prompts.custom:
            return  # the built-in templates are rehearsed by the project's own tests
        sample = Evidence(text="Sample reference text.", title="Sample", url="https://example.com")
        earlier = [Message(role="user", content="An earlier question."), Message(role="assistant", content="Yes.")]
        for with_code, with_final, with_evidence in itertools.product((False, True), repeat=3):
            context = {
                "task": "default",
                "question": "A sample question?",
                "response": "A sample answer.",
                "has_code": with_code,
                "has_evidence": with_evidence,
                "has_final_answer": with_final,
            }
            criteria = "- A sample criterion."
            for task in self.criteria.user_tasks:
                criteria = self.criteria.render(task, {**context, "task": task})
            name = "rewrite_user_evidence" if with_evidence else "rewrite_user"
            variables = {
                **context,
                "criteria": criteria,
                "evidence": [sample] if with_evidence else [],
                "context": earlier if with_code else [],
                "omitted": 1 if with_final else 0,
            }
            self.prompts.render(name, variables)
        self.prompts.render("reask", {"problem": "no 'Revised response:' label"})

    def messages(
        self,
        task: str,
        question: str,
        response: str,
        evidence: Sequence[Evidence],
        conversation: Sequence[Message] = (),
    ) -> tuple[tuple[str, str], ...]:
        """The request's messages; ``conversation`` is the turns before ``question`` (multi-turn rows)."""
        # Row text is data: the prompt's own tags inside it are shown with look-alike brackets, so
        # no row can close its block or open a fake one (restore_tags undoes it in the rewrite).
        evidence = [e.model_copy(update={"title": neutralise(e.title), "text": neutralise(e.text)}) for e in evidence]
        context = {
            "task": task,
            "question": neutralise(question),
            "response": neutralise(response),
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
