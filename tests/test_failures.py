"""Runs you can trust: exit codes, the early stop, timeouts and retries, reruns of failed rows, signals.

End to end through the CLI against the stand-in server on 127.0.0.1 (real SDK, real sockets).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import read_jsonl, realign_row, reformat_command, write_jsonl
from realign import ChatRequest, LLMError, OpenAIChat, Record, Rejection, RunStats, Usage
from realign._cli.main import main
from stub_server import Reply, StubServer, chat_reply, rewrite_handler
from test_verify import ANSWER, QUESTION, judge_server

REQUEST = ChatRequest((("system", "s"), ("user", "u")), n=1, temperature=0.3, top_p=1.0, max_tokens=64)


def closed_port_url() -> str:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def rows(count: int, failing: frozenset[int] = frozenset()) -> list[dict[str, Any]]:
    return [
        realign_row(f"{'FAIL ' if i in failing else ''}What is {i} plus {i}?", f"{i} + {i} = {2 * i}.", "open_qa", id=i)
        for i in range(count)
    ]


def leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.glob(".out.jsonl*"))


def test_dead_endpoint_stops_within_seconds_without_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(50))
    url = closed_port_url()
    started = time.monotonic()
    code = main(reformat_command(tmp_path, source, url))
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 1
    assert elapsed < 30
    assert f"{url} is unreachable" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists()
    assert leftovers(tmp_path) == []
    assert (tmp_path / "cache.sqlite").exists()  # what was cached (nothing here) is kept


def test_a_stopped_run_with_no_cache_does_not_claim_its_requests_are_cached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(3))
    argv = ["reformat", str(source), "-o", str(tmp_path / "out.jsonl"), "--base-url", closed_port_url(), "--no-cache"]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1
    assert err.rstrip().endswith(
        "(run stopped, no output written; nothing was cached (--no-cache): a re-run pays again)"
    )


def test_dead_endpoint_one_request_at_a_time_also_stops_early(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(3))
    started = time.monotonic()
    code = main(reformat_command(tmp_path, source, closed_port_url(), "--concurrency", "1"))
    elapsed = time.monotonic() - started
    assert code == 1
    assert elapsed < 15  # three attempts, 1-2 s and 2-3 s of backoff between them; no row's full retries
    assert "unreachable" in capsys.readouterr().err


def test_a_server_failing_every_request_stops_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(path: str, body: dict[str, Any]) -> Reply:
        return 500, {}, {"error": {"message": "boom"}}

    source = write_jsonl(tmp_path / "in.jsonl", rows(200))
    with StubServer(broken) as stub:
        code = main(reformat_command(tmp_path, source, stub.base_url, "--max-retries", "1", "--concurrency", "4"))
        sent = len(stub.chat_requests())
    err = capsys.readouterr().err
    assert code == 1
    assert "failing on nearly every request" in err
    assert "server_error 3" in err
    assert sent < 20  # stopped after the first requests' retries, not 200 rows x 2 attempts
    assert not (tmp_path / "out.jsonl").exists()


def fail_marked(path: str, body: dict[str, Any]) -> Reply:
    if "FAIL" in body["messages"][-1]["content"]:
        return 500, {}, {"error": {"message": "this row always fails"}}
    return rewrite_handler(path, body)


def test_failed_rows_exit_3_and_a_rerun_sends_exactly_those(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failing = frozenset({3, 17, 25, 40, 41, 58, 66, 79, 90, 99})
    source = write_jsonl(tmp_path / "in.jsonl", rows(100, failing))
    with StubServer(fail_marked) as stub:
        code = main(reformat_command(tmp_path, source, stub.base_url, "--max-retries", "1"))
        out = read_jsonl(tmp_path / "out.jsonl")
        err = capsys.readouterr().err
        assert code == 3
        assert [r["id"] for r in out] == list(range(100))
        failed = {r["id"] for r in out if r["realign"]["reason"] == "llm_error:server_error"}
        assert failed == failing
        assert "10 of 100 rows ended with llm_error" in err
        assert "run the same command again to retry only those" in err

        # The same command against the same endpoint, now healthy: only the 10 failed rows are sent.
        stub.handler = rewrite_handler
        stub.requests.clear()
        code = main(reformat_command(tmp_path, source, stub.base_url, "--max-retries", "1"))
        assert code == 0
        assert len(stub.chat_requests()) == 10
    again = read_jsonl(tmp_path / "out.jsonl")
    assert all(r["realign"]["tag"] == "rewrite" for r in again)


class ClosingServer:
    """Accepts each connection, reads the request and closes the connection without an answer."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the accept timeout: look at `stopped` again
                continue
            with conn:
                conn.settimeout(1.0)
                with contextlib.suppress(OSError):
                    conn.recv(65536)

    def __enter__(self) -> ClosingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()
        self.sock.close()


