"""The lean path's connection pools: several when many requests are in flight, one client behind a proxy."""

from __future__ import annotations

import asyncio

import pytest

from realign._llm import http
from realign._llm.http import HTTPChat
from stub_server import StubServer

BODY = {"model": "m", "messages": [{"role": "user", "content": "<response>\nhi\n</response>"}]}


async def burst(chat: HTTPChat, url: str, count: int) -> list[str]:
    """``count`` requests started 10 ms apart (the stub's listen backlog is short), all in flight at once."""

    async def one(index: int) -> str:
        await asyncio.sleep(index * 0.01)
        data, _ = await chat.post(url, BODY)
        return str(data["choices"][0]["message"]["content"])

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def test_many_requests_in_flight_are_spread_over_several_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "_PER_POOL", 4)  # 24 a pool in earnest: a burst that large is flaky on a busy machine

    async def main(url: str) -> tuple[int, int]:
        chat = HTTPChat("k", 30.0)
        answers = await burst(chat, url, 10)
        pools = chat.pools
        await chat.aclose()
        return len(answers), pools

    with StubServer(latency=1.0) as stub:
        answered, pools = asyncio.run(main(stub.base_url + "/chat/completions"))
    assert (answered, pools) == (10, 3)


def test_a_quiet_run_keeps_one_pool() -> None:
    async def main(url: str) -> int:
        chat = HTTPChat("k", 30.0)
        for _ in range(3):
            await burst(chat, url, 5)
        pools = chat.pools
        await chat.aclose()
        return pools

    with StubServer() as stub:
        assert asyncio.run(main(stub.base_url + "/chat/completions")) == 1


def test_every_request_carries_the_key_and_the_body() -> None:
    async def main(url: str) -> None:
        chat = HTTPChat("sk-abc", 30.0)
        await burst(chat, url, 1)
        await chat.aclose()

    with StubServer() as stub:
        asyncio.run(main(stub.base_url + "/chat/completions"))
        assert stub.chat_requests() == [BODY]


def test_a_proxy_in_the_environment_sends_through_one_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    chat = HTTPChat("k", 30.0)
    assert chat.http is not None
    asyncio.run(chat.aclose())


def test_without_a_proxy_requests_go_straight_to_the_transports(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert HTTPChat("k", 30.0).http is None


def test_a_request_cancelled_after_aclose_ends_cancelled() -> None:
    # Ctrl-C: the run closes its clients while requests are still in flight, then cancels them; the
    # cancellation must not turn into an IndexError (logged as llm_error:IndexError) on the way out.
    async def main(url: str) -> BaseException | None:
        chat = HTTPChat("k", 30.0)
        task = asyncio.create_task(chat.post(url, BODY))
        await asyncio.sleep(0.3)
        await chat.aclose()
        task.cancel()
        results = await asyncio.gather(task, return_exceptions=True)
        return results[0] if isinstance(results[0], BaseException) else None

    with StubServer(latency=2.0) as stub:
        outcome = asyncio.run(main(stub.base_url + "/chat/completions"))
    assert isinstance(outcome, asyncio.CancelledError)
