"""`realign reformat` end to end: real SDK, real HTTP, against a stand-in server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import read_jsonl, realign_row, write_jsonl
from realign._cli.main import main
from stub_server import StubServer, chat_reply

MATH = realign_row("Tom has 3 apples and buys 4 more. How many now?", "3 + 4 = 7\n#### 7", "math_puzzles", id="m1")
POEM = realign_row("Write a haiku about rain.", "Soft rain on the roof", "poem_generation", id="p1")
QA = realign_row("What is the boiling point of water at sea level?", "It is 100 degrees Celsius.", "open_qa", id="q1")


def run_cli(*args: str) -> int:
    return main(list(args))


def test_reformat_end_to_end(tmp_path: Path, server: StubServer, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [MATH, POEM, QA])
    out = tmp_path / "out.jsonl"
    code = run_cli(
        "reformat",
        str(source),
        "-o",
        str(out),
        "--base-url",
        server.base_url,
        "--model",
        "stub",
        "--cache",
        str(tmp_path / "cache.sqlite"),
    )
    assert code == 0
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == ["m1", "p1", "q1"]
    math, poem, qa = rows
    assert math["realign"]["tag"] == "rewrite"
    assert math["realign"]["reason"] is None
    assert math["items"][1]["value"] == "**Answer**\n\n3 + 4 = 7\n#### 7"
    assert math["realign"]["original"] == "3 + 4 = 7\n#### 7"
    assert math["realign"]["task"] == "math_puzzles"
    assert math["items"][0] == MATH["items"][0]  # the question and its category are untouched
    assert poem["items"] == POEM["items"]
    assert poem["realign"]["tag"] == "original"
    assert poem["realign"]["reason"] == "task_not_rewritten"
    assert "original" not in poem["realign"]
    assert qa["realign"]["evidence"] == []
    assert qa["realign"]["tag"] == "rewrite"
    chats = server.chat_requests()
    assert len(chats) == 2  # one call per rewrite-task row at n=1, none for the poem
    assert all(body.get("n", 1) == 1 and body["model"] == "stub" and body["temperature"] == 0.3 for body in chats)
    assert "rows: 3  rewritten: 2" in capsys.readouterr().err

    # A second run is served from the cache: no call at all.
    server.requests.clear()
    assert (
        run_cli(
            "reformat",
            str(source),
            "-o",
            str(out),
            "--base-url",
            server.base_url,
            "--model",
            "stub",
            "--cache",
            str(tmp_path / "cache.sqlite"),
        )
        == 0
    )
    assert server.requests == []
    # Same rows; only the per-row usage (tokens paid in this run) is gone: nothing was paid.
    for row in rows:
        row["realign"].pop("usage", None)
        row["realign"].pop("model", None)  # the model goes with the tokens it was paid for
    assert read_jsonl(out) == rows


def test_flags_reach_the_request(tmp_path: Path, server: StubServer) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [MATH])
    out = tmp_path / "out.json"
    assert (
        run_cli(
            "reformat",
            str(source),
            "-o",
            str(out),
            "--base-url",
            server.base_url,
            "--no-cache",
            "--n",
            "2",
            "--temperature",
            "0.7",
            "--top-p",
            "0.9",
            "--max-tokens",
            "512",
        )
        == 0
    )
    body = server.chat_requests()[0]
    assert body["n"] == 2
    assert body["temperature"] == 0.7
    assert body["top_p"] == 0.9
    assert body["max_tokens"] == 512
    rows = json.loads(out.read_text())  # .json output is a JSON array
    assert rows[0]["realign"]["tag"] == "rewrite"


def test_auth_error_stops_the_run_without_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def deny(path: str, body: dict[str, object]) -> tuple[int, dict[str, str], object]:
        return 401, {}, {"error": {"message": "Incorrect API key provided: sk-SENTINEL", "code": "invalid_api_key"}}

    source = write_jsonl(tmp_path / "in.jsonl", [MATH] * 5)
    out = tmp_path / "out.jsonl"
    with StubServer(deny) as stub:
        code = run_cli("reformat", str(source), "-o", str(out), "--base-url", stub.base_url, "--no-cache")
        assert len(stub.requests) <= 5  # stopped, not retried
    err = capsys.readouterr().err
    assert code == 1
    assert "authentication failed" in err
    assert "sk-SENTINEL" not in err
    assert not out.exists()
    assert list(tmp_path.glob(".out.jsonl*")) == []


def test_malformed_line_is_one_clear_error(
    tmp_path: Path, server: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(MATH) + "\n{not json\n")
    out = tmp_path / "out.jsonl"
    code = run_cli("reformat", str(source), "-o", str(out), "--base-url", server.base_url, "--no-cache")
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {source} line 2: invalid JSON")
    assert "Traceback" not in err
    assert not out.exists()


def test_missing_key_is_caught_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [MATH])
    assert run_cli("reformat", str(source), "-o", str(tmp_path / "o.jsonl")) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err


def test_tasks_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("tasks") == 0
    out = capsys.readouterr().out
    assert "math_puzzles" in out
    assert "46 tasks, 35 rewritten, 5 with retrieval" in out


def test_console_script_runs_from_any_folder(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "realign._cli.main", "tasks"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "open_qa" in done.stdout


def _summary_of_unusable_replies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The summary lines of a run whose server answers one row without the label and cuts the other off."""

    def handler(path: str, body: dict[str, Any]) -> Any:
        if any("3 + 4" in message["content"] for message in body["messages"]):  # re-asks too
            return 200, {}, chat_reply("Sure, here is a better answer.")
        return 200, {}, chat_reply("Reasoning: r\nRevised response:\nIt is", finish="length")

    source = write_jsonl(tmp_path / "in.jsonl", [MATH, QA])
    with StubServer(handler) as stub:
        code = run_cli(
            "reformat", str(source), "-o", str(tmp_path / "out.jsonl"), "--base-url", stub.base_url, "--model", "stub"
        )
    assert code == 0
    return capsys.readouterr().err.splitlines()


def test_the_summary_counts_unusable_replies_apart_from_the_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _summary_of_unusable_replies(tmp_path, capsys)
    assert "rejected candidates by check: -" in lines


def test_the_summary_names_each_kind_of_unusable_reply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = _summary_of_unusable_replies(tmp_path, capsys)
    assert "unusable replies (no rewrite to check): parse_error 1, truncated 1" in lines


def test_the_summary_by_check_and_task_holds_checks_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = _summary_of_unusable_replies(tmp_path, capsys)
    assert "rejected candidates by check and task: -" in lines


def test_duplicate_rows_of_a_file_are_paid_for_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    distinct = [
        realign_row(f"How do I do thing {i}?", f"Do step one, then step two ({i}).", "open_qa") for i in range(5)
    ]
    source = write_jsonl(tmp_path / "in.jsonl", distinct * 4)  # each row four times, all in flight at once
    with StubServer(latency=0.2) as server:
        argv = ["reformat", str(source), "-o", str(tmp_path / "out.jsonl"), "--base-url", server.base_url]
        code = main([*argv, "--model", "m", "--cache", str(tmp_path / "cache.sqlite")])
        sent = len(server.chat_requests())
    out = read_jsonl(tmp_path / "out.jsonl")
    assert code == 0
    assert sent == 5
    assert [row["realign"]["tag"] for row in out] == ["rewrite"] * 20
    assert "LLM calls: 5" in capsys.readouterr().err
