"""The pipeline: classify, retrieve, rewrite, check and select, one row at a time or a stream of rows.

Each stage is a seam injected through the constructor (see ``_types.py``); the pipeline owns only
the flow between them and the bounds that keep a run finite: at most ``n`` candidates and
``max_reasks`` re-asks per candidate, at most ``concurrency`` requests in flight.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from ._checks.base import CheckError, Failure, find_failure, find_failures, one_line
from ._checks.corrections import find_corrections
from ._checks.registry import REFERABLE_CHECKS, accepts_corrections, correcting_check, default_checks
from ._exceptions import FatalLLMError, FatalSearchError, LLMError, RealignError, SearchError, UsageError
from ._gc import run_gc
from ._llm.budget import spend_cached
from ._llm.cache import Cache, InFlight, SQLiteCache, default_cache_path, request_key
from ._llm.ratelimit import RateLimiter
from ._models import (
    FILTER,
    LLM_ERROR,
    Candidate,
    Correction,
    Evidence,
    Example,
    KeepReason,
    Message,
    Overruled,
    Result,
    RetrievalStatus,
    RowPlan,
    TaskPrediction,
    Usage,
)
from ._protocol import DEFAULT_CONTEXT_TOKENS, RewritePrompt, default_max_tokens, parse_reply, restore_tags
from ._tasks import DEFAULT_TASK
from ._templates import Criteria, Prompts
from ._tokens import count_tokens
from ._types import (
    LLM,
    BudgetUser,
    ChatRequest,
    Check,
    CheckInput,
    Classifier,
    Completion,
    DeferredLLM,
    Judgement,
    Referee,
    SearchClient,
    Send,
    Verifier,
    identity_of,
    missing_members,
)

__all__ = ["VERIFY_CHECK", "Pipeline", "VerifyCounts", "classifier_of", "gather_all", "ordered_map"]

log = logging.getLogger("realign")

TurnsMode = Literal["all", "last", "none"]
TURNS_MODES: tuple[TurnsMode, ...] = ("all", "last", "none")

# A later turn that reads as a follow-up ("and in Java?", "make it shorter") is classified together with
# the user turn before it; a turn that stands on its own is classified alone (a change of subject would
# otherwise inherit the earlier task). See benchmarks/README.md: Multi-turn.
_FOLLOW_UP_WORDS = 8
_FOLLOW_UP_START = re.compile(
    r"^\W*(?:and|now|also|then|but|so|ok(?:ay)?|what about|how about|same|again|instead|make it|do it|"
    r"can you (?:also|make|do|now)|could you (?:also|make|do|now))\b",
    re.IGNORECASE,
)
_REFERRING = re.compile(r"\b(?:it|this|that|these|those|them|one|above|previous|again)\b", re.IGNORECASE)
_FOLLOW_UP_CHAIN = 3
_PREVIOUS_TURN_CHARS = 1500  # the previous user turn as the classifier sees it: its start (the ask) is enough

T = TypeVar("T")
R = TypeVar("R")


def _default_classifier(criteria: Criteria) -> Classifier:
    """The embedded classifier over the criteria's tasks, custom ones and their examples included."""
    from ._classify.embedded import EmbeddedClassifier  # imported late: it trains a small model on first use

    return EmbeddedClassifier(criteria.tasks, criteria.examples or None)


