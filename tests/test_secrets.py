"""A sentinel key goes through a whole run; it must not appear in any output, log, cache or report."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import realign_row, write_jsonl
from realign._cli.main import main
from stub_server import StubServer, rewrite_handler

SENTINEL = "sk-SENTINEL-4f9d2c7a1b"


def test_key_never_leaks(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen_auth: list[str] = []

    def handler(path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        return rewrite_handler(path, body)

    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    rows = [realign_row(f"What is {i} + {i}?", f"{i} + {i} = {2 * i}\n#### {2 * i}", "math_puzzles") for i in range(5)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out, cache, report = tmp_path / "out.jsonl", tmp_path / "cache.sqlite", tmp_path / "report.html"
    with StubServer(handler) as stub:
        original = stub._server.RequestHandlerClass.do_POST  # type: ignore[attr-defined]

        def spy(self: Any) -> None:
            seen_auth.append(self.headers.get("authorization", ""))
            original(self)

        stub._server.RequestHandlerClass.do_POST = spy  # type: ignore[attr-defined]
        assert main(["reformat", str(source), "-o", str(out), "--base-url", stub.base_url, "--cache", str(cache)]) == 0
    assert main(["report", str(out), "-o", str(report)]) == 0
    assert seen_auth
    assert all(SENTINEL in header for header in seen_auth)

    streams = capsys.readouterr()
    texts = [streams.out, streams.err, caplog.text, out.read_text(), report.read_text()]
    with sqlite3.connect(cache) as db:
        texts += [str(row) for row in db.execute("SELECT * FROM completions")]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    assert not [t for t in texts if SENTINEL in t]


def test_key_not_in_error_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)

    def deny(path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        return 401, {}, {"error": {"message": f"Incorrect API key provided: {SENTINEL}", "code": "invalid_api_key"}}

    source = write_jsonl(tmp_path / "in.jsonl", [realign_row("2+2?", "4\n#### 4", "math_puzzles")])
    with StubServer(deny) as stub:
        assert (
            main(["reformat", str(source), "-o", str(tmp_path / "o.jsonl"), "--base-url", stub.base_url, "--no-cache"])
            == 1
        )
    streams = capsys.readouterr()
    assert SENTINEL not in streams.err + streams.out
