"""A dry run over a big file says how far it has read (it streams every row: minutes for a million)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import realign_row, write_jsonl
from realign._cli.main import main


@pytest.fixture
def source(tmp_path: Path) -> Path:
    rows = [realign_row(f"What is {i} + {i}?", f"{i} + {i} = {2 * i}.", "open_qa") for i in range(2000)]
    return write_jsonl(tmp_path / "in.jsonl", rows)


def test_the_dry_run_logs_the_rows_read(source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reformat", str(source), "--dry-run", "--progress-interval", "0.000001"]) == 0
    assert "realign: dry run: 2,000 rows read" in capsys.readouterr().err


def test_quiet_dry_run_logs_nothing(source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reformat", str(source), "--dry-run", "--progress-interval", "0.000001", "-q"]) == 0
    assert "rows read" not in capsys.readouterr().err
