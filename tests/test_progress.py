"""Progress: a bar that fits the terminal, plain lines when stderr is a file, nothing with -q."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import realign_row, write_jsonl
from realign._jobs.cost import Price
from realign._jobs.progress import Progress, count_rows
from realign._models import Usage
from stub_server import StubServer

ROWS = [realign_row(f"What is {i} + {i}?", f"{i} + {i} = {2 * i}", "math_puzzles", id=f"r{i}") for i in range(12)]


@dataclass
class Stats:
    rows: int = 0
    tags: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    usage: Usage = field(default_factory=Usage)
    verify_usage: Usage = field(default_factory=Usage)


def _reformat(tmp_path: Path, server: StubServer, *extra: str) -> str:
    """Run the console command in a child process, its stderr redirected to a file; return that file."""
    source = write_jsonl(tmp_path / "in.jsonl", ROWS)
    log = tmp_path / "stderr.log"
    command = [str(Path(sys.executable).parent / "realign"), "reformat", str(source), "-o", str(tmp_path / "o.jsonl")]
    command += ["--base-url", server.base_url, "--model", "stub", "--no-cache", "--concurrency", "1", *extra]
    with log.open("w") as stderr:
        code = subprocess.call(command, stderr=stderr)
    assert code == 0
    return log.read_text(encoding="utf-8")


def test_stderr_to_a_file_logs_progress_lines_during_the_run(tmp_path: Path) -> None:
    with StubServer(latency=0.05) as server:
        log = _reformat(tmp_path, server, "--progress-interval", "0.1")
    done = [int(m.group(1)) for m in re.finditer(r"realign: (\d+)/12 rows", log)]
    assert len(done) >= 2
    assert min(done) < 12  # at least one line was written before the run ended
    assert "rows/s" in log
    assert "errors 0" in log
    assert "\r" not in log  # no bar redraws in a file


def test_quiet_silences_progress_and_summary(tmp_path: Path) -> None:
    with StubServer(latency=0.02) as server:
        log = _reformat(tmp_path, server, "--progress-interval", "0.05", "-q")
    assert log == ""


class Terminal(io.StringIO):
    """A stream that says it is a terminal (tqdm asks the OS for the size of its descriptor)."""

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return 2


def _terminal(monkeypatch: pytest.MonkeyPatch, columns: int) -> Terminal:
    """A terminal ``columns`` wide, as tqdm measures it (tqdm leaves the last column free)."""
    monkeypatch.setattr(os, "get_terminal_size", lambda *_: os.terminal_size((columns + 1, 20)))
    return Terminal()


def test_the_bar_fits_the_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _terminal(monkeypatch, 60)
    progress = Progress(400, Price(0.15, 0.6), stream=stream, retries=lambda: 3)
    stats = Stats()
    for done in range(1, 401, 40):
        stats.rows = done
        stats.tags["rewrite"] = done // 2
        stats.usage = Usage(prompt_tokens=1_000 * done, completion_tokens=300 * done)
        progress.update(stats, force=True)
    progress.close(stats)
    frames = [frame.rstrip() for frame in stream.getvalue().replace("\n", "\r").split("\r") if frame.strip()]
    assert frames
    assert max(len(frame) for frame in frames) <= 60


def test_the_bar_shows_counts_rate_and_dollars(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _terminal(monkeypatch, 200)
    progress = Progress(10, Price(1.0, 1.0), stream=stream, retries=lambda: 2)
    stats = Stats(rows=4, tags=Counter(rewrite=3), reasons=Counter({"llm_error:timeout": 1}))
    stats.usage = Usage(prompt_tokens=600_000, completion_tokens=400_000)
    progress.update(stats, force=True)
    last = stream.getvalue().split("\r")[-1]
    for part in ("4/10", "40%", "row/s", "rewritten 3", "kept 1", "retries 2", "errors 1", "1.00M tok", "$1.00"):
        assert part in last


def test_the_progress_cost_prices_a_separate_judge_at_its_own_price(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _terminal(monkeypatch, 200)
    progress = Progress(1, Price(10.0, 10.0), stream=stream, verify_price=Price(1.0, 1.0))
    judged = Usage(prompt_tokens=500_000, calls=1)
    progress.update(Stats(rows=1, usage=Usage(prompt_tokens=1_000_000, calls=2), verify_usage=judged), force=True)
    assert "$5.50" in stream.getvalue().split("\r")[-1]  # 500k tokens at $10/M, the judge's 500k at $1/M


def test_a_log_line_waits_its_interval() -> None:
    stream = io.StringIO()
    progress = Progress(10, None, stream=stream, mode="log", interval=3600)
    progress.update(Stats(rows=1))
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("rows", "seconds", "rate"),
    [(30, 10, "3.0 rows/s"), (1, 60, "1.0 rows/min"), (3, 600, "0.3 rows/min"), (1, 7200, "0.5 rows/h")],
)
def test_a_slow_run_logs_its_rate_in_a_unit_that_shows_it(rows: int, seconds: float, rate: str) -> None:
    progress = Progress(100, None, stream=io.StringIO(), mode="log")
    progress.started -= seconds  # as if the run had started that long ago
    assert f", {rate}, " in progress.line(Stats(rows=rows))


def test_a_slow_run_never_logs_a_rate_of_zero() -> None:
    progress = Progress(100, None, stream=io.StringIO(), mode="log")
    progress.started -= 60
    assert "0.0 rows" not in progress.line(Stats(rows=1))


def test_auto_logs_when_the_stream_is_not_a_terminal() -> None:
    assert Progress(10, None, stream=io.StringIO()).mode == "log"


def test_a_notebook_shows_a_bar_for_large_inputs_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import realign._jobs.progress as progress_module

    monkeypatch.setattr(progress_module, "in_notebook", lambda: True)
    assert Progress(500, None).mode == "notebook"
    assert Progress(20, None).mode == "off"


def test_rows_of_a_file_with_old_mac_line_ends_are_counted(tmp_path: Path) -> None:
    source = tmp_path / "cr.jsonl"
    source.write_bytes(b'{"a": 1}\r{"a": 2}\r\r{"a": 3}\r')
    assert count_rows(source) == 3