def test_a_server_that_closes_every_connection_is_not_reported_as_refusing_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(3))
    with ClosingServer() as server:
        code = main(reformat_command(tmp_path, source, server.base_url))
    err = capsys.readouterr().err
    assert code == 1
    assert "the server closed the connection without an answer" in err
    assert "cannot connect" not in err


def test_a_refused_connection_is_reported_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(3))
    code = main(reformat_command(tmp_path, source, closed_port_url()))
    assert code == 1
    assert "unreachable: cannot connect" in capsys.readouterr().err


def test_a_reply_that_is_not_json_fails_its_row_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def html_for_one(path: str, body: dict[str, Any]) -> Reply:
        if "FAIL" in body["messages"][-1]["content"]:
            return 200, {}, "<html>gateway</html>"  # served as a JSON string: a 200 that is no completion
        return rewrite_handler(path, body)

    source = write_jsonl(tmp_path / "in.jsonl", rows(4, frozenset({1})))
    with StubServer(html_for_one) as stub:
        code = main(reformat_command(tmp_path, source, stub.base_url))
    out = read_jsonl(tmp_path / "out.jsonl")
    assert code == 3
    assert out[1]["realign"]["reason"] == "llm_error:invalid_response"
    assert out[0]["realign"]["tag"] == "rewrite"
    assert "Traceback" not in capsys.readouterr().err


def test_a_row_kept_with_llm_error_says_which_call_failed_and_why(tmp_path: Path) -> None:
    def html_for_one(path: str, body: dict[str, Any]) -> Reply:
        if "FAIL" in body["messages"][-1]["content"]:
            return 200, {}, "<html>gateway</html>"
        return rewrite_handler(path, body)

    source = write_jsonl(tmp_path / "in.jsonl", rows(4, frozenset({1})))
    with StubServer(html_for_one) as stub:
        main(reformat_command(tmp_path, source, stub.base_url))
    out = read_jsonl(tmp_path / "out.jsonl")
    assert out[1]["realign"]["error"].startswith("rewrite: ")
    assert "error" not in out[0]["realign"]  # absent, not null, where nothing failed


def test_timeout_and_max_retries_in_python() -> None:
    with StubServer(latency=1.0) as stub:
        llm = OpenAIChat("stub", base_url=stub.base_url, timeout=0.2, max_retries=0)
        with pytest.raises(LLMError) as info:
            asyncio.run(llm.complete(REQUEST))
        assert info.value.code == "timeout"
        assert len(stub.requests) == 1  # max_retries=0: one attempt


def server_error(path: str, body: dict[str, Any]) -> Reply:
    return 500, {"retry-after-ms": "10"}, {"error": {"message": "down", "type": "server_error"}}


def error_of(max_retries: int) -> str:
    """The error of a request the server always answers 500, with ``max_retries``."""

    async def call(llm: OpenAIChat) -> None:
        try:
            await llm.complete(REQUEST)
        finally:
            await llm.aclose()  # its connections closed here, not by a later test's garbage collection

    with StubServer(server_error) as stub, pytest.raises(LLMError) as info:
        asyncio.run(call(OpenAIChat("stub", base_url=stub.base_url, max_retries=max_retries)))
    return str(info.value)


def test_an_error_without_retries_does_not_say_retries_were_exhausted() -> None:
    assert error_of(0) == "server error 500; not retried (max retries 0)"


def test_an_error_after_retries_says_they_were_exhausted() -> None:
    assert error_of(1) == "server error 500; retries exhausted"


def test_max_retries_flag_bounds_the_attempts(tmp_path: Path) -> None:
    def once_broken(path: str, body: dict[str, Any]) -> Reply:
        return 503, {}, {"error": {"message": "busy"}}

    source = write_jsonl(tmp_path / "in.jsonl", rows(1))
    with StubServer(once_broken) as stub:
        code = main(reformat_command(tmp_path, source, stub.base_url, "--max-retries", "2"))
        assert len(stub.chat_requests()) == 3
    assert code == 3


def test_help_documents_exit_codes_and_the_new_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["reformat", "--help"])
    out = capsys.readouterr().out
    assert "3  output written, but some rows ended with llm_error" in out
    assert "--timeout SECONDS" in out
    assert "--max-retries N" in out


