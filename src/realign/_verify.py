"""The verifier (``--verify``): a second, cheap model call on each candidate that passed the checks.

The judge reads the question, the original, the rewrite and the row's evidence, and answers on its
first line ``VERDICT: yes`` or ``VERDICT: no``, then a one-sentence ``REASON:``. The reply is read
tolerantly (case, markdown marks, ``=`` or ``-`` for the colon) but never guessed: a reply with no
verdict, or with both, refuses the candidate as ``filter:verify`` with the detail ``judge reply
unreadable: ...``, because accepting what the judge did not approve would defeat the point of asking.

A referral (``refer``, ``--refer``) is the same request with the concerns of the checks that refused the
candidate added to the user prompt as data (``flagged``): the judge decides whether each is a real change
of fact or the same fact written differently. Its cache key has a salt of its own (``refer``).

On a row with evidence the judge also lists, after a yes, each fact the rewrite changed, one line each:
``CHANGE: <old> => <new> [<reference item>]`` (or ``CHANGE: none``). The judge reads the texts whole, so it
pairs an old value with the one that took its place better than rules can; what it states is recorded as the
row's ``corrections`` only as far as the texts bear it out (``_checks/stated.py``). A reply without such lines
leaves the pipeline's own record.

Calls go through a :class:`~realign.Budget`: the pipeline's once the verifier is handed to a
:class:`~realign.Pipeline` (the run's concurrency, rate limits, retries and response cache: a re-run
pays nothing; in a Batch API run the requests go out as a further batch round), else a small one of
its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from ._checks.base import one_line
from ._checks.stated import StatedChange, checked_changes
from ._exceptions import UsageError
from ._llm.budget import OwnBudget, caller_identity
from ._llm.cache import Cache
from ._models import Correction, Evidence, Overruled, Usage
from ._protocol import neutralise
from ._templates import Prompts
from ._types import LLM, Budget, ChatRequest, CheckInput, DeferredLLM, Judgement

__all__ = [
    "REFER_SALT",
    "VERIFY_MAX_TOKENS",
    "VERIFY_SALT",
    "LLMVerifier",
    "judge_spec",
    "read_changes",
    "read_reason",
    "read_verdict",
    "verify_messages",
]

#: The judge's reply is two short lines; the cap keeps a chatty model from running on.
VERIFY_MAX_TOKENS = 160
#: What a reply on a row with evidence may take more: a line for each fact the rewrite changed.
CHANGES_MAX_TOKENS = 200
#: Part of a verify request's cache key: never confused with a rewrite request of the same text.
VERIFY_SALT = "verify"
#: Part of a referral's cache key: never the answer to a plain verify request of the same candidate.
REFER_SALT = "refer"
#: How the judge is told which check flagged what (a check without an entry is named as it is).
_FLAGGED_AS = {
    "entities": "names and entities (dropped: in the original, not found in the rewrite; new: only in the rewrite)",
    "numbers": "numbers (missing: in the original, not found in the rewrite)",
    "final_answer": "final answer",
}
_DETAIL_CHARS = 200

# What may open a line before its label: spaces and markdown marks, never a line break. With a line break in
# it, each line of a reply of blank lines would scan all the lines after it (a reply of 20,000 newlines took
# seconds); a reply is a model's, so it may be anything.
_LEAD = r"^(?:[^\S\n]|[>#*_`-])*"
# A verdict line: "VERDICT: yes", "**Verdict:** No", "verdict = YES.", "## VERDICT - no".
_VERDICT = re.compile(_LEAD + r"verdict[\s*_`]*[:=\-][\s*_`]*(yes|no)\b", re.IGNORECASE | re.MULTILINE)
# Without the label, only a reply that opens with a bare "No" is read (as no): a bare "Yes" is not
# trusted ("Yes, except that the date changed" is a no).
_BARE_NO = re.compile(r"^[\s>#*_`]*no[*_`]*(?:[.,:;!\-]|[ \t]*\n|[ \t]*$)", re.IGNORECASE)
_REASON = re.compile(_LEAD + r"reason[\s*_`]*[:=\-][\s*_`]*", re.IGNORECASE | re.MULTILINE)
# A change line: "CHANGE: 1867 => 1869 [2]", "- **Change:** Lyon -> Marseille (1)", "CHANGE: none". The rest of
# the line is taken whole and trimmed in Python: a pattern that trims it would backtrack over long runs of spaces.
# A list number may open it too ("1. CHANGE: ..."). Matched against one line at a time.
_CHANGE = re.compile(_LEAD + r"(?:\d{1,3}[.)](?:[^\S\n]|[*_`])*)?changes?[ \t*_`]*[:=](.*)$", re.IGNORECASE)
# What opens an item of a list under a bare "Changes:" heading: "- ", "* ", "1. ", "2) ".
_LIST_MARK = re.compile(r"^(?:[^\S\n]|[>#*_`•-])*(?:\d{1,3}[.)])?")
_ARROW = re.compile(r"=>|->|→|⇒")
_ITEM = re.compile(r"[\[(](\d{1,3})[\])]$")
# "\r": a reply with Windows line ends ("[2]\r" is still the item number).
_TRIM = " \t\r*_`"


def verify_messages(
    prompts: Prompts,
    question: str,
    original: str,
    rewrite: str,
    evidence: Sequence[Evidence] = (),
    flagged: Sequence[Overruled] = (),
) -> tuple[tuple[str, str], ...]:
    """The judge's request messages (with ``flagged``: a referral's, carrying the checks' concerns). Row text,
    evidence and the checks' details (which quote row text) are data: inserted as template variables, never
    rendered as template code, with the prompt's own tags shown as look-alikes (see ``neutralise``)."""
    safe = [e.model_copy(update={"title": neutralise(e.title), "text": neutralise(e.text)}) for e in evidence]
    variables = {
        "question": neutralise(question),
        "original": neutralise(original),
        "rewrite": neutralise(rewrite),
        "evidence": safe,
        "flagged": [
            {"what": _FLAGGED_AS.get(f.check, f.check), "detail": neutralise(one_line(f.detail or "(no detail)", 300))}
            for f in flagged
        ],
    }
    system = prompts.render("verify_system", {"evidence": bool(evidence)})
    return (("system", system), ("user", prompts.render("verify_user", variables)))


