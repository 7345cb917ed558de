"""Servers that answer fewer requests at once than the run sends: the in-flight bound adapts.

A one-at-a-time stand-in (like llama.cpp's server) behind a short timeout: without the adaptive
bound the queued requests time out, are sent again and queue behind abandoned work until rows run
out of retries; with it every row is answered.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import read_jsonl, realign_row, reformat_command, write_jsonl
from realign._cli.main import main
from realign._llm.adaptive import AdaptiveLimit
from stub_server import Reply, StubServer, rewrite_handler


def one_at_a_time(seconds: float) -> Any:
    """A handler answering one request at a time, each after ``seconds``; abandoned ones are still worked on."""
    lock = threading.Lock()

    def handler(path: str, body: dict[str, Any]) -> Reply:
        with lock:  # the server works on one request; the others wait in its queue
            time.sleep(seconds)
            return rewrite_handler(path, body)

    return handler


def rows(count: int) -> list[dict[str, Any]]:
    return [realign_row(f"What is {i} plus {i}?", f"{i} + {i} = {2 * i}.", "open_qa", id=i) for i in range(count)]


@pytest.mark.xdist_group("timing")
def test_a_slow_one_at_a_time_server_answers_every_row(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # 20 requests at once to a server answering one every 0.15 s: 3 s of work behind a 0.75 s timeout
    # (llama.cpp's server with --concurrency 64 looks like this, a hundred times slower). Without the
    # adaptive bound, retries queue behind abandoned work and rows run out of attempts.
    source = write_jsonl(tmp_path / "in.jsonl", rows(20))
    with StubServer(one_at_a_time(0.15)) as stub:
        code = main(reformat_command(tmp_path, source, stub.base_url, "--timeout", "0.75", "--concurrency", "20"))
    tags = [row["realign"]["tag"] for row in read_jsonl(tmp_path / "out.jsonl")]
    assert code == 0
    assert tags == ["rewrite"] * 20
    assert "sending at most" in caplog.text


def test_a_timeout_halves_the_bound_once_per_round() -> None:
    async def scenario() -> list[float]:
        limit = AdaptiveLimit("http://server")
        rounds = [await limit.acquire() for _ in range(8)]
        for sent_in in rounds:  # all eight time out together: one cut, not eight
            limit.timed_out(sent_in, 1.0)
            limit.release()
        after_first = limit.limit
        retry = await limit.acquire()
        limit.timed_out(retry, 1.0)
        limit.release()
        return [after_first, limit.limit]

    assert asyncio.run(scenario()) == [4, 1]


def test_answers_grow_the_bound_back_by_one_per_round() -> None:
    async def scenario() -> float:
        limit = AdaptiveLimit("http://server")
        sent = [await limit.acquire() for _ in range(4)]
        limit.timed_out(sent[0], 1.0)  # bound 2
        for _ in sent:
            limit.release()
        for _ in range(2):
            await limit.acquire()
            limit.answered()
            limit.release()
        return limit.limit

    assert asyncio.run(scenario()) == 3


def test_a_waiter_gets_the_slot_a_finished_attempt_frees() -> None:
    async def scenario() -> list[int]:
        limit = AdaptiveLimit("http://server")
        first, second = await limit.acquire(), await limit.acquire()
        limit.timed_out(first, 1.0)  # bound 1, two still in flight
        waiting = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)
        limit.release()  # one in flight: still at the bound
        await asyncio.sleep(0)
        still_waiting = int(not waiting.done())
        limit.release()
        await waiting
        return [still_waiting, limit.in_flight, second]

    assert asyncio.run(scenario()) == [1, 1, 0]


def test_a_timeout_at_a_bound_of_one_says_to_raise_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        limit = AdaptiveLimit("http://server")
        sent = await limit.acquire()
        limit.timed_out(sent, 1.0)  # one in flight: the bound is 1
        limit.release()
        alone = await limit.acquire()
        limit.timed_out(alone, 1.0)
        limit.release()

    asyncio.run(scenario())
    assert "raise --timeout" in caplog.text


def test_a_cancelled_waiter_leaves_no_slot_taken() -> None:
    async def scenario() -> int:
        limit = AdaptiveLimit("http://server")
        sent = await limit.acquire()
        await limit.acquire()
        limit.timed_out(sent, 1.0)  # bound 1, two in flight
        waiting = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)
        waiting.cancel()
        limit.release()
        limit.release()
        await asyncio.sleep(0)
        return limit.in_flight

    assert asyncio.run(scenario()) == 0
