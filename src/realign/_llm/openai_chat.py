"""The OpenAI-compatible chat client: the official SDK, bounded retries, a run-wide backoff gate.

The SDK's own retries are switched off (``max_retries=0``) so that one policy, ours, decides: every
transient failure (429, 5xx, timeouts, connection errors) is retried a bounded number of times with
exponential backoff and jitter, honouring ``retry-after-ms``/``retry-after``. A 429 also closes a
gate shared by every request of the client, so the whole run slows down instead of each row
hammering the server on its own. Errors no retry can fix (bad key, no permission, out of quota,
unknown model) raise :class:`FatalLLMError` at once.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import httpx2
import openai
from openai.resources.chat.completions import AsyncCompletions
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from .._exceptions import FatalLLMError, LLMError, UsageError
from .._models import Usage
from .._types import ChatRequest, Choice, Completion
from .adaptive import AdaptiveLimit
from .breaker import Breaker
from .defaults import DEFAULT_MODEL, DEFAULT_TIMEOUT, OPENAI_BASE_URL
from .http import HTTPChat, InvalidAnswer, completion_of, text_completion_of, token_logprobs
from .ratelimit import HeaderPacer
from .replicas import Replica, ReplicaPool
from .retry import PauseGate, RetryPolicy, backoff_seconds, parse_retry_after

__all__ = ["DEFAULT_MODEL", "DEFAULT_TIMEOUT", "OpenAIChat", "RetryPolicy", "base_urls", "usage_of"]

T = TypeVar("T")

# Local servers (vLLM, Ollama) accept any key, but the SDK insists on one.
_PLACEHOLDER_KEY = "not-needed"
_TRANSIENT = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,
    openai.ConflictError,
)
# Body fields the SDK's chat.completions.create takes as keywords. Its transport options (timeout,
# extra_headers...) are not body fields, and ``stream`` would change what the call returns.
_SDK_BODY_FIELDS = frozenset(inspect.signature(AsyncCompletions.create).parameters) - {
    "self",
    "stream",
    "extra_headers",
    "extra_query",
    "extra_body",
    "timeout",
}


def _status_code(exc: BaseException) -> int | None:
    return exc.status_code if isinstance(exc, openai.APIStatusError) else None


def _is_quota(exc: BaseException) -> bool:
    return isinstance(exc, openai.APIError) and "insufficient_quota" in (exc.code, exc.type)


def _is_transient(exc: BaseException) -> bool:
    if _is_quota(exc):
        return False
    return isinstance(exc, _TRANSIENT) or _status_code(exc) == 408


def _retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait, if ``exc`` is an HTTP error that says."""
    return parse_retry_after(exc.response.headers) if isinstance(exc, openai.APIStatusError) else None


def _why_unanswered(exc: BaseException) -> str:
    """Why a request got no HTTP answer, for the early stop's message. A connection refused (or a host
    not found) is worded apart from a server that took the request and closed the connection without an
    answer (it crashed, a proxy dropped it): the user looks for the fault in different places."""
    cause = exc.__cause__
    while cause is not None:
        if type(cause).__name__ == "ConnectError":  # httpx2's or the SDK's httpx's: no connection was made
            return "cannot connect"
        cause = cause.__cause__
    return "the server closed the connection without an answer"