def read_verdict(reply: str) -> Judgement:
    """The judge's reply as a :class:`~realign.Judgement` (without usage). Refuses what it cannot read."""
    found = {match.group(1).lower() for match in _VERDICT.finditer(reply)}
    if not found and _BARE_NO.match(reply):
        found = {"no"}
    if len(found) != 1:
        what = "no verdict" if not found else "both verdicts"
        shown = one_line(reply, 80) if reply.strip() else "(empty)"
        return Judgement(False, one_line(f"judge reply unreadable ({what}): {shown}", _DETAIL_CHARS))
    if found == {"yes"}:
        return Judgement(True)
    return Judgement(False, one_line(f"judge: {_reason(reply)}", _DETAIL_CHARS))


def read_reason(reply: str) -> str:
    """The judge's one-line explanation, whatever its verdict (a referral records it when the judge says yes)."""
    return one_line(_reason(reply), _DETAIL_CHARS)


def read_changes(reply: str) -> list[StatedChange] | None:
    """The changes the judge's reply lists (``CHANGE: old => new [n]``, also numbered, or as a list under a bare
    ``Changes:`` heading), in order; ``[]`` for ``CHANGE: none``; None when it has no change line at all (a
    judge that did not list them). A line it cannot read as a change is skipped."""
    lines: list[str] | None = None
    listing = False  # under a bare "Changes:" heading, whose list holds the changes
    for text in reply.split("\n"):
        if match := _CHANGE.match(text):
            lines = lines if lines is not None else []
            rest = match.group(1).strip(_TRIM)
            listing = not rest
            if rest:
                lines.append(rest)
        elif listing and lines is not None:
            item = _LIST_MARK.sub("", text, count=1).strip(_TRIM)
            if _ARROW.search(item):
                lines.append(item)
            elif item:
                listing = False
    if lines is None:
        return None
    changes: list[StatedChange] = []
    for line in lines:
        # The prompt's arrow first: "CHANGE: A->B => C" changes "A->B", not "A".
        parts = line.split("=>", 1) if "=>" in line else _ARROW.split(line, maxsplit=1)
        if len(parts) != 2:
            continue
        before, after = parts[0].strip(_TRIM), parts[1].strip(_TRIM)
        number = _ITEM.search(after)
        if number:
            after = after[: number.start()].strip(_TRIM)
        changes.append((before, after, int(number.group(1)) if number else None))
    return changes


def _reason(reply: str) -> str:
    """The judge's explanation: the text after ``REASON:``, else the reply without its verdict line."""
    match = _REASON.search(reply)
    text = reply[match.end() :] if match else _VERDICT.sub("", reply, count=1)
    text = text.strip(" \t\n*_`#>")
    return text or "said no, without a reason"


