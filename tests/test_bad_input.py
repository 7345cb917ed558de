"""Every kind of bad input meets one clear line on stderr, a non-zero exit, no traceback, no output file."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

import realign
from conftest import read_jsonl, realign_row, reformat_command, write_jsonl
from realign import InputError
from realign._cli.main import main
from stub_server import StubServer, rewrite_handler

ROW = realign_row("What is the capital of Peru?", "Lima is the capital of Peru.", "open_qa")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def reformat(tmp_path: Path, source: Path, *extra: str, base_url: str = "http://127.0.0.1:9/v1") -> list[str]:
    return ["reformat", str(source), "-o", str(tmp_path / "out.jsonl"), "--base-url", base_url, "--no-cache", *extra]


def no_output(tmp_path: Path) -> bool:
    return not (tmp_path / "out.jsonl").exists() and not list(tmp_path.glob(".out.jsonl*"))


def test_unknown_shape_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(ROW) + "\n" + json.dumps({"prompt": "x", "completion": "y"}) + "\n")
    code, err = run(capsys, *reformat(tmp_path, source))
    assert code == 2
    assert (
        err == f"error: {source} line 2: row of unknown shape "
        "(expected items, conversations, messages or instruction/output)\n"
    )
    assert no_output(tmp_path)


def test_a_bad_row_late_in_the_file_stops_the_run_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [json.dumps(ROW)] * 5 + [json.dumps({"prompt": "x"})]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(rows) + "\n")
    with StubServer(rewrite_handler) as server:
        code, err = run(capsys, *reformat(tmp_path, source, base_url=server.base_url))
        calls = server.chat_requests()
    assert code == 2
    assert f"{source} line 6: row of unknown shape" in err
    assert calls == []


def test_not_an_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('["a", "b"]\n')
    code, err = run(capsys, *reformat(tmp_path, source))
    assert code == 2
    assert f"{source} line 1: row is a JSON array, not an object" in err


def test_a_json_array_saved_as_jsonl_says_where_it_belongs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps([ROW, ROW]) + "\n")
    _, err = run(capsys, *reformat(tmp_path, source))
    assert err.strip().endswith("row is a JSON array, not an object (a JSON array of rows is a .json file)")


def test_non_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(json.dumps(ROW).encode() + b"\n" + '{"x": "\xe9t\xe9"}\n'.encode("latin-1"))
    code, err = run(capsys, *reformat(tmp_path, source))
    assert code == 2
    assert "not UTF-8" in err
    assert str(source) in err
    assert no_output(tmp_path)


def test_missing_input_and_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, *reformat(tmp_path, tmp_path / "nope.jsonl"))
    assert code == 2
    assert err.strip() == f"error: {tmp_path / 'nope.jsonl'}: file not found"
    source = write_jsonl(tmp_path / "in.jsonl", [ROW])
    code, err = run(
        capsys,
        "reformat",
        str(source),
        "-o",
        str(tmp_path / "missing" / "out.jsonl"),
        "--base-url",
        "http://127.0.0.1:9/v1",
    )
    assert code == 2
    assert "does not exist" in err
    code, err = run(
        capsys, "reformat", str(source), "-o", str(tmp_path / "out.csv"), "--base-url", "http://127.0.0.1:9/v1"
    )
    assert code == 2
    assert "unsupported file type .csv" in err


def test_output_over_input_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [ROW])
    code, err = run(capsys, "reformat", str(source), "-o", str(source), "--base-url", "http://127.0.0.1:9/v1")
    assert code == 2
    assert "must not be the input" in err


@pytest.mark.parametrize("command", [["classify"], ["retrieve", "--search", "searxng:http://127.0.0.1:9"]])
def test_output_over_input_is_refused_by_classify_and_retrieve_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [ROW])
    before = source.read_bytes()
    code, err = run(capsys, command[0], str(source), "-o", str(source), *command[1:])
    assert code == 2
    assert "must not be the input" in err
    assert source.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cache", "c.sqlite", "--no-cache"], "not allowed with argument"),
        (["--batch", "--no-cache"], "--batch needs the response cache"),
        (["--n", "0"], "must be at least 1"),
        (["--classifier", "magic"], "invalid choice"),
        (["--disable-check", "nonsense"], "nonsense"),
        (["--search", "bing"], "unknown search backend"),
        (["--criteria", "/no/such/dir"], "criteria folder not found"),
        (["--max-reasks", "-1"], "argument --max-reasks: must be 0 or more"),
        (["--rpm", "-5"], "argument --rpm: must be more than 0"),
        (["--rpm", "0"], "argument --rpm: must be more than 0"),
        (["--tpm", "0"], "argument --tpm: must be more than 0"),
        (["--temperature", "-1"], "argument --temperature: must be 0 or more"),
        (["--top-p", "0"], "argument --top-p: must be more than 0 and at most 1"),
        (["--top-p", "1.5"], "argument --top-p: must be more than 0 and at most 1"),
    ],
)
def test_invalid_flags_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [ROW])
    try:
        code, err = run(capsys, *reformat(tmp_path, source)[:-1], *args)
    except SystemExit as exit_:  # argparse's own errors
        code, err = int(exit_.code or 0), capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # argparse adds a usage line


def test_classify_flag_combinations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "classify", str(tmp_path / "x.jsonl"))
    assert code == 2
    assert "classify needs INPUT -o OUTPUT" in err
    labelled = write_jsonl(tmp_path / "gold.jsonl", [{"instruction": "x"}])
    code, err = run(capsys, "classify", "--eval", str(labelled))
    assert code == 2
    assert f"{labelled} line 1: need an object" in err


def test_too_long_for_the_context_is_kept_with_a_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def handler(path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        if len(body["messages"][-1]["content"]) > 5000:
            return (
                400,
                {},
                {
                    "error": {
                        "message": "This model's maximum context length is 4096 tokens",
                        "type": "invalid_request_error",
                        "code": "context_length_exceeded",
                    }
                },
            )
        return rewrite_handler(path, body)

    long_row = realign_row("Summarise the history of Rome in detail.", "Rome " * 3000, "open_qa")
    source = write_jsonl(tmp_path / "in.jsonl", [long_row, ROW])
    with StubServer(handler) as stub:
        code, _ = run(capsys, *reformat(tmp_path, source, base_url=stub.base_url))
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert code == 3  # output written, some rows ended with llm_error
    assert rows[0]["realign"]["reason"] == "llm_error:context_length"
    assert rows[0]["items"] == long_row["items"]
    assert rows[1]["realign"]["tag"] == "rewrite"


def test_too_long_for_the_context_says_a_rerun_will_not_help(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def handler(path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        error = {"message": "maximum context length is 4096 tokens", "code": "context_length_exceeded"}
        return 400, {}, {"error": error}

    source = write_jsonl(tmp_path / "in.jsonl", [ROW])
    with StubServer(handler) as stub:
        code, err = run(capsys, *reformat(tmp_path, source, base_url=stub.base_url))
    assert code == 3
    assert "llm_error:context_length (1): the prompt is longer than the model's context" in err


def test_empty_response_is_kept_and_no_row_is_dropped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        realign_row("Say something", "   ", "open_qa"),
        {"items": [{"from": "human", "value": "Only a question"}]},
        {
            "items": [
                {"from": "human", "value": "a"},
                {"from": "gpt", "value": "b"},
                {"from": "human", "value": "c"},
                {"from": "gpt", "value": "d"},
            ]
        },
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    with StubServer() as stub:
        code, _ = run(capsys, *reformat(tmp_path, source, "--turns", "none", base_url=stub.base_url))
        assert stub.requests == []
    out = read_jsonl(tmp_path / "out.jsonl")
    assert code == 0
    assert [r["realign"]["reason"] for r in out] == ["empty_response", "no_response", "multi_turn"]


def test_retrieve_needs_a_search_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [ROW])
    code, err = run(capsys, "retrieve", str(source), "-o", str(tmp_path / "out.jsonl"))
    assert code == 2
    assert "retrieve needs --search" in err
    assert not (tmp_path / "out.jsonl").exists()


# ----------------------------------------------------------------------------- hostile files (issue 12)

GOOD = json.dumps(ROW)


@pytest.mark.parametrize(
    ("name", "content", "line", "message"),
    [
        ("after.json", f"[{GOOD}]\n{GOOD}\n{GOOD}\n", 2, "content after the JSON array's closing ']'"),
        ("trailing.json", f"[{GOOD},\n]\n", 2, "a comma before ']'"),
        ("double.json", f"[{GOOD},,{GOOD}]\n", 1, "two commas in a row"),
        ("missing.json", f"[{GOOD}\n{GOOD}]\n", 2, "expected ',' or ']' after a row"),
        ("deep.jsonl", "[" * 100_000 + "]" * 100_000 + "\n", 1, "nested too deeply"),
        ("deep.json", "[" + "[" * 100_000 + "]" * 100_000 + "]\n", 1, "nested too deeply"),
        ("second.jsonl", f"{GOOD}\n42\n", 2, "row is a JSON number, not an object"),
    ],
)
def test_a_hostile_file_is_one_line_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str, line: int, message: str
) -> None:
    source = tmp_path / name
    source.write_text(content, encoding="utf-8")
    with StubServer() as stub:
        code, err = run(capsys, *reformat(tmp_path, source, base_url=stub.base_url))
    assert code == 2
    assert err.startswith(f"error: {source} line {line}: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert no_output(tmp_path)


def test_a_byte_order_mark_in_a_json_file_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "bom.json"
    source.write_text(f"[{GOOD}]\n", encoding="utf-8-sig")
    with StubServer() as stub:
        code, _ = run(capsys, *reformat(tmp_path, source, base_url=stub.base_url))
    assert code == 0
    assert read_jsonl(tmp_path / "out.jsonl")[0]["realign"]["tag"] == "rewrite"


def test_a_lone_surrogate_is_sent_cached_and_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    row = realign_row("What is the capital of Peru? \udc00", "Lima \udc00 is the capital of Peru.", "open_qa")
    poem = realign_row("A haiku \udc00", "Rain \udc00", "poem_generation")
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(row) + "\n" + json.dumps(poem) + "\n", encoding="utf-8")
    cache = str(tmp_path / "cache.sqlite")
    with StubServer() as stub:
        args = ["reformat", str(source), "-o", str(tmp_path / "out.jsonl"), "--base-url", stub.base_url]
        code, _ = run(capsys, *args, "--cache", cache)
    assert code == 0
    rewritten, passed = read_jsonl(tmp_path / "out.jsonl")
    assert rewritten["items"][1]["value"] == "**Answer**\n\nLima \udc00 is the capital of Peru."
    assert passed["items"] == poem["items"]


def test_a_folder_as_input_or_output_is_refused_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    source = write_jsonl(tmp_path / "in.jsonl", [ROW])
    with StubServer() as stub:
        code, err = run(capsys, "reformat", str(folder), "-o", str(tmp_path / "o.jsonl"), "--base-url", stub.base_url)
        assert code == 2
        assert f"{folder}: is a folder, not a dataset file" in err
        code, err = run(capsys, "reformat", str(source), "-o", str(folder), "--base-url", stub.base_url)
        assert code == 2
        assert "is an existing folder" in err
        assert stub.requests == []


def test_a_parquet_realign_column_that_is_not_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = tmp_path / "in.parquet"
    rows = [{**ROW, "realign": "{}"}, {**ROW, "realign": "{not json"}]
    pq.write_table(pa.Table.from_pylist(rows), source)
    code, err = run(capsys, *reformat(tmp_path, source))
    assert code == 2
    assert f"{source} line 2: the 'realign' column is not JSON text" in err


def test_a_failing_cache_database_is_one_line(tmp_path: Path) -> None:
    from realign import Completion, RealignError, SQLiteCache, Usage

    cache = SQLiteCache(tmp_path / "cache.sqlite")
    cache.close()  # as good as a full disk: every statement fails
    with pytest.raises(RealignError, match=r"the response cache .* failed"):
        cache.put("some-key", Completion([], Usage()))


def _rows_with_a_latin1_byte(count: int, bad: int) -> list[bytes]:
    """``count`` JSON rows, the one at index ``bad`` holding a byte that is not UTF-8."""
    rows = [json.dumps(realign_row(f"What is {i} + {i}?", f"It is {2 * i}.", "open_qa")).encode() for i in range(count)]
    rows[bad] = rows[bad].replace(b"What", b"Qu\xe9")
    return rows


@pytest.mark.parametrize(
    ("name", "separator", "line"),
    [("far.jsonl", b"\n", 2500), ("far_crlf.jsonl", b"\r\n", 2500), ("far.json", b",\n", 2501)],
)
def test_a_byte_that_is_not_utf8_is_reported_on_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, separator: bytes, line: int
) -> None:
    # Far enough into the file that the reader's buffer starts lines before it.
    body = separator.join(_rows_with_a_latin1_byte(3000, 2499))
    source = tmp_path / name
    source.write_bytes(b"[\n" + body + b"\n]\n" if name.endswith(".json") else body + b"\n")
    _, err = run(capsys, "reformat", str(source), "--dry-run")
    assert err.startswith(f"error: {source} line {line}: not UTF-8 text")


def test_a_jsonl_file_with_old_mac_line_ends_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "cr.jsonl"
    source.write_bytes(b"\r".join(json.dumps(ROW).encode() for _ in range(3)) + b"\r")
    main(["reformat", str(source), "--dry-run"])
    out = capsys.readouterr().out
    assert "rows: 3 " in out


def test_an_unterminated_string_names_its_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "cut.jsonl"
    source.write_text('{"items": "abc\n', encoding="utf-8")
    _, err = run(capsys, *reformat(tmp_path, source))
    assert err.strip() == f"error: {source} line 1: invalid JSON: Unterminated string starting at column 11"


def open_handles(path: Path) -> list[str]:
    """This process's file descriptors open on ``path`` (Linux: /proc/self/fd)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the descriptor listdir itself used is gone by now
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                found.append(fd)
    return found


