"""The early stop's breaker: it stops a run whose endpoint is dead, and lets a later run try again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import realign
from realign import ChatRequest, FatalLLMError, OpenAIChat
from realign._llm.breaker import Breaker
from stub_server import Reply, StubServer, rewrite_handler


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tripped(clock: Clock) -> Breaker:
    breaker = Breaker("http://x/v1", unreachable_after=2, cooldown=30.0, clock=clock)
    breaker.unanswered("cannot connect")
    breaker.unanswered("cannot connect")
    return breaker


def test_a_tripped_breaker_refuses_within_its_cooldown() -> None:
    clock = Clock()
    breaker = tripped(clock)
    clock.now += 29.0
    with pytest.raises(FatalLLMError, match="unreachable"):
        breaker.check()


def test_after_its_cooldown_the_breaker_lets_requests_through() -> None:
    clock = Clock()
    breaker = tripped(clock)
    clock.now += 30.0
    breaker.check()
    assert breaker.reason is None


def test_after_its_cooldown_the_breaker_counts_afresh() -> None:
    clock = Clock()
    breaker = tripped(clock)
    clock.now += 30.0
    breaker.check()
    breaker.unanswered("cannot connect")  # one of the two a fresh trial allows
    breaker.check()
    assert breaker.reason is None


def test_a_client_kept_after_an_early_stop_works_once_the_server_is_back() -> None:
    broken = True

    def server(path: str, body: dict[str, Any]) -> Reply:
        if broken:
            return 500, {}, {"error": {"message": "down"}}
        return rewrite_handler(path, body)

    request = ChatRequest([("user", "<response>\nhi\n</response>")], 1, 0.0, 1.0, 50)

    async def run(llm: OpenAIChat) -> str:
        nonlocal broken
        try:
            for _ in range(3):  # three requests failing, none succeeding: the endpoint is failing
                with pytest.raises(realign.LLMError):
                    await llm.complete(request)
            with pytest.raises(FatalLLMError):
                await llm.complete(request)
            broken = False
            assert llm.breaker is not None
            llm.breaker.cooldown = 0.0  # the cool-down has passed: the server was restarted meanwhile
            return (await llm.complete(request)).choices[0].text
        finally:
            await llm.aclose()

    with StubServer(server) as stub:
        text = asyncio.run(run(OpenAIChat("m", base_url=stub.base_url, api_key="sk-test", max_retries=0)))
    assert text.startswith("Reasoning:")


@pytest.mark.parametrize(("max_retries", "said"), [(0, "failed without retries"), (1, "failed after their retries")])
def test_the_stop_says_whether_the_failed_requests_were_retried(max_retries: int, said: str) -> None:
    def server(path: str, body: dict[str, Any]) -> Reply:
        return 500, {"retry-after-ms": "10"}, {"error": {"message": "down"}}

    request = ChatRequest([("user", "<response>\nhi\n</response>")], 1, 0.0, 1.0, 50)

    async def run(llm: OpenAIChat) -> str:
        try:
            for _ in range(3):  # three requests failing, none succeeding: the endpoint is failing
                with pytest.raises(realign.LLMError):
                    await llm.complete(request)
            with pytest.raises(FatalLLMError) as stopped:
                await llm.complete(request)
            return str(stopped.value)
        finally:
            await llm.aclose()

    with StubServer(server) as stub:
        message = asyncio.run(run(OpenAIChat("m", base_url=stub.base_url, api_key="sk-test", max_retries=max_retries)))
    assert f"3 of the last 3 {said} (server_error 3)" in message