def _translate(exc: openai.OpenAIError, model: str, base_url: str, *, retries: int) -> LLMError:
    """Map an SDK error to ours. Messages are written here, never copied, so no key can leak. ``retries``: how
    many the policy allowed, so a transient error says whether it was retried at all."""
    status = _status_code(exc)
    tried = "; retries exhausted" if retries else "; not retried (max retries 0)"
    if _is_quota(exc):
        return FatalLLMError(
            f"{base_url}: out of quota (insufficient_quota); add credits or use another key", code="quota"
        )
    if isinstance(exc, openai.AuthenticationError):
        return FatalLLMError(f"{base_url}: authentication failed (401); check OPENAI_API_KEY", code="auth")
    if isinstance(exc, openai.PermissionDeniedError):
        return FatalLLMError(f"{base_url}: permission denied (403) for model {model!r}", code="permission")
    if isinstance(exc, openai.NotFoundError):
        return FatalLLMError(
            f"{base_url}: model {model!r} or endpoint not found (404); check --model and --base-url",
            code="not_found",
        )
    if isinstance(exc, openai.RateLimitError):
        return LLMError(f"rate limited{tried}", code="rate_limit")
    if isinstance(exc, openai.APITimeoutError):
        return LLMError(f"request timed out{tried}", code="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(f"cannot connect to {base_url}{tried}", code="connection")
    if isinstance(exc, openai.APIError) and exc.code == "context_length_exceeded":
        return LLMError("prompt longer than the model's context", code="context_length")
    if status is not None and status >= 500:
        return LLMError(f"server error {status}{tried}", code="server_error")
    if status is not None:
        return LLMError(f"request rejected ({status})", code=f"http_{status}")
    return LLMError(type(exc).__name__, code="error")


# While the fleet's latency is unknown (too few answers yet), or no hedge may be sent, a request in flight
# looks again this often (seconds) whether it is time to hedge it.
_HEDGE_POLL = 0.25


class _OutlierTimeout(openai.APITimeoutError):
    """A replica's timeout while the other replicas answered: that replica's fault, not a fleet too busy
    to answer within the timeout (the in-flight bound is not cut for it)."""


def _usage_of_answer(data: Any) -> Usage:
    """The usage of a decoded answer (chat or text completion), for billing a hedge answered too."""
    try:
        return text_completion_of(data).usage
    except InvalidAnswer:
        return Usage(calls=1)


# Failures that say something about the endpoint rather than the row (see the breaker).
_ENDPOINT_CODES = frozenset({"rate_limit", "server_error", "timeout", "connection", "invalid_response", "error"})


class OpenAIChat:
    """An :class:`~realign.LLM` for OpenAI and any OpenAI-compatible server (vLLM, Ollama, llama.cpp, TGI...).

    ``base_url`` may name several replicas of one model (a list, or one string with commas): each
    request goes to the replica with the fewest in flight, and one that refuses connections or keeps
    failing leaves the rotation for a while (see :class:`~realign._llm.replicas.ReplicaPool`).
    Requests are posted straight over ``httpx2`` (pass ``http_client`` to choose its transport);
    ``base_url``/``api_key`` fall back to ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``. Pass a
    ready-made ``openai.AsyncOpenAI`` as ``client`` instead to send every request through the SDK.

    ``timeout`` bounds each request (seconds, default 120); ``max_retries`` is the number of retries
    of a transient failure (default 5, i.e. ``retry.attempts`` 6). With ``early_stop`` (default) a
    client whose endpoint is unreachable or fails nearly every request raises
    :class:`~realign.FatalLLMError` within seconds instead of failing row after row. With
    ``adaptive_concurrency`` (default) a server that cannot answer every request in flight within
    ``timeout`` gets fewer at once (halved on a timeout, grown back by one per round of answers)
    instead of a queue of requests that time out, are sent again and wait behind abandoned work.
    With ``hedging`` (default) a fleet's request left unanswered well past the other replicas' latency
    is sent to another replica too, the first answer winning, and a replica that never answers leaves
    the rotation (:mod:`realign._llm.replicas`); every hedge is counted in :attr:`attempts`.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        client: openai.AsyncOpenAI | None = None,
        base_url: str | Sequence[str] | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        extra_body: dict[str, Any] | None = None,
        http_client: httpx2.AsyncClient | None = None,
        early_stop: bool = True,
        adaptive_concurrency: bool = True,
        hedging: bool = True,
    ) -> None:
        if not timeout > 0:
            raise UsageError("timeout must be a positive number of seconds")
        if max_retries is not None and max_retries < 0:
            raise UsageError("max_retries must be 0 or more")
        self.model = model
        self.retry = retry or RetryPolicy()
        if max_retries is not None:
            self.retry = replace(self.retry, attempts=max_retries + 1)
        self.extra_body = extra_body
        self._timeout = timeout
        self._sdk: openai.AsyncOpenAI | None = None
        self._http: HTTPChat | None = None
        if client is not None:
            if base_url is not None or http_client is not None:
                raise UsageError("OpenAIChat: pass client= or base_url=/http_client=, not both")
            # One retry policy, ours: the SDK's own retries would multiply the attempts and the waits.
            self._sdk = client.with_options(max_retries=0)
            urls = [str(client.base_url).rstrip("/")]
            self._api_key = self._sdk.api_key
        else:
            urls = base_urls(base_url)
            key = api_key or os.environ.get("OPENAI_API_KEY")
            if not key:
                if OPENAI_BASE_URL in urls:
                    raise UsageError(
                        "no OpenAI API key: set OPENAI_API_KEY, or point base_url= (--base-url) at a local server"
                    )
                key = _PLACEHOLDER_KEY
            self._api_key = key
            self._http = HTTPChat(key, timeout, http_client)
        self.base_urls = urls
        self.base_url = urls[0]
        self.replicas = ReplicaPool(urls)
        self._gate = PauseGate()  # shared backoff: a 429 holds back every request of this client
        self._pacer = HeaderPacer()  # the server's x-ratelimit-* headers, read before it says 429
        #: fewer requests in flight when the server cannot answer them all within the timeout
        self._limit = AdaptiveLimit(self.endpoint, enabled=adaptive_concurrency)
        #: in a fleet, a request a replica leaves unanswered well past the others' latency goes to another too
        self.hedging = hedging
        #: stops the run when the endpoint is unreachable or failing on nearly every request
        self.breaker = Breaker(self.endpoint, retried=self.retry.attempts > 1) if early_stop else None
        #: requests sent again after a transient failure, so far (the progress display shows them)
        self.retries = 0

    @property
    def attempts(self) -> int:
        """Requests sent so far, every retry and every hand-over to another replica included: what the
        servers' logs count (``Usage.calls`` counts the answered calls)."""
        return sum(replica.calls for replica in self.replicas.replicas)

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The SDK client (the Batch API's files and batches go through it), built on first use."""
        if self._sdk is None:
            self._sdk = openai.AsyncOpenAI(
                base_url=self.base_url, api_key=self._api_key, timeout=self._timeout, max_retries=0
            )
        return self._sdk

    @property
    def endpoint(self) -> str:
        """The base URL, or the replicas', for messages."""
        return ", ".join(self.base_urls)

    @property
    def identity(self) -> str:
        """Endpoint, model and extra body parameters: what keys this client's answers in the cache.

        Replicas serve one model, so a fleet is keyed by the model alone: the same answers whichever
        replica served them, and whichever replicas a later run lists.
        """
        extra = json.dumps(self.extra_body, sort_keys=True) if self.extra_body else ""
        where = self.base_url if len(self.base_urls) == 1 else "replicas"
        return f"{where}|{self.model}" + (f"|{extra}" if extra else "")

    def __reduce__(self) -> tuple[Any, ...]:
        # Shipped to other processes (Ray workers) as its settings, never its key or its connections:
        # it is built again there, reading OPENAI_API_KEY from that process's environment.
        settings = (self.model, self.base_urls, self._timeout, self.retry, self.extra_body)
        return (_rebuilt, settings)

    def __repr__(self) -> str:  # never show the key
        where = self.base_url if len(self.base_urls) == 1 else self.base_urls
        return f"OpenAIChat(model={self.model!r}, base_url={where!r})"

    async def complete(self, request: ChatRequest) -> Completion:
        return await self.with_retries(self._create, request)

    async def complete_text(self, prompt: str, *, max_tokens: int, logprobs: int | None = None) -> Completion:
        """A raw ``/v1/completions`` call (no chat template), greedy, with the same retries.

        ``logprobs=1`` asks for each generated token's log-probability; servers that return them fill
        :attr:`Choice.logprobs`.
        """
        return await self.with_retries(self._create_text, prompt, max_tokens, logprobs)

    async def with_retries(self, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await call(*args)`` under this client's policy: transient failures retried with backoff
        (a 429 holding back every request of the client), SDK errors translated to ours.

        For other calls of the same SDK client (``client.files``, ``client.batches``: the Batch API).
        """
        breaker = self.breaker
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.retry.attempts),
                wait=self._wait,
                retry=retry_if_exception(_is_transient),
                reraise=True,
            ):
                with attempt:
                    if breaker is not None:
                        breaker.check()
                    await self._gate.wait()
                    sent_in = await self._limit.acquire()
                    try:
                        result = await call(*args)
                    except openai.APITimeoutError as exc:
                        if not isinstance(exc, _OutlierTimeout):
                            self._limit.timed_out(sent_in, self._timeout)
                        if breaker is not None:
                            breaker.unanswered(f"no answer within {self._timeout:g} s (--timeout)")
                            breaker.check()
                        raise
                    except openai.APIConnectionError as exc:  # no HTTP answer: refused, DNS, reset
                        if breaker is not None:
                            breaker.unanswered(_why_unanswered(exc))
                            breaker.check()
                        raise
                    except openai.APIStatusError:
                        self._limit.answered()
                        if breaker is not None:
                            breaker.answered()
                        raise
                    finally:
                        self._limit.release()
                    self._limit.answered()
                    if breaker is not None:
                        breaker.answered()
                        breaker.finished(None)
                    return result
        except openai.OpenAIError as exc:
            paced = isinstance(exc, openai.RateLimitError) and self.retry.attempts == 1
            if paced:
                # No retries (--max-retries 0): this row gives up, but the 429 is still about the account, so
                # the run's other requests wait as they would before a retry.
                self._gate.pause(backoff_seconds(self.retry, 1, _retry_after(exc)))
            raise self._failed(
                _translate(exc, self.model, self.endpoint, retries=self.retry.attempts - 1), paced=paced
            ) from exc
        except InvalidAnswer as exc:
            raise self._failed(LLMError(f"{self.endpoint}: {exc}", code="invalid_response")) from exc
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    def _failed(self, error: LLMError, *, paced: bool = False) -> LLMError:
        """Tell the breaker a request failed after its retries; the error to raise (the breaker's once tripped).

        ``paced``: a 429 with no retry allowed. The server is up and pacing the run, and the request never waited
        for it: no sign of a failing endpoint (a burst of them would otherwise stop the run, exit 1, instead of
        leaving those rows undecided, exit 3).
        """
        if self.breaker is None or isinstance(error, FatalLLMError):
            return error
        if error.code not in ("connection", "timeout"):
            self.breaker.answered()
        if error.code in _ENDPOINT_CODES and not paced:  # a row rejected for its content says nothing of the endpoint
            self.breaker.finished(error.code)
        try:
            self.breaker.check()
        except FatalLLMError as stopped:
            return stopped
        return error

    async def _create_text(self, prompt: str, max_tokens: int, logprobs: int | None) -> Completion:
        if self._http is not None:
            body = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0, "top_p": 1.0}
            if logprobs is not None:
                body["logprobs"] = logprobs
            data, others = await self._post("/completions", body)
            return _billed(text_completion_of(data), others)
        self.replicas.replicas[0].calls += 1
        response = await self.client.completions.create(
            model=self.model,
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=0.0,
            top_p=1.0,
            extra_body={"logprobs": logprobs} if logprobs is not None else None,
        )
        choices = [Choice(c.text or "", c.finish_reason, token_logprobs(c.logprobs)) for c in response.choices]
        return Completion(choices, usage_of(response.usage))

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body of the chat completion this client sends for ``request``.

        ``extra_body`` is merged in last and wins, as the SDK does with its ``extra_body=``.
        """
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": role, "content": content} for role, content in request.messages],
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.n != 1:
            body["n"] = request.n
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        return {**body, **(self.extra_body or {})}

    async def _create(self, request: ChatRequest) -> Completion:
        body = self.request_body(request)
        if self._http is not None:
            data, others = await self._post("/chat/completions", body)
            completion = _billed(completion_of(data), others)
            self._pacer.note_tokens(completion.usage.prompt_tokens + completion.usage.completion_tokens)
            return completion
        self.replicas.replicas[0].calls += 1
        # The SDK only takes the parameters it knows as keywords; the rest ride in its extra_body.
        kwargs = {key: value for key, value in body.items() if key in _SDK_BODY_FIELDS}
        extra = {key: value for key, value in body.items() if key not in _SDK_BODY_FIELDS}
        if extra:
            kwargs["extra_body"] = extra
        try:
            response = await self.client.chat.completions.create(**kwargs)
        except json.JSONDecodeError as exc:  # the SDK decodes a 200 body without looking
            raise InvalidAnswer("the reply is not JSON") from exc
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list):
            raise InvalidAnswer("the reply is not a chat completion (no choices)")
        if not choices:  # as on the lean path (completion_of)
            raise InvalidAnswer("the reply has no choices")
        try:
            parsed = [Choice(str(c.message.content or ""), c.finish_reason) for c in choices]
        except AttributeError as exc:
            raise InvalidAnswer("the reply is not a chat completion (a choice without a message)") from exc
        return Completion(parsed, usage_of(getattr(response, "usage", None)))

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[Any, Usage]:
        """Post to the replica with the fewest in flight; the decoded answer, and the usage of any other
        answer the servers gave to the same request (a hedge answered in the same instant: it is billed).

        A replica that refuses the connection hands the request to another one at once (no retry
        spent, no wait): a dead replica costs no row. Every answer's rate-limit headers are read. In a
        fleet, a request still unanswered after the pool's hedge delay is sent to another replica too
        (see :mod:`realign._llm.replicas`).
        """
        assert self._http is not None
        tried: list[Replica] = []
        while True:
            replica = self.replicas.pick(tried)
            try:
                if len(self.replicas) == 1 or not self.hedging:
                    return await self._send(replica, path, body), Usage()
                return await self._hedged(replica, path, body)
            except openai.APITimeoutError:
                raise
            except openai.APIConnectionError:  # refused: hand the request over
                tried.append(replica)
                if self.replicas.any_usable(tried):
                    continue
                raise

    def _start(self, replica: Replica, path: str, body: dict[str, Any], *, hedge: bool = False) -> asyncio.Task[Any]:
        """One POST to ``replica``, as a task, counted in flight at once (the next request's pick sees it)."""
        replica.in_flight += 1
        replica.calls += 1
        if hedge:
            replica.hedges += 1
        task = asyncio.ensure_future(self._send(replica, path, body, counted=True))

        def done(_: asyncio.Task[Any]) -> None:  # even when cancelled before it ran
            replica.in_flight -= 1

        task.add_done_callback(done)
        return task

    async def _send(self, replica: Replica, path: str, body: dict[str, Any], *, counted: bool = False) -> Any:
        """One POST to ``replica``, with its bookkeeping (``counted``: :meth:`_start` keeps its in-flight
        count); the decoded answer."""
        assert self._http is not None
        pool = self.replicas
        if not counted:
            replica.in_flight += 1
            replica.calls += 1
        sent = time.monotonic()
        try:
            data, headers = await self._http.post(replica.url + path, body)
        except openai.APITimeoutError as exc:
            pool.failed(replica, refused=False)
            if self.hedging and pool.silent_outlier(replica, sent):
                raise _OutlierTimeout(request=exc.request) from exc
            raise
        except openai.APIConnectionError:
            pool.failed(replica, refused=True)
            raise
        except openai.APIStatusError as exc:
            if exc.status_code >= 500:
                pool.failed(replica, refused=False)
            else:
                pool.answered(replica)
                self._pace(exc.response.headers)
            raise
        finally:
            if not counted:
                replica.in_flight -= 1
        pool.answered(replica, time.monotonic() - sent if len(pool) > 1 else None)
        self._pace(headers)
        return data

    async def _hedged(self, replica: Replica, path: str, body: dict[str, Any]) -> tuple[Any, Usage]:
        """Send to ``replica``; if no answer comes within the hedge delay, to another replica as well. The
        first answer wins and the other request is cancelled; a failure waits for the other request."""
        pool = self.replicas
        first = self._start(replica, path, body)
        pending: set[asyncio.Future[Any]] = {first}
        sent, hedged, hedge_sent = time.monotonic(), False, False
        pool.requests_in_flight += 1
        try:
            while True:
                wait: float | None = None
                if not hedged:
                    delay = pool.hedge_delay()
                    if delay is None:  # no answer seen yet to know the fleet's latency by: look again soon
                        wait = _HEDGE_POLL
                    elif delay >= self._timeout:  # the request's own timeout comes first
                        hedged = True
                    elif time.monotonic() < sent + delay:
                        wait = sent + delay - time.monotonic()
                    elif pool.may_hedge(replica):
                        hedged = hedge_sent = True
                        other = pool.pick([replica])
                        pending.add(self._start(other, path, body, hedge=True))
                        pool.hedges_in_flight += 1
                    else:  # no replica to hedge to, or hedges enough in flight: look again soon
                        wait = _HEDGE_POLL
                done, pending = await asyncio.wait(pending, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                answers = [task for task in done if task.exception() is None]
                if answers:
                    winner = first if first in answers else answers[0]
                    others = Usage()
                    for task in answers:
                        if task is not winner:
                            others += _usage_of_answer(task.result())
                    if first in pending:  # its hedge was answered first: a mark against its replica
                        pool.lost_hedge(replica)
                    return winner.result(), others
                if done and not pending:  # every request sent failed: the last failure is the request's
                    error = next(iter(done)).exception()
                    assert error is not None
                    raise error
                # Else one failed and the other still runs (its answer may yet come), or it is time to hedge.
        finally:
            pool.requests_in_flight -= 1
            if hedge_sent:
                pool.hedges_in_flight -= 1
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
                for task in pending:
                    if not task.cancelled():
                        task.exception()  # retrieved: a failure after the answer is of no interest

    def _pace(self, headers: Mapping[str, str]) -> None:
        if "x-ratelimit-remaining-requests" not in headers and "x-ratelimit-remaining-tokens" not in headers:
            return
        in_flight = sum(r.in_flight for r in self.replicas.replicas)
        pause = self._pacer.pause_for(headers, in_flight)
        if pause > 0:
            self._gate.pause(pause)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        delay = backoff_seconds(self.retry, state.attempt_number, _retry_after(exc))
        self.retries += 1  # tenacity asks for a wait only before it tries again
        if isinstance(exc, openai.RateLimitError):
            # Every request of this client waits too: a 429 is about the account, not this row.
            self._gate.pause(delay)
        return delay

    async def aclose(self) -> None:
        if self._sdk is not None:
            await self._sdk.close()
        if self._http is not None:
            await self._http.aclose()


def _billed(completion: Completion, others: Usage) -> Completion:
    """``completion`` with the usage of the other answers to the same request (hedges answered too) added."""
    return Completion(completion.choices, completion.usage + others) if others.calls else completion


def _rebuilt(
    model: str, urls: list[str], timeout: float, retry: RetryPolicy, extra_body: dict[str, Any] | None
) -> OpenAIChat:
    return OpenAIChat(model, base_url=urls, timeout=timeout, retry=retry, extra_body=extra_body)


def base_urls(base_url: str | Sequence[str] | None) -> list[str]:
    """The replicas' base URLs: a list, comma-separated strings, or ``$OPENAI_BASE_URL`` / OpenAI's."""
    given: Sequence[str] = (
        [base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL]
        if base_url is None or isinstance(base_url, str)
        else base_url
    )
    urls: list[str] = []
    for item in given:
        for part in item.split(","):
            url = part.strip().rstrip("/")
            if url and url not in urls:
                urls.append(url)
    if not urls:
        raise UsageError("no base URL given")
    return urls


def usage_of(usage: Any) -> Usage:
    """Our :class:`Usage` of one answer from the SDK's ``usage`` object (the Batch API's too)."""
    if usage is None:  # some local servers omit it
        return Usage(calls=1)
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(prompt_details, "cached_tokens", None) or 0
    return Usage(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        cached_tokens=cached,
        calls=1,
    )