class Pipeline:
    """Reformats examples with one LLM, classifier, search client, criteria set and list of checks.

    Every collaborator is one constructor argument and can be replaced by anything with the same
    one method (and ``aclose``): ``llm`` (:class:`~realign.LLM`, e.g. :class:`~realign.OpenAIChat`
    or :class:`~realign.FakeLLM`), ``classifier``, ``search`` (None: no retrieval), ``criteria`` (a
    :class:`~realign.Criteria` or a folder of user criteria), ``checks``, ``cache``. Each is checked
    against its protocol here: what does not fit raises :class:`~realign.UsageError` naming what
    is missing. With a cache, the LLM needs an ``identity`` (:class:`~realign.Identified`).
    ``cache`` defaults to the user cache folder, as the CLI's (``$REALIGN_CACHE``, else
    ``~/.cache/realign/cache.sqlite``), for an LLM with an identity: a re-run pays nothing;
    ``cache=False`` (or None) disables it.

    An exception from a collaborator that is not a :class:`~realign.RealignError` fails the row
    that raised it, not the run: an LLM's or classifier's keeps the original with
    ``llm_error:<ExceptionName>``, a search client's goes on without evidence (retrieval
    ``failed``); each kind is logged once.

    ``corrections`` (default ``"auto"``): whether, when a row has evidence, a rewrite may change a name or
    a number to what the evidence states (provided the evidence does not also state the old value); the
    result then lists those changes in ``corrections``. ``"auto"``: only with a ``verifier``, which then
    decides whether the evidence supports each change (the rules alone cannot tell whose value the evidence
    states: on a fresh set they accepted 13 of 30 unsupported changes), so that without one every changed
    fact is refused, as on rows without evidence, and the refusal says so when the evidence states the new
    value. True: by the rules, judge or not. False: never. It applies to the default checks; a given
    ``checks`` list is used as it is (``build_checks(corrections=...)`` decides what it accepts), and with
    ``"auto"`` what it accepts is recorded.

    ``verifier`` (default None: off): a :class:`~realign.Verifier`, e.g. :class:`~realign.LLMVerifier`,
    asked about every candidate that passed the checks and differs from the original (``--verify``). A
    refusal rejects the candidate as ``filter:verify`` with the judge's explanation as its ``detail``; a
    verifier that fails (``LLMError`` after its retries) leaves the row undecided: it keeps its original
    with ``llm_error:<code>`` and a re-run asks again. A verifier that makes model calls shares this
    pipeline's budget (concurrency, rate limits, response cache); :attr:`verified` counts its work. On a
    row with evidence, the changes a verifier states (:attr:`~realign.Judgement.corrections`, checked
    against the texts) are the ones an accepted row records.

    ``refer`` (default False; needs a ``verifier`` that is a :class:`~realign.Referee`, as
    :class:`~realign.LLMVerifier` is): a candidate refused only by checks whose verdict is a judgement call
    (:data:`~realign.REFERABLE_CHECKS`: ``entities``, ``numbers``, ``final_answer``) is referred to the judge
    with the checks' concerns instead of being refused. A yes accepts it and the result records the checks
    it overruled (``overruled``: check, detail, the judge's reason); a no (or an unreadable reply) refuses
    it under the first check, the judge's reason added to the detail. It moves trust from the rules to the
    judge, hence off by default. A candidate any other check refuses is never referred.
    """

    def __init__(
        self,
        llm: LLM | None,
        *,
        classifier: Classifier | None = None,
        search: SearchClient | None = None,
        criteria: Criteria | str | Path | None = None,
        checks: Sequence[Check] | None = None,
        cache: Cache | bool | None = True,
        n: int = 1,
        temperature: float = 0.3,
        top_p: float = 1.0,
        max_tokens: int | None = None,
        max_reasks: int = 2,
        concurrency: int = 64,
        select: Literal["longest", "first"] = "longest",
        retrieval_tasks: Iterable[str] | None = None,
        strict: bool = False,
        prompts: Prompts | None = None,
        rate_limiter: RateLimiter | None = None,
        turns: TurnsMode = "all",
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
        corrections: bool | Literal["auto"] = "auto",
        verifier: Verifier | None = None,
        refer: bool = False,
    ) -> None:
        if n < 1 or concurrency < 1 or max_reasks < 0:
            raise UsageError("n and concurrency must be at least 1, max_reasks at least 0")
        if turns not in TURNS_MODES:
            raise UsageError(f"turns must be one of {', '.join(TURNS_MODES)}, not {turns!r}")
        if context_tokens < 0:
            raise UsageError("context_tokens must be at least 0")
        #: which assistant turns of a multi-turn conversation are rewritten: all, the last, or none
        self.turns: TurnsMode = turns
        #: a cache this pipeline opened itself (the default one): closed by :meth:`aclose`
        self._own_cache: SQLiteCache | None = None
        if cache is True:  # the default: the user cache folder, as the CLI, when the LLM's answers can be keyed
            if llm is not None and identity_of(llm) is not None:
                self._own_cache = SQLiteCache(default_cache_path())
            cache = self._own_cache
        elif cache is False:
            cache = None
        _check_collaborators(llm, classifier, search, checks, cache, verifier)
        self.llm = llm
        self.criteria = criteria if isinstance(criteria, Criteria) else Criteria(criteria)
        self.classifier = classifier if classifier is not None else _default_classifier(self.criteria)
        self.search = search
        #: whether a changed fact the evidence states is accepted and recorded (``corrections`` resolved)
        self.corrections = corrections_on(corrections, verifier is not None)
        if checks is not None and corrections == "auto":  # a list of one's own says itself what it accepts
            self.corrections = self.corrections or accepts_corrections(list(checks))
        self.checks = list(checks) if checks is not None else default_checks(corrections=self.corrections)
        # Corrections off only for want of a judge: a refusal the evidence would have lifted says how to lift it.
        self._hint_corrections = corrections == "auto" and not self.corrections
        self._correcting: dict[str, Check | None] = {}
        self.cache: Cache | None = cache
        self.rate_limiter = rate_limiter
        self.n, self.temperature, self.top_p, self.max_tokens = n, temperature, top_p, max_tokens
        self.max_reasks, self.concurrency, self.select, self.strict = max_reasks, concurrency, select, strict
        self.prompt = RewritePrompt(prompts or Prompts(), self.criteria, context_tokens=context_tokens)
        tasks = self.criteria.tasks
        if retrieval_tasks is None:
            self.retrieval_tasks = frozenset(name for name, task in tasks.items() if task.retrieval)
        else:
            self.retrieval_tasks = frozenset(retrieval_tasks)
            unknown = self.retrieval_tasks - set(tasks)
            if unknown:
                raise UsageError(f"unknown task(s) in retrieval_tasks: {', '.join(sorted(unknown))}")
        # Seams found once, here: the cache key's identity, and whether answers arrive through the
        # cache later (the Batch API's collector) instead of from a call.
        self._identity = identity_of(llm) if llm is not None else None
        self._deferred = llm if isinstance(llm, DeferredLLM) else None
        if cache is not None and llm is not None and self._identity is None:
            raise UsageError(
                f"a cache keys answers by the LLM's identity, and {type(llm).__qualname__} has none: give it an "
                "`identity` property naming everything that changes its answers (endpoint, model), or drop cache="
            )
        if self._deferred is not None and cache is None:
            raise UsageError(f"{type(llm).__qualname__} answers through the response cache: give the Pipeline a cache")
        self._senders = _SenderPool(self._send, concurrency)
        self._unknown_tasks: set[str] = set()
        self._foreign_kinds: set[tuple[str, str]] = set()
        if isinstance(self.classifier, BudgetUser):  # an LLM classifier: its calls share this run's bounds
            self.classifier.use_budget(self)
        self.verifier = verifier
        if isinstance(verifier, BudgetUser):  # so do the verifier's
            verifier.use_budget(self)
        if refer and verifier is None:
            raise UsageError("refer=True refers refusals to the verifier: give a verifier= (or verify= in reformat())")
        if refer and not isinstance(verifier, Referee):
            raise UsageError(
                f"refer=True needs a verifier with a refer method (a Referee): {type(verifier).__qualname__} has none"
            )
        #: whether soft refusals are referred to the verifier (see ``refer`` above)
        self.refer = refer
        #: the verifier's work so far: candidates judged, refused, referred, overruled, and the usage of its
        #: calls (cache hits are free)
        self.verified = VerifyCounts(refer=refer)
        #: requests sent and not yet answered, by cache key: an identical one waits for that answer
        self._in_flight = InFlight()

    # ----------------------------------------------------------------------------- one example

    async def areformat_one(self, example: Example) -> Result:
        """Reformat one example. Raises only on errors that must stop a run (bad key, bad config)."""
        original = example.response
        result = Result(
            response=original, tag="original", reason=None, task=DEFAULT_TASK, original=original, id=example.id
        )
        try:
            plan = await self.plan(example)
        except FatalLLMError:
            raise
        except LLMError as exc:  # an LLM classifier failed for this row: keep it, go on with the rest
            result.confidence, result.classifier = 0.0, "llm"
            return _failed(result, "classify", exc)
        result.task, result.confidence, result.classifier = plan.task, plan.confidence, plan.classifier
        result.usage = plan.usage  # an LLM classifier's call is part of the row's bill
        if not plan.rewrite:
            return _keep(result, plan.reason)
        evidence, retrieval = await self.evidence_for(example, plan)
        result.evidence, result.retrieval = evidence, retrieval
        if self.llm is None:
            raise UsageError("this pipeline has no LLM (llm=None): it can classify and retrieve, not rewrite")
        messages = self.prompt.messages(plan.task, example.question, original, evidence, example.context)
        max_tokens = self.max_tokens if self.max_tokens is not None else default_max_tokens(original)
        request = ChatRequest(messages, self.n, self.temperature, self.top_p, max_tokens)
        calls = _RowCalls()
        try:
            candidates = await self._candidates(request, calls)
        except FatalLLMError:
            raise
        except LLMError as exc:
            # The calls answered before the one that failed (a first reply, a top-up) were paid for all the same.
            result.usage += calls.usage
            return _failed(result, "rewrite", exc)
        result.usage += calls.usage
        result.candidates = [self._judge(c, plan.task, example, evidence) for c in candidates]
        if self.verifier is not None:
            result.candidates, usage, failed = await self._verify(result.candidates, plan.task, example, evidence)
            result.usage += usage  # the judgements that came back were paid for, even when another failed
            result.verify_usage = usage
            if isinstance(failed, LLMError) and not isinstance(failed, FatalLLMError):
                return _failed(result, "verify", failed)  # the row is undecided: a re-run asks again
            if failed is not None:
                raise failed
        chosen = self._choose(result)
        if chosen.reason == "parse_error":
            self._forget(calls.keys)
        return chosen

    def _forget(self, keys: Sequence[str]) -> None:
        """Replace the cached replies of a row no reply of which parsed by an empty entry, which
        reads as a miss: running the same command again asks afresh instead of replaying replies
        that are known not to work. (Rows decided by the checks keep theirs.)"""
        if self.cache is not None:
            for key in keys:
                self.cache.put(key, Completion([], Usage()))

    async def plan(self, example: Example, *, label_empty: bool = False) -> RowPlan:
        """What this pipeline does with ``example``: its task and where it came from, whether it is rewritten
        (and why not), whether it needs retrieval. The one place these rules live: the run, the dry run,
        ``classify`` and ``retrieve`` all ask here. Calls nothing but the classifier, and that only for a
        row with something to rewrite and no task of its own (``label_empty=True``: for any row without a
        task, as ``realign classify`` labels instruction-only rows). Raises what the classifier raises."""
        empty = not example.question.strip() or not example.response.strip()
        if empty and example.task is None and not label_empty:  # no classify call spent on a row left alone
            return RowPlan(task=DEFAULT_TASK, confidence=None, source="skipped", rewrite=False, reason="empty_response")
        prediction = await self._task_of(example)

        def decided(rewrite: bool, reason: KeepReason | None = None, retrieval: bool = False) -> RowPlan:
            return RowPlan(
                task=prediction.task,
                confidence=prediction.confidence,
                source=prediction.source,
                classifier=classifier_of(prediction),
                usage=prediction.usage,
                rewrite=rewrite,
                reason=reason,
                retrieval=retrieval,
            )

        if empty:
            return decided(False, "empty_response")
        task = self.criteria.tasks[prediction.task]
        if not task.rewrite or not self.criteria.has(task.name):
            return decided(False, "task_not_rewritten")
        return decided(True, retrieval=example.evidence is None and task.name in self.retrieval_tasks)

    async def _task_of(self, example: Example) -> TaskPrediction:
        """The example's task: its own when given (checked against the table), else the classifier's."""
        if example.task is None:
            try:
                prediction = await self.classifier.classify(classifier_input(example.question, example.context))
            except RealignError:
                raise
            except Exception as exc:  # a custom classifier's own error: this row fails, not the run
                raise self._foreign("classifier", exc) from exc
            if prediction.task in self.criteria.tasks:
                return prediction
            return prediction.model_copy(update={"task": DEFAULT_TASK, "confidence": 0.0})
        if example.task in self.criteria.tasks:
            return TaskPrediction(task=example.task, confidence=1.0, source="given")
        if self.strict:
            raise UsageError(f"unknown task {example.task!r} (see `realign tasks`)")
        if example.task not in self._unknown_tasks:  # once per name, not once per row of a big file
            self._unknown_tasks.add(example.task)
            log.warning("unknown task %r: treated as %r", example.task, DEFAULT_TASK)
        return TaskPrediction(task=DEFAULT_TASK, confidence=0.0, source="unknown")

    async def evidence_for(self, example: Example, plan: RowPlan) -> tuple[list[Evidence], RetrievalStatus | None]:
        """Evidence for the prompt and the retrieval status (None, ``given``, ``ok``, ``empty``, ``failed``):
        the example's own, else a search when ``plan`` says the row needs one and there is a search client."""
        if example.evidence is not None:
            return list(example.evidence), "given"
        if self.search is None or not plan.retrieval:
            return [], None
        try:
            found = await self.search.search(example.question)
        except FatalSearchError:
            raise
        except SearchError as exc:
            log.warning("search failed, going on without evidence: %s", exc)
            return [], "failed"
        except RealignError:
            raise
        except Exception as exc:  # a custom search client's own error: this row goes on without evidence
            self._foreign("search", exc)
            return [], "failed"
        return found, "ok" if found else "empty"

    # ----------------------------------------------------------------------------- candidates

    async def _candidates(self, request: ChatRequest, calls: _RowCalls) -> list[Candidate]:
        """``n`` parsed candidates. Servers that ignore ``n`` (Ollama) are topped up with extra calls."""
        choices: list[tuple[str, str | None]] = []
        for call in range(self.n):  # bounded: at most n calls even if every call returns one choice
            wanted = self.n - len(choices)
            completion = await self._complete(replace(request, n=wanted), calls, salt=f"topup{call}" if call else "")
            choices += [(c.text, c.finish_reason) for c in completion.choices[:wanted]]
            if len(choices) >= self.n:
                break
        return [await self._parse_or_reask(request, text, finish, calls) for text, finish in choices]

    async def _parse_or_reask(self, request: ChatRequest, text: str, finish: str | None, calls: _RowCalls) -> Candidate:
        problem = "unparsable reply"  # the parser's word on the last reply: the rejection's detail
        for attempt in range(self.max_reasks + 1):
            if finish == "length":
                cut = f"cut off at the token limit (max_tokens {request.max_tokens})"
                return Candidate(text=None, reasoning=text, finish_reason=finish, rejected="truncated", detail=cut)
            parsed = parse_reply(text, self.prompt.placeholders)
            if parsed.rewrite is not None:
                return Candidate(text=parsed.rewrite, reasoning=parsed.reasoning, finish_reason=finish)
            problem = parsed.problem or problem
            if attempt == self.max_reasks:
                break
            followup = self.prompt.reask(request, text, problem)
            completion = await self._complete(followup, calls, salt="")
            if not completion.choices:
                break
            text, finish = completion.choices[0].text, completion.choices[0].finish_reason
        return Candidate(text=None, reasoning=text, finish_reason=finish, rejected="parse_error", detail=problem)

    async def _complete(self, request: ChatRequest, calls: _RowCalls, *, salt: str) -> Completion:
        """The answer to one request of a row (from the cache, else sent), its usage added to ``calls``."""
        completion = await self._answer(request, calls.keys, salt)
        calls.usage += completion.usage  # a cache hit reports none
        return completion

    async def _answer(self, request: ChatRequest, keys: list[str], salt: str) -> Completion:
        assert self.llm is not None  # checked in areformat_one
        key = None
        if self.cache is not None and self._identity is not None:  # __init__ requires an identity with a cache
            key = request_key(self._identity, request, salt)
            keys.append(key)
            hit = self.cache.get(key)
            if hit is not None and hit.choices:  # an empty entry is a forgotten reply (see _forget)
                return hit
        if self._deferred is not None and key is not None:
            # Answers come later through the cache, under the key the request alone does not give
            # (the salt). No API is called: no limits apply.
            try:
                return await self._deferred.complete_keyed(request, key)
            except RealignError:
                raise
            except Exception as exc:
                raise self._foreign("llm", exc) from exc
        send = functools.partial(self._senders.submit, request, self.llm.complete)
        if key is None or self.cache is None:
            return await send()
        return await self._in_flight.stored(key, self.cache, send)  # identical rows at once: sent once

    async def spend(
        self, identity: str, request: ChatRequest, send: Send, *, salt: str = "", defer: DeferredLLM | None = None
    ) -> Completion:
        """The :class:`~realign.Budget` seam: a call of a collaborator (an LLM classifier, a verifier) inside
        the run's bounds: served from the cache, else sent within the concurrency and rate limits (or, with
        ``defer``, handed to it with its cache key: a Batch API collect run)."""
        return await spend_cached(
            self.cache, identity, request, salt, defer, lambda: self._senders.submit(request, send), self._in_flight
        )

    async def _send(self, request: ChatRequest, send: Send) -> Completion:
        if self.rate_limiter is not None:
            expected = sum(count_tokens(text) for _, text in request.messages) + (request.max_tokens or 0)
            await self.rate_limiter.acquire(expected)
        try:
            return await send(request)
        except RealignError:
            raise
        except Exception as exc:  # a custom LLM's own error (ConnectionError...): this row fails, not the run
            raise self._foreign("llm", exc) from exc

    def _foreign(self, role: str, exc: Exception) -> LLMError:
        """The error of a row whose collaborator raised ``exc``, which is not one of ours; logged once per kind."""
        name = type(exc).__name__
        if (role, name) not in self._foreign_kinds:
            self._foreign_kinds.add((role, name))
            outcome = "go on without evidence" if role == "search" else f"keep their original (llm_error:{name})"
            # The message is not shown: a foreign error's text may hold anything, a key included.
            log.warning("the %s raised %s; rows where it does %s", role, name, outcome)
            log.debug("the %s raised %s", role, name, exc_info=exc)
        return LLMError(f"the {role} raised {name}", code=name)

    # ----------------------------------------------------------------------------- checks, verification, selection

    def _judge(self, candidate: Candidate, task: str, example: Example, evidence: list[Evidence]) -> Candidate:
        if candidate.text is None:
            return candidate
        text = restore_tags(candidate.text, example.response)
        if text != candidate.text:
            candidate = candidate.model_copy(update={"text": text})
        item = CheckInput(task, example.question, example.response, text, candidate.finish_reason, tuple(evidence))
        try:
            if self.refer:  # past a soft refusal the later checks run too: only soft refusals are referred
                failures = find_failures(self.checks, item, last=lambda f: f.check not in REFERABLE_CHECKS)
            else:
                first = find_failure(self.checks, item)
                failures = [] if first is None else [first]
        except CheckError as exc:
            log.error("%s; the row keeps its original", exc)
            return candidate.model_copy(
                update={"rejected": f"check_error:{exc.check}", "detail": one_line(str(exc), 200)}
            )
        if not failures:
            return self._with_corrections(candidate, item)
        failed = failures[0]
        detail = failed.detail
        if self._hint_corrections and item.evidence and self._corrected(item, failed.check):
            detail = one_line(f"{detail or 'changed'}; {CORRECTION_HINT}", 300)
        refused = candidate.model_copy(update={"rejected": f"{FILTER}{failed.check}", "detail": detail})
        if self.refer and all(f.check in REFERABLE_CHECKS for f in failures):
            return refused.model_copy(update={"referred": [_flag(f) for f in failures]})
        return refused

    def _corrected(self, item: CheckInput, check: str) -> bool:
        """Whether ``check``, accepting corrections, would accept ``item``: the change is one the evidence states."""
        if check not in self._correcting:
            self._correcting[check] = correcting_check(check)
        correcting = self._correcting[check]
        return correcting is not None and find_failure([correcting], item) is None

    def _with_corrections(self, candidate: Candidate, item: CheckInput) -> Candidate:
        if self.corrections and item.evidence:
            return candidate.model_copy(update={"corrections": find_corrections(item)})
        return candidate

    async def _verify(
        self, candidates: list[Candidate], task: str, example: Example, evidence: list[Evidence]
    ) -> tuple[list[Candidate], Usage, Exception | None]:
        """Ask the verifier about every candidate the checks passed (one that returns the original unchanged
        needs no second opinion), and with ``refer`` about every one referred to it, all at once. A refusal
        rejects the first kind as ``filter:verify``; a referral keeps its check's refusal unless the judge
        accepts it, which records the checks it overruled.

        Also returns the usage of the judgements and the first error of a judgement that failed (None when
        none did). Every judgement is waited for, even after one fails: the others are already being paid
        for, so they are counted (usage, :attr:`verified`) instead of running on unseen after the row ended."""
        assert self.verifier is not None
        verifier = self.verifier
        todo = [
            i
            for i, c in enumerate(candidates)
            if (c.rejected is None or c.referred) and c.text is not None and c.text.strip() != example.response.strip()
        ]

        async def ask(candidate: Candidate) -> Judgement:
            item = CheckInput(
                task, example.question, example.response, candidate.text or "", candidate.finish_reason, tuple(evidence)
            )
            try:
                if candidate.referred and isinstance(verifier, Referee):  # __init__ checked it is one
                    return await verifier.refer(item, candidate.referred)
                return await verifier.verify(item)
            except RealignError:
                raise
            except Exception as exc:  # a custom verifier's own error: this row fails, not the run
                raise self._foreign("verifier", exc) from exc

        judgements = await asyncio.gather(*(ask(candidates[i]) for i in todo), return_exceptions=True)
        out, usage, failed = list(candidates), Usage(), None
        for i, judged in zip(todo, judgements, strict=True):
            if isinstance(judged, BaseException):
                if not isinstance(judged, Exception):  # a cancellation, KeyboardInterrupt: not the row's to decide
                    raise judged
                # A fatal error (bad key) wins over a row's own: it must stop the run.
                if failed is None or (isinstance(judged, FatalLLMError) and not isinstance(failed, FatalLLMError)):
                    failed = judged
                continue
            usage += judged.usage
            candidate = out[i]
            self.verified.add(judged, referred=bool(candidate.referred))
            if candidate.referred:
                out[i] = self._decide_referral(candidate, judged, task, example, evidence)
            elif not judged.ok:
                out[i] = candidate.model_copy(
                    update={"rejected": f"{FILTER}{VERIFY_CHECK}", "detail": judged.detail, "corrections": []}
                )
            elif (stated := self._stated(judged, evidence)) is not None:
                out[i] = candidate.model_copy(update={"corrections": stated})
        return out, usage, failed

    def _decide_referral(
        self, candidate: Candidate, judged: Judgement, task: str, example: Example, evidence: list[Evidence]
    ) -> Candidate:
        """A referred candidate after the judge's answer: accepted with the overruled checks recorded, or
        refused under its first check with the judge's reason added to that check's detail."""
        reason = judged.detail or "judge said yes, without a reason"
        if not judged.ok:
            detail = "; ".join(part for part in (candidate.detail, judged.detail) if part)
            return candidate.model_copy(update={"detail": one_line(detail, 400)})
        text = candidate.text or ""
        item = CheckInput(task, example.question, example.response, text, candidate.finish_reason, tuple(evidence))
        overruled = [flag.model_copy(update={"reason": reason}) for flag in candidate.referred]
        accepted = candidate.model_copy(update={"rejected": None, "detail": None, "overruled": overruled})
        if (stated := self._stated(judged, evidence)) is not None:
            return accepted.model_copy(update={"corrections": stated})
        return self._with_corrections(accepted, item)

    def _stated(self, judged: Judgement, evidence: list[Evidence]) -> list[Correction] | None:
        """The changes the judge stated, when they are the row's record: the judge read the texts whole, so its
        changes (checked against them) replace the rules' reading. None: the rules' record stands."""
        if judged.corrections is None or not self.corrections or not evidence:
            return None
        return list(judged.corrections)

    def _choose(self, result: Result) -> Result:
        passing = [c for c in result.candidates if c.rejected is None and c.text is not None]
        if not passing:
            return _keep(result, result.candidates[0].rejected if result.candidates else "no_candidate")
        if len(passing) == 1 or self.select == "first":
            best = passing[0]
        else:
            best = max(passing, key=lambda c: count_tokens(c.text or ""))
        text = best.text or ""
        if text.strip() == result.original.strip():
            # The model judged the criteria not to fit this row and kept it (adaptive rewriting).
            return _keep(result, "unchanged")
        result.response, result.tag, result.reason = text, "rewrite", None
        result.corrections = list(best.corrections)
        result.overruled = list(best.overruled)
        return result

    # ----------------------------------------------------------------------------- many examples

    async def astream(self, examples: Iterable[Example] | AsyncIterable[Example]) -> AsyncIterator[Result]:
        """Reformat a stream of examples concurrently; results come out in input order."""
        async for _, result in ordered_map(self.areformat_one, examples, self.window):
            yield result

    @property
    def window(self) -> int:
        """Rows in progress at once. Larger than ``concurrency`` so one slow row does not stall the rest."""
        return 4 * self.concurrency + 16

    async def aclose(self) -> None:
        """Close the clients: the LLM, the classifier, the search client and the verifier. The cache stays
        open: pipelines often share one (the passes of a Batch API run), so whoever opened it closes it."""
        for part in (self.llm, self.classifier, self.search, self.verifier):
            if part is not None:
                await part.aclose()
        if self._own_cache is not None:
            self._own_cache.close()
            self._own_cache = None