BAD_ROWS = {
    "shape": {"conversations": [{"from": "human", "value": "Hi"}]},
    "metadata": {**ROW, "realign": {"turns": "not a list"}},
}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="lists open files in /proc/self/fd")
@pytest.mark.parametrize("bad", BAD_ROWS)
def test_a_bad_row_leaves_the_input_closed_while_its_error_is_kept(tmp_path: Path, bad: str) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [ROW, BAD_ROWS[bad], ROW])
    with pytest.raises(InputError) as info:
        realign.reformat_file(source, tmp_path / "out.jsonl", pipeline=realign.Pipeline(realign.FakeLLM()))
    assert info.value.line == 2  # the error is still held (and its traceback), as a notebook holds its last one
    assert open_handles(source) == []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="lists open files in /proc/self/fd")
def test_a_report_on_a_bad_row_leaves_the_input_closed_while_its_error_is_kept(tmp_path: Path) -> None:
    done = {**ROW, "realign": {"task": "open_qa", "tag": "original", "reason": "unchanged"}}
    source = write_jsonl(tmp_path / "in.jsonl", [done, BAD_ROWS["shape"], done])
    with pytest.raises(InputError) as info:
        realign.write_report(source, tmp_path / "report.html")
    assert info.value.line == 2
    assert open_handles(source) == []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="lists open files in /proc/self/fd")
