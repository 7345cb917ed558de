"""A full disk at the output's write: the message names the file and what the next run reuses."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from conftest import realign_row, reformat_command, write_jsonl
from realign._cli.main import main
from stub_server import StubServer


def test_a_full_disk_at_the_write_names_the_output_and_the_cache(
    tmp_path: Path, server: StubServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    source = write_jsonl(tmp_path / "in.jsonl", [realign_row("What is 2 + 2?", "2 + 2 = 4.", "open_qa")])
    monkeypatch.setattr("realign._io.files.os.replace", full)
    code = main(reformat_command(tmp_path, source, server.base_url))
    err = capsys.readouterr().err
    assert code == 2
    assert f"cannot write {tmp_path / 'out.jsonl'}: No space left on device" in err
    assert "finished requests are cached" in err
    assert not (tmp_path / "out.jsonl").exists()
