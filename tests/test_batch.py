"""The Batch API mode against a fake Batch API at the HTTP level (the real SDK over httpx2.MockTransport)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import realign
from batch_stub import FakeBatchAPI, rewrite
from realign import ChatRequest, Example, FakeLLM, FatalLLMError, OpenAIChat, Pipeline, RetryPolicy, SQLiteCache
from realign._llm.batch import BatchRunner, BatchTimeoutError, FailedRequests, _Chunk, run_batch_rounds
from realign._llm.cache import request_key
from stub_server import chat_reply

MODEL = "gpt-4o-mini"
ORIGINAL = "Natalia sold 48/2 = 24 clips in May.\nShe sold 48+24 = 72 clips altogether.\n#### 72"


class FixedClassifier:
    async def classify(self, instruction: str) -> realign.TaskPrediction:
        return realign.TaskPrediction(task="math_puzzles", confidence=1.0, source="t")

    async def aclose(self) -> None:
        pass


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[SQLiteCache]:
    store = SQLiteCache(tmp_path / "cache.sqlite")
    yield store
    store.close()


def runner_for(
    api: FakeBatchAPI,
    cache: SQLiteCache,
    state: Path,
    *,
    retry: RetryPolicy | None = None,
    extra_body: dict[str, Any] | None = None,
    **kw: Any,
) -> BatchRunner:
    chat = OpenAIChat(MODEL, client=api.client(), retry=retry or RetryPolicy(attempts=1), extra_body=extra_body)
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


def reasons(runner: BatchRunner, pairs: list[tuple[str, ChatRequest]]) -> dict[str, str]:
    lookup = FailedRequests(runner)
    try:
        return {key: lookup.reason(key) for key, _ in pairs}
    finally:
        lookup.close()


def state_files(state: Path) -> list[str]:
    return sorted(p.name for p in state.glob("batch-*"))


# ----------------------------------------------------------------------------- submitting and joining


def test_split_at_request_cap_with_well_formed_lines(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI()
    progress: list[str] = []
    runner = runner_for(api, cache, tmp_path / "state", max_requests_per_file=2, progress=progress.append)
    pairs = requests_for(runner, 5)
    report = run(runner.run(pairs))
    files = api.uploaded_lines()
    assert [len(lines) for lines in files] == [2, 2, 1]
    assert api.creates == 3
    line = files[0][0]
    assert line["custom_id"] == pairs[0][0]
    assert line["method"] == "POST"
    assert line["url"] == "/v1/chat/completions"
    assert line["body"] == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": pairs[0][1].messages[1][1]},
        ],
        "temperature": 0.3,
        "top_p": 1.0,
        "max_tokens": 512,
    }
    assert line["body"] == runner.chat.request_body(pairs[0][1])
    assert (report.submitted, report.succeeded, report.failed) == (5, 5, 0)
    assert len(report.batch_ids) == 3
    assert report.usage.calls == 5
    assert report.usage.prompt_tokens == 500
    assert all(cache.get(key) is not None for key, _ in pairs)
    assert progress
    assert "requests" in progress[-1]
    assert "completed" in progress[-1]
    assert not list((tmp_path / "state").glob("*.jsonl*")), "input files are removed once collected"


def test_split_at_byte_cap(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI()
    runner = runner_for(api, cache, tmp_path / "state", max_bytes_per_file=1000)
    run(runner.run(requests_for(runner, 6)))
    sizes = [len(api.files[b.input_file_id]) for b in api.batches.values()]
    assert len(sizes) > 1
    assert all(size <= 1000 for size in sizes)
    assert sum(len(b.lines) for b in api.batches.values()) == 6


def test_output_order_is_shuffled_and_joined_on_custom_id(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI()
    runner = runner_for(api, cache, tmp_path / "state")
    pairs = requests_for(runner, 20)
    run(runner.run(pairs))
    (batch,) = api.batches.values()
    assert batch.output_file_id is not None
    output_ids = [json.loads(line)["custom_id"] for line in api.files[batch.output_file_id].splitlines()]
    assert output_ids != [key for key, _ in pairs]
    assert sorted(output_ids) == sorted(key for key, _ in pairs)
    for i, (key, _) in enumerate(pairs):
        hit = cache.get(key)
        assert hit is not None
        assert hit.choices[0].text.endswith(f"row {i}: the answer is {i}.")


def test_duplicate_keys_are_submitted_once(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI()
    runner = runner_for(api, cache, tmp_path / "state")
    pairs = requests_for(runner, 3)
    report = run(runner.run(pairs + pairs[:2]))
    assert report.submitted == 3
    assert sum(len(b.lines) for b in api.batches.values()) == 3


def test_no_requests_makes_no_call(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI()
    report = run(runner_for(api, cache, tmp_path / "state").run([]))
    assert report.submitted == 0
    assert api.calls == []


# ----------------------------------------------------------------------------- failures


def _route(body: dict[str, Any]) -> str:
    text = body["messages"][-1]["content"]
    return "error" if "bad" in text else "drop" if "lost" in text else "ok"


def test_error_file_and_missing_lines_are_reported(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(route=_route)
    runner = runner_for(api, cache, tmp_path / "state")
    good, bad, lost = requests_for(runner, 2, "good"), requests_for(runner, 2, "bad"), requests_for(runner, 1, "lost")
    report = run(runner.run(good + bad + lost))
    assert report.submitted == 5
    assert report.succeeded == 2
    assert report.failed == 3
    assert report.reasons == {"invalid_value": 2, "missing_from_output": 1}
    assert reasons(runner, bad + lost) == {
        **{key: "invalid_value: Invalid 'messages'" for key, _ in bad},
        lost[0][0]: "missing_from_output",
    }
    assert all(cache.get(key) is None for key, _ in bad + lost)
    assert "2 answered, 3 failed (invalid_value 2, missing_from_output 1)" in report.summary()


def test_expired_batch_keeps_its_partial_output(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(final_status="expired")
    runner = runner_for(api, cache, tmp_path / "state")
    pairs = requests_for(runner, 6)
    report = run(runner.run(pairs))
    answered = [key for key, _ in pairs if cache.get(key) is not None]
    assert 0 < len(answered) < 6
    assert report.succeeded == len(answered)
    assert report.failed == 6 - len(answered)
    assert report.reasons == {"batch_expired": report.failed}
    unanswered = [(key, r) for key, r in pairs if key not in answered]
    assert set(reasons(runner, unanswered).values()) == {"batch_expired"}


def test_failed_batch_fails_all_its_requests(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(final_status="failed")
    runner = runner_for(api, cache, tmp_path / "state")
    pairs = requests_for(runner, 3)
    report = run(runner.run(pairs))
    assert report.succeeded == 0
    assert report.reasons == {"batch_failed": 3}
    assert set(reasons(runner, pairs).values()) == {"batch_failed: model not available"}


def test_sdk_errors_are_translated(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI()
    api.fail_upload_with = 401
    runner = runner_for(api, cache, tmp_path / "state")
    with pytest.raises(FatalLLMError) as caught:
        run(runner.run(requests_for(runner, 1)))
    assert caught.value.code == "auth"
    assert "OPENAI_API_KEY" in str(caught.value)


# ----------------------------------------------------------------------------- bounded waiting, resuming


def test_polling_stops_at_max_wait(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(final_status=None)
    runner = runner_for(api, cache, tmp_path / "state", poll_interval=0.01, max_wait=0.05)
    started = time.monotonic()
    with pytest.raises(BatchTimeoutError) as caught:
        run(runner.run(requests_for(runner, 2)))
    assert time.monotonic() - started < 2
    assert isinstance(caught.value, FatalLLMError)
    assert caught.value.code == "batch_timeout"
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
    assert report.succeeded == 3
    assert sorted(report.batch_ids) == sorted(api.batches)
    assert all(cache.get(key) is not None for key, _ in pairs)
    finished = state_files(state)
    assert len(finished) == 2
    assert all(name.endswith(".done.json") for name in finished)


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
    assert api.creates == 2
    assert [len(b.lines) for b in api.batches.values()] == [2, 2]
    assert report.succeeded == 4


# ----------------------------------------------------------------------------- with the pipeline


def examples(count: int) -> list[Example]:
    return [
        Example(question=f"Question {i}: Natalia sold clips to 48 friends. How many altogether?", response=ORIGINAL)
        for i in range(count)
    ]


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
    assert (report.submitted, report.succeeded, report.failed) == (5, 5, 0)
    assert api.creates == 1
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
    assert {line["body"]["max_tokens"] for lines in api.uploaded_lines() for line in lines} == {900}
    results, offline = final_run(cache, runner.identity, rows, n=2, temperature=0.7, max_tokens=900)
    assert offline.requests == []
    assert all(len(r.candidates) == 2 and r.tag == "rewrite" for r in results)


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
    assert report.submitted == 8
    assert report.succeeded == 8
    assert api.creates == 2
    second_round = api.uploaded_lines()[1]
    assert all(len(line["body"]["messages"]) == 4 and "n" not in line["body"] for line in second_round)
    results, offline = final_run(cache, runner.identity, rows)
    assert offline.requests == []
    assert [r.tag for r in results] == ["rewrite"] * 4


def test_failed_requests_are_retried_in_the_next_round(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(final_status="expired")
    runner = runner_for(api, cache, tmp_path / "state")
    rows = examples(4)

    async def source() -> Any:
        for row in rows:
            yield row

    report = run(run_batch_rounds(make_pipeline(cache), source, runner, rounds=1))
    assert report.failed
    assert report.reasons == {"batch_expired": report.failed}
    api.final_status = "completed"
    again = run(run_batch_rounds(make_pipeline(cache), source, runner, rounds=2))
    assert again.submitted == report.failed
    assert again.failed == 0
    results, offline = final_run(cache, runner.identity, rows)
    assert offline.requests == []
    assert all(r.tag == "rewrite" for r in results)


def test_collector_writes_pipeline_keys_to_disk_and_defers(cache: SQLiteCache, tmp_path: Path) -> None:
    runner = runner_for(FakeBatchAPI(), cache, tmp_path / "state")
    with runner.collector() as collector:
        pipeline = Pipeline(collector, classifier=FixedClassifier(), cache=cache)
        result = run(pipeline.areformat_one(examples(1)[0]))
    assert result.tag == "original"
    assert result.reason == "llm_error:batch_pending"
    assert collector.count == 1
    assert len(collector.files) == 1
    assert not hasattr(collector, "requests")
    (line,) = [json.loads(raw) for raw in (tmp_path / "state" / f"{collector.files[0]}.jsonl").read_text().splitlines()]
    body = line["body"]
    request = ChatRequest(
        tuple((m["role"], m["content"]) for m in body["messages"]),
        n=body.get("n", 1),
        temperature=body["temperature"],
        top_p=body["top_p"],
        max_tokens=body.get("max_tokens"),
    )
    assert line["custom_id"] == request_key(runner.identity, request, "")
    assert re.fullmatch(r"[0-9a-f]{64}", line["custom_id"])


def test_collector_splits_files_and_writes_each_key_once(cache: SQLiteCache, tmp_path: Path) -> None:
    state = tmp_path / "state"
    runner = runner_for(FakeBatchAPI(), cache, state, max_requests_per_file=2)
    pairs = requests_for(runner, 5)
    with runner.collector() as collector:
        for key, request in pairs + pairs[3:] + pairs[:1]:  # duplicates, also of keys in sealed files
            collector.add(key, request)
    assert collector.count == 5
    assert len(collector.files) == 3
    written = [
        [json.loads(raw)["custom_id"] for raw in (state / f"{name}.jsonl").read_text().splitlines()]
        for name in collector.files
    ]
    assert [len(keys) for keys in written] == [2, 2, 1]
    assert [k for keys in written for k in keys] == [key for key, _ in pairs]
    assert not list(state.glob("*.part"))
    assert all((state / f"{name}.json").exists() for name in collector.files)
    with pytest.raises(realign.UsageError, match="closed"):
        collector.add(*requests_for(runner, 1, "late")[0])


def test_collector_memory_does_not_grow_with_the_requests(cache: SQLiteCache, tmp_path: Path) -> None:
    runner = runner_for(FakeBatchAPI(), cache, tmp_path / "state")
    filler = "x" * 20_000  # 3,000 prompts of 20 kB: 60 MB written, none of it kept

    def requests() -> Iterator[tuple[str, ChatRequest]]:
        for key, request in requests_for(runner, 3000):
            long = ChatRequest(((request.messages[0]), ("user", request.messages[1][1] + filler)), max_tokens=512)
            yield key, long

    tracemalloc.start()
    try:
        with runner.collector() as collector:
            for key, request in requests():
                collector.add(key, request)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert collector.count == 3000
    assert sum(p.stat().st_size for p in (tmp_path / "state").glob("*.jsonl")) > 60e6
    assert peak < 8e6, f"collecting 60 MB of requests peaked at {peak / 1e6:.1f} MB"


def test_aborted_collect_run_leaves_no_partial_file(cache: SQLiteCache, tmp_path: Path) -> None:
    runner = runner_for(FakeBatchAPI(), cache, tmp_path / "state")
    with pytest.raises(RuntimeError), runner.collector() as collector:
        collector.add(*requests_for(runner, 1)[0])
        raise RuntimeError("killed")
    assert collector.files == []
    assert list((tmp_path / "state").glob("batch-*")) == []


def test_collector_without_a_cache_is_a_usage_error(cache: SQLiteCache, tmp_path: Path) -> None:
    collector = runner_for(FakeBatchAPI(), cache, tmp_path / "state").collector()
    with collector, pytest.raises(realign.UsageError, match="cache"):  # when the pipeline is built, before any row
        Pipeline(collector, classifier=FixedClassifier(), cache=False)


def test_batch_unknown_to_the_server_fails_its_requests(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(final_status=None)
    state = tmp_path / "state"
    first = runner_for(api, cache, state, max_wait=0.01)
    pairs = requests_for(first, 2)
    with pytest.raises(BatchTimeoutError):
        run(first.run(pairs))
    api.batches.clear()  # e.g. resumed with another account's key
    second = runner_for(api, cache, state)
    report = run(second.run(pairs))
    assert api.creates == 1
    assert report.reasons == {"batch_not_found": 2}
    assert set(reasons(second, pairs).values()) == {"batch_not_found"}
    assert all(name.endswith(".done.json") for name in state_files(state))


def test_final_run_without_online_retry_keeps_failed_rows_with_their_reason(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(final_status="expired")
    runner = runner_for(api, cache, tmp_path / "state")
    rows = examples(4)
    report = run(run_batch_rounds(make_pipeline(cache), lambda: rows, runner, rounds=1))
    offline = FailedRequests(runner)
    results = run(asyncio.wait_for(_all(make_pipeline(cache)(offline), rows), 10))
    offline.close()
    kept = [r for r in results if r.tag == "original"]
    assert len(kept) == report.failed > 0
    assert {r.reason for r in kept} == {"llm_error:batch_expired"}
    assert offline.calls == report.failed


def _fates(body: dict[str, Any]) -> str:
    text = body["messages"][-1]["content"]
    return "error" if "Question 1:" in text else "expired" if "Question 2:" in text else "ok"


def test_final_run_reports_each_rows_own_batch_reason(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(route=_fates)
    runner = runner_for(api, cache, tmp_path / "state")
    rows = examples(4)
    report = run(run_batch_rounds(make_pipeline(cache), lambda: rows, runner))
    assert report.reasons == {"invalid_value": 1, "batch_expired": 1}
    assert api.creates == 2
    offline = FailedRequests(runner)
    results = run(_all(make_pipeline(cache)(offline), rows))
    offline.close()
    assert [r.reason for r in results] == [None, "llm_error:invalid_value", "llm_error:batch_expired", None]
    assert [r.tag for r in results] == ["rewrite", "original", "original", "rewrite"]
    assert results[1].response == ORIGINAL


def test_reask_after_the_last_round_is_reported_as_not_submitted(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(reply=_garbled_first)
    runner = runner_for(api, cache, tmp_path / "state")
    rows = examples(2)
    run(run_batch_rounds(make_pipeline(cache), lambda: rows, runner, rounds=1))
    offline = FailedRequests(runner)
    results = run(_all(make_pipeline(cache)(offline), rows))
    offline.close()
    assert {r.reason for r in results} == {"llm_error:batch_not_submitted"}


# ----------------------------------------------------------------------------- bodies, downloads


def test_batch_body_is_the_online_body(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(online=True)
    runner = runner_for(api, cache, tmp_path / "state", extra_body={"seed": 7, "reasoning_effort": "low"})
    ((key, request),) = requests_for(runner, 1)
    request = ChatRequest(request.messages, n=3, temperature=0.9, top_p=0.8, max_tokens=300)
    run(runner.run([(key, request)]))
    run(runner.chat.complete(request))
    ((line,),) = api.uploaded_lines()
    assert line["body"] == api.chat_bodies[0] == runner.chat.request_body(request)
    assert line["body"]["seed"] == 7
    assert line["body"]["n"] == 3


def _unicode_reply(body: dict[str, Any]) -> dict[str, Any]:
    text = f"Reasoning: ok.\nRevised response:\nÉté \u2028 line\u2029 sep 日本語 {body['messages'][-1]['content']}"
    return chat_reply(text)  # type: ignore[no-any-return]


def test_output_is_read_in_pieces_cut_anywhere(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(reply=_unicode_reply, chunk_size=7)  # pieces end mid-line and mid-character
    runner = runner_for(api, cache, tmp_path / "state")
    pairs = requests_for(runner, 12)
    report = run(runner.run(pairs))
    assert report.succeeded == 12
    assert report.usage.calls == 12
    for key, request in pairs:
        hit = cache.get(key)
        assert hit is not None
        assert hit.choices[0].text.endswith(f"日本語 {request.messages[1][1]}")
        assert "\u2028 line\u2029" in hit.choices[0].text


def test_download_cut_off_midway_is_retried(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(chunk_size=256)
    api.break_downloads = 1
    runner = runner_for(api, cache, tmp_path / "state", retry=RetryPolicy(attempts=2, initial=0.0, jitter=0.0))
    pairs = requests_for(runner, 10)
    report = run(runner.run(pairs))
    assert api.downloads == 2
    assert report.succeeded == 10
    assert report.failed == 0
    assert report.usage.calls == 10, "usage of the broken pass is not counted"
    assert all(cache.get(key) is not None for key, _ in pairs)


def test_download_memory_does_not_grow_with_the_output(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(chunk_size=65536)
    runner = runner_for(api, cache, tmp_path / "state")
    pairs = requests_for(runner, 300)
    answer = "y" * 100_000
    api.files["file-big"] = "".join(
        json.dumps(
            {"id": "r", "custom_id": key, "error": None, "response": {"status_code": 200, "body": chat_reply(answer)}}
        )
        + "\n"
        for key, _ in pairs
    ).encode()  # a 30 MB output file, in the stub before measuring
    with runner.collector() as collector:  # the ledger then knows the keys' input file
        for key, request in pairs:
            collector.add(key, request)
    chunk = _Chunk.load(tmp_path / "state" / f"{collector.files[0]}.json")
    assert chunk is not None
    ledger = runner._open_ledger()
    tracemalloc.start()
    try:
        usage = run(runner._download("file-big", chunk, ledger))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        ledger.close()
    assert usage.calls == 300
    assert all(cache.get(key) is not None for key, _ in pairs[:3])
    assert peak < 5e6, f"reading a 30 MB output peaked at {peak / 1e6:.1f} MB"


# ----------------------------------------------------------------------------- resuming whole rounds


def test_interrupted_rounds_resume_without_new_batches(cache: SQLiteCache, tmp_path: Path) -> None:
    api = FakeBatchAPI(final_status=None)
    state = tmp_path / "state"
    rows = examples(3)

    async def interrupted() -> None:
        runner = runner_for(api, cache, state)
        rounds = asyncio.ensure_future(run_batch_rounds(make_pipeline(cache), lambda: rows, runner))
        # Stopped once its batch is being polled (created, its id saved), however loaded the machine: a fixed
        # 0.5 s could end before the batch was created (seen at load average 14).
        for _ in range(3000):
            if any(batch.polls < 1 for batch in api.batches.values()):
                break
            await asyncio.sleep(0.01)
        rounds.cancel()
        await rounds

    with pytest.raises(asyncio.CancelledError):
        run(interrupted())
    assert api.creates == 1
    for batch in api.batches.values():
        batch.final_status, batch.polls = "completed", 0
    runner = runner_for(api, cache, state)
    report = run(run_batch_rounds(make_pipeline(cache), lambda: rows, runner))
    assert api.creates == 1
    assert report.succeeded == 3
    assert report.batch_ids == list(api.batches)
    results, offline = final_run(cache, runner.identity, rows)
    assert offline.requests == []
    assert [r.tag for r in results] == ["rewrite"] * 3


async def _all(pipeline: Pipeline, rows: list[Example]) -> list[realign.Result]:
    return [result async for result in pipeline.astream(rows)]