def test_a_bad_parquet_row_leaves_the_file_closed_while_its_error_is_kept(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = tmp_path / "in.parquet"
    rows = [{**ROW, "realign": json.dumps({"task": "open_qa"})}, {**ROW, "realign": "not JSON"}]
    pq.write_table(pa.Table.from_pylist(rows), source)
    with pytest.raises(InputError) as info:
        realign.reformat_file(source, tmp_path / "out.jsonl", pipeline=realign.Pipeline(realign.FakeLLM()))
    assert info.value.line == 2
    assert open_handles(source) == []


def test_a_field_whose_type_changes_late_stops_a_parquet_run_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An id that turns from an integer to a string after the first 1,024 rows (which used to fix the Parquet
    # schema): no Parquet column holds both, and the run used to fail at the write, after every row was paid for.
    rows = [dict(ROW, id=i) for i in range(1030)]
    rows[1027] = dict(rows[1027], id="x-1027")
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.parquet"
    with StubServer(rewrite_handler) as server:
        argv = ["reformat", str(source), "-o", str(out), "--base-url", server.base_url, "--no-cache"]
        code, err = run(capsys, *argv)
        calls = server.chat_requests()
    assert code == 2
    assert f"{source} line 1028: field 'id' is a string here and an integer in other rows" in err
    assert calls == []
    assert list(tmp_path.iterdir()) == [source]  # no output, no temporary file


def test_a_row_with_a_malformed_realign_object_stops_the_run_before_any_call(
    tmp_path: Path, server: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # The first row is paid for before the second is read, when the check waits for the row's turn.
    rows = [
        realign_row("What is 2+2?", "4", "open_qa"),
        {**realign_row("What is 3+3?", "6", "open_qa"), "realign": {"tag": 5}},
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    code = main(reformat_command(tmp_path, source, server.base_url))
    assert code == 2
    assert f"{source} line 2: invalid 'realign' metadata" in capsys.readouterr().err
    assert server.chat_requests() == []
