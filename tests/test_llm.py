"""The OpenAI client against the API mocked at the HTTP level (httpx2.MockTransport).

Every test runs twice: through the lean path (``http_client=``, what ``base_url=`` uses) and through
a ready-made SDK client (``client=``); both must map every error and retry alike.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import openai
import pytest

from realign import ChatRequest, FatalLLMError, LLMError, OpenAIChat, RetryPolicy, UsageError
from stub_server import chat_reply

FAST = RetryPolicy(attempts=5, initial=0.001, maximum=0.002, jitter=0.0)
REQUEST = ChatRequest((("system", "s"), ("user", "u")), n=2, temperature=0.3, top_p=1.0, max_tokens=64)


PATHS = ("http", "sdk")
path_in_use = {"path": "http"}


@pytest.fixture(autouse=True, params=PATHS)
def llm_path(request: pytest.FixtureRequest) -> str:
    path_in_use["path"] = request.param
    return str(request.param)


def via(responses: list[httpx2.Response], seen: list[httpx2.Request]) -> dict[str, Any]:
    """OpenAIChat's keyword arguments for a mocked API, on the path of the running test."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return responses.pop(0) if len(responses) > 1 else responses[0]

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    if path_in_use["path"] == "http":
        return {"base_url": "http://llm.test/v1", "api_key": "sk-test", "http_client": http}
    sdk = openai.AsyncOpenAI(api_key="sk-test", base_url="http://llm.test/v1", max_retries=0, http_client=http)
    return {"client": sdk}


def ok(text: str = "Reasoning: r\nRevised response:\nX", **kw: Any) -> httpx2.Response:
    return httpx2.Response(200, json=chat_reply(text, **kw))


def error(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(status, json=body, headers=headers or {})


RATE = {
    "error": {
        "message": "Rate limit reached. Please try again in 84ms",
        "type": "tokens",
        "code": "rate_limit_exceeded",
    }
}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_request_shape_usage_and_choices() -> None:
    seen: list[httpx2.Request] = []
    llm = OpenAIChat("m1", **via([ok(n=2)], seen), retry=FAST)
    completion = run(llm.complete(REQUEST))
    body = json.loads(seen[0].content)
    assert body["model"] == "m1"
    assert body["n"] == 2
    assert body["temperature"] == 0.3
    assert body["max_tokens"] == 64
    assert body["messages"][0] == {"role": "system", "content": "s"}
    assert [c.text for c in completion.choices] == ["Reasoning: r\nRevised response:\nX"] * 2
    assert completion.usage.prompt_tokens == 100
    assert completion.usage.cached_tokens == 20
    assert completion.usage.calls == 1
    assert llm.identity == "http://llm.test/v1|m1"


def test_429_then_success_is_retried_and_honours_retry_after_ms() -> None:
    seen: list[httpx2.Request] = []
    llm = OpenAIChat("m", **via([error(429, RATE, {"retry-after-ms": "5"}), ok()], seen), retry=FAST)
    completion = run(llm.complete(REQUEST))
    assert len(seen) == 2
    assert completion.choices[0].text.endswith("X")


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_transient_errors_are_retried_then_succeed(status: int) -> None:
    seen: list[httpx2.Request] = []
    responses = [error(status, {"error": {"message": "boom"}}), error(status, {"error": {}}), ok()]
    run(OpenAIChat("m", **via(responses, seen), retry=FAST).complete(REQUEST))
    assert len(seen) == 3


def test_retries_are_bounded() -> None:
    seen: list[httpx2.Request] = []
    llm = OpenAIChat("m", **via([error(503, {"error": {"message": "down"}})], seen), retry=FAST)
    with pytest.raises(LLMError) as info:
        run(llm.complete(REQUEST))
    assert len(seen) == FAST.attempts
    assert info.value.code == "server_error"
    assert not isinstance(info.value, FatalLLMError)


def test_a_reply_with_an_empty_choices_list_is_an_invalid_response() -> None:
    seen: list[httpx2.Request] = []
    empty = httpx2.Response(200, json={**chat_reply("unused"), "choices": []})
    llm = OpenAIChat("m", **via([empty], seen), retry=FAST)
    with pytest.raises(LLMError) as info:
        run(llm.complete(REQUEST))
    assert info.value.code == "invalid_response"


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (error(401, {"error": {"message": "Incorrect API key provided: sk-test", "code": "invalid_api_key"}}), "auth"),
        (error(403, {"error": {"message": "no access"}}), "permission"),
        (
            error(
                429,
                {
                    "error": {
                        "message": "You exceeded your current quota",
                        "type": "insufficient_quota",
                        "code": "insufficient_quota",
                    }
                },
            ),
            "quota",
        ),
        (error(404, {"error": {"message": "model not found"}}), "not_found"),
    ],
)
def test_fatal_errors_stop_at_once_and_never_show_the_key(response: httpx2.Response, code: str) -> None:
    seen: list[httpx2.Request] = []
    llm = OpenAIChat("m", **via([response], seen), retry=FAST)
    with pytest.raises(FatalLLMError) as info:
        run(llm.complete(REQUEST))
    assert len(seen) == 1
    assert info.value.code == code
    assert "sk-test" not in str(info.value)
    assert "sk-test" not in repr(llm)


