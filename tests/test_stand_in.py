"""The benchmarks' stand-in server (``benchmarks/stand_in.py``) answers a ``--verify`` judge with a verdict, so
runs with ``--verify`` against it show what a judge does (it once answered the judge with a rewrite: every
candidate refused as an unreadable verdict)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import realign_row, reformat_command, write_jsonl
from realign._cli.main import main

STAND_IN = Path(__file__).resolve().parent.parent / "benchmarks" / "stand_in.py"


@pytest.fixture
def stand_in() -> Iterator[str]:
    with subprocess.Popen([sys.executable, str(STAND_IN), "--port", "0"], stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        try:
            yield line.strip().removeprefix("listening on ")
        finally:
            process.terminate()


def judge_request(original: str, rewrite: str) -> dict[str, object]:
    prompt = f"<question>\nq\n</question>\n\n<original>\n{original}\n</original>\n\n<rewrite>\n{rewrite}\n</rewrite>"
    return {"model": "m", "messages": [{"role": "system", "content": "judge"}, {"role": "user", "content": prompt}]}


def reply_to(base_url: str, body: dict[str, object]) -> str:
    request = urllib.request.Request(
        f"{base_url}/chat/completions", json.dumps(body).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.load(response)["choices"][0]["message"]["content"])


def test_a_verify_run_against_the_stand_in_is_judged_and_accepted(
    stand_in: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [realign_row(f"How do I do thing {i}?", f"Do step one, then step two ({i}).", "open_qa") for i in range(3)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    code = main([*reformat_command(tmp_path, source, stand_in), "--verify"])
    err = capsys.readouterr().err
    assert code == 0
    assert "rewritten: 3 (100.0%)" in err
    assert "verify: 3 candidates judged, 0 refused (filter:verify)" in err


def test_the_stand_in_judge_says_no_to_a_rewrite_that_lost_the_original_text(stand_in: str) -> None:
    reply = reply_to(stand_in, judge_request("Paris is the capital.", "**Answer**\n\nLyon is the capital."))
    assert reply.startswith("VERDICT: no\nREASON: ")


def test_the_stand_in_judge_says_yes_to_a_rewrite_that_keeps_it(stand_in: str) -> None:
    reply = reply_to(stand_in, judge_request("Paris is the capital.", "**Answer**\n\nParis is the capital."))
    assert reply.startswith("VERDICT: yes\nREASON: ")
