"""`realign reformat --batch` end to end: the real CLI and SDK over real sockets, against a stand-in
Batch API (files and batches endpoints) on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batch_stub import BatchServer, FakeBatchAPI
from conftest import batch_command, read_jsonl, realign_row, write_jsonl
from realign._cli.main import main

MATH = [
    realign_row(
        f"Tom has {i} apples and buys 4 more. How many now?",
        f"{i} + 4 = {i + 4}\n#### {i + 4}",
        "math_puzzles",
        id=f"m{i}",
    )
    for i in range(3)
]
QA = realign_row("What is the boiling point of water at sea level?", "It is 100 degrees Celsius.", "open_qa", id="q1")
POEM = realign_row("Write a haiku about rain.", "Soft rain on the roof", "poem_generation", id="p1")
LATE = realign_row(
    "Sam has 5 pears and eats 2. How many are left? (LATE)", "5 - 2 = 3\n#### 3", "math_puzzles", id="late"
)
BAD = realign_row("Ann has 2 cats and gets 2 more. How many cats? (BAD)", "2 + 2 = 4\n#### 4", "math_puzzles", id="bad")
ROWS = [*MATH, QA, POEM, LATE, BAD]
REWRITTEN = ["m0", "m1", "m2", "q1"]


def _fate(body: dict[str, Any]) -> str:
    """The LATE row's request expires in every batch; the BAD row's is rejected (400)."""
    text = body["messages"][-1]["content"]
    return "expired" if "(LATE)" in text else "error" if "(BAD)" in text else "ok"


@pytest.fixture
def api() -> FakeBatchAPI:
    return FakeBatchAPI(route=_fate, polls=2, chunk_size=64)


@pytest.fixture
def batch_server(api: FakeBatchAPI) -> Iterator[BatchServer]:
    with BatchServer(api) as server:
        yield server


def reformat(tmp_path: Path, server: BatchServer, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    source = write_jsonl(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    code = main(batch_command(tmp_path, source, server.base_url, *extra))
    return code, read_jsonl(out) if out.exists() else []


def test_batch_run_rewrites_every_row_without_an_online_call(
    tmp_path: Path, api: FakeBatchAPI, batch_server: BatchServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = reformat(tmp_path, batch_server)
    assert code == 3  # output written, two rows ended with llm_error
    assert api.chat_calls == 0, "every answer came through the Batch API"
    assert [r["id"] for r in rows] == [r["id"] for r in ROWS]
    by_id = {r["id"]: r for r in rows}
    for row_id in REWRITTEN:
        row, source = by_id[row_id], next(r for r in ROWS if r["id"] == row_id)
        assert row["realign"]["tag"] == "rewrite"
        assert row["realign"]["reason"] is None
        assert row["items"][1]["value"] == "**Answer**\n\n" + source["items"][1]["value"]
    assert by_id["p1"]["realign"]["reason"] == "task_not_rewritten"
    # Requests the Batch API did not answer keep the original, with the batch's own reason.
    for row_id, reason in (("late", "llm_error:batch_expired"), ("bad", "llm_error:invalid_value")):
        row, source = by_id[row_id], next(r for r in ROWS if r["id"] == row_id)
        assert row["realign"]["tag"] == "original"
        assert row["realign"]["reason"] == reason
        assert row["items"] == source["items"]

    # Round 1 sent the first request of each rewrite-task row, round 2 the two that failed again.
    assert api.creates == 2
    assert [len(lines) for lines in api.uploaded_lines()] == [6, 2]
    first = api.uploaded_lines()[0][0]
    assert first["url"] == "/v1/chat/completions"
    assert first["body"]["model"] == "stub"
    assert first["body"]["temperature"] == 0.3
    assert "n" not in first["body"]
    state = tmp_path / "batches"
    assert sorted(p.name.split(".", 1)[1] for p in state.glob("batch-*")) == ["done.json", "done.json"]
    err = capsys.readouterr().err
    assert "rows: 7" in err
    assert "batch: 8 requests in 2 batch(es), 4 answered, 2 failed" in err
    assert "batch_expired 1" in err
    assert "invalid_value 1" in err

    # Run again: everything answered is in the cache, the failures are submitted once more.
    api.calls.clear()
    code, again = reformat(tmp_path, batch_server)
    assert code == 3  # output written, some rows ended with llm_error
    assert api.chat_calls == 0
    assert api.creates == 2
    assert [r["realign"]["reason"] for r in again] == [r["realign"]["reason"] for r in rows]


def test_batch_retry_online_sends_only_the_failures_online(
    tmp_path: Path, api: FakeBatchAPI, batch_server: BatchServer
) -> None:
    api.online = True
    code, rows = reformat(tmp_path, batch_server, "--batch-retry-online")
    assert code == 0
    assert api.chat_calls == 2
    assert all(r["realign"]["tag"] == "rewrite" for r in rows if r["id"] != "p1")
    # The online request is the batch request, body for body.
    batch_bodies = {json.dumps(line["body"], sort_keys=True) for lines in api.uploaded_lines() for line in lines}
    assert all(json.dumps(body, sort_keys=True) in batch_bodies for body in api.chat_bodies)


def test_output_download_cut_off_on_the_socket_is_retried(
    tmp_path: Path, api: FakeBatchAPI, batch_server: BatchServer
) -> None:
    api.break_downloads = 1  # the server drops the connection halfway through the first output file
    code, rows = reformat(tmp_path, batch_server)
    assert code == 3  # output written, some rows ended with llm_error
    assert api.chat_calls == 0
    assert [r["realign"]["tag"] for r in rows] == ["rewrite"] * 4 + ["original"] * 3
    assert api.downloads == 4  # round 1: output (twice) and error file; round 2: error file
