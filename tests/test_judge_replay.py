"""``benchmarks/judge_replay.py``: the judge requests of an answers set are dumped without labels, replies are
replayed through the real pipeline, and a request without a reply is an error naming its key."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import read_jsonl, write_jsonl

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "judge_replay.py"
QUESTION = "What is the boiling point of water at sea level in Fahrenheit?"
ORIGINAL = "Water boils at 212 °F at sea level."


def row(id: str, rewrite: str, expected: str, guard: str | None = None) -> dict[str, Any]:
    return {
        "id": id,
        "task": "open_qa",
        "kind": "number",
        "question": QUESTION,
        "original": ORIGINAL,
        "rewrite": rewrite,
        "expected": expected,
        "guard": guard,
        "answer_changing": expected == "reject",
        "note": "secret label note",
    }


ROWS = [
    row("t-1", "At sea level, water boils at **212 °F**.", "keep"),  # passes the checks: a plain verify request
    row("t-2", "At sea level, water boils at two hundred and twelve °F.", "keep"),  # numbers refuses: referred
    row("t-3", "At sea level, water boils at 200 °F.", "reject", "numbers"),  # numbers refuses: referred
]


def replay(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    data = write_jsonl(tmp_path / "answers_test.jsonl", ROWS)
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(data), *args], capture_output=True, text=True, timeout=120, check=False
    )


def dumped(tmp_path: Path) -> list[dict[str, Any]]:
    assert replay(tmp_path, "--dump", str(tmp_path / "requests.jsonl")).returncode == 0
    return read_jsonl(tmp_path / "requests.jsonl")


def test_dump_writes_one_request_per_candidate_the_judge_sees(tmp_path: Path) -> None:
    assert len(dumped(tmp_path)) == 3


def test_dump_has_the_referrals_with_the_checks_concern(tmp_path: Path) -> None:
    assert sum("<flagged>" in r["user"] for r in dumped(tmp_path)) == 2


def test_dump_holds_only_key_system_and_user(tmp_path: Path) -> None:
    assert {tuple(sorted(r)) for r in dumped(tmp_path)} == {("key", "system", "user")}


def test_dump_reveals_no_label_and_no_row_id(tmp_path: Path) -> None:
    text = json.dumps(dumped(tmp_path))
    assert [word for word in ("secret label", "t-1", "expected", "answer_changing") if word in text] == []


def test_dump_is_the_same_file_every_time(tmp_path: Path) -> None:
    first = dumped(tmp_path)
    assert dumped(tmp_path) == first


def answer(tmp_path: Path, reply: str) -> subprocess.CompletedProcess[str]:
    replies = [{"key": r["key"], "reply": reply} for r in dumped(tmp_path)]
    write_jsonl(tmp_path / "replies.jsonl", replies)
    return replay(tmp_path, "--answers", str(tmp_path / "replies.jsonl"), "--brief")


def table(out: str) -> dict[str, list[str]]:
    """The first table: configuration -> answer-changing accepted, good refused."""
    return {line[:26].strip(): line[26:].split() for line in out.splitlines()[2:6]}


def test_replayed_yes_accepts_the_referrals_only_with_refer(tmp_path: Path) -> None:
    out = answer(tmp_path, "VERDICT: yes\nREASON: same.").stdout
    assert table(out) == {
        "checks only": ["0/1", "(0.0%)", "1/2", "(50.0%)"],
        "checks, no corrections": ["0/1", "(0.0%)", "1/2", "(50.0%)"],
        "checks + verify": ["0/1", "(0.0%)", "1/2", "(50.0%)"],
        "checks + verify + refer": ["1/1", "(100.0%)", "0/2", "(0.0%)"],
    }


def test_replayed_no_refuses_everything_the_judge_sees(tmp_path: Path) -> None:
    out = answer(tmp_path, "VERDICT: no\nREASON: changed.").stdout
    assert table(out)["checks + verify + refer"] == ["0/1", "(0.0%)", "2/2", "(100.0%)"]


def test_a_missing_reply_is_an_error_naming_its_key(tmp_path: Path) -> None:
    requests = dumped(tmp_path)
    replies = [{"key": r["key"], "reply": "VERDICT: yes"} for r in requests[1:]]
    write_jsonl(tmp_path / "replies.jsonl", replies)
    done = replay(tmp_path, "--answers", str(tmp_path / "replies.jsonl"))
    assert (done.returncode, requests[0]["key"] in done.stderr) == (2, True)


def test_each_request_has_a_key_of_its_own(tmp_path: Path) -> None:
    keys = [r["key"] for r in dumped(tmp_path)]
    assert len(set(keys)) == len(keys)


def older_prompts_replies(tmp_path: Path) -> Path:
    """Replies to the requests of a prompts folder whose judge prompt differs from the current one: the folder."""
    folder = tmp_path / "old_prompts"
    shutil.copytree(SCRIPT.parents[1] / "prompts", folder)
    system = folder / "verify_system.j2"
    system.write_text(system.read_text(encoding="utf-8") + "\nAn older instruction.\n", encoding="utf-8")
    assert replay(tmp_path, "--dump", str(tmp_path / "old.jsonl"), "--prompts", str(folder)).returncode == 0
    replies = [{"key": r["key"], "reply": "VERDICT: yes"} for r in read_jsonl(tmp_path / "old.jsonl")]
    write_jsonl(tmp_path / "replies.jsonl", replies)
    return folder


def test_replies_to_older_prompts_replay_with_those_prompts(tmp_path: Path) -> None:
    folder = older_prompts_replies(tmp_path)
    done = replay(tmp_path, "--answers", str(tmp_path / "replies.jsonl"), "--prompts", str(folder), "--brief")
    assert done.returncode in (0, 1)  # figures printed (1: a target missed), not 2 (a missing reply)


def test_replies_to_older_prompts_do_not_replay_with_the_current_ones(tmp_path: Path) -> None:
    older_prompts_replies(tmp_path)
    assert replay(tmp_path, "--answers", str(tmp_path / "replies.jsonl")).returncode == 2
