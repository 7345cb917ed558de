"""The run summary counts the requests sent (retries included) beside the answered calls."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import realign_row, reformat_command, write_jsonl
from realign._cli.main import main
from stub_server import Reply, StubServer, rewrite_handler


def rows(count: int) -> list[dict[str, Any]]:
    return [realign_row(f"What is {i} plus {i}?", f"{i} + {i} = {2 * i}.", "open_qa", id=i) for i in range(count)]


def test_retried_requests_show_as_attempts_beside_the_calls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seen: set[str] = set()
    lock = threading.Lock()

    def busy_first(path: str, body: dict[str, Any]) -> Reply:
        """Each distinct request is answered 503 the first time, then as usual."""
        key = str(body.get("messages"))
        with lock:
            first = key not in seen
            seen.add(key)
        return (503, {}, {"error": {"message": "busy"}}) if first else rewrite_handler(path, body)

    source = write_jsonl(tmp_path / "in.jsonl", rows(3))
    with StubServer(busy_first) as stub:
        code = main(reformat_command(tmp_path, source, stub.base_url, "--max-retries", "1", "--concurrency", "1"))
    assert code == 0
    assert "LLM calls: 3 (6 attempts)\n" in capsys.readouterr().err


def test_without_retries_the_calls_stand_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(2))
    with StubServer() as stub:
        code = main(reformat_command(tmp_path, source, stub.base_url))
    assert code == 0
    assert "LLM calls: 2\n" in capsys.readouterr().err