def _check_collaborators(
    llm: object, classifier: object, search: object, checks: Sequence[object] | None, cache: object, verifier: object
) -> None:
    """Raise :class:`UsageError` naming what a collaborator lacks, before any row is read."""
    for role, part, seam in (
        ("llm", llm, LLM),
        ("classifier", classifier, Classifier),
        ("search", search, SearchClient),
        ("verifier", verifier, Verifier),
    ):
        if part is None:
            continue
        if isinstance(part, str):
            raise UsageError(f"{role}={part!r} is a string, not a {seam.__name__} object: {_STRING_HINTS[role](part)}")
        missing = missing_members(part, seam)
        if missing:
            methods = ", ".join(missing)
            raise UsageError(f"{role}= is not a {seam.__name__}: {type(part).__qualname__} has no {methods}")
    if cache is not None and (missing := missing_members(cache, Cache)):
        raise UsageError(f"cache= is not a Cache: {type(cache).__qualname__} has no {', '.join(missing)}")
    for number, check in enumerate(checks or ()):
        if not callable(check):
            raise UsageError(f"checks[{number}] is not a check (a callable taking a CheckInput): {check!r}")


_STRING_HINTS: dict[str, Callable[[str], str]] = {
    "llm": lambda name: f"use model={name!r} or llm=realign.OpenAIChat({name!r})",
    "classifier": lambda name: "use a classifier object (realign.EmbeddedClassifier(), realign.LLMClassifier(llm)...)",
    "search": lambda name: f"use search=realign.search_client_from_spec({name!r}) or a client object",
    "verifier": lambda name: (
        f"use verifier=realign.LLMVerifier(realign.OpenAIChat({name!r})), or verify= in reformat()"
    ),
}


