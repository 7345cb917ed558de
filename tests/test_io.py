from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from realign import InputError, UsageError
from realign._io.files import AtomicWriter, read_rows
from realign._io.shapes import detect_shape
from realign._jobs.job import rows_of

ROWS: list[dict[str, Any]] = [{"id": i, "text": "line\nbreak " * i, "nested": {"a": [1, 2, "]"]}} for i in range(50)]


def test_json_array_streams_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(ROWS, indent=2))
    rows = list(read_rows(path))
    assert [r for _, r in rows] == ROWS
    lines = [line for line, _ in rows]
    assert lines == sorted(lines)
    assert lines[0] == 2


def test_json_array_small_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("realign._io.files._CHUNK", 7)  # values cut at every possible boundary
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([*ROWS, 12345, "x"]))
    assert [r for _, r in read_rows(path)] == [*ROWS, 12345, "x"]


@pytest.mark.parametrize(
    ("text", "line"),
    [('[{"a": 1},\n{"a": 2\n', 3), ('{"a": 1}', 1), ('[{"a": 1},\n\n{"a" 2}]', 3)],
)
def test_json_array_errors_name_the_line(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        list(read_rows(path))
    assert info.value.line == line
    assert str(path) in str(info.value)


def test_jsonl_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n\n{"a": \n')
    with pytest.raises(InputError, match=r"bad.jsonl line 3: invalid JSON"):
        list(read_rows(path))
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"a": "ok"}\n{"a": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        list(read_rows(latin))
    with pytest.raises(InputError, match="file not found"):
        list(read_rows(tmp_path / "missing.jsonl"))
    with pytest.raises(UsageError, match="unsupported file type"):
        list(read_rows(tmp_path / "rows.csv"))


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_writers_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    rows = [{"id": i, "q": f"q{i}", "realign": {"task": "open_qa", "evidence": []}} for i in range(3000)]
    with AtomicWriter(path) as writer:
        for row in rows:
            writer.write(row)
    assert [r for _, r in read_rows(path)] == rows


def test_writer_leaves_nothing_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError), AtomicWriter(path) as writer:
        writer.write({"a": 1})
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError, match="does not exist"):
        AtomicWriter(tmp_path / "no" / "dir" / "out.jsonl")


SHAPED = {
    "realign": {
        "id": 1,
        "items": [{"from": "human", "value": "Q", "category": "open_qa"}, {"from": "gpt", "value": "A"}],
    },
    "sharegpt": {
        "conversations": [
            {"from": "system", "value": "S"},
            {"from": "human", "value": "Q"},
            {"from": "gpt", "value": "A"},
        ],
        "category": "open_qa",
    },
    "alpaca": {"instruction": "Q", "input": "", "output": "A", "category": "open_qa"},
    "openai": {
        "messages": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "A"},
        ],
        "category": "open_qa",
    },
}


@pytest.mark.parametrize("name", list(SHAPED))
def test_shapes_extract_and_apply(name: str) -> None:
    row = SHAPED[name]
    shape = detect_shape(row)
    assert shape is not None
    assert shape.name == name
    data = shape.extract(row)
    assert (data.question, data.response, data.category, data.pass_reason) == ("Q", "A", "open_qa", None)
    new = shape.apply(row, "B")
    assert shape.extract(new).response == "B"
    assert shape.extract(row).response == "A"
    assert {k for k in new} == {k for k in row}


def test_alpaca_input_joins_the_question_and_multi_turn_passes() -> None:
    alpaca = detect_shape({"instruction": "Summarise:", "input": "Long text", "output": "Short"})
    assert alpaca is not None
    assert (
        alpaca.extract({"instruction": "Summarise:", "input": "Long text", "output": "S"}).question
        == "Summarise:\n\nLong text"
    )
    row = {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
            {"role": "assistant", "content": "d"},
        ]
    }
    shape = detect_shape(row)
    assert shape is not None
    assert shape.extract(row).pass_reason == "multi_turn"


def test_rows_of_rejects_unknown_and_mixed_shapes(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(SHAPED["alpaca"]) + "\n" + json.dumps({"prompt": "?"}) + "\n")
    with pytest.raises(InputError, match=r"x.jsonl line 2: row of unknown shape"):
        list(rows_of(path))
    path.write_text(json.dumps(SHAPED["alpaca"]) + "\n" + json.dumps(SHAPED["openai"]) + "\n")
    with pytest.raises(InputError, match=r"line 2: row has shape openai"):
        list(rows_of(path))
    path.write_text(json.dumps({"items": [{"from": "human", "value": 3}]}) + "\n")
    with pytest.raises(InputError, match=r"line 1: realign row"):
        list(rows_of(path))


def test_parquet_rows_that_need_a_wider_schema_later_are_all_written(tmp_path: Path) -> None:
    # A Parquet file has one schema: the rows after the first 1,024 (one row group) that need a wider one (a
    # new field, nested too) are written with the earlier ones in the widest, not refused or dropped.
    path = tmp_path / "out.parquet"
    with AtomicWriter(path) as writer:
        for i in range(1100):
            writer.write({"id": i, "meta": {"a": i}, **({"late": 1, "meta": {"a": i, "b": "x"}} if i == 1050 else {})})
    rows = pq.read_table(path).to_pylist()
    assert rows[1050] == {"id": 1050, "meta": {"a": 1050, "b": "x"}, "late": 1}


def test_parquet_rows_joined_in_a_wider_schema_leave_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    with AtomicWriter(path) as writer:
        for i in range(3000):
            writer.write({"id": i, **({f"late{i}": i} if i in (1500, 2500) else {})})
    assert list(tmp_path.iterdir()) == [path]


