"""The lean path: OpenAI-compatible chat and text completions posted straight over ``httpx2``.

The SDK builds a typed model of every answer and wraps each call in layers of options; at a
hundred requests in flight that costs more client CPU than the rest of realign's work on a row
(measured in ``benchmarks/engine.py``). This path sends the same JSON body over the same HTTP
client library the SDK uses and reads the answer as a plain dict. Failures are raised as the SDK's
own exception classes (``openai.RateLimitError``, ``APIConnectionError``...), built the way the SDK
builds them, so one error mapping and one retry rule serve both paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import urllib.request
from typing import Any

import httpx2
import openai

from .._models import Usage
from .._types import Choice, Completion

__all__ = ["HTTPChat", "InvalidAnswer", "completion_of", "text_completion_of", "text_of", "token_logprobs"]


class InvalidAnswer(ValueError):
    """A 200 answer that is not the completion asked for (HTML from a proxy, no choices...)."""


# The SDK's own connection limits: the pipeline bounds the requests in flight, not the pool.
_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=1000)
# A connection pool scans all its connections twice per request (to assign one, and again to release
# it), so at 200 in flight that scan costs more client CPU than building and parsing the request
# (benchmarks/scale.py). Requests are spread over several pools instead, each kept near this many
# in flight; a new pool opens only when every open one is that busy.
_PER_POOL = 24
_MAX_POOLS = 64


class HTTPChat:
    """Posts JSON bodies to ``{base_url}/chat/completions`` (or ``/completions``) of any replica.

    Given an ``http_client``, every request goes through it. Otherwise requests are handed straight to
    ``httpx2`` transports (the client's own layers - auth flow, redirects, cookies, event hooks - have
    nothing to do here and cost CPU on every request), spread over as many pools as the requests in
    flight need. When a proxy is set in the environment, one ``httpx2.AsyncClient`` is used, so that
    its proxy rules apply.
    """

    def __init__(self, api_key: str, timeout: float, http_client: httpx2.AsyncClient | None = None) -> None:
        self._own = http_client is None
        if http_client is None and urllib.request.getproxies():
            http_client = httpx2.AsyncClient(timeout=timeout, limits=_LIMITS)
        self.http = http_client
        # The event loop our own pools (or proxied client) were opened on: a connection belongs to its loop.
        self._loop: asyncio.AbstractEventLoop | None = None
        self.timeout = timeout
        self._headers = httpx2.Headers(
            {
                "authorization": f"Bearer {api_key}",
                "content-type": "application/json",
                "accept": "application/json",
            }
        )
        self._extensions = {"timeout": httpx2.Timeout(timeout).as_dict()}
        self._pools: list[httpx2.AsyncHTTPTransport] = []
        self._in_flight: list[int] = []
        self._urls: dict[str, httpx2.URL] = {}
        self._ssl: ssl.SSLContext | None = None  # one for every pool: loading the CA bundle takes ~30 ms

    @property
    def pools(self) -> int:
        """How many connection pools are open (the given or proxied client counts as one)."""
        return 1 if self.http is not None else len(self._pools)

    async def post(self, url: str, body: dict[str, Any]) -> tuple[Any, httpx2.Headers]:
        """The decoded JSON answer and its headers; the SDK's exception on any failure."""
        try:
            content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate in row text: UTF-8 cannot hold it, a JSON escape can
            content = json.dumps(body).encode("ascii")
        try:
            response = await self._send(url, content)
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request=_request_of(exc, url)) from exc
        except httpx2.TransportError as exc:  # refused, reset, DNS: no HTTP answer at all
            raise openai.APIConnectionError(request=_request_of(exc, url)) from exc
        if response.status_code >= 400:
            raise _status_error(response)
        try:
            return json.loads(response.content), response.headers
        except ValueError as exc:
            raise InvalidAnswer("the reply is not JSON") from exc

    async def _send(self, url: str, content: bytes) -> httpx2.Response:
        """The answer to one POST, read in full."""
        if self._own and asyncio.get_running_loop() is not self._loop:
            self._reopen()
        if self.http is not None:
            return await self.http.post(url, content=content, headers=self._headers, timeout=self.timeout)
        in_flight = self._in_flight
        least = min(in_flight, default=_PER_POOL)
        if least >= _PER_POOL and len(in_flight) < _MAX_POOLS:
            if self._ssl is None:
                self._ssl = httpx2.create_ssl_context()
            self._pools.append(httpx2.AsyncHTTPTransport(verify=self._ssl, limits=_LIMITS))
            in_flight.append(0)
            index = len(in_flight) - 1
        else:
            index = in_flight.index(least)
        target = self._urls.get(url)
        if target is None:
            target = self._urls[url] = httpx2.URL(url)
        request = httpx2.Request("POST", target, headers=self._headers, content=content, extensions=self._extensions)
        in_flight[index] += 1
        try:
            response = await self._pools[index].handle_async_request(request)
            response.request = request
            try:
                await response.aread()
            finally:
                await response.aclose()
        finally:
            in_flight[index] -= 1
        return response

    def _reopen(self) -> None:
        """Open our connections afresh for the running loop. Those of another loop (an earlier
        ``asyncio.run``) cannot serve this one, nor be closed from it: they are dropped."""
        if self._loop is not None:
            if self.http is not None:
                self.http = httpx2.AsyncClient(timeout=self.timeout, limits=_LIMITS)
            self._pools, self._in_flight = [], []
        self._loop = asyncio.get_running_loop()

    async def aclose(self) -> None:
        if self._own and self._loop is not None and asyncio.get_running_loop() is not self._loop:
            self._reopen()  # closed from another loop (a last asyncio.run): those of the run's loop are dropped
        if self.http is not None and self._own:
            await self.http.aclose()
        pools = self._pools
        # New lists, not cleared ones: a request still in flight (cancelled after this close, on Ctrl-C)
        # decrements its slot in the list it started with on its way out.
        self._pools, self._in_flight = [], []
        for pool in pools:
            await pool.aclose()


