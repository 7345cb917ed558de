"""The search clients' early stop: a backend that never answers, or fails nearly every search, stops the run
(FatalSearchError, exit 1) instead of costing every row its retries and writing an output without evidence."""

from __future__ import annotations

import asyncio
import random
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from conftest import realign_row, write_jsonl
from realign._cli.main import main
from realign._exceptions import FatalSearchError, SearchError, UsageError
from realign._llm.openai_chat import RetryPolicy
from realign._search.index import LocalIndex, build_index
from realign._search.web import SearxngSearch, SerperSearch

FAST = RetryPolicy(attempts=3, initial=0.001, maximum=0.001, jitter=0.0, max_retry_after=0.01)
KEY = "sk-secret-key-123456"
SERPER = "https://google.serper.dev/search"
SEARX = "http://searx.local:8888"
SNIPPET = "Albert Einstein was a German-born theoretical physicist who developed relativity."


@pytest.fixture
def mock() -> Any:
    with respx.mock(assert_all_called=False) as router:
        yield router


async def outcomes(client: Any, searches: int) -> list[BaseException | None]:
    """What each of ``searches`` searches in a row ended with: None when it found something."""
    ended: list[BaseException | None] = []
    async with client:
        for i in range(searches):
            try:
                await client.search(f"Who was Albert Einstein, question {i}?")
            except SearchError as exc:
                ended.append(exc)
            else:
                ended.append(None)
    return ended


def fatal(ended: list[BaseException | None]) -> list[bool]:
    return [isinstance(e, FatalSearchError) for e in ended]


def test_a_backend_that_never_answers_stops_the_run_within_three_attempts(mock: respx.Router) -> None:
    route = mock.post(SERPER).mock(side_effect=httpx.ConnectError("connection refused"))
    ended = asyncio.run(outcomes(SerperSearch(api_key=KEY, retry=FAST), 3))
    assert fatal(ended) == [True, True, True]
    assert "Serper is unreachable" in str(ended[0])
    assert route.call_count == 3  # the later searches send nothing


def test_a_backend_failing_every_search_stops_after_three(mock: respx.Router) -> None:
    mock.post(SERPER).respond(500, text="internal error")
    ended = asyncio.run(outcomes(SerperSearch(api_key=KEY, retry=FAST), 4))
    assert fatal(ended) == [False, False, True, True]
    assert "failing on nearly every request" in str(ended[2])


def test_html_instead_of_json_on_every_search_stops_the_run(mock: respx.Router) -> None:
    mock.get(f"{SEARX}/search").respond(200, text="<html>Are you a robot?</html>")
    ended = asyncio.run(outcomes(SearxngSearch(SEARX, retry=FAST), 3))
    assert fatal(ended) == [False, False, True]
    assert f"SearXNG at {SEARX}" in str(ended[2])


def test_queries_the_api_refuses_never_stop_the_run(mock: respx.Router) -> None:
    mock.post(SERPER).respond(400, json={"message": "Query too long"})
    ended = asyncio.run(outcomes(SerperSearch(api_key=KEY, retry=FAST), 5))
    assert fatal(ended) == [False] * 5


def test_failures_among_successes_go_on(mock: respx.Router) -> None:
    ok = httpx.Response(200, json={"organic": [{"snippet": SNIPPET}]})
    mock.post(SERPER).mock(side_effect=[ok] + [httpx.Response(500)] * (5 * FAST.attempts))
    ended = asyncio.run(outcomes(SerperSearch(api_key=KEY, retry=FAST), 6))
    assert fatal(ended) == [False] * 6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connections to it are refused


def test_retrieve_with_an_unreachable_backend_exits_1_without_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [realign_row(f"Who wrote the novel number {i}?", f"Author {i} wrote it.", "open_qa") for i in range(30)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    code = main(["retrieve", str(source), "-o", str(out), "--search", f"searxng:http://127.0.0.1:{free_port()}", "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert "is unreachable" in err
    assert not out.exists()


def damaged_copies(tmp_path: Path) -> list[Path]:
    """Copies of a built index with random bytes written over one region each (further and further in)."""
    corpus = [
        {"title": f"Doc {i}", "text": f"Building number {i} in Paris is {i + 10} metres tall. " * 30}
        for i in range(300)
    ]
    source = write_jsonl(tmp_path / "corpus.jsonl", corpus)
    built = build_index(source, tmp_path / "good.idx")
    data = built.path.read_bytes()
    copies = []
    for n, start in enumerate(range(len(data) // 8, len(data), len(data) // 16)):
        start -= start % 4096  # a page
        damaged = data[:start] + random.Random(n).randbytes(len(data) // 8) + data[start + len(data) // 8 :]
        copy = tmp_path / f"damaged{n}.idx"
        copy.write_bytes(damaged[: len(data)])
        copies.append(copy)
    return copies


def test_an_index_damaged_past_its_first_pages_stops_the_run(tmp_path: Path) -> None:
    failures: list[Exception] = []
    for copy in damaged_copies(tmp_path):
        try:
            index = LocalIndex(copy)
        except UsageError:
            continue  # damage the opening check already sees: exit 2 before any row
        with index:
            for i in range(0, 300, 7):
                try:
                    asyncio.run(index.search(f"how tall is building number {i} in paris"))
                except Exception as exc:  # which error it is, is the point
                    failures.append(exc)
                    break
    assert failures  # some damage reached the queries (else this test shows nothing)
    assert [type(e) for e in failures] == [FatalSearchError] * len(failures)
    assert "damaged" in str(failures[0])


@pytest.mark.parametrize("index", ["missing.idx", "garbage.idx"])
def test_the_dry_run_refuses_a_missing_or_broken_index_as_the_run_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], index: str
) -> None:
    (tmp_path / "garbage.idx").write_text("not an index\n", encoding="utf-8")
    source = write_jsonl(tmp_path / "in.jsonl", [realign_row("Who wrote Hamlet?", "Shakespeare wrote it.", "open_qa")])
    code = main(["reformat", str(source), "--dry-run", "--search", f"local:{tmp_path / index}"])
    assert code == 2
    assert "search index" in capsys.readouterr().err


def test_the_dry_run_refuses_a_searxng_url_the_run_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [realign_row("Who wrote Hamlet?", "Shakespeare wrote it.", "open_qa")])
    code = main(["reformat", str(source), "--dry-run", "--search", "searxng:localhost:8888"])
    assert code == 2
    assert "must start with http://" in capsys.readouterr().err