#: Added to such a refusal when only the want of a judge made it one.
CORRECTION_HINT = "the evidence states the new value: corrections need a judge (--verify) or --corrections"


def corrections_on(corrections: object, judged: bool) -> bool:
    """``corrections`` (True, False or ``"auto"``) resolved: ``"auto"`` is on only with a judge (``judged``)."""
    if corrections == "auto":
        return judged
    if not isinstance(corrections, bool):
        raise UsageError(f"corrections must be True, False or 'auto', not {corrections!r}")
    return corrections


#: The name a verifier's refusal is recorded under: ``filter:verify``.
VERIFY_CHECK = "verify"


@dataclass
class VerifyCounts:
    """What a pipeline's verifier did: candidates ``judged`` (cache hits included, referrals too), ``refused``
    (``filter:verify``: the judge said no to a candidate the checks passed), and with ``refer`` the candidates
    ``referred`` to it and those of them it accepted, ``overruled``; the ``usage`` of its calls
    (``usage.calls``: the requests actually sent; a cache hit costs nothing)."""

    judged: int = 0
    refused: int = 0
    usage: Usage = field(default_factory=Usage)
    referred: int = 0
    overruled: int = 0
    #: whether the run refers soft refusals (the summary then counts referrals)
    refer: bool = False

    def add(self, judged: Judgement, *, referred: bool = False) -> None:
        self.judged += 1
        if referred:
            self.referred += 1
            self.overruled += judged.ok
        else:
            self.refused += not judged.ok
        self.usage += judged.usage

    def merge(self, other: VerifyCounts) -> None:
        """Add ``other``'s counts to these (another worker's judge: a Ray actor's)."""
        self.judged += other.judged
        self.refused += other.refused
        self.referred += other.referred
        self.overruled += other.overruled
        self.usage += other.usage

    def to_json(self) -> dict[str, Any]:
        """The counts as JSON values (a Ray actor sends them to the driver); :meth:`from_json` reads them back."""
        return {
            "judged": self.judged,
            "refused": self.refused,
            "referred": self.referred,
            "overruled": self.overruled,
            "usage": self.usage.model_dump(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VerifyCounts:
        return cls(
            judged=data["judged"],
            refused=data["refused"],
            referred=data.get("referred", 0),
            overruled=data.get("overruled", 0),
            usage=Usage(**data["usage"]),
        )


def _flag(failure: Failure) -> Overruled:
    """A soft check's refusal as referred to the judge (its reason comes with the judge's answer)."""
    return Overruled(check=failure.check, detail=failure.detail)


@dataclass
class _RowCalls:
    """What a row's requests have left so far: their cache keys (see ``_forget``) and the usage of those
    answered. Kept apart from the return values so a row that ends in ``llm_error`` still bills the calls
    answered before the one that failed."""

    keys: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)


class _SenderPool:
    """At most ``size`` sender tasks that send queued requests one after another: the concurrency bound.

    Better than a semaphore around each call: a sender that finishes a request takes the next one
    at once, on the connection it just released, instead of waking a waiter on a later pass of the
    event loop; at high concurrency that keeps every connection busy and saves client CPU. Senders
    start on demand and end when the queue is empty, so nothing lingers between runs.
    """

    def __init__(self, send: Callable[[ChatRequest, Send], Awaitable[Completion]], size: int) -> None:
        self._send, self._size = send, size
        self._queue: deque[tuple[ChatRequest, Send, asyncio.Future[Completion]]] = deque()
        # The senders taking requests; also the strong references the loop does not keep.
        self._senders: set[asyncio.Task[None]] = set()

    async def submit(self, request: ChatRequest, send: Send) -> Completion:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Completion] = loop.create_future()
        self._queue.append((request, send, future))
        if len(self._senders) < self._size:
            self._start(loop)
        return await future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        sender = loop.create_task(self._work())
        self._senders.add(sender)
        sender.add_done_callback(self._senders.discard)

    async def _work(self) -> None:
        emptied = False  # the normal end: the queue was found empty
        try:
            while self._queue:
                request, send, future = self._queue.popleft()
                if future.done():  # its row was cancelled while it waited
                    continue
                try:
                    completion = await self._send(request, send)
                except Exception as exc:  # handed to the row that asked, which decides what it means
                    if not future.done():
                        future.set_exception(exc)
                except BaseException:
                    # This sender is cancelled, or the LLM raised a cancellation (or KeyboardInterrupt) of its
                    # own: the sender ends, and the row must not wait forever for an answer nobody will give.
                    future.cancel()
                    raise
                else:
                    if not future.done():
                        future.set_result(completion)
            emptied = True
        finally:
            # Out of the set in the same step as the empty-queue test. Left to the done-callback alone, it
            # would leave a step of the loop later: a row woken by its last answer can queue its next request
            # (a re-ask, a verify call) in between, see the pool full, and at concurrency 1 wait forever.
            # The callback stays for a sender cancelled before it ever ran.
            self._senders.discard(asyncio.current_task())
            # Ended early by an exception from a send: the requests still waiting need a sender, or at
            # concurrency 1 their rows wait forever. (When the loop shuts down, every row was cancelled with
            # its sender, and their requests are done already.)
            if not emptied and len(self._senders) < self._size and any(not f.done() for _, _, f in self._queue):
                self._start(asyncio.get_running_loop())


