"""The output as a training pipeline reads it: the input's schema (Parquet) and features (Hugging Face
``datasets``) survive a run, with a ``realign`` column added."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

import realign
from conftest import narrow_parquet
from realign._cli.main import main

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

REWRITE = "Reasoning: a heading.\nRevised response:\n**Answer**\n\n2 + 2 is 4."


def _reformat(source: Path, output: Path) -> None:
    pipeline = realign.Pipeline(realign.FakeLLM([REWRITE] * 8), cache=False)
    realign.reformat_file(source, output, pipeline=pipeline)


@pytest.mark.parametrize("column", ["id", "score", "when", "messages"])
def test_parquet_output_keeps_each_column_type_of_the_input(tmp_path: Path, column: str) -> None:
    table = narrow_parquet(tmp_path / "in.parquet")
    _reformat(tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert pq.read_schema(tmp_path / "out.parquet").field(column).type == table.schema.field(column).type


def test_parquet_output_adds_realign_as_a_text_column(tmp_path: Path) -> None:
    narrow_parquet(tmp_path / "in.parquet")
    _reformat(tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert pq.read_schema(tmp_path / "out.parquet").field("realign").type == pa.string()


def test_parquet_output_keeps_the_input_schema_metadata(tmp_path: Path) -> None:
    narrow_parquet(tmp_path / "in.parquet")
    _reformat(tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert (pq.read_schema(tmp_path / "out.parquet").metadata or {}).get(b"origin") == b"my-pipeline"


def test_parquet_output_still_holds_the_rewrite(tmp_path: Path) -> None:
    narrow_parquet(tmp_path / "in.parquet")
    _reformat(tmp_path / "in.parquet", tmp_path / "out.parquet")
    rows = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert rows[0]["messages"][1]["content"] == "**Answer**\n\n2 + 2 is 4."


def test_parquet_output_keeps_the_values_of_the_other_columns(tmp_path: Path) -> None:
    table = narrow_parquet(tmp_path / "in.parquet")
    _reformat(tmp_path / "in.parquet", tmp_path / "out.parquet")
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.select(["id", "score", "when"]).equals(table.select(["id", "score", "when"]))


def test_an_empty_parquet_input_gives_an_empty_output_with_its_columns(tmp_path: Path) -> None:
    narrow_parquet(tmp_path / "in.parquet", rows=0)
    _reformat(tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert pq.read_schema(tmp_path / "out.parquet").names == ["id", "score", "when", "messages", "realign"]


def test_realign_classify_parquet_output_keeps_the_input_column_types(tmp_path: Path) -> None:
    table = narrow_parquet(tmp_path / "in.parquet")
    assert main(["classify", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.parquet"), "-q"]) == 0
    assert pq.read_schema(tmp_path / "out.parquet").field("id").type == table.schema.field("id").type


def test_a_parquet_realign_column_of_an_earlier_run_is_read_back(tmp_path: Path) -> None:
    narrow_parquet(tmp_path / "in.parquet")
    _reformat(tmp_path / "in.parquet", tmp_path / "once.parquet")
    _reformat(tmp_path / "once.parquet", tmp_path / "twice.parquet")
    row = pq.read_table(tmp_path / "twice.parquet").to_pylist()[0]
    assert json.loads(row["realign"])["original"] == "2 + 2 is 4."


def test_a_hugging_face_dataset_keeps_its_features() -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {
            "id": datasets.Value("int32"),
            "label": datasets.ClassLabel(names=["bad", "good"]),
            "messages": [{"role": datasets.Value("string"), "content": datasets.Value("string")}],
        }
    )
    messages = [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "2 + 2 is 4."}]
    dataset = datasets.Dataset.from_dict({"id": [1], "label": [1], "messages": [messages]}, features=features)
    out = realign.reformat(dataset, llm=realign.FakeLLM([REWRITE]), cache=False)
    assert out.remove_columns("realign").features == features


def test_a_hugging_face_dataset_still_holds_the_rewrite() -> None:
    datasets = pytest.importorskip("datasets")
    messages = [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "2 + 2 is 4."}]
    dataset = datasets.Dataset.from_dict({"id": [1], "messages": [messages]})
    out = realign.reformat(dataset, llm=realign.FakeLLM([REWRITE]), cache=False)
    assert out[0]["messages"][1]["content"] == "**Answer**\n\n2 + 2 is 4."


def _parts_parquet(path: Path) -> None:
    """OpenAI messages whose content is a list of text parts, as multimodal-ready datasets store it."""
    part = [{"type": "text", "text": "2 + 2 is 4."}]
    rows = [{"id": 1, "messages": [{"role": "user", "content": [{"type": "text", "text": "What is 2 + 2?"}]}]}]
    rows[0]["messages"].append({"role": "assistant", "content": part})
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_parquet_text_parts_rewritten_keep_their_column_type(tmp_path: Path) -> None:
    _parts_parquet(tmp_path / "in.parquet")
    _reformat(tmp_path / "in.parquet", tmp_path / "out.parquet")
    schema = pq.read_schema(tmp_path / "out.parquet")
    assert schema.field("messages").type == pq.read_schema(tmp_path / "in.parquet").field("messages").type


def test_parquet_text_parts_rewritten_hold_the_rewrite_as_one_text_part(tmp_path: Path) -> None:
    _parts_parquet(tmp_path / "in.parquet")
    _reformat(tmp_path / "in.parquet", tmp_path / "out.parquet")
    answer = pq.read_table(tmp_path / "out.parquet").to_pylist()[0]["messages"][1]["content"]
    assert answer == [{"type": "text", "text": "**Answer**\n\n2 + 2 is 4."}]


def test_a_hugging_face_dataset_of_text_parts_holds_the_rewrite_as_one_text_part() -> None:
    datasets = pytest.importorskip("datasets")
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "What is 2 + 2?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "2 + 2 is 4."}]},
    ]
    dataset = datasets.Dataset.from_list([{"messages": messages}])
    out = realign.reformat(dataset, llm=realign.FakeLLM([REWRITE]), cache=False)
    assert out[0]["messages"][1]["content"] == [{"type": "text", "text": "**Answer**\n\n2 + 2 is 4."}]


def test_jsonl_to_parquet_keeps_a_field_the_first_row_lacks(tmp_path: Path) -> None:
    plain = [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "2 + 2 is 4."}]
    rows = [{"id": 1, "messages": plain}, {"id": 2, "messages": plain, "tools": [{"type": "function"}]}]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    _reformat(source, tmp_path / "out.parquet")
    assert pq.read_table(tmp_path / "out.parquet").to_pylist()[1]["tools"] == [{"type": "function"}]


PLAIN = [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "2 + 2 is 4."}]
#: Values whose type changes after the 1,024 rows that used to fix a Parquet output's schema (1,100 rows, the
#: last one different): each used to fail the write after every row was paid for. Per case: the field, its
#: value in the first rows (None: absent) and in the last, and both as Parquet gives them back (a field that
#: other rows have and a row lacks comes back null).
LATE: dict[str, tuple[str, Any, Any, Any, Any]] = {
    "struct_after_nulls": ("meta", None, {"src": "web", "tags": ["a"]}, None, {"src": "web", "tags": ["a"]}),
    "dicts_of_other_fields": (
        "spans",
        [{"start": 1}],
        [{"label": "x"}, {"start": 2}],
        [{"start": 1, "label": None}],
        [{"start": None, "label": "x"}, {"start": 2, "label": None}],
    ),
    "nested_field_added": (
        "meta",
        {"src": "web"},
        {"src": "web", "extra": {"lang": "en"}},
        {"src": "web", "extra": None},
        {"src": "web", "extra": {"lang": "en"}},
    ),
    "float_after_ints": ("score", 1, 1.5, 1.0, 1.5),
    "field_added": ("tools", None, [{"type": "function"}], None, [{"type": "function"}]),
}


def _late_jsonl(path: Path, field: str, early: Any, late: Any) -> Path:
    rows = [{"id": i, "messages": PLAIN, **({} if early is None else {field: early})} for i in range(1099)]
    rows.append({"id": 1099, "messages": PLAIN, field: late})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", sorted(LATE))
def test_jsonl_to_parquet_keeps_a_value_whose_type_changes_late(tmp_path: Path, case: str) -> None:
    field, early, late, _, late_back = LATE[case]
    _reformat(_late_jsonl(tmp_path / "in.jsonl", field, early, late), tmp_path / "out.parquet")
    assert pq.read_table(tmp_path / "out.parquet").to_pylist()[-1][field] == late_back


@pytest.mark.parametrize("case", sorted(LATE))
def test_jsonl_to_parquet_keeps_the_early_values_when_a_type_changes_late(tmp_path: Path, case: str) -> None:
    field, early, late, early_back, _ = LATE[case]
    _reformat(_late_jsonl(tmp_path / "in.jsonl", field, early, late), tmp_path / "out.parquet")
    assert pq.read_table(tmp_path / "out.parquet").to_pylist()[0][field] == early_back


def test_jsonl_to_parquet_a_string_among_text_parts_becomes_one_text_part(tmp_path: Path) -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "What is 2 + 2?"}]}, PLAIN[1]]
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"messages": parts}) + "\n", encoding="utf-8")
    _reformat(source, tmp_path / "out.parquet")
    content = pq.read_table(tmp_path / "out.parquet").to_pylist()[0]["messages"][0]["content"]
    assert content == [{"type": "text", "text": "What is 2 + 2?"}]


@pytest.mark.parametrize("command", ["classify", "retrieve"])
def test_classify_and_retrieve_to_parquet_keep_a_value_whose_type_changes_late(tmp_path: Path, command: str) -> None:
    source = _late_jsonl(tmp_path / "in.jsonl", "meta", {"source": "web"}, {"source": "web", "extra": {"lang": "en"}})
    out = tmp_path / "out.parquet"
    extra = ["--search", f"local:{_index(tmp_path)}"] if command == "retrieve" else []
    assert main([command, str(source), "-o", str(out), "-q", *extra]) == 0
    assert pq.read_table(out).to_pylist()[-1]["meta"] == {"source": "web", "extra": {"lang": "en"}}


@pytest.mark.parametrize("command", ["classify", "retrieve"])
def test_classify_and_retrieve_to_parquet_refuse_an_id_of_two_types_before_any_row(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _late_jsonl(tmp_path / "in.jsonl", "key", 7, "seven")
    out = tmp_path / "out.parquet"
    extra = ["--search", f"local:{_index(tmp_path)}"] if command == "retrieve" else []
    assert main([command, str(source), "-o", str(out), "-q", *extra]) == 2
    assert f"{source} line 1100: field 'key' is a string here and an integer in other rows" in capsys.readouterr().err


def _index(tmp_path: Path) -> Path:
    """A local search index of one passage (``realign index``)."""
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"title": "Sums", "text": "2 + 2 is 4."}) + "\n", encoding="utf-8")
    index = tmp_path / "docs.index"
    assert main(["index", str(docs), "-o", str(index), "-q"]) == 0
    return index


def _nanosecond_parquet(path: Path) -> Any:
    # 1 ns past a whole second: no Python datetime holds it, and pyarrow reads it as one only with pandas.
    table = pa.table(
        {
            "messages": pa.array(
                [[{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "2 + 2 is 4."}]]
            ),
            "when": pa.array([1_700_000_000_000_000_001], type=pa.timestamp("ns")),
            "zoned": pa.array([1_700_000_000_000_000_001], type=pa.timestamp("ns", tz="Europe/Paris")),
            "took": pa.array([1_000_000_001], type=pa.duration("ns")),
        }
    )
    pq.write_table(table, path)
    return table


@pytest.mark.parametrize(
    ("column", "text"),
    [
        ("when", "2023-11-14T22:13:20.000000001"),
        ("zoned", "2023-11-14T23:13:20.000000001+01:00"),
        ("took", "1.000000001"),
    ],
)
def test_nanosecond_times_reach_a_jsonl_output_whole(tmp_path: Path, column: str, text: str) -> None:
    _nanosecond_parquet(tmp_path / "in.parquet")
    _reformat(tmp_path / "in.parquet", tmp_path / "out.jsonl")
    row = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))
    assert row[column] == text


def test_nanosecond_times_reach_a_parquet_output_unchanged(tmp_path: Path) -> None:
    table = _nanosecond_parquet(tmp_path / "in.parquet")
    _reformat(tmp_path / "in.parquet", tmp_path / "out.parquet")
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.select(["when", "zoned", "took"]).equals(table.select(["when", "zoned", "took"]))


def _has_pandas() -> bool:
    return importlib.util.find_spec("pandas") is not None


def nested_nanoseconds(path: Path) -> pa.Table:
    """A Parquet file at ``path`` whose ``meta`` column holds a nanosecond time inside an object; its table."""
    kind = pa.struct([("at", pa.timestamp("ns"))])
    table = pa.table(
        {
            "instruction": ["What is 2 + 2?"],
            "output": ["4"],
            "meta": pa.array([{"at": 1_700_000_000_000_000_001}], type=kind),
        }
    )
    pq.write_table(table, path)
    return table


# pyarrow reads them with pandas when it is installed (`pip install -e ".[datasets]"` or `".[ray]"` brings it).
@pytest.mark.skipif(_has_pandas(), reason="pandas is installed: pyarrow reads these values with it")
def test_nanosecond_times_inside_an_object_are_one_line_naming_file_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nested_nanoseconds(tmp_path / "in.parquet")
    code = main(["classify", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.jsonl"), "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: {tmp_path / 'in.parquet'}: column 'meta' holds nanosecond times inside an object, which cannot be "
        "read without pandas: pip install pandas, or store them as microseconds"
    ]


@pytest.mark.skipif(not _has_pandas(), reason="without pandas these values are an input error (test above)")
def test_nanosecond_times_inside_an_object_are_read_with_pandas(tmp_path: Path) -> None:
    table = nested_nanoseconds(tmp_path / "in.parquet")
    assert main(["classify", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.parquet"), "-q"]) == 0
    assert pq.read_table(tmp_path / "out.parquet")["meta"].equals(table["meta"])