def _request_of(exc: httpx2.HTTPError, url: str) -> httpx2.Request:
    try:
        return exc.request
    except RuntimeError:  # raised before a request was attached
        return httpx2.Request("POST", url)


def _status_error(response: httpx2.Response) -> openai.APIStatusError:
    """The SDK's exception for an HTTP error answer, with its ``code``/``type`` read from the body."""
    message = f"Error code: {response.status_code}"
    body: Any = response.text.strip()
    with contextlib.suppress(ValueError):  # not JSON: the text itself
        body = json.loads(body)
    data = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(data, dict) and isinstance(data.get("message"), str) and data["message"]:
        message += f" - {data['message']}"
    status = response.status_code
    kinds: dict[int, type[openai.APIStatusError]] = {
        400: openai.BadRequestError,
        401: openai.AuthenticationError,
        403: openai.PermissionDeniedError,
        404: openai.NotFoundError,
        409: openai.ConflictError,
        422: openai.UnprocessableEntityError,
        429: openai.RateLimitError,
    }
    kind = kinds.get(status, openai.InternalServerError if status >= 500 else openai.APIStatusError)
    return kind(message, response=response, body=data)


def completion_of(data: Any) -> Completion:
    """Our :class:`Completion` of a chat-completion answer decoded from JSON."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list):
        raise InvalidAnswer("the reply is not a chat completion (no choices)")
    if not choices:  # a request always asks for n >= 1: an empty list is a broken server, not an answer
        raise InvalidAnswer("the reply has no choices")
    parsed = []
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise InvalidAnswer("the reply is not a chat completion (a choice without a message)")
        content = message.get("content")
        finish = choice.get("finish_reason")
        parsed.append(Choice("" if content is None else str(content), None if finish is None else str(finish)))
    return Completion(parsed, _usage(data.get("usage")))


def text_of(data: Any) -> str:
    """The text of the first choice of a ``/completions`` answer decoded from JSON."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list):
        raise InvalidAnswer("the reply is not a completion (no choices)")
    if not choices:
        return ""
    first = choices[0]
    return str(first.get("text") or "") if isinstance(first, dict) else ""


def text_completion_of(data: Any) -> Completion:
    """Our :class:`Completion` of a ``/completions`` answer decoded from JSON, with each choice's
    token log-probabilities when the server sent them."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list):
        raise InvalidAnswer("the reply is not a completion (no choices)")
    parsed = []
    for choice in choices:
        if not isinstance(choice, dict):
            raise InvalidAnswer("the reply is not a completion (a choice that is not an object)")
        finish = choice.get("finish_reason")
        text = str(choice.get("text") or "")
        parsed.append(Choice(text, None if finish is None else str(finish), token_logprobs(choice.get("logprobs"))))
    return Completion(parsed, _usage(data.get("usage")))


def token_logprobs(logprobs: Any) -> tuple[tuple[str, float], ...] | None:
    """(token, log-probability) pairs of a completion choice's ``logprobs`` (decoded JSON or the SDK's
    object), or None when the server sent none."""
    if isinstance(logprobs, dict):
        tokens, values = logprobs.get("tokens"), logprobs.get("token_logprobs")
    else:
        tokens, values = getattr(logprobs, "tokens", None), getattr(logprobs, "token_logprobs", None)
    if not isinstance(tokens, list) or not isinstance(values, list) or len(tokens) != len(values) or not tokens:
        return None
    pairs = [(str(token), value) for token, value in zip(tokens, values, strict=True)]
    return tuple((token, float(value)) for token, value in pairs if isinstance(value, (int, float)))


def _usage(usage: Any) -> Usage:
    """Our :class:`Usage` of one answer's ``usage`` decoded from JSON."""
    if not isinstance(usage, dict):  # some local servers omit it
        return Usage(calls=1)
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(
        prompt_tokens=_int(usage.get("prompt_tokens")),
        completion_tokens=_int(usage.get("completion_tokens")),
        cached_tokens=_int(cached),
        calls=1,
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0
