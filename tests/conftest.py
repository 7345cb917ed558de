from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from stub_server import StubServer


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C as from a terminal, however pytest was started.

    A shell starts a background job (``pytest ... &`` in a script, ``nohup``) with SIGINT ignored, and Python
    keeps an ignored SIGINT instead of installing its KeyboardInterrupt handler. Each test worker, and each
    process a test starts (the CLI whose Ctrl-C handling the signal tests check), inherited it: those tests
    then failed in a full suite run in the background and passed when run alone from a terminal. No test
    leaves SIGINT changed (``_sigint_left_as_found`` checks every one)."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.fixture(autouse=True)
def _sigint_left_as_found() -> Iterator[None]:
    """A test that changes how SIGINT is handled, or blocks it, puts it back (every later test in its worker,
    and every process those start, would inherit the change)."""
    handler = signal.getsignal(signal.SIGINT)
    yield
    changed = signal.getsignal(signal.SIGINT) is not handler
    blocked = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    if changed or blocked:
        signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        pytest.fail("the test left SIGINT " + ("blocked" if blocked else "handled differently"))


@pytest.fixture
def server() -> Iterator[StubServer]:
    with StubServer() as stub:
        yield stub


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's keys or writes to their cache."""
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "SERPER_API_KEY",
        "TAVILY_API_KEY",
        "BRAVE_API_KEY",
        "EXA_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REALIGN_CACHE", str(tmp_path / "default-cache.sqlite"))


def realign_row(question: str, answer: str, category: str | None = None, **extra: Any) -> dict[str, Any]:
    human: dict[str, Any] = {"from": "human", "value": question}
    if category is not None:
        human["category"] = category
    return {**extra, "items": [human, {"from": "gpt", "value": answer}]}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def narrow_parquet(path: Path, rows: int = 2) -> Any:
    """An OpenAI-messages Parquet file with narrow column types, a timestamp and schema metadata: what an
    output must keep (pyarrow imported here, so that test modules without it still collect)."""
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            pa.field("id", pa.int32()),
            pa.field("score", pa.float32()),
            pa.field("when", pa.timestamp("ms")),
            pa.field("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ],
        metadata={"origin": "my-pipeline"},
    )
    messages = [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "2 + 2 is 4."}]
    when = datetime.datetime(2024, 1, 2, 3, 4, 5)
    table = pa.Table.from_pylist(
        [{"id": i, "score": 0.25, "when": when, "messages": messages} for i in range(rows)], schema=schema
    )
    pq.write_table(table, path)
    return table


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def reformat_command(tmp_path: Path, source: Path, base_url: str, *extra: str) -> list[str]:
    """``realign reformat SOURCE -o tmp/out.jsonl`` against ``base_url`` (model ``stub``, a cache in tmp)."""
    return [
        "reformat",
        str(source),
        "-o",
        str(tmp_path / "out.jsonl"),
        "--base-url",
        base_url,
        "--model",
        "stub",
        "--cache",
        str(tmp_path / "cache.sqlite"),
        *extra,
    ]


def batch_command(tmp_path: Path, source: Path, base_url: str, *extra: str) -> list[str]:
    """:func:`reformat_command` through the Batch API stand-in: batch state in tmp, polling every 10 ms."""
    batch = ["--batch", "--batch-state", str(tmp_path / "batches"), "--batch-poll", "0.01"]
    return reformat_command(tmp_path, source, base_url, *batch, *extra)


#: How a stand-in tells a --verify request from a rewrite request: the judge prompt's first words.
JUDGE_SYSTEM = "You check edits"


def is_verify(body: dict[str, Any]) -> bool:
    """Whether a chat request ``body`` is a --verify judge's request."""
    return str(body["messages"][0]["content"]).startswith(JUDGE_SYSTEM)