def test_flat_vllm_error_and_context_length() -> None:
    seen: list[httpx2.Request] = []
    flat = {
        "object": "error",
        "message": "This model's maximum context length is 4096 tokens",
        "type": "BadRequestError",
        "code": "context_length_exceeded",
    }
    llm = OpenAIChat("m", **via([error(400, flat)], seen), retry=FAST)
    with pytest.raises(LLMError) as info:
        run(llm.complete(REQUEST))
    assert info.value.code == "context_length"
    assert len(seen) == 1


def test_a_429_pauses_every_request_of_the_client() -> None:
    seen: list[httpx2.Request] = []
    llm = OpenAIChat("m", **via([error(429, RATE, {"retry-after-ms": "300"}), ok()], seen), retry=FAST)

    async def both() -> float:
        loop = asyncio.get_running_loop()
        first = asyncio.ensure_future(llm.complete(REQUEST))
        while not seen:  # until the first request has had its 429 (a loaded machine may take a while)
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.01)
        start = loop.time()
        await llm.complete(REQUEST)
        waited = loop.time() - start
        await first
        return waited

    assert run(both()) >= 0.2


def test_missing_key_names_the_variable_and_local_servers_need_none(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        OpenAIChat("m")
    assert OpenAIChat("m", base_url="http://localhost:11434/v1").base_url == "http://localhost:11434/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:8000/v1")
    assert OpenAIChat("m").identity == "http://localhost:8000/v1|m"


def test_raw_completion_call() -> None:
    seen: list[httpx2.Request] = []
    body = {
        "id": "c",
        "object": "text_completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "text": " math_puzzles", "finish_reason": "stop"}],
    }
    llm = OpenAIChat("clf", **via([httpx2.Response(200, json=body)], seen), retry=FAST)
    completion = run(llm.complete_text("Query: 2+2?", max_tokens=50))
    assert completion.choices[0].text == " math_puzzles"
    assert completion.choices[0].logprobs is None  # the server sent none
    sent = json.loads(seen[0].content)
    assert seen[0].url.path.endswith("/completions")
    assert sent["max_tokens"] == 50
    assert sent["temperature"] == 0
    assert "logprobs" not in sent


def test_raw_completion_reads_token_logprobs() -> None:
    seen: list[httpx2.Request] = []
    logprobs = {"tokens": [" open", "_qa"], "token_logprobs": [-0.1, -0.2], "top_logprobs": None, "text_offset": [0, 5]}
    body = {
        "id": "c",
        "object": "text_completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "text": " open_qa", "finish_reason": "stop", "logprobs": logprobs}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 2, "total_tokens": 32},
    }
    llm = OpenAIChat("clf", **via([httpx2.Response(200, json=body)], seen), retry=FAST)
    completion = run(llm.complete_text("Query: why?", max_tokens=5, logprobs=1))
    assert completion.choices[0].logprobs == ((" open", -0.1), ("_qa", -0.2))
    assert completion.usage.prompt_tokens == 30
    assert json.loads(seen[0].content)["logprobs"] == 1