def test_sigint_is_pythons_own_in_a_test() -> None:
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_tests_get_pythons_sigint_when_pytest_started_with_it_ignored() -> None:
    # `pytest ... &` in a script, or nohup: the shell starts pytest with SIGINT ignored, which Python keeps, and
    # every process the tests start inherited it (conftest.py's pytest_configure undoes it).
    here = Path(__file__).resolve()
    args = [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider"]
    args.append(f"{here}::test_sigint_is_pythons_own_in_a_test")

    def ignoring() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = subprocess.run(
        args, capture_output=True, text=True, timeout=120, check=False, preexec_fn=ignoring, cwd=here.parent.parent
    )
    assert process.returncode == 0, process.stdout[-2000:]


def as_from_a_terminal() -> None:
    """In a child about to run realign: SIGINT as a shell started from a terminal leaves it (default, not blocked),
    whatever the test worker inherited (conftest.py's pytest_configure already sees to the worker)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")])
def test_a_signal_stops_the_run_with_its_code_and_leaves_no_temporary_file(
    tmp_path: Path, sig: int, code: int, word: str
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(5))
    # Answers come long after the signal: on a loaded machine this test may send it seconds late, and a
    # run that had its answers by then would finish (exit 0) before the signal reached it.
    with StubServer(latency=30.0) as stub:
        args = [sys.executable, "-m", "realign._cli.main", *reformat_command(tmp_path, source, stub.base_url)]
        # `with`: a failed assert below still ends the process and closes its pipe.
        with subprocess.Popen(
            args, stderr=subprocess.PIPE, text=True, env={**os.environ}, preexec_fn=as_from_a_terminal
        ) as process:
            try:
                deadline = time.monotonic() + 30
                while not stub.requests and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert stub.requests, "the run never reached the server"
                process.send_signal(sig)
                _, err = process.communicate(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
    assert process.returncode == code
    assert f"({word}); no output written" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists()
    assert leftovers(tmp_path) == []


# The run's task awaits the progress ticker it just cancelled when the signal lands: the ticker's cancellation
# must not swallow the run's own. The signal comes from inside the ticker, so the timing is exact.
INTERRUPTED_WHILE_THE_TICKER_STOPS = """
import asyncio, signal, sys
from realign._cli.main import main
from realign._jobs.progress import Progress

def ticker(self, stats):
    async def tick():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            signal.raise_signal(signal.SIGINT)
            raise
    return tick()

Progress.ticker = ticker
sys.exit(main(sys.argv[1:]))
"""


def interrupted_while_the_ticker_stops(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """A 2-row run whose SIGINT lands while it waits for its progress ticker to stop."""
    source = write_jsonl(tmp_path / "in.jsonl", rows(2))
    with StubServer() as stub:
        args = [
            sys.executable,
            "-c",
            INTERRUPTED_WHILE_THE_TICKER_STOPS,
            *reformat_command(tmp_path, source, stub.base_url),
        ]
        return subprocess.run(
            args, stderr=subprocess.PIPE, text=True, timeout=60, check=False, preexec_fn=as_from_a_terminal
        )


def test_a_signal_while_the_run_ends_is_not_lost(tmp_path: Path) -> None:
    process = interrupted_while_the_ticker_stops(tmp_path)
    assert process.returncode == 130
    assert "Traceback" not in process.stderr


def test_a_signal_after_the_output_was_written_says_it_was(tmp_path: Path) -> None:
    process = interrupted_while_the_ticker_stops(tmp_path)
    last = process.stderr.strip().splitlines()[-1]
    assert last == (
        f"interrupted (SIGINT); {tmp_path / 'out.jsonl'} was written in full before the signal; "
        "finished requests are cached"
    )
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 2


def unparsable_marked(path: str, body: dict[str, Any]) -> Reply:
    if "FAIL" in body["messages"][1]["content"]:
        return 200, {}, chat_reply("I think this answer is fine as it is.")  # no label: does not parse
    return rewrite_handler(path, body)


def test_a_rerun_asks_again_for_parse_errors_and_replays_decided_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(6, frozenset({1, 4})))
    with StubServer(unparsable_marked) as stub:
        assert main(reformat_command(tmp_path, source, stub.base_url)) == 0
        first = read_jsonl(tmp_path / "out.jsonl")
        assert [r["realign"]["reason"] for r in first].count("parse_error") == 2
        stub.handler = rewrite_handler
        stub.requests.clear()
        assert main(reformat_command(tmp_path, source, stub.base_url)) == 0
        sent = stub.chat_requests()
    assert len(sent) == 2  # the two parse_error rows, nothing for the four decided ones
    assert all("FAIL" in body["messages"][1]["content"] for body in sent)
    again = read_jsonl(tmp_path / "out.jsonl")
    assert all(r["realign"]["tag"] == "rewrite" for r in again)


def test_every_rewrite_request_carries_a_max_tokens_derived_from_the_row(tmp_path: Path, server: StubServer) -> None:
    short = realign_row("What is 2 plus 2?", "4.", "open_qa", id="s")
    long = realign_row("Explain the water cycle.", "Water evaporates and condenses. " * 200, "open_qa", id="l")
    source = write_jsonl(tmp_path / "in.jsonl", [short, long])
    assert main(reformat_command(tmp_path, source, server.base_url)) == 0
    small, big = sorted(body["max_tokens"] for body in server.chat_requests())
    assert 512 < small < 600  # room for the reasoning, and a few times the two-token answer
    assert big > 4 * 1000  # a generous multiple of a ~1,200-token answer
    assert big <= 8192  # capped


def test_max_tokens_flag_overrides_the_default(tmp_path: Path, server: StubServer) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(1))
    assert main(reformat_command(tmp_path, source, server.base_url, "--max-tokens", "77")) == 0
    assert server.chat_requests()[0]["max_tokens"] == 77


def test_a_runaway_reply_is_refused_by_the_length_ceiling(tmp_path: Path) -> None:
    def runaway(path: str, body: dict[str, Any]) -> Reply:
        return 200, {}, chat_reply("Reasoning: r\nRevised response:\n" + "and again " * 200_000)

    source = write_jsonl(tmp_path / "in.jsonl", rows(1))
    with StubServer(runaway) as stub:
        assert main(reformat_command(tmp_path, source, stub.base_url)) == 0
    row = read_jsonl(tmp_path / "out.jsonl")[0]
    assert row["realign"]["reason"] == "filter:max_length"


def console_script() -> tuple[str, str]:
    """The module and function pyproject.toml names for the ``realign`` command."""
    text = (Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^realign = "([\w.]+):(\w+)"$', text, re.MULTILINE)
    assert match is not None, "no realign console script in pyproject.toml"
    return match.group(1), match.group(2)


# What the console script does (pip's wrapper: import the entry point, exit with what it returns), with a Ctrl-C
# landing while realign is half imported.
CTRL_C_DURING_IMPORT = """
import sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "realign._jobs.job":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, Interrupt())
from {module} import {function} as main
sys.argv = ["realign", "tasks"]
sys.exit(main())
"""


def run_console_script(template: str) -> subprocess.CompletedProcess[str]:
    """Run ``template`` (Python code with ``{module}``/``{function}``: the console script's entry point)."""
    module, function = console_script()
    code = template.format(module=module, function=function)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)


