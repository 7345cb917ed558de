"""Several replicas of one model, and pacing from the server's rate-limit headers."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from conftest import read_jsonl, realign_row, write_jsonl
from realign import ChatRequest, OpenAIChat, RetryPolicy
from realign._cli.main import main
from realign._llm.openai_chat import base_urls
from realign._llm.ratelimit import HeaderPacer, parse_duration
from realign._llm.replicas import ReplicaPool
from stub_server import SilentServer, StubServer, chat_reply, rewrite_handler

REQUEST = ChatRequest((("system", "s"), ("user", "<response>\nhi\n</response>")))
FAST = RetryPolicy(attempts=4, initial=0.001, maximum=0.002, jitter=0.0)


def dead_url() -> str:
    """A URL on a port nothing listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def rows(count: int) -> list[dict[str, Any]]:
    return [
        realign_row(f"How do I do thing {i}?", f"Do step one, then step two ({i}).", "open_qa") for i in range(count)
    ]


def test_base_urls_are_a_list_or_comma_separated() -> None:
    assert base_urls(["http://a/v1/", "http://b/v1, http://a/v1", " "]) == ["http://a/v1", "http://b/v1"]


def test_two_replicas_share_the_calls_and_a_dead_one_costs_no_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(60))
    out = tmp_path / "out.jsonl"
    with StubServer(latency=0.01) as first, StubServer(latency=0.01) as second:
        argv = ["reformat", str(source), "-o", str(out), "--no-cache", "--model", "m", "--concurrency", "8"]
        argv += ["--base-url", first.base_url, "--base-url", f"{dead_url()},{second.base_url}"]
        code = main(argv)
        shares = [len(first.chat_requests()) / 60, len(second.chat_requests()) / 60]
    written = read_jsonl(out)
    assert code == 0
    assert 0.3 <= shares[0] <= 0.7
    assert 0.3 <= shares[1] <= 0.7
    assert [r["realign"]["tag"] for r in written] == ["rewrite"] * 60
    summary = capsys.readouterr().err
    assert f"{first.base_url}: {len(first.requests)} calls, 0 errors" in summary


def test_a_replica_that_never_answers_is_hedged_and_costs_no_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The silent replica takes its share of the first requests; each is sent to a healthy replica too once
    # the fleet's answers show it late, and cancelled when that answer comes: no request waits --timeout.
    source = write_jsonl(tmp_path / "in.jsonl", rows(40))
    out = tmp_path / "out.jsonl"
    with SilentServer() as silent, StubServer(latency=0.01) as first, StubServer(latency=0.01) as second:
        argv = ["reformat", str(source), "-o", str(out), "--no-cache", "--model", "m", "--concurrency", "6"]
        argv += ["--timeout", "20", "--base-url", f"{silent.base_url},{first.base_url},{second.base_url}"]
        code = main(argv)
        received = silent.requests + len(first.requests) + len(second.requests)
        held = silent.requests
    summary = capsys.readouterr().err
    assert code == 0
    assert [r["realign"]["tag"] for r in read_jsonl(out)] == ["rewrite"] * 40
    assert held >= 1
    # Its requests were cancelled, not timed out (no error), each lost to the hedge that answered it.
    assert f"{silent.base_url}: {held} calls, 0 errors, {held} lost to a hedge" in summary
    # The summary counts every request the servers received, hedges included; each row is billed once.
    assert f"LLM calls: 40 ({received} attempts)" in summary


