"""Rows with tool calls and non-text parts (images, audio): valid input, read and passed through turn by turn,
never an error for the whole file. Through the real CLI against the stand-in server."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from conftest import write_jsonl
from realign import write_report
from realign._cli.main import main
from stub_server import StubServer
from test_report import DATA_TAG, chromium, console_lines, dump_dom
from test_turns import HEADING, openai_row, run_cli, sharegpt

CALL = [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.org/cat.png"}}


def tool_call_rows() -> list[dict[str, Any]]:
    """Two-turn rows whose answer is a tool call: ``content`` null, absent, or beside the call."""
    user = {"role": "user", "content": "What is the weather in Paris?"}
    return [
        {"id": "null", "messages": [user, {"role": "assistant", "content": None, "tool_calls": CALL}]},
        {"id": "absent", "messages": [user, {"role": "assistant", "tool_calls": CALL}]},
        {
            "id": "system",
            "messages": [
                {"role": "system", "content": "You can call tools."},
                user,
                {"role": "assistant", "content": None, "tool_calls": CALL},
            ],
        },
        {"id": "text", "messages": [user, {"role": "assistant", "content": "Let me look.", "tool_calls": CALL}]},
        {
            "id": "legacy",
            "messages": [user, {"role": "assistant", "content": None, "function_call": CALL[0]["function"]}],
        },
    ]


def test_a_two_turn_tool_call_row_is_read(tmp_path: Any, server: StubServer) -> None:
    code, _ = run_cli(tmp_path, tool_call_rows(), server.base_url)
    assert code == 0


@pytest.mark.parametrize("index", range(len(tool_call_rows())))
def test_a_two_turn_tool_call_row_is_kept_with_reason_tool_call(tmp_path: Any, server: StubServer, index: int) -> None:
    rows = tool_call_rows()
    _, out = run_cli(tmp_path, copy.deepcopy(rows), server.base_url)
    assert out[index]["messages"] == rows[index]["messages"]
    assert out[index]["realign"]["reason"] == "tool_call"


def test_a_two_turn_tool_call_row_makes_no_call(tmp_path: Any, server: StubServer) -> None:
    run_cli(tmp_path, tool_call_rows(), server.base_url)
    assert server.chat_requests() == []


def sharegpt_function_rows() -> list[dict[str, Any]]:
    call = {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Paris"}}'}
    human = {"from": "human", "value": "How do I find the weather in Paris? Explain the steps."}
    return [
        {
            "id": "full",
            "conversations": [
                human,
                call,
                {"from": "observation", "value": '{"temperature": 18, "sky": "sunny"}'},
                {"from": "gpt", "value": "Step 1: I called the weather tool. Step 2: it says 18 degrees and sunny."},
            ],
        },
        {"id": "call", "conversations": [human, call]},
    ]


def test_sharegpt_function_call_turns_are_kept_and_the_answer_rewritten(tmp_path: Any, server: StubServer) -> None:
    rows = sharegpt_function_rows()
    code, out = run_cli(tmp_path, copy.deepcopy(rows), server.base_url)
    assert code == 0
    assert [(e["turn"], e["reason"]) for e in out[0]["realign"]["turns"]] == [(1, "tool_call"), (3, None)]
    assert out[0]["conversations"][:3] == rows[0]["conversations"][:3]
    assert out[0]["conversations"][3]["value"] == HEADING + rows[0]["conversations"][3]["value"]


def test_a_conversation_opening_with_a_tool_call_takes_the_task_of_its_first_classified_turn(
    tmp_path: Any, server: StubServer
) -> None:
    _, out = run_cli(tmp_path, sharegpt_function_rows(), server.base_url)
    record = out[0]["realign"]
    assert record["task"] == record["turns"][1]["task"]
    assert record["task"] is not None
    assert record["confidence"] == record["turns"][1]["confidence"]


def test_a_sharegpt_row_ending_in_a_function_call_is_kept_with_reason_tool_call(
    tmp_path: Any, server: StubServer
) -> None:
    rows = sharegpt_function_rows()
    _, out = run_cli(tmp_path, copy.deepcopy(rows), server.base_url)
    assert out[1]["conversations"] == rows[1]["conversations"]
    assert out[1]["realign"]["reason"] == "tool_call"


def image_row() -> dict[str, Any]:
    question = [{"type": "text", "text": "What animal is in this picture?"}, IMAGE]
    return {
        "id": "img",
        "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": "A cat."}],
    }


def test_a_row_asking_about_an_image_is_kept_with_reason_non_text_input(tmp_path: Any, server: StubServer) -> None:
    row = image_row()
    code, out = run_cli(tmp_path, [copy.deepcopy(row), openai_row(1, system=False)], server.base_url)
    assert code == 0
    assert out[0]["messages"] == row["messages"]
    assert out[0]["realign"]["reason"] == "non_text_input"


def test_a_row_asking_about_an_image_makes_no_call(tmp_path: Any, server: StubServer) -> None:
    run_cli(tmp_path, [image_row()], server.base_url)
    assert server.chat_requests() == []


def test_a_row_asking_about_an_image_counts_as_kept_in_the_dry_run(tmp_path: Any, server: StubServer) -> None:
    code, _ = run_cli(tmp_path, [image_row()], server.base_url, "--dry-run")
    assert code == 0


def conversation_with_an_image() -> dict[str, Any]:
    """A conversation whose third user turn holds an image: the turns after it are about what we cannot see."""
    row = openai_row(1, system=True)
    row["messages"][5]["content"] = [{"type": "text", "text": "And this one, what does it show?"}, IMAGE]
    return row


def test_turns_after_an_image_are_kept_with_reason_non_text_input(tmp_path: Any, server: StubServer) -> None:
    row = conversation_with_an_image()
    code, out = run_cli(tmp_path, [copy.deepcopy(row)], server.base_url)
    assert code == 0
    assert [(e["turn"], e["reason"]) for e in out[0]["realign"]["turns"]] == [
        (2, None),
        (4, None),
        (6, "non_text_input"),
    ]
    assert out[0]["messages"][5:] == row["messages"][5:]


def test_turns_before_an_image_are_rewritten(tmp_path: Any, server: StubServer) -> None:
    row = conversation_with_an_image()
    _, out = run_cli(tmp_path, [copy.deepcopy(row)], server.base_url)
    assert out[0]["messages"][2]["content"] == HEADING + row["messages"][2]["content"]


def test_an_answer_with_a_non_text_part_is_kept_with_reason_non_text_response(
    tmp_path: Any, server: StubServer
) -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    row = sharegpt(1, system=False)
    messages = [
        {"role": "user" if t["from"] == "human" else "assistant", "content": t["value"]} for t in row["conversations"]
    ]
    messages[5]["content"] = [{"type": "text", "text": messages[5]["content"]}, audio]
    code, out = run_cli(tmp_path, [{"id": "a", "messages": copy.deepcopy(messages)}], server.base_url)
    assert code == 0
    assert [(e["turn"], e["reason"]) for e in out[0]["realign"]["turns"]] == [
        (1, None),
        (3, None),
        (5, "non_text_response"),
    ]
    assert out[0]["messages"][5] == messages[5]


@pytest.mark.parametrize("content", [[1], [{"text": "no type"}], {"type": "text", "text": "not in a list"}, 7])
def test_content_that_is_neither_text_nor_typed_parts_is_a_one_line_error(
    tmp_path: Any, server: StubServer, content: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    row = {"messages": [{"role": "user", "content": content}, {"role": "assistant", "content": "A cat."}]}
    code, _ = run_cli(tmp_path, [row], server.base_url)
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(
        "in.jsonl line 1: openai row: every turn of 'messages' needs a string 'content' (or a list of content parts)"
    )


def test_the_summary_counts_rows_without_a_task_as_unknown(
    tmp_path: Any, server: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", tool_call_rows())
    main(["reformat", str(source), "-o", str(tmp_path / "out.jsonl"), "--base-url", server.base_url, "--no-cache"])
    lines = capsys.readouterr().err.splitlines()
    assert [line for line in lines if line.startswith("by task:")] == ["by task: unknown 5"]


# ----------------------------------------------------------------------------- the report


def _report_rows(tmp_path: Any, rows: list[dict[str, Any]], server: StubServer) -> list[dict[str, Any]]:
    code, _ = run_cli(tmp_path, rows, server.base_url)
    assert code == 0
    page = tmp_path / "report.html"
    write_report(tmp_path / "out.jsonl", page)
    match = DATA_TAG.search(page.read_text(encoding="utf-8"))
    assert match is not None
    found: list[dict[str, Any]] = json.loads(match.group(1))["rows"]
    return found


def _conversation_with_a_call(call: dict[str, Any]) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": None, **call},
            {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 18}'},
            {"role": "assistant", "content": "It is 18 degrees in Paris."},
        ]
    }


@pytest.mark.parametrize("call", [{"tool_calls": CALL}, {"function_call": CALL[0]["function"]}])
def test_the_report_shows_what_a_turn_of_a_conversation_calls(
    tmp_path: Any, server: StubServer, call: dict[str, Any]
) -> None:
    (row,) = _report_rows(tmp_path, [_conversation_with_a_call(call)], server)
    assert row["th"][1]["c"] == 'weather({"city": "Paris"})'


def test_the_report_shows_what_a_row_whose_answer_is_a_tool_call_calls(tmp_path: Any, server: StubServer) -> None:
    rows = _report_rows(tmp_path, tool_call_rows()[:1], server)
    assert rows[0]["c"] == 'weather({"city": "Paris"})'


def test_the_browser_shows_the_tool_call_of_a_turn(tmp_path: Any, server: StubServer) -> None:
    chromium()
    code, _ = run_cli(tmp_path, [_conversation_with_a_call({"tool_calls": CALL})], server.base_url)
    assert code == 0
    page = tmp_path / "report.html"
    write_report(tmp_path / "out.jsonl", page)
    dom, stderr = dump_dom(page, tmp_path)
    assert console_lines(stderr) == []
    assert 'weather({"city": "Paris"})' in dom