def classifier_of(prediction: TaskPrediction) -> str:
    """What a row records as its task's origin: ``embedded``, ``llm`` or ``given`` (a custom
    classifier's own ``source`` otherwise)."""
    return {"completion": "llm", "unknown": "given"}.get(prediction.source, prediction.source)


def classifier_input(question: str, context: Sequence[Message]) -> str:
    """What the classifier reads for a turn: the question alone when it stands on its own; after the
    user turn before it when it reads as a follow-up ("and in Java?", "make it shorter"), going back
    through a chain of follow-ups (at most three turns) to the turn that set the subject."""
    asked = [question]
    users = [m.content for m in reversed(context) if m.role == "user" and m.content.strip()]
    for previous in users[:_FOLLOW_UP_CHAIN]:
        if not _follow_up(asked[-1]):
            break
        asked.append(previous[:_PREVIOUS_TURN_CHARS])
    return "\n\n".join(reversed(asked))


def _follow_up(question: str) -> bool:
    words = question.split()
    if len(words) <= 3:
        return True
    return len(words) <= _FOLLOW_UP_WORDS and (
        _FOLLOW_UP_START.search(question) is not None or _REFERRING.search(question) is not None
    )


def _keep(result: Result, reason: str | None) -> Result:
    result.response, result.tag, result.reason = result.original, "original", reason
    return result