def test_hedged_requests_keep_the_cache_and_the_shared_requests_right(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each row twice: one request per distinct row (rows alike share it), answered once whichever replica
    # answered it; a second run reads every answer from the cache. Ten rows are too few for a percentile:
    # the silent replica's requests are still hedged, none waits for --timeout.
    source = write_jsonl(tmp_path / "in.jsonl", rows(10) * 2)
    cache = str(tmp_path / "cache.sqlite")
    with SilentServer() as silent, StubServer(latency=0.01) as good:
        common = ["reformat", str(source), "--cache", cache, "--model", "m", "--concurrency", "6"]
        common += ["--timeout", "20", "--base-url", f"{silent.base_url},{good.base_url}"]
        first = main([*common, "-o", str(tmp_path / "a.jsonl")])
        answered = len(good.chat_requests())
        held = silent.requests
        summary = capsys.readouterr().err
        second = main([*common, "-q", "-o", str(tmp_path / "b.jsonl")])
        sent_again = len(good.chat_requests()) + silent.requests - answered - held
    assert first == 0
    assert second == 0
    assert held >= 1
    assert f"{silent.base_url}: {held} calls, 0 errors, {held} lost to a hedge" in summary
    assert answered == 10
    assert sent_again == 0
    assert [r["realign"]["tag"] for r in read_jsonl(tmp_path / "b.jsonl")] == ["rewrite"] * 20


def test_a_silent_replicas_timeouts_do_not_cut_the_fleets_concurrency(caplog: pytest.LogCaptureFixture) -> None:
    # A timeout shorter than the hedge floor: no hedge is sent, the silent replica's requests time out. The
    # timeout leaves the healthy replica (10 ms) a wide margin: on a loaded machine its answers must not time out
    # too, which would cut the concurrency for a reason of the machine's.
    async def scenario(llm: OpenAIChat) -> None:
        await asyncio.gather(*(llm.complete(REQUEST) for _ in range(12)))
        await llm.aclose()

    with SilentServer() as silent, StubServer(latency=0.01) as good:
        llm = OpenAIChat("m", base_url=[silent.base_url, good.base_url], retry=FAST, timeout=1.5)
        llm.replicas = ReplicaPool(llm.base_urls, hedge_floor=5.0)
        asyncio.run(scenario(llm))
    assert llm.replicas.replicas[0].errors >= 1  # it did time out
    assert "sending at most" not in caplog.text


def test_a_fast_fleet_sends_no_hedge() -> None:
    async def scenario(llm: OpenAIChat) -> None:
        await asyncio.gather(*(llm.complete(REQUEST) for _ in range(60)))
        await llm.aclose()

    with StubServer(latency=0.01) as first, StubServer(latency=0.01) as second:
        llm = OpenAIChat("m", base_url=[first.base_url, second.base_url], retry=FAST)
        llm.replicas = ReplicaPool(llm.base_urls, hedge_floor=5.0)
        asyncio.run(scenario(llm))
        received = len(first.requests) + len(second.requests)
    assert received == 60


def test_cache_keys_do_not_depend_on_the_replica(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(10))
    cache = str(tmp_path / "cache.sqlite")
    with StubServer() as first, StubServer() as second:
        common = ["reformat", str(source), "--cache", cache, "--model", "m", "-q"]
        main([*common, "-o", str(tmp_path / "a.jsonl"), "--base-url", f"{first.base_url},{second.base_url}"])
        paid = len(first.requests) + len(second.requests)
        main([*common, "-o", str(tmp_path / "b.jsonl"), "--base-url", f"{second.base_url},{first.base_url}"])
        again = len(first.requests) + len(second.requests) - paid
    assert paid == 10
    assert again == 0


def test_a_failing_replica_leaves_the_rotation_and_rejoins_when_it_answers() -> None:
    broken = {"on": True}
    errors_while_out: list[int] = []

    def flaky(path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        if broken["on"]:
            return 500, {}, {"error": {"message": "down"}}
        return rewrite_handler(path, body)

    async def scenario(llm: OpenAIChat) -> None:
        for _ in range(6):
            await llm.complete(REQUEST)
        errors_while_out.append(llm.replicas.replicas[0].errors)
        broken["on"] = False
        await asyncio.sleep(1.1)  # the cooldown is over: the next requests probe it
        for _ in range(10):
            await llm.complete(REQUEST)
        await llm.aclose()

    with StubServer(flaky) as bad, StubServer() as good:
        llm = OpenAIChat("m", base_url=[bad.base_url, good.base_url], retry=FAST)
        llm.replicas = ReplicaPool(llm.base_urls, failures_to_leave=2, cooldown=1.0)
        asyncio.run(scenario(llm))
        bad_calls = len(bad.requests)
    assert errors_while_out == [2]  # two 500s, then out of the rotation until the cooldown ended
    assert bad_calls >= 2 + 4  # back in: it took its share of the last ten


def test_every_replica_down_fails_the_request_as_a_connection_error() -> None:
    # early_stop=False: with it, the third unanswered attempt stops the run instead (tests/test_failures.py)
    llm = OpenAIChat("m", base_url=[dead_url(), dead_url()], retry=FAST, early_stop=False)
    with pytest.raises(Exception) as info:
        asyncio.run(llm.complete(REQUEST))
    assert getattr(info.value, "code", None) == "connection"


def test_fleet_identity_is_the_model_not_the_urls() -> None:
    one = OpenAIChat("m", base_url="http://a/v1,http://b/v1")
    other = OpenAIChat("m", base_url=["http://b/v1", "http://a/v1"])
    assert one.identity == other.identity


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6m0s", 360.0), ("1.5s", 1.5), ("20ms", 0.02), ("1h2m3s", 3723.0), ("250us", 0.00025), ("7", 7.0), ("0s", 0.0)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "1x", "5s later", None])
def test_unreadable_durations(text: str | None) -> None:
    assert parse_duration(text) is None


def test_pacer_waits_for_the_shortfall_at_the_refill_rate() -> None:
    headers = {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "2",
        "x-ratelimit-reset-requests": "58s",
    }
    # 58 requests come back in 58 s: one a second; with 4 in flight, 3 more are needed.
    assert HeaderPacer().pause_for(headers, in_flight=4) == pytest.approx(3.0)


def test_pacer_lets_requests_through_while_enough_remains() -> None:
    headers = {"x-ratelimit-remaining-requests": "500", "x-ratelimit-reset-requests": "1s"}
    assert HeaderPacer().pause_for(headers, in_flight=4) == 0.0


def test_pacer_counts_tokens_of_the_requests_in_flight() -> None:
    pacer = HeaderPacer()
    pacer.note_tokens(1000)
    headers = {"x-ratelimit-remaining-tokens": "1500", "x-ratelimit-reset-tokens": "2s"}
    assert pacer.pause_for(headers, in_flight=3) == pytest.approx(2.0)


def test_headers_pace_requests_before_any_429() -> None:
    seen: list[float] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(time.monotonic())
        headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "300ms"}
        return httpx2.Response(200, json=chat_reply("Revised response:\nX"), headers=headers)

    async def two() -> None:
        client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
        llm = OpenAIChat("m", base_url="http://llm.test/v1", http_client=client, retry=FAST)
        await llm.complete(REQUEST)
        await llm.complete(REQUEST)
        await client.aclose()

    asyncio.run(two())
    assert seen[1] - seen[0] >= 0.25
