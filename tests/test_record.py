"""The `realign` object of an output row: its fields, the refused candidates it keeps, reading older files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import read_jsonl, realign_row, write_jsonl
from realign import FakeLLM, Pipeline, reformat_file, write_report
from realign._cli.main import main

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
    reformat_file(source, out, pipeline=Pipeline(FakeLLM(replies), n=len(replies) or 1, max_reasks=0), **kw)
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
    assert rejected == {"reason": "parse_error", "detail": None, "text": None, "reasoning": "Sure! Here it is."}


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