#: the longest ``error`` a record keeps: one line an auditor reads, not a server's page
_ERROR_CHARS = 300


def _failed(result: Result, call: str, exc: LLMError) -> Result:
    """Keep the original of a row whose ``call`` failed, with ``llm_error:<code>`` and the error's line.

    Candidates the checks passed (a verify call failed after them) are lost with the row's decision: each is
    recorded as refused with that reason and line, so the row's ``rejected`` shows an auditor the rewrite the
    failure cost (a re-run asks the judge again)."""
    line = f"{call}: " + (" ".join(str(exc).split()) or type(exc).__name__)
    result.error = line if len(line) <= _ERROR_CHARS else line[: _ERROR_CHARS - 3] + "..."
    reason = f"{LLM_ERROR}{exc.code}"
    result.candidates = [
        c.model_copy(update={"rejected": reason, "detail": result.error})
        if c.rejected is None and c.text is not None and c.text.strip() != result.original.strip()
        else c
        for c in result.candidates
    ]
    return _keep(result, reason)


async def _aiter(items: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[T]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def gather_all(*calls: Awaitable[T]) -> list[T]:
    """``asyncio.gather`` that cancels the other calls when one raises. Plain gather leaves them running
    unseen after the error has ended the work they were part of (a conversation's other turns, sending
    and paying for requests nobody reads); they are cancelled and waited for before the error goes on."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def ordered_map(
    func: Callable[[T], Awaitable[R]], items: Iterable[T] | AsyncIterable[T], window: int
) -> AsyncIterator[tuple[T, R]]:
    """Apply ``func`` to ``items`` with up to ``window`` in progress; yield ``(item, result)`` in order.

    Memory stays bounded by ``window`` whatever the input size. If one call raises, the ones still
    running are cancelled and the error propagates.
    """
    pending: deque[tuple[T, asyncio.Task[R]]] = deque()
    try:
        with run_gc():
            async for item in _aiter(items):
                pending.append((item, asyncio.ensure_future(func(item))))
                if len(pending) >= window:
                    head, task = pending.popleft()
                    yield head, await task
            while pending:
                head, task = pending.popleft()
                yield head, await task
    finally:
        for _, task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*(t for _, t in pending), return_exceptions=True)
