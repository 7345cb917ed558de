"""A misspelt --search backend is the error a user sees, also before any key is set."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import realign_row, write_jsonl
from realign._cli.main import main


def test_an_unknown_backend_is_named_before_the_missing_openai_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [realign_row("Who wrote Hamlet?", "Shakespeare.", "open_qa")])
    code = main(["reformat", str(source), "-o", str(tmp_path / "out.jsonl"), "--search", "serpr"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown search backend 'serpr'" in err
