"""The OpenAI-compatible chat client: the official SDK, bounded retries, a run-wide backoff gate.

The SDK's own retries are switched off (``max_retries=0``) so that one policy, ours, decides: every
transient failure (429, 5xx, timeouts, connection errors) is retried a bounded number of times with
exponential backoff and jitter, honouring ``retry-after-ms``/``retry-after``. A 429 also closes a
gate shared by every request of the client, so the whole run slows down instead of each row
hammering the server on its own. Errors no retry can fix (bad key, no permission, out of quota,
unknown model) raise :class:`FatalLLMError` at once.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import openai
from openai.resources.chat.completions import AsyncCompletions
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from .._exceptions import FatalLLMError, LLMError, UsageError
from .._models import Usage
from .._types import ChatRequest, Choice, Completion
from .retry import PauseGate, RetryPolicy, backoff_seconds, parse_retry_after

__all__ = ["DEFAULT_MODEL", "OpenAIChat", "RetryPolicy", "usage_of"]

T = TypeVar("T")

DEFAULT_MODEL = "gpt-4o-mini"
OPENAI_BASE_URL = "https://api.openai.com/v1"
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


def _translate(exc: openai.OpenAIError, model: str, base_url: str) -> LLMError:
    """Map an SDK error to ours. Messages are written here, never copied, so no key can leak."""
    status = _status_code(exc)
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
        return LLMError("rate limited; retries exhausted", code="rate_limit")
    if isinstance(exc, openai.APITimeoutError):
        return LLMError("request timed out; retries exhausted", code="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(f"cannot connect to {base_url}; retries exhausted", code="connection")
    if isinstance(exc, openai.APIError) and exc.code == "context_length_exceeded":
        return LLMError("prompt longer than the model's context", code="context_length")
    if status is not None and status >= 500:
        return LLMError(f"server error {status}; retries exhausted", code="server_error")
    if status is not None:
        return LLMError(f"request rejected ({status})", code=f"http_{status}")
    return LLMError(type(exc).__name__, code="error")


class OpenAIChat:
    """An :class:`~realign.LLM` backed by the official ``openai`` SDK (async).

    Works with OpenAI and any OpenAI-compatible server (vLLM, Ollama, llama.cpp, TGI...). Pass a
    ready-made ``openai.AsyncOpenAI`` as ``client`` to control transport and headers yourself;
    otherwise one is built from ``base_url``/``api_key``, falling back to ``OPENAI_BASE_URL`` and
    ``OPENAI_API_KEY``.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        client: openai.AsyncOpenAI | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 300.0,
        retry: RetryPolicy | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.retry = retry or RetryPolicy()
        self.extra_body = extra_body
        if client is None:
            client = self._build_client(base_url, api_key, timeout)
        else:
            # One retry policy, ours: the SDK's own retries would multiply the attempts and the waits.
            client = client.with_options(max_retries=0)
        self.client = client
        self.base_url = str(client.base_url).rstrip("/")
        self._gate = PauseGate()  # shared backoff: a 429 holds back every request of this client

    @staticmethod
    def _build_client(base_url: str | None, api_key: str | None, timeout: float) -> openai.AsyncOpenAI:
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL
        api_key = api_key or os.environ.get("OPENAI_API_KEY")
        if not api_key:
            if base_url.rstrip("/") == OPENAI_BASE_URL:
                raise UsageError("no OpenAI API key: set OPENAI_API_KEY (or pass --base-url for a local server)")
            api_key = _PLACEHOLDER_KEY
        return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)

    @property
    def identity(self) -> str:
        """Endpoint, model and extra body parameters: what keys this client's answers in the cache."""
        extra = json.dumps(self.extra_body, sort_keys=True) if self.extra_body else ""
        return f"{self.base_url}|{self.model}" + (f"|{extra}" if extra else "")

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIChat(model={self.model!r}, base_url={self.base_url!r})"

    async def complete(self, request: ChatRequest) -> Completion:
        return await self._retrying(self._create, request)

    async def complete_text(self, prompt: str, *, max_tokens: int) -> str:
        """A raw ``/v1/completions`` call (no chat template), greedy, with the same retries."""
        return await self._retrying(self._create_text, prompt, max_tokens)

    async def _retrying(self, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.retry.attempts),
                wait=self._wait,
                retry=retry_if_exception(_is_transient),
                reraise=True,
            ):
                with attempt:
                    await self._gate.wait()
                    return await call(*args)
        except openai.OpenAIError as exc:
            raise _translate(exc, self.model, self.base_url) from exc
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    async def _create_text(self, prompt: str, max_tokens: int) -> str:
        response = await self.client.completions.create(
            model=self.model, prompt=prompt, max_tokens=max_tokens, temperature=0.0, top_p=1.0
        )
        return (response.choices[0].text or "") if response.choices else ""

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
        # The SDK only takes the parameters it knows as keywords; the rest ride in its extra_body.
        kwargs = {key: value for key, value in body.items() if key in _SDK_BODY_FIELDS}
        extra = {key: value for key, value in body.items() if key not in _SDK_BODY_FIELDS}
        if extra:
            kwargs["extra_body"] = extra
        response = await self.client.chat.completions.create(**kwargs)
        choices = [Choice(c.message.content or "", c.finish_reason) for c in response.choices]
        return Completion(choices, usage_of(response.usage))

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        delay = backoff_seconds(self.retry, state.attempt_number, _retry_after(exc))
        if isinstance(exc, openai.RateLimitError):
            # Every request of this client waits too: a 429 is about the account, not this row.
            self._gate.pause(delay)
        return delay

    async def aclose(self) -> None:
        await self.client.close()


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