def test_parquet_rows_no_column_type_holds_are_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    error = r"out.parquet line 1025: field 'id' is a string here and an integer in other rows"
    with pytest.raises(InputError, match=error), AtomicWriter(path) as writer:
        for i in range(1100):
            writer.write({"id": i if i < 1024 else f"x{i}"})
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file


def test_a_parquet_output_of_a_jsonl_input_refuses_a_value_no_column_holds_before_any_row(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i if i != 1500 else "x"}) + "\n" for i in range(2000)))
    with pytest.raises(InputError, match=r"in.jsonl line 1501: field 'id' is a string"):
        AtomicWriter(tmp_path / "out.parquet", like=source)
    assert list(tmp_path.iterdir()) == [source]


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ({"meta": {}}, r"field 'meta' is an empty object in every row"),
        ({"n": 1 << 70}, r"line 1: field 'n' holds an integer beyond 64 bits"),
        ({"l": [1, [2]]}, r"line 1: field 'l\[\]' is a list here and an integer in other rows"),
    ],
)
def test_a_parquet_output_refuses_what_parquet_cannot_store_before_any_row(
    tmp_path: Path, row: dict[str, Any], error: str
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(row) + "\n")
    with pytest.raises(InputError, match=error):
        AtomicWriter(tmp_path / "out.parquet", like=source)


def test_output_files_get_normal_permissions(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with AtomicWriter(path) as writer:
        writer.write({"a": 1})
    assert path.stat().st_mode & 0o044  # readable by group/others under a usual umask


def test_temporary_files_of_dead_runs_are_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    stale = tmp_path / ".out.jsonl.999999999.abc123.tmp"  # no such process
    stale.write_text("half a file")
    live = tmp_path / f".out.jsonl.{os.getpid()}.def456.tmp"  # a live writer: left alone
    live.write_text("in progress")
    with AtomicWriter(path) as writer:
        writer.write({"a": 1})
    assert not stale.exists()
    assert live.exists()
    assert path.exists()


def _write_parquet_with_odd_columns(tmp_path: Path) -> Path:
    """An Alpaca Parquet file with columns JSON has no type for."""
    import datetime
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "odd.parquet"
    table = pa.table(
        {
            "instruction": ["Say hi."],
            "output": ["Hi."],
            "blob": [b"\x00\xff"],
            "when": [datetime.datetime(2024, 1, 2, 3, 4, 5)],
            "day": [datetime.date(2024, 1, 2)],
            "took": [datetime.timedelta(seconds=90)],
            "price": pa.array([decimal.Decimal("1.50")], pa.decimal128(10, 2)),
        }
    )
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("blob", "AP8="),
        ("when", "2024-01-02T03:04:05"),
        ("day", "2024-01-02"),
        ("took", 90.0),
        ("price", "1.50"),
    ],
)
@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_parquet_columns_json_has_no_type_for_are_written_to_json(
    tmp_path: Path, suffix: str, column: str, value: Any
) -> None:
    out = tmp_path / f"out{suffix}"
    with AtomicWriter(out) as writer:
        for _, row in read_rows(_write_parquet_with_odd_columns(tmp_path)):
            writer.write(row)
    text = out.read_text(encoding="utf-8")
    (row,) = json.loads(text) if suffix == ".json" else [json.loads(text)]
    assert row[column] == value


def test_a_parquet_uuid_column_is_written_to_json_as_its_text(tmp_path: Path) -> None:
    import uuid

    import pyarrow as pa

    if not hasattr(pa, "uuid"):
        pytest.skip("pyarrow has no uuid type before 18")
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": pa.array([value.bytes], pa.uuid())}), source)
    with AtomicWriter(tmp_path / "out.jsonl") as writer:
        for _, row in read_rows(source):
            writer.write(row)
    assert json.loads((tmp_path / "out.jsonl").read_text()) == {"id": str(value)}


def test_a_value_with_no_json_form_is_one_clear_error(tmp_path: Path) -> None:
    error = r"out.jsonl line 2: a value of type object has no JSON form"
    with pytest.raises(InputError, match=error), AtomicWriter(tmp_path / "out.jsonl") as writer:
        writer.write({"a": 1})
        writer.write({"a": object()})


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_nan_and_infinity_are_written_as_json_null(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"out{suffix}"
    with AtomicWriter(out) as writer:
        writer.write({"score": float("nan"), "bounds": [1.5, float("inf"), float("-inf")], "text": "\udc00"})
    text = out.read_text(encoding="utf-8")
    (row,) = json.loads(text) if suffix == ".json" else [json.loads(text)]
    assert "NaN" not in text
    assert row == {"score": None, "bounds": [1.5, None, None], "text": "\udc00"}


def test_openai_content_given_as_text_parts_is_read_as_its_text() -> None:
    row = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "What is 2 + 2? "}, {"type": "text", "text": "Be brief."}],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "4"}]},
        ]
    }
    shape = detect_shape(row)
    assert shape is not None
    extracted = shape.extract(row)
    assert (extracted.question, extracted.response) == ("What is 2 + 2? Be brief.", "4")


def test_openai_content_with_an_image_part_is_passed_through_as_non_text_input() -> None:
    row = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "What is it?"}, {"type": "image_url", "image_url": {}}],
            },
            {"role": "assistant", "content": "A cat."},
        ]
    }
    shape = detect_shape(row)
    assert shape is not None
    extracted = shape.extract(row)
    assert (extracted.question, extracted.pass_reason) == ("What is it?", "non_text_input")
