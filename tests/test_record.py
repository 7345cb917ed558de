"""The `realign` object of an output row: its fields, the refused candidates it keeps, reading older files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import realign
from conftest import read_jsonl, realign_row, write_jsonl
from realign import FakeLLM, Pipeline, UsageError, reformat_file, write_report
from realign._cli.main import main
from stub_server import StubServer, chat_reply

QUESTION = "Natalia sold clips to 48 friends in April, and half as many in May. How many altogether?"
ORIGINAL = "Natalia sold 48/2 = 24 clips in May.\nShe sold 48+24 = 72 clips altogether.\n#### 72"
GOOD = (
    "Reasoning: numbered steps help.\nRevised response:\nWe need the clips sold in April and May.\n\n"
    "1. In May she sold 48 / 2 = 24 clips.\n2. Altogether she sold 48 + 24 = 72 clips.\n\n#### 72"
)
# Changes the answer: a check must refuse it.
WRONG_TEXT = "We need the clips sold in April and May.\n\n1. In May she sold 48 / 2 = 25 clips.\n\n#### 73"
WRONG = f"Reasoning: shorter is better.\nRevised response:\n{WRONG_TEXT}"


def reformat_rows(tmp_path: Path, replies: list[Any], rows: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    reformat_file(
        source, out, pipeline=Pipeline(FakeLLM(replies), n=len(replies) or 1, max_reasks=0, cache=False), **kw
    )
    return read_jsonl(out)


def math_row() -> dict[str, Any]:
    return realign_row(QUESTION, ORIGINAL, "math_puzzles", id=1)


def test_a_rewritten_row_has_the_documented_fields(tmp_path: Path) -> None:
    (row,) = reformat_rows(tmp_path, [GOOD], [math_row()])
    fields = ["task", "confidence", "classifier", "tag", "reason", "evidence", "original", "usage"]
    assert list(row["realign"]) == fields


def test_a_kept_row_writes_no_original_and_no_rejected(tmp_path: Path) -> None:
    (row,) = reformat_rows(tmp_path, [], [realign_row("Write a haiku about rain.", "Soft rain", "poem_generation")])
    assert list(row["realign"]) == ["task", "confidence", "classifier", "tag", "reason", "evidence"]


def test_a_refused_candidate_is_kept_with_its_reason_and_text(tmp_path: Path) -> None:
    (row,) = reformat_rows(tmp_path, [WRONG], [math_row()])
    (rejected,) = row["realign"]["rejected"]
    assert set(rejected) == {"reason", "detail", "text", "reasoning"}
    assert rejected["reason"].startswith("filter:")
    assert rejected["text"] == WRONG_TEXT
    assert rejected["reasoning"] == "shorter is better."
    assert row["realign"]["reason"] == rejected["reason"]


def test_a_refused_candidate_next_to_an_accepted_one_is_kept_too(tmp_path: Path) -> None:
    (row,) = reformat_rows(tmp_path, [WRONG, GOOD], [math_row()])
    assert row["realign"]["tag"] == "rewrite"
    assert [r["text"] for r in row["realign"]["rejected"]] == [WRONG_TEXT]


def test_an_unreadable_reply_is_kept_as_reasoning(tmp_path: Path) -> None:
    (row,) = reformat_rows(tmp_path, ["Sure! Here it is."], [math_row()])
    (rejected,) = row["realign"]["rejected"]
    assert rejected == {
        "reason": "parse_error",
        "detail": "no 'Revised response:' label",
        "text": None,
        "reasoning": "Sure! Here it is.",
    }


def test_report_reads_refused_candidates_written_as_objects(tmp_path: Path) -> None:
    rows = reformat_rows(tmp_path, [WRONG], [math_row()])
    source = write_jsonl(tmp_path / "again.jsonl", rows)
    summary = write_report(source, tmp_path / "review.html")
    assert sum(summary.rejected.values()) == 1


def test_report_reads_refused_candidates_written_as_strings(tmp_path: Path) -> None:
    old = realign_row(QUESTION, ORIGINAL, "math_puzzles")
    old["realign"] = {
        "task": "math_puzzles",
        "confidence": 1.0,
        "tag": "original",
        "reason": "filter:numbers",
        "evidence": [],
        "rejected": ["filter:numbers", "parse_error"],
    }
    source = write_jsonl(tmp_path / "old.jsonl", [old])
    assert main(["report", str(source), "-o", str(tmp_path / "review.html")]) == 0
    assert "filter:numbers" in (tmp_path / "review.html").read_text(encoding="utf-8")


def test_a_malformed_realign_object_is_an_input_error_with_its_line(tmp_path: Path, capsys: Any) -> None:
    bad = realign_row(QUESTION, ORIGINAL, "math_puzzles")
    bad["realign"] = {"task": "math_puzzles", "tag": "maybe"}
    source = write_jsonl(tmp_path / "bad.jsonl", [bad])
    assert main(["report", str(source), "-o", str(tmp_path / "review.html")]) != 0
    assert "line 1" in capsys.readouterr().err


# Refused texts on request only ---------------------------------------------------------------------------------


def test_keep_rejected_false_drops_the_texts(tmp_path: Path) -> None:
    (row,) = reformat_rows(tmp_path, [WRONG], [math_row()], keep_rejected=False)
    (rejected,) = row["realign"]["rejected"]
    assert rejected["reason"].startswith("filter:")
    assert (rejected["text"], rejected["reasoning"]) == (None, None)


def wrong_rewrite(path: str, body: dict[str, Any]) -> Any:
    return 200, {}, chat_reply(WRONG)


@pytest.mark.parametrize(("flags", "kept"), [((), True), (("--no-keep-rejected",), False)])
def test_cli_keeps_refused_texts_unless_told_not_to(tmp_path: Path, flags: tuple[str, ...], kept: bool) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [math_row()])
    out = tmp_path / "out.jsonl"
    with StubServer(wrong_rewrite) as stub:
        args = ["reformat", str(source), "-o", str(out), "--base-url", stub.base_url, "--no-cache", "-q"]
        assert main([*args, *flags]) == 0
    (rejected,) = read_jsonl(out)[0]["realign"]["rejected"]
    assert (rejected["text"] == WRONG_TEXT) is kept


# A second pass keeps the true original -------------------------------------------------------------------------

SECOND = (
    "Reasoning: a heading helps.\nRevised response:\n## Clips\n\nWe need the clips sold in April and May.\n\n"
    "1. In May she sold 48 / 2 = 24 clips.\n2. Altogether she sold 48 + 24 = 72 clips.\n\n#### 72"
)


def reformat_twice(
    tmp_path: Path, second: list[Any], *, rows: int = 1, **kw: Any
) -> tuple[list[dict[str, Any]], FakeLLM]:
    first = reformat_rows(tmp_path, [GOOD] * rows, [math_row() for _ in range(rows)])
    again = write_jsonl(tmp_path / "first.jsonl", first)
    llm = FakeLLM(second)
    out = tmp_path / "second.jsonl"
    reformat_file(again, out, pipeline=Pipeline(llm, max_reasks=0, cache=False), **kw)  # each pass asks the model
    return read_jsonl(out), llm


def test_a_second_rewrite_keeps_the_first_original(tmp_path: Path) -> None:
    (row,) = reformat_twice(tmp_path, [SECOND])[0]
    assert row["items"][1]["value"].startswith("## Clips")
    assert row["realign"]["original"] == ORIGINAL


def test_a_second_pass_that_keeps_the_rewrite_still_records_the_original(tmp_path: Path) -> None:
    (row,) = reformat_twice(tmp_path, [WRONG])[0]
    assert row["realign"]["tag"] == "original"
    assert row["items"][1]["value"] == GOOD.split("Revised response:\n", 1)[1]
    assert row["realign"]["original"] == ORIGINAL


def test_a_second_pass_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="realign"):
        reformat_twice(tmp_path, [SECOND, SECOND], rows=2)
    warnings = [r for r in caplog.records if "already reformatted" in r.getMessage()]
    assert len(warnings) == 1


def test_from_original_rewrites_the_original_not_the_rewrite(tmp_path: Path) -> None:
    (row,), llm = reformat_twice(tmp_path, [SECOND], from_original=True)
    prompt = llm.requests[0].messages[-1][1]
    assert ORIGINAL in prompt
    assert row["realign"]["original"] == ORIGINAL


def test_from_original_that_keeps_gives_back_the_original(tmp_path: Path) -> None:
    (row,) = reformat_twice(tmp_path, [WRONG], from_original=True)[0]
    assert row["items"][1]["value"] == ORIGINAL
    assert "original" not in row["realign"]


def test_cli_from_original(tmp_path: Path) -> None:
    first = reformat_rows(tmp_path, [GOOD], [math_row()])
    again = write_jsonl(tmp_path / "first.jsonl", first)
    out = tmp_path / "out.jsonl"
    with StubServer() as stub:  # the stand-in adds a heading to the response it is sent
        args = ["reformat", str(again), "-o", str(out), "--base-url", stub.base_url, "--no-cache", "-q"]
        assert main([*args, "--from-original"]) == 0
    (row,) = read_jsonl(out)
    assert row["items"][1]["value"] == f"**Answer**\n\n{ORIGINAL}"
    assert row["realign"]["original"] == ORIGINAL


def test_python_options_for_files_only_are_refused_for_examples() -> None:
    with pytest.raises(UsageError, match="keep_rejected"):
        realign.reformat(QUESTION, ORIGINAL, llm=FakeLLM([GOOD]), keep_rejected=False)


def test_keep_rejected_false_drops_the_texts_of_every_turn(tmp_path: Path) -> None:
    turn = [{"from": "human", "value": QUESTION}, {"from": "gpt", "value": ORIGINAL}]
    source = write_jsonl(tmp_path / "in.jsonl", [{"conversations": turn + turn}])
    out = tmp_path / "out.jsonl"
    reformat_file(source, out, pipeline=Pipeline(FakeLLM([WRONG, WRONG]), max_reasks=0), keep_rejected=False)
    entries = [r for t in read_jsonl(out)[0]["realign"]["turns"] for r in t["rejected"]]
    assert len(entries) == 2
    assert [(r["text"], r["reasoning"]) for r in entries] == [(None, None), (None, None)]


def conversation_file(tmp_path: Path) -> Path:
    turn = [{"from": "human", "value": QUESTION}, {"from": "gpt", "value": ORIGINAL}]
    source = write_jsonl(tmp_path / "in.jsonl", [{"conversations": turn + turn}])
    reformat_file(source, tmp_path / "first.jsonl", pipeline=Pipeline(FakeLLM([GOOD, GOOD]), max_reasks=0))
    return tmp_path / "first.jsonl"


def test_a_second_pass_keeps_the_first_original_of_every_turn(tmp_path: Path) -> None:
    first = conversation_file(tmp_path)
    reformat_file(first, tmp_path / "out.jsonl", pipeline=Pipeline(FakeLLM([SECOND, SECOND]), max_reasks=0))
    turns = read_jsonl(tmp_path / "out.jsonl")[0]["realign"]["turns"]
    assert [t["original"] for t in turns] == [ORIGINAL, ORIGINAL]


def test_from_original_reformats_every_turn_from_its_original(tmp_path: Path) -> None:
    first = conversation_file(tmp_path)
    llm = FakeLLM([WRONG, WRONG])
    reformat_file(first, tmp_path / "out.jsonl", pipeline=Pipeline(llm, max_reasks=0, cache=False), from_original=True)
    (row,) = read_jsonl(tmp_path / "out.jsonl")
    assert [t["value"] for t in row["conversations"][1::2]] == [ORIGINAL, ORIGINAL]
    assert all(ORIGINAL in request.messages[-1][1] for request in llm.requests)


def test_a_turn_a_later_pass_leaves_alone_keeps_its_entry(tmp_path: Path) -> None:
    first = conversation_file(tmp_path)
    pipeline = Pipeline(FakeLLM([SECOND]), max_reasks=0, turns="last", cache=False)
    reformat_file(first, tmp_path / "out.jsonl", pipeline=pipeline)
    turns = read_jsonl(tmp_path / "out.jsonl")[0]["realign"]["turns"]
    assert [(t["turn"], t["original"]) for t in turns] == [(1, ORIGINAL), (3, ORIGINAL)]