def test_ctrl_c_while_realign_imports_exits_130_without_a_traceback() -> None:
    process = run_console_script(CTRL_C_DURING_IMPORT)
    assert process.returncode == 130
    assert process.stderr.strip().splitlines() == ["interrupted (SIGINT); no output written"]


RUN_TASKS = """
import sys
from {module} import {function} as main
sys.argv = ["realign", "tasks"]
sys.exit(main())
"""


def test_the_console_script_runs_the_cli() -> None:
    process = run_console_script(RUN_TASKS)
    assert process.returncode == 0
    assert "math_puzzles" in process.stdout


# A Ctrl-C that lands after the run ended (it wrote its output, then the signal came before Python exited).
CTRL_C_AFTER_THE_RUN = """
import sys
import realign._cli

def run():
    raise KeyboardInterrupt

realign._cli.main = run
from {module} import {function} as main
sys.exit(main())
"""


def test_ctrl_c_after_the_run_ended_does_not_claim_that_nothing_was_written() -> None:
    process = run_console_script(CTRL_C_AFTER_THE_RUN)
    assert process.returncode == 130
    assert process.stderr.strip().splitlines() == ["interrupted (SIGINT)"]


# A Ray job's driver blocks in Ray's iterators: the stand-in job here blocks in time.sleep, then writes the
# output. A Ctrl-C during it must stop the job there, not once the job is done and its output written.
RAY_JOB_INTERRUPTED = """
import signal, sys, time, types
from realign._cli.main import main

def reformat_on_ray(args, options):
    signal.raise_signal(signal.SIGINT)
    time.sleep(3)
    open(args.output, "w").write("")
    return 0

sys.modules["realign._cli.ray_command"] = types.SimpleNamespace(reformat_on_ray=reformat_on_ray)
sys.exit(main(sys.argv[1:]))
"""


def test_a_signal_during_a_ray_job_stops_it_before_the_output_is_written(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(2))
    command = [*reformat_command(tmp_path, source, "http://127.0.0.1:9/v1"), "--engine", "ray"]
    args = [sys.executable, "-c", RAY_JOB_INTERRUPTED, *command]
    subprocess.run(args, stderr=subprocess.PIPE, text=True, timeout=60, check=False, preexec_fn=as_from_a_terminal)
    assert not (tmp_path / "out.jsonl").exists()


