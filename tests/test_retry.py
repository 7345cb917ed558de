"""The retry pieces shared by the LLM and search clients."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

import realign
from realign import UsageError
from realign._llm.openai_chat import RetryPolicy as LLMRetryPolicy
from realign._llm.retry import PauseGate, RetryPolicy, backoff_seconds, parse_retry_after


def test_retry_policy_is_one_class_everywhere() -> None:
    assert realign.RetryPolicy is RetryPolicy is LLMRetryPolicy
    with pytest.raises(UsageError, match="attempts"):
        RetryPolicy(attempts=0)


def test_retry_after_seconds_and_milliseconds() -> None:
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"Retry-After": "1.5"}) == 1.5  # any case, also in a plain dict
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    # Milliseconds are the finer of the two: they win.
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "1"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "oops", "retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "-5"}) == 0.0
    assert parse_retry_after(httpx.Headers({"Retry-After-Ms": "10"})) == 0.01


def test_retry_after_http_dates() -> None:
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # past: no wait
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=60), usegmt=True)
    assert 55.0 <= (parse_retry_after({"retry-after": later}) or 0.0) <= 60.0


def test_retry_after_absent_or_unreadable() -> None:
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after-ms": "soon"}) is None


def test_backoff_doubles_up_to_the_maximum_then_caps() -> None:
    policy = RetryPolicy(attempts=4, initial=0.5, maximum=8.0, jitter=0.0, max_retry_after=6.0)
    assert [backoff_seconds(policy, n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4.0, 6.0]


def test_backoff_honours_retry_after_up_to_the_cap() -> None:
    policy = RetryPolicy(initial=0.5, maximum=8.0, jitter=0.0, max_retry_after=30.0)
    assert backoff_seconds(policy, 3, retry_after=12.0) == 12.0
    assert backoff_seconds(policy, 1, retry_after=0.0) == 0.0
    assert backoff_seconds(policy, 1, retry_after=600.0) == 30.0


def test_backoff_jitter_stays_in_range() -> None:
    policy = RetryPolicy(initial=1.0, maximum=1.0, jitter=0.5)
    delays = [backoff_seconds(policy, 1) for _ in range(100)]
    assert all(1.0 <= d <= 1.5 for d in delays)
    assert len(set(delays)) > 1


def test_pause_gate_holds_requests_back_until_the_pause_ends() -> None:
    async def scenario() -> tuple[float, float]:
        gate = PauseGate()
        start = time.monotonic()
        await gate.wait()  # never paused: no wait
        free = time.monotonic() - start
        gate.pause(0.1)
        gate.pause(0.01)  # a shorter pause does not cut the running one short
        await asyncio.gather(gate.wait(), gate.wait())
        return free, time.monotonic() - start

    free, paused = asyncio.run(scenario())
    assert free < 0.05
    assert 0.09 <= paused < 1.0
