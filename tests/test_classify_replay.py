"""``benchmarks/classify_replay.py``: the LLM classifier's requests for labelled instructions are dumped without
labels, and replies are replayed through the real LLMClassifier and cascade to score them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import read_jsonl, write_jsonl
from realign import TASKS, Prompts


def classify_prompt(instruction: str) -> str:
    """The chat classifier's prompt as the shipped template renders it."""
    return Prompts().render("classify_chat", {"tasks": list(TASKS.values()), "instruction": instruction})


SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "classify_replay.py"
ROWS = [
    {"instruction": "Translate 'good morning' into Spanish.", "category": "text_to_text_translation"},
    {
        "instruction": "Translate this menu from French to English: soupe du jour.",
        "category": "text_to_text_translation",
    },
    {"instruction": "Translate the sentence 'I like tea' into German.", "category": "text_to_text_translation"},
    {"instruction": "Write a poem about the sea at night.", "category": "poem_generation"},
    {"instruction": "Solve for x: 3x + 7 = 16", "category": "math_puzzles"},
]


def run(tmp_path: Path, *args: str, rows: list[dict[str, Any]] = ROWS, json_list: bool = False) -> str:
    if json_list:
        data = tmp_path / "labelled.json"
        data.write_text(json.dumps(rows), encoding="utf-8")
    else:
        data = write_jsonl(tmp_path / "labelled.jsonl", rows)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--labelled", str(data), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def dumped(tmp_path: Path, *args: str, json_list: bool = False) -> list[dict[str, Any]]:
    out = tmp_path / "out" / "requests.jsonl"
    out.parent.mkdir(exist_ok=True)
    assert run(tmp_path, "--dump", str(out), *args, json_list=json_list).startswith("exit 0")
    return read_jsonl(out)


def labels(tmp_path: Path) -> dict[str, str]:
    return {r["key"]: r["label"] for r in read_jsonl(tmp_path / "out" / "labels" / "requests.labels.jsonl")}


def answer(tmp_path: Path, reply: Any) -> str:
    """Replay ``reply(label)`` for every dumped request."""
    dumped(tmp_path)
    gold = labels(tmp_path)
    write_jsonl(tmp_path / "replies.jsonl", [{"key": k, "reply": reply(label)} for k, label in gold.items()])
    return run(tmp_path, "--answers", str(tmp_path / "replies.jsonl"))


def score(out: str, name: str) -> str:
    found = re.search(rf"^{re.escape(name)}\s+(\d+/\d+)", out, re.MULTILINE)
    return found.group(1) if found else out


def test_dump_holds_only_key_and_messages(tmp_path: Path) -> None:
    assert {tuple(sorted(r)) for r in dumped(tmp_path)} == {("key", "messages")}


def test_dump_sends_each_instruction_as_the_classifier_does(tmp_path: Path) -> None:
    sent = {r["messages"][0]["content"] for r in dumped(tmp_path)}
    assert sent == {classify_prompt(row["instruction"]) for row in ROWS}


def test_dump_sends_one_user_message_a_request(tmp_path: Path) -> None:
    assert {tuple(m["role"] for m in r["messages"]) for r in dumped(tmp_path)} == {("user",)}


def test_label_map_is_kept_out_of_the_dump_folder(tmp_path: Path) -> None:
    dumped(tmp_path)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["labels", "requests.jsonl"]


def test_label_map_gives_each_request_its_task(tmp_path: Path) -> None:
    by_prompt = {r["messages"][0]["content"]: r["key"] for r in dumped(tmp_path)}
    expected = {by_prompt[classify_prompt(row["instruction"])]: row["category"] for row in ROWS}
    assert labels(tmp_path) == expected


def test_per_task_takes_that_many_rows_of_each_task(tmp_path: Path) -> None:
    assert len(dumped(tmp_path, "--per-task", "2")) == 4


def test_a_realign_json_list_dumps_as_our_jsonl_does(tmp_path: Path) -> None:
    assert dumped(tmp_path, json_list=True) == dumped(tmp_path)


def test_replies_naming_the_right_task_score_every_row(tmp_path: Path) -> None:
    assert score(answer(tmp_path, lambda label: label), "llm") == "5/5"


def test_a_reply_naming_several_tasks_is_counted_ambiguous(tmp_path: Path) -> None:
    out = answer(tmp_path, lambda label: f"{label} or open_qa")
    assert "several (ambiguous): 5," in out


def test_cascade_keeps_the_embedded_guess_when_replies_name_no_task(tmp_path: Path) -> None:
    out = answer(tmp_path, lambda label: "I cannot tell.")
    assert score(out, "cascade (threshold 0.5)") == score(out, "embedded")


def test_replies_naming_no_task_score_nothing_for_the_llm(tmp_path: Path) -> None:
    assert score(answer(tmp_path, lambda label: "I cannot tell."), "llm") == "0/5"


def test_a_missing_reply_is_an_error_naming_its_key(tmp_path: Path) -> None:
    requests = dumped(tmp_path)
    write_jsonl(tmp_path / "replies.jsonl", [{"key": r["key"], "reply": "open_qa"} for r in requests[1:]])
    out = run(tmp_path, "--answers", str(tmp_path / "replies.jsonl"))
    assert (out.startswith("exit 2"), requests[0]["key"] in out) == (True, True)


def older_prompts(tmp_path: Path) -> Path:
    """A prompts folder whose chat classifier prompt differs from the current one, and replies to its requests."""
    folder = tmp_path / "old_prompts"
    shutil.copytree(SCRIPT.parents[1] / "prompts", folder)
    chat = folder / "classify_chat.j2"
    chat.write_text("An older prompt.\n" + chat.read_text(encoding="utf-8"), encoding="utf-8")
    requests = dumped(tmp_path, "--prompts", str(folder))
    write_jsonl(tmp_path / "replies.jsonl", [{"key": r["key"], "reply": "open_qa"} for r in requests])
    return folder


def test_replies_to_older_prompts_replay_with_those_prompts(tmp_path: Path) -> None:
    folder = older_prompts(tmp_path)
    assert run(tmp_path, "--answers", str(tmp_path / "replies.jsonl"), "--prompts", str(folder)).startswith("exit 0")


def test_replies_to_older_prompts_do_not_replay_with_the_current_ones(tmp_path: Path) -> None:
    older_prompts(tmp_path)
    assert run(tmp_path, "--answers", str(tmp_path / "replies.jsonl")).startswith("exit 2")