def burst_of_429(count: int) -> Any:
    """A server that answers its first ``count`` requests 429 (a rate limit's burst), then rewrites."""
    seen = 0
    lock = threading.Lock()

    def handler(path: str, body: dict[str, Any]) -> Reply:
        nonlocal seen
        with lock:
            seen += 1
            limited = seen <= count
        if limited:
            return 429, {"retry-after-ms": "50"}, {"error": {"message": "slow down", "type": "rate_limit_error"}}
        return rewrite_handler(path, body)

    return handler


def test_a_burst_of_429_without_retries_leaves_those_rows_undecided_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --max-retries 0 asks not to wait out a 429: the rows that got one are not decided (llm_error:rate_limit,
    # exit 3, a re-run asks again); a server that is only pacing the run is no failing endpoint (exit 1).
    source = write_jsonl(tmp_path / "in.jsonl", rows(30))
    with StubServer(burst_of_429(8)) as stub:
        code = main(reformat_command(tmp_path, source, stub.base_url, "--max-retries", "0", "--concurrency", "8"))
    err = capsys.readouterr().err
    out = read_jsonl(tmp_path / "out.jsonl")
    assert code == 3
    assert sum(r["realign"]["reason"] == "llm_error:rate_limit" for r in out) == 8
    assert "8 of 30 rows ended with llm_error" in err


def test_a_rewrite_lost_to_a_failing_judge_is_kept_in_rejected_for_the_auditor(tmp_path: Path) -> None:
    def broken(body: dict[str, Any]) -> Reply:
        return 500, {}, {"error": {"message": "down", "type": "server_error"}}

    source = write_jsonl(tmp_path / "in.jsonl", [realign_row(QUESTION, ANSWER, "open_qa")])
    with judge_server(broken) as server:
        code = main(reformat_command(tmp_path, source, server.base_url, "--verify", "--max-retries", "0"))
    record = read_jsonl(tmp_path / "out.jsonl")[0]["realign"]
    assert code == 3
    assert (record["tag"], record["reason"]) == ("original", "llm_error:server_error")  # the contract, unchanged
    assert record["rejected"] == [
        {
            "reason": "llm_error:server_error",
            "detail": "verify: server error 500; not retried (max retries 0)",
            "text": f"**Answer**\n\n{ANSWER}",
            "reasoning": "add a heading.",
        }
    ]


def test_a_rewrite_lost_to_a_failed_call_is_not_counted_as_a_checks_refusal() -> None:
    stats = RunStats()
    lost = Rejection(reason="llm_error:server_error", detail="verify: server error 500; retries exhausted")
    stats.add(
        Record(task="open_qa", tag="original", reason="llm_error:server_error", rejected=[lost]),
        Usage(),
    )
    assert "rejected candidates by check: -\n" in stats.summary()


def report_or_index(tmp_path: Path, command: str) -> list[str]:
    """The arguments of a ``report`` or ``index`` run on a one-row input: commands that make no request."""
    if command == "report":
        row = {**realign_row("Capital of Peru?", "Lima.", "open_qa"), "realign": {"tag": "original", "reason": "x"}}
        source = write_jsonl(tmp_path / "in.jsonl", [row])
        return ["report", str(source), "-o", str(tmp_path / "out.html")]
    source = write_jsonl(tmp_path / "docs.jsonl", [{"title": "Peru", "text": "Lima is the capital of Peru."}])
    return ["index", str(source), "-o", str(tmp_path / "out.sqlite")]


@pytest.mark.parametrize(("command", "said"), [("report", "write the report"), ("index", "build the index")])
def test_a_ctrl_c_of_report_or_index_says_what_it_does_not_cached_requests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str, said: str
) -> None:
    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("realign._io.files.os.replace", interrupted)
    code = main(report_or_index(tmp_path, command))
    verb, thing = said.split(" the ")
    assert capsys.readouterr().err.splitlines() == [
        f"interrupted (SIGINT); no {thing} written; run the same command again to {verb} it"
    ]
    assert code == 130
    assert list(tmp_path.glob("out.*")) == []


def test_a_full_disk_at_the_write_of_an_index_names_no_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("realign._io.files.os.replace", full)
    argv = report_or_index(tmp_path, "index")  # (report says its own line, without a cache)
    code = main(argv)
    assert capsys.readouterr().err.splitlines() == [
        f"error: cannot write {argv[-1]}: No space left on device: free space and run again"
    ]
    assert code == 2