class LLMVerifier:
    """A :class:`~realign.Verifier` that asks a chat model (any :class:`~realign.LLM`, e.g. the rewriter's
    own or a cheaper one) whether a rewrite keeps every fact and the final answer of the original, and
    with evidence, whether each change is supported by it. Greedy decoding, a two-line reply.

    A ``no`` (or a reply it cannot read) is a :class:`~realign.Judgement` that refuses, with the judge's
    explanation; a call that fails after its retries raises ``LLMError`` (the row keeps its original,
    ``llm_error:<code>``). ``cache`` and ``concurrency`` apply until a pipeline lends it its budget.
    """

    name = "verify"

    def __init__(
        self,
        llm: LLM,
        *,
        prompts: Prompts | None = None,
        max_tokens: int = VERIFY_MAX_TOKENS,
        cache: Cache | None = None,
        concurrency: int = 16,
    ) -> None:
        self.identity = caller_identity(llm, cache)
        self.llm = llm
        self.prompts = prompts or Prompts()
        self.max_tokens = max_tokens
        self._budget: Budget = OwnBudget(cache, concurrency)

    @property
    def model(self) -> str | None:
        """The judge model's name, when its LLM names one (the run summary prices its calls by it)."""
        model = getattr(self.llm, "model", None)
        return model if isinstance(model, str) else None

    def use_budget(self, budget: Budget) -> None:
        """Make every later call inside ``budget`` (the pipeline's: its limits, cache and bill)."""
        self._budget = budget

    def request(self, item: CheckInput, flagged: Sequence[Overruled] = ()) -> ChatRequest:
        """The judge's request for one candidate (the dry run counts its tokens); with ``flagged``, a referral's."""
        messages = verify_messages(self.prompts, item.question, item.original, item.rewrite, item.evidence, flagged)
        budget = self.max_tokens + (CHANGES_MAX_TOKENS if item.evidence else 0)
        return ChatRequest(messages, n=1, temperature=0.0, top_p=1.0, max_tokens=budget)

    async def verify(self, item: CheckInput) -> Judgement:
        reply, usage = await self._ask(self.request(item), VERIFY_SALT)
        judged = read_verdict(reply)
        return Judgement(judged.ok, judged.detail, usage, _corrections(item, reply, judged.ok))

    async def refer(self, item: CheckInput, flagged: Sequence[Overruled]) -> Judgement:
        """A referral (:class:`~realign.Referee`): the candidate with the concerns of the checks that refused it.
        A yes carries the judge's reason as its ``detail`` (recorded with the overruled checks)."""
        reply, usage = await self._ask(self.request(item, flagged), REFER_SALT)
        judged = read_verdict(reply)
        detail = read_reason(reply) if judged.ok else judged.detail
        return Judgement(judged.ok, detail, usage, _corrections(item, reply, judged.ok))

    async def _ask(self, request: ChatRequest, salt: str) -> tuple[str, Usage]:
        defer = self.llm if isinstance(self.llm, DeferredLLM) else None
        completion = await self._budget.spend(self.identity, request, self.llm.complete, salt=salt, defer=defer)
        return (completion.choices[0].text if completion.choices else ""), completion.usage

    async def aclose(self) -> None:
        """Close the LLM it asks."""
        await self.llm.aclose()


def _corrections(item: CheckInput, reply: str, ok: bool) -> tuple[Correction, ...] | None:
    """The changes an accepting reply lists on a row with evidence, as far as the texts bear them out."""
    stated = read_changes(reply) if ok and item.evidence else None
    return None if stated is None else tuple(checked_changes(item, stated))


def judge_spec(verify: object, llm: object) -> Literal[True] | str | None:
    """``reformat(verify=...)`` checked: None (off), True (the rewriting model judges) or the name of another
    model on ``llm``'s endpoint(s), which ``llm`` must then be an :class:`~realign.OpenAIChat` to name."""
    if verify is None or verify is False:
        return None
    if verify is True:
        return True
    if not isinstance(verify, str) or not verify.strip():
        raise UsageError(f"verify= takes True or a model name, not {verify!r}")
    from ._llm.openai_chat import OpenAIChat  # imported late: it imports the openai SDK

    if llm is not None and not isinstance(llm, OpenAIChat):
        raise UsageError(
            f"verify={verify!r} asks another model on the LLM's endpoint, and {type(llm).__qualname__} names none: "
            "pass verifier=realign.LLMVerifier(your_judge_llm) instead"
        )
    return verify
