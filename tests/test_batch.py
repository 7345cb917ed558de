"""The Batch API mode against a fake Batch API at the HTTP level (the real SDK over httpx2.MockTransport)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import realign
from batch_stub import FakeBatchAPI, rewrite
from realign import ChatRequest, Example, FakeLLM, FatalLLMError, OpenAIChat, Pipeline, RetryPolicy, SQLiteCache
from realign._batch import BatchRunner, BatchTimeoutError, RequestCollector, run_batch_rounds
from realign._cache import request_key
from stub_server import chat_reply

MODEL = "gpt-4o-mini"
ORIGINAL = "Natalia sold 48/2 = 24 clips in May.\nShe sold 48+24 = 72 clips altogether.\n#### 72"


class FixedClassifier:
    async def classify(self, instruction: str) -> realign.TaskPrediction:
        return realign.TaskPrediction(task="math_puzzles", confidence=1.0, source="t")


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[SQLiteCache]:
    store = SQLiteCache(tmp_path / "cache.sqlite")
    yield store
    store.close()


def runner_for(api: FakeBatchAPI, cache: SQLiteCache, state: Path, **kw: Any) -> BatchRunner:
    chat = OpenAIChat(MODEL, client=api.client(), retry=RetryPolicy(attempts=1))
    kw.setdefault("poll_interval", 0.001)
    return BatchRunner(chat, cache, state, **kw)


def requests_for(runner: BatchRunner, count: int, marker: str = "row") -> list[tuple[str, ChatRequest]]:
    pairs = []
    for i in range(count):
        text = f"Rewrite this.\n<response>\n{marker} {i}: the answer is {i}.\n</response>"
        request = ChatRequest((("system", "Be brief."), ("user", text)), n=1, temperature=0.3, max_tokens=512)
        pairs.append((request_key(runner.identity, request, ""), request))
    return pairs


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ----------------------------------------------------------------------------- submitting and joining


def test_split_at_request_cap_with_well_formed_lines(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI()
    progress: list[str] = []
    runner = runner_for(api, cache, tmp_path / "state", max_requests_per_file=2, progress=progress.append)
    pairs = requests_for(runner, 5)
    report = run(runner.run(pairs))
    files = api.uploaded_lines()
    assert [len(lines) for lines in files] == [2, 2, 1] and api.creates == 3
    line = files[0][0]
    assert line["custom_id"] == pairs[0][0] and line["method"] == "POST" and line["url"] == "/v1/chat/completions"
    assert line["body"] == {"model": MODEL, "messages": [{"role": "system", "content": "Be brief."},
                                                        {"role": "user", "content": pairs[0][1].messages[1][1]}],
                            "n": 1, "temperature": 0.3, "top_p": 1.0, "max_tokens": 512}
    assert (report.submitted, report.succeeded, report.failed) == (5, 5, {})
    assert len(report.batch_ids) == 3 and report.usage.calls == 5 and report.usage.prompt_tokens == 500
    assert all(cache.get(key) is not None for key, _ in pairs)
    assert progress and "requests" in progress[-1] and "completed" in progress[-1]
    assert not list((tmp_path / "state").glob("*.jsonl")), "input files are removed once collected"


def test_split_at_byte_cap(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI()
    runner = runner_for(api, cache, tmp_path / "state", max_bytes_per_file=1000)
    run(runner.run(requests_for(runner, 6)))
    sizes = [len(api.files[b.input_file_id]) for b in api.batches.values()]
    assert len(sizes) > 1 and all(size <= 1000 for size in sizes)
    assert sum(len(b.lines) for b in api.batches.values()) == 6


def test_output_order_is_shuffled_and_joined_on_custom_id(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI()
    runner = runner_for(api, cache, tmp_path / "state")
    pairs = requests_for(runner, 20)
    run(runner.run(pairs))
    (batch,) = api.batches.values()
    assert batch.output_file_id is not None
    output_ids = [json.loads(line)["custom_id"] for line in api.files[batch.output_file_id].splitlines()]
    assert output_ids != [key for key, _ in pairs] and sorted(output_ids) == sorted(key for key, _ in pairs)
    for i, (key, _) in enumerate(pairs):
        hit = cache.get(key)
        assert hit is not None and hit.choices[0].text.endswith(f"row {i}: the answer is {i}.")


def test_duplicate_keys_are_submitted_once(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI()
    runner = runner_for(api, cache, tmp_path / "state")
    pairs = requests_for(runner, 3)
    report = run(runner.run(pairs + pairs[:2]))
    assert report.submitted == 3 and sum(len(b.lines) for b in api.batches.values()) == 3


def test_no_requests_makes_no_call(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI()
    report = run(runner_for(api, cache, tmp_path / "state").run([]))
    assert report.submitted == 0 and api.calls == []


# ----------------------------------------------------------------------------- failures


def _route(body: dict[str, Any]) -> str:
    text = body["messages"][-1]["content"]
    return "error" if "bad" in text else "drop" if "lost" in text else "ok"


def test_error_file_and_missing_lines_are_reported(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(route=_route)
    runner = runner_for(api, cache, tmp_path / "state")
    good, bad, lost = requests_for(runner, 2, "good"), requests_for(runner, 2, "bad"), requests_for(runner, 1, "lost")
    report = run(runner.run(good + bad + lost))
    assert report.submitted == 5 and report.succeeded == 2
    assert {key: report.failed[key] for key, _ in bad} == {key: "invalid_value: Invalid 'messages'" for key, _ in bad}
    assert report.failed[lost[0][0]] == "missing_from_output"
    assert all(cache.get(key) is None for key, _ in bad + lost)
    assert "2 answered, 3 failed" in report.summary()


def test_expired_batch_keeps_its_partial_output(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(final_status="expired")
    runner = runner_for(api, cache, tmp_path / "state")
    pairs = requests_for(runner, 6)
    report = run(runner.run(pairs))
    answered = [key for key, _ in pairs if cache.get(key) is not None]
    assert 0 < len(answered) < 6 and report.succeeded == len(answered)
    assert set(report.failed) == {key for key, _ in pairs} - set(answered)
    assert set(report.failed.values()) == {"batch_expired"}


def test_failed_batch_fails_all_its_requests(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(final_status="failed")
    runner = runner_for(api, cache, tmp_path / "state")
    report = run(runner.run(requests_for(runner, 3)))
    assert report.succeeded == 0 and set(report.failed.values()) == {"batch_failed: model not available"}


def test_sdk_errors_are_translated(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI()
    api.fail_upload_with = 401
    runner = runner_for(api, cache, tmp_path / "state")
    with pytest.raises(FatalLLMError) as caught:
        run(runner.run(requests_for(runner, 1)))
    assert caught.value.code == "auth" and "OPENAI_API_KEY" in str(caught.value)


# ----------------------------------------------------------------------------- bounded waiting, resuming


def test_polling_stops_at_max_wait(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(final_status=None)
    runner = runner_for(api, cache, tmp_path / "state", poll_interval=0.01, max_wait=0.05)
    started = time.monotonic()
    with pytest.raises(BatchTimeoutError) as caught:
        run(runner.run(requests_for(runner, 2)))
    assert time.monotonic() - started < 2
    assert isinstance(caught.value, FatalLLMError) and caught.value.code == "batch_timeout"
    assert "run again" in str(caught.value)


def test_interrupted_run_resumes_by_polling(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(final_status=None)
    state = tmp_path / "state"
    first = runner_for(api, cache, state, max_requests_per_file=2)
    pairs = requests_for(first, 3)

    async def interrupted() -> None:
        await asyncio.wait_for(first.run(pairs), timeout=0.1)

    with pytest.raises(asyncio.TimeoutError):
        run(interrupted())
    assert api.creates == 2
    saved = [json.loads(p.read_text()) for p in sorted(state.glob("batch-*.json"))]
    assert sorted(s["batch_id"] for s in saved) == sorted(api.batches)

    for batch in api.batches.values():
        batch.final_status, batch.polls = "completed", 0
    second = runner_for(api, cache, state)  # a new process: only the state folder is shared
    report = run(second.run(list(reversed(pairs))))
    assert api.creates == 2, "resumed batches are polled, not created again"
    assert report.succeeded == 3 and sorted(report.batch_ids) == sorted(api.batches)
    assert all(cache.get(key) is not None for key, _ in pairs)
    finished = sorted(p.name for p in state.iterdir())
    assert len(finished) == 2 and all(name.endswith(".done.json") for name in finished)


def test_resume_submits_only_keys_not_already_in_a_batch(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(final_status=None)
    state = tmp_path / "state"
    first = runner_for(api, cache, state, max_wait=0.01)
    old = requests_for(first, 2)
    with pytest.raises(BatchTimeoutError):
        run(first.run(old))
    api.final_status = "completed"
    for batch in api.batches.values():
        batch.final_status = "completed"
    new = requests_for(first, 2, "new")
    report = run(runner_for(api, cache, state).run(old + new))
    assert api.creates == 2 and [len(b.lines) for b in api.batches.values()] == [2, 2]
    assert report.succeeded == 4


# ----------------------------------------------------------------------------- with the pipeline


def examples(count: int) -> list[Example]:
    return [Example(question=f"Question {i}: Natalia sold clips to 48 friends. How many altogether?",
                    response=ORIGINAL) for i in range(count)]


def make_pipeline(cache: SQLiteCache, **kw: Any) -> Any:
    return lambda llm: Pipeline(llm, classifier=FixedClassifier(), cache=cache, **kw)


def final_run(
    cache: SQLiteCache, identity: str, rows: list[Example], **kw: Any
) -> tuple[list[realign.Result], FakeLLM]:
    offline = FakeLLM([], identity=identity)  # raises if it is ever called

    async def go() -> list[realign.Result]:
        pipeline = Pipeline(offline, classifier=FixedClassifier(), cache=cache, **kw)
        return [result async for result in pipeline.astream(rows)]

    return run(go()), offline


def test_pipeline_run_after_batches_is_served_from_the_cache(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI()
    runner = runner_for(api, cache, tmp_path / "state")
    rows = examples(5) + examples(1)  # a duplicate row shares its key
    report = run(run_batch_rounds(make_pipeline(cache), lambda: rows, runner))
    assert (report.submitted, report.succeeded, report.failed) == (5, 5, {}) and api.creates == 1
    results, offline = final_run(cache, runner.identity, rows)
    assert offline.requests == []
    assert [r.tag for r in results] == ["rewrite"] * 6
    assert all(r.response.startswith("**Answer**") for r in results)


def test_n_candidates_use_the_pipeline_keys(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI()
    runner = runner_for(api, cache, tmp_path / "state")
    rows = examples(3)
    run(run_batch_rounds(make_pipeline(cache, n=2, temperature=0.7, max_tokens=900), lambda: rows, runner))
    assert {line["body"]["n"] for lines in api.uploaded_lines() for line in lines} == {2}
    results, offline = final_run(cache, runner.identity, rows, n=2, temperature=0.7, max_tokens=900)
    assert offline.requests == [] and all(len(r.candidates) == 2 and r.tag == "rewrite" for r in results)


def _garbled_first(body: dict[str, Any]) -> dict[str, Any]:
    """Unparsable first replies; the re-ask (which carries the first reply) gets a good one."""
    if len(body["messages"]) <= 2:
        return chat_reply("I would add a heading here.")  # type: ignore[no-any-return]
    first_user = {**body, "messages": body["messages"][:2]}
    return rewrite(first_user)


def test_second_round_collects_the_reasks(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(reply=_garbled_first)
    runner = runner_for(api, cache, tmp_path / "state")
    rows = examples(4)
    report = run(run_batch_rounds(make_pipeline(cache), lambda: iter(rows), runner, rounds=2))
    assert report.submitted == 8 and report.succeeded == 8 and api.creates == 2
    second_round = api.uploaded_lines()[1]
    assert all(len(line["body"]["messages"]) == 4 and line["body"]["n"] == 1 for line in second_round)
    results, offline = final_run(cache, runner.identity, rows)
    assert offline.requests == [] and [r.tag for r in results] == ["rewrite"] * 4


def test_failed_requests_are_retried_in_the_next_round(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(final_status="expired")
    runner = runner_for(api, cache, tmp_path / "state")
    rows = examples(4)

    async def source() -> Any:
        for row in rows:
            yield row

    report = run(run_batch_rounds(make_pipeline(cache), source, runner, rounds=1))
    assert report.failed and set(report.failed.values()) == {"batch_expired"}
    api.final_status = "completed"
    again = run(run_batch_rounds(make_pipeline(cache), source, runner, rounds=2))
    assert again.submitted == len(report.failed) and again.failed == {}
    results, offline = final_run(cache, runner.identity, rows)
    assert offline.requests == [] and all(r.tag == "rewrite" for r in results)


def test_collector_records_pipeline_keys_and_defers() -> None:
    class DictCache(dict[str, realign.Completion]):
        def put(self, key: str, value: realign.Completion) -> None:
            self[key] = value

    collector = RequestCollector("https://api.openai.test/v1|gpt-4o-mini")
    pipeline = Pipeline(collector, classifier=FixedClassifier(), cache=DictCache())
    result = run(pipeline.areformat_one(examples(1)[0]))
    assert result.tag == "original" and result.reason == "llm_error:batch_pending"
    ((key, request),) = collector.requests
    assert key == request_key(collector.identity, request, "") and re.fullmatch(r"[0-9a-f]{64}", key)


def test_collector_without_a_cache_is_a_usage_error() -> None:
    pipeline = Pipeline(RequestCollector("x|m"), classifier=FixedClassifier())
    with pytest.raises(realign.UsageError, match="cache"):
        run(pipeline.areformat_one(examples(1)[0]))


def test_batch_unknown_to_the_server_fails_its_requests(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(final_status=None)
    state = tmp_path / "state"
    first = runner_for(api, cache, state, max_wait=0.01)
    pairs = requests_for(first, 2)
    with pytest.raises(BatchTimeoutError):
        run(first.run(pairs))
    api.batches.clear()  # e.g. resumed with another account's key
    report = run(runner_for(api, cache, state).run(pairs))
    assert api.creates == 1 and set(report.failed.values()) == {"batch_not_found"}
    assert all(name.endswith(".done.json") for name in (p.name for p in state.iterdir()))


def test_final_run_without_online_retry_keeps_failed_rows(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(final_status="expired")
    runner = runner_for(api, cache, tmp_path / "state")
    rows = examples(4)
    report = run(run_batch_rounds(make_pipeline(cache), lambda: rows, runner, rounds=1))
    offline = RequestCollector(runner.identity, code="batch_failed")
    results = run(asyncio.wait_for(_all(make_pipeline(cache)(offline), rows), 10))
    kept = [r for r in results if r.tag == "original"]
    assert len(kept) == len(report.failed) > 0 and {r.reason for r in kept} == {"llm_error:batch_failed"}
    assert len(offline.requests) == len(report.failed)


async def _all(pipeline: Pipeline, rows: list[Example]) -> list[realign.Result]:
    return [result async for result in pipeline.astream(rows)]
