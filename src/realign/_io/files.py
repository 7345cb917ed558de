"""Dataset files: streaming readers and atomic writers for JSONL, JSON arrays and Parquet.

Readers yield ``(line, row)`` so every error can name the file and line (for Parquet, the row
number). Writers write to a temporary file beside the target and rename it at the end, so a failed
or interrupted run never leaves a half-written output.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import datetime
import decimal
import glob
import json
import math
import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, overload

from .._exceptions import InputError, UsageError

__all__ = [
    "PARQUET_BATCH",
    "AtomicWriter",
    "atomic_file",
    "container_of",
    "fit_row",
    "input_schema",
    "parquet_schema",
    "read_rows",
    "table_of",
]

_CONTAINERS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}
_CHUNK = 1 << 20
# One element of a JSON array larger than this is an error, not a reason to read the whole file.
_MAX_ELEMENT = 64 << 20


def container_of(path: str | Path) -> str:
    """``jsonl``, ``json`` or ``parquet``, from the file's extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in _CONTAINERS:
        raise UsageError(f"{path}: unsupported file type {suffix or '(none)'}; use .jsonl, .json or .parquet")
    return _CONTAINERS[suffix]


def read_rows(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Stream the rows of a dataset file as ``(line, row)``."""
    path = Path(path)
    kind = container_of(path)
    if path.is_dir():
        raise InputError("is a folder, not a dataset file", path=path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    if kind == "parquet":
        return _parquet_rows(path)
    return _jsonl_rows(path) if kind == "jsonl" else _json_array_rows(path)


class _Utf8Reader:
    """A binary file read as UTF-8 text in chunks, that names the line of a byte that is not UTF-8.

    (A text-mode file decodes ahead of what it hands out, so its error would name a line up to a chunk
    early.) A byte-order mark (Windows editors write one) is skipped, not read as text.
    """

    def __init__(self, handle: IO[bytes], path: Path) -> None:
        self.handle, self.path = handle, path
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.lines = 1  # the line the next text returned starts on

    def read(self, size: int) -> str:
        raw = self.handle.read(size)
        try:
            text = self.decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            line = self.lines + exc.object[: exc.start].count(b"\n")
            raise InputError(f"not UTF-8 text ({exc.reason})", path=self.path, line=line) from exc
        self.lines += text.count("\n")
        return text


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    # Binary lines, each decoded on its own: a byte that is not UTF-8 is reported on its own line (a
    # text-mode file decodes a chunk ahead). Lines end at "\n", "\r\n" or a lone "\r" (old Mac files), as in
    # text mode: a JSON text holds no raw line break, so no row is split.
    number = 0
    with path.open("rb") as handle:
        for chunk in handle:
            for raw in chunk.splitlines():
                number += 1
                try:
                    line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise InputError(f"not UTF-8 text ({exc.reason})", path=path, line=number) from exc
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    # json's "Unterminated string starting at" reads on into the column
                    what = f"{exc.msg.removesuffix(' at')} at column {exc.colno}"
                    raise InputError(f"invalid JSON: {what}", path=path, line=number) from exc
                except RecursionError as exc:
                    raise InputError(_TOO_DEEP, path=path, line=number) from exc
                yield number, row


def _json_array_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """Stream the elements of a top-level JSON array without loading the whole file.

    Strict like ``json.load``: elements separated by exactly one comma, no comma before ``]``, and
    nothing but whitespace after it (a second array or stray rows would otherwise be dropped unseen).
    """
    decoder = json.JSONDecoder()
    buffer, pos, line = "", 0, 1
    # what may come next: "[" (start), "value" (after "[" or ","), "]" too after "[", "," or "]" after a value
    expect = "["
    with path.open("rb") as binary:
        handle = _Utf8Reader(binary, path)
        eof = False
        while True:
            # Skip whitespace, counting lines.
            while True:
                if pos >= len(buffer) and not eof:
                    chunk = handle.read(_CHUNK)
                    eof = not chunk
                    buffer, pos = buffer[pos:] + chunk, 0
                if pos >= len(buffer):
                    break
                char = buffer[pos]
                if char == "\n":
                    line += 1
                if char in " \t\r\n":
                    pos += 1
                    continue
                break
            at_end = pos >= len(buffer)
            if expect == "done":
                if not at_end:
                    raise InputError(_AFTER_ARRAY, path=path, line=line)
                return
            if at_end:
                raise InputError("unexpected end of file: the JSON array is not closed", path=path, line=line)
            char = buffer[pos]
            if expect == "[":
                if char != "[":
                    raise InputError("expected a JSON array of rows (or use .jsonl)", path=path, line=line)
                expect, pos = "first", pos + 1
                continue
            if char == "]" and expect in ("first", "separator"):
                expect, pos = "done", pos + 1
                continue
            if expect == "separator":
                if char != ",":
                    raise InputError("invalid JSON: expected ',' or ']' after a row", path=path, line=line)
                expect, pos = "value", pos + 1
                continue
            if char in ",]":
                what = "a comma before ']'" if char == "]" else "two commas in a row"
                raise InputError(f"invalid JSON: {what}", path=path, line=line)
            value, end = _decode_one(decoder, handle, path, line, buffer, pos)
            buffer, pos = value[1], 0
            yield line, value[0]
            line += end
            expect = "separator"


_AFTER_ARRAY = "content after the JSON array's closing ']' (one array per .json file; use .jsonl for a stream of rows)"
_TOO_DEEP = "a row nested too deeply to read"


def _decode_one(
    decoder: json.JSONDecoder, handle: _Utf8Reader, path: Path, line: int, buffer: str, pos: int
) -> tuple[tuple[Any, str], int]:
    """Decode the value at ``buffer[pos:]``, reading more as needed. Returns ((value, rest), newlines)."""
    while True:
        try:
            value, end = decoder.raw_decode(buffer, pos)
        except RecursionError as exc:
            raise InputError(_TOO_DEEP, path=path, line=line) from exc
        except json.JSONDecodeError as exc:
            chunk = handle.read(_CHUNK) if len(buffer) - pos < _MAX_ELEMENT else ""
            if not chunk:
                where = line + buffer.count("\n", pos, exc.pos)
                raise InputError(f"invalid JSON: {exc.msg}", path=path, line=where) from exc
            buffer += chunk
            continue
        # A value cut at a chunk boundary can still decode (a number): make sure a separator follows.
        if end == len(buffer):
            chunk = handle.read(_CHUNK)
            if chunk:
                buffer += chunk
                continue
        return (value, buffer[end:]), buffer.count("\n", pos, end)


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise InputError(f"not a readable Parquet file ({exc})", path=path) from exc
    number = 0
    with handle:  # closed when the rows end, or the reader is closed early (an error in a later row)
        # Nanosecond columns are read apart, in every batch alike: Python's datetime stops at microseconds, and
        # pyarrow's to_pylist then wants pandas.
        nanos = any(getattr(field.type, "unit", None) == "ns" for field in handle.schema_arrow)
        for batch in handle.iter_batches(batch_size=1024):
            try:
                rows = _nanosecond_rows(batch, path) if nanos else batch.to_pylist()
            except ValueError:  # nanoseconds inside a list or struct
                rows = _nanosecond_rows(batch, path)
            for row in rows:
                number += 1
                if isinstance(row.get("realign"), str):  # our metadata column is stored as JSON text
                    try:
                        row["realign"] = json.loads(row["realign"])
                    except (json.JSONDecodeError, RecursionError) as exc:
                        raise InputError("the 'realign' column is not JSON text", path=path, line=number) from exc
                yield number, row


class Nanos(str):
    """A nanosecond date-time, time of day or duration that Python's ``datetime`` cannot hold, read from a
    Parquet column: its exact text (ISO 8601 with nine decimals; a duration in seconds, as a decimal) and
    ``ns``, the integer the column stores, which a Parquet output writes back unchanged."""

    ns: int

    def __new__(cls, text: str, ns: int) -> Nanos:
        value = super().__new__(cls, text)
        value.ns = ns
        return value

    def __reduce__(self) -> tuple[Any, ...]:  # to Ray's workers and back
        return (Nanos, (str(self), self.ns))


def _nanosecond_rows(batch: Any, path: Path) -> list[dict[str, Any]]:
    """The rows of a record batch with nanosecond values, each nanosecond column's values as :class:`Nanos`.
    A column holding some that are not whole microseconds inside lists or structs is an :class:`InputError`
    naming it (``to_pylist`` needs pandas for them)."""
    columns: dict[str, list[Any]] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        values = _nanos(column)
        if values is not None:
            columns[name] = values
            continue
        try:
            columns[name] = column.to_pylist()
        except ValueError as exc:
            raise InputError(
                f"column {name!r} holds nanosecond times inside {_word(column.type)}, which cannot be read "
                "without pandas: pip install pandas, or store them as microseconds",
                path=path,
            ) from exc
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _nanos(column: Any) -> list[Any] | None:
    """The values of a nanosecond timestamp, time or duration column as :class:`Nanos` (None stays None);
    None for any other column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if getattr(kind, "unit", None) != "ns":
        return None
    numbers = column.cast(pa.int64()).to_pylist()
    if pa.types.is_timestamp(kind):
        texts = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S" + ("%z" if kind.tz else "")).to_pylist()
        if kind.tz:  # "+0100" as isoformat writes it: "+01:00"
            texts = [None if t is None else f"{t[:-2]}:{t[-2:]}" for t in texts]
    elif pa.types.is_time(kind):
        texts = column.cast(pa.string()).to_pylist()
    elif pa.types.is_duration(kind):
        texts = [None if n is None else _seconds(n) for n in numbers]
    else:
        return None
    return [None if n is None or t is None else Nanos(t, n) for n, t in zip(numbers, texts, strict=True)]


def _seconds(ns: int) -> str:
    """``ns`` nanoseconds in seconds, exactly: ``1.000000001``."""
    whole, part = divmod(abs(ns), 10**9)
    return f"{'-' if ns < 0 else ''}{whole}.{part:09d}"


def _json_value(value: Any) -> Any:
    """The JSON form of a value a Parquet column holds and JSON has no type for: dates and times in
    ISO 8601, a duration in seconds, a decimal as its exact digits (a string), bytes in base64, a UUID as
    its usual text."""
    if isinstance(value, (datetime.date, datetime.time)):  # datetime.datetime is a date
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, uuid.UUID):  # pyarrow's uuid extension type
        return str(value)
    raise TypeError(f"a value of type {type(value).__name__} has no JSON form")


def _json_text(row: dict[str, Any]) -> str:
    """One row as strict JSON text (ValueError on NaN or infinity, TypeError on a type JSON lacks)."""
    text = json.dumps(row, ensure_ascii=False, default=_json_value, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\udc00"): UTF-8 cannot hold it, a JSON escape can
        text = json.dumps(row, ensure_ascii=True, default=_json_value, allow_nan=False)
    return text


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON null, as pandas writes them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _table(rows: list[dict[str, Any]], schema: Any) -> Any:
    """``rows`` as a table of ``schema``; a rewritten turn whose content the input gave as a list of text parts
    (OpenAI ``[{"type": "text", "text": ...}]``) and the rewrite wrote back as a string goes back in as one
    text part, as its column holds."""
    import pyarrow as pa

    try:
        return pa.Table.from_pylist(rows, schema=schema)
    except (pa.ArrowException, ValueError, TypeError):
        return pa.Table.from_pylist([fit_row(row, schema) for row in rows], schema=schema)


def fit_row(row: dict[str, Any], schema: Any) -> dict[str, Any]:
    """``row`` with each rewritten turn the rewrite wrote back as a string where the Arrow ``schema`` of its
    input holds a list of text parts (OpenAI ``[{"type": "text", "text": ...}]``) made one text part again."""
    return {k: _fit(v, schema.field(k).type) if k in schema.names else v for k, v in row.items()}


def _fit(value: Any, kind: Any) -> Any:
    """``value`` with each string where ``kind`` holds a list of text parts made one text part, and each
    nanosecond value read from the input (:class:`Nanos`) as the integer its column stores."""
    import pyarrow as pa

    if isinstance(value, Nanos):
        return value.ns if getattr(kind, "unit", None) == "ns" else str(value)

    if isinstance(kind, (pa.ListType, pa.LargeListType)):
        item = kind.value_type
        if isinstance(value, str):
            parts = isinstance(item, pa.StructType) and all(item.get_field_index(n) >= 0 for n in ("type", "text"))
            return [{"type": "text", "text": value}] if parts else value
        if isinstance(value, list):
            return [_fit(v, item) for v in value]
    if isinstance(kind, pa.StructType) and isinstance(value, dict):
        return {k: _fit(v, kind.field(k).type) if kind.get_field_index(k) >= 0 else v for k, v in value.items()}
    return value


#: Rows a Parquet output writes at once (one row group); also the rows a schema scan infers types from at once.
PARQUET_BATCH = 1024


class _Conflict(Exception):
    """Two values of one Parquet column (``where``, e.g. ``meta.score`` or ``messages[].content``) that no
    one Arrow type holds without loss."""

    def __init__(self, where: str, old: Any, new: Any) -> None:
        super().__init__(where)
        self.where, self.old, self.new = where, old, new
        self.line: int | None = None  # the row's, once known

    def message(self) -> str:
        if self.old is None:  # a value with no Parquet type at all
            return f"field {self.where!r} holds {self.new}, which Parquet cannot store; write .jsonl instead"
        return (
            f"field {self.where!r} is {_word(self.new)} here and {_word(self.old)} in other rows; a Parquet column "
            f"holds one type: write .jsonl, or give {self.where!r} one type"
        )


def _word(kind: Any) -> str:
    import pyarrow as pa

    for test, word in (
        (pa.types.is_boolean, "a boolean"),
        (pa.types.is_integer, "an integer"),
        (pa.types.is_floating, "a number"),
        (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "a string"),
        (pa.types.is_struct, "an object"),
        (lambda t: pa.types.is_list(t) or pa.types.is_large_list(t), "a list"),
    ):
        if test(kind):
            return word
    return f"of type {kind}"


def _is_text_parts(kind: Any) -> bool:
    """Whether ``kind`` is a list of OpenAI text parts (structs with ``type`` and ``text``)."""
    import pyarrow as pa

    if not isinstance(kind, (pa.ListType, pa.LargeListType)):
        return False
    item = kind.value_type
    return isinstance(item, pa.StructType) and all(item.get_field_index(n) >= 0 for n in ("type", "text"))


def _merge(old: Any, new: Any, where: str) -> Any:
    """The one Arrow type that holds the values of both ``old`` and ``new`` without loss, keeping ``old``
    where it already does (a Parquet input's int32 or timestamp[ms]). Raises :class:`_Conflict`.

    null joins anything; integers and floats make float64 (exact up to 2**53); objects take the union of
    their fields; lists the union of their items; a string next to a list of text parts becomes one text part
    (as :func:`fit_row` writes it)."""
    import pyarrow as pa

    t = pa.types
    if old.equals(new) or t.is_null(new):
        return old
    if t.is_null(old):
        return new
    if t.is_integer(old) and t.is_integer(new):
        if t.is_unsigned_integer(old) != t.is_unsigned_integer(new):
            return pa.int64()
        return old if old.bit_width >= new.bit_width else new
    if (t.is_integer(old) or t.is_floating(old)) and (t.is_integer(new) or t.is_floating(new)):
        return old if t.is_floating(old) and old.bit_width >= 64 else pa.float64()
    same_kind = (
        lambda k: t.is_string(k) or t.is_large_string(k),
        lambda k: t.is_binary(k) or t.is_large_binary(k),
        t.is_timestamp,
        t.is_date,
        t.is_time,
        t.is_duration,
        t.is_decimal,
    )
    if any(test(old) and test(new) for test in same_kind):
        return old  # values read from a column of ``old``, or that its conversion checks
    if t.is_string(new) and _is_text_parts(old):
        return old
    if t.is_string(old) and _is_text_parts(new):
        return new
    if isinstance(old, (pa.ListType, pa.LargeListType)) and isinstance(new, (pa.ListType, pa.LargeListType)):
        item = _merge(old.value_type, new.value_type, f"{where}[]")
        field = old.value_field.with_type(item)
        return pa.large_list(field) if isinstance(old, pa.LargeListType) else pa.list_(field)
    if isinstance(old, pa.StructType) and isinstance(new, pa.StructType):
        fields = [_merge_field(f, new, where) for f in old]
        fields += [f for f in new if old.get_field_index(f.name) < 0]
        return pa.struct(fields)
    raise _Conflict(where, old, new)


def _merge_field(field: Any, other: Any, where: str) -> Any:
    """``field`` of a struct or schema merged with the field of that name in ``other``, if it has one."""
    index = other.get_field_index(field.name)
    if index < 0:
        return field
    name = f"{where}.{field.name}" if where else field.name
    kind = _merge(field.type, other.field(index).type, name)
    return field if kind.equals(field.type) else field.with_type(kind)


def _merge_schemas(old: Any, new: Any) -> Any:
    """``old`` widened to hold ``new`` too (see :func:`_merge`); ``old``'s metadata is kept."""
    import pyarrow as pa

    fields = [_merge_field(f, new, "") for f in old]
    fields += [f for f in new if old.get_field_index(f.name) < 0]
    return pa.schema(fields, metadata=old.metadata)


def _type_of(value: Any, where: str) -> Any:
    """The Arrow type of one value, as pyarrow infers it, but merging the items of a list with
    :func:`_merge` (pyarrow fails on a list of strings and text parts) and naming what does not fit."""
    import pyarrow as pa

    if value is None:
        return pa.null()
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        if -(1 << 63) <= value < 1 << 63:
            return pa.int64()
        raise _Conflict(where, None, "an integer beyond 64 bits")
    if isinstance(value, float):
        return pa.float64()
    if isinstance(value, str):
        return pa.string()
    if isinstance(value, dict):
        return pa.struct([pa.field(str(k), _type_of(v, f"{where}.{k}")) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        item = pa.null()
        for v in value:
            item = _merge(item, _type_of(v, f"{where}[]"), f"{where}[]")
        return pa.list_(item)
    try:
        return pa.scalar(value).type
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        raise _Conflict(where, None, f"a value of type {type(value).__name__}") from None


def _rows_schema(rows: list[dict[str, Any]]) -> Any:
    """The schema pyarrow infers for ``rows`` (every field of every row); raises on values of mixed types."""
    return _inferred_table(rows).schema


def _inferred_table(rows: list[dict[str, Any]]) -> Any:
    """``rows`` as a table of the types pyarrow infers, with every field of every row (None where a row
    lacks one)."""
    import pyarrow as pa

    names = dict.fromkeys(key for row in rows for key in row)
    return pa.Table.from_pydict({name: [row.get(name) for row in rows] for name in names})


def _widened(schema: Any, rows: list[dict[str, Any]], lines: list[int]) -> Any:
    """``schema`` (None: none yet) widened to hold ``rows``; :class:`_Conflict` carries the line of the first
    row that cannot join it, as ``conflict.line``."""
    import pyarrow as pa

    try:  # pyarrow's inference: fast, but it names no row and knows no text parts
        inferred = _rows_schema(rows)
        return inferred if schema is None else _merge_schemas(schema, inferred)
    except (pa.ArrowException, ValueError, TypeError, OverflowError, _Conflict):
        pass
    for line, row in zip(lines, rows, strict=True):  # one row at a time, to name the row
        try:
            row_schema = pa.schema([pa.field(str(k), _type_of(v, str(k))) for k, v in row.items()])
            schema = row_schema if schema is None else _merge_schemas(schema, row_schema)
        except _Conflict as conflict:
            conflict.line = line
            raise
    return schema


def _empty_object(kind: Any, where: str) -> str | None:
    """Where in ``kind`` an object with no fields is (Parquet cannot store one), or None."""
    import pyarrow as pa

    if isinstance(kind, pa.StructType):
        if kind.num_fields == 0:
            return where
        return next((w for f in kind if (w := _empty_object(f.type, f"{where}.{f.name}")) is not None), None)
    if isinstance(kind, (pa.ListType, pa.LargeListType)):
        return _empty_object(kind.value_type, f"{where}[]")
    return None


_scanned: dict[tuple[str, int, int], Any] = {}


def parquet_schema(path: str | Path, rows: Iterable[tuple[int, Any]] | None = None) -> Any:
    """The Parquet schema of the rows of the JSON or JSONL file ``path`` (of ``rows`` read from it, when
    given), with ``realign`` as a text column: every field of every row, nested ones too, each column of the
    one type that holds all its values (see :func:`_merge`).

    Raises :class:`InputError` with the line of the first row whose value no such type holds (an id that is
    an integer in some rows and a string in others), or naming a field that is an empty object in every row:
    run before any call, a Parquet output then never fails at the write, after every row was paid for. Reads
    the file in :data:`PARQUET_BATCH` rows at a time; the last file's schema is remembered, so a check before
    the run (which passes its ``rows``) and the writer read it once."""
    import pyarrow as pa

    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if rows is None and key in _scanned:
        return _scanned[key]
    schema = None
    batch: list[dict[str, Any]] = []
    lines: list[int] = []

    def widen() -> None:
        nonlocal schema
        try:
            schema = _widened(schema, batch, lines)
        except _Conflict as conflict:
            raise InputError(conflict.message(), path=path, line=conflict.line) from None
        batch.clear()
        lines.clear()

    for line, row in read_rows(path) if rows is None else rows:
        if isinstance(row, dict):  # any other row is refused by the shape check
            batch.append({k: v for k, v in row.items() if k != "realign"})  # written as text, whatever it holds
            lines.append(line)
            if len(batch) >= PARQUET_BATCH:
                widen()
    if batch:
        widen()
    schema = pa.schema([]) if schema is None else schema
    empty = next((w for f in schema if (w := _empty_object(f.type, f.name)) is not None), None)
    if empty is not None:
        raise InputError(
            f"field {empty!r} is an empty object in every row, which Parquet cannot store; write .jsonl instead",
            path=path,
        )
    schema = schema.append(pa.field("realign", pa.string()))
    _scanned.clear()
    _scanned[key] = schema
    return schema


def input_schema(like: str | Path) -> Any:
    """The schema of a Parquet output of the rows of ``like``, with ``realign`` as a text column: a Parquet
    input's own (column types, metadata), a JSON or JSONL input's from its rows (see :func:`parquet_schema`);
    None when ``like`` is no dataset file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    like = Path(like)
    if like.suffix.lower() not in _CONTAINERS or not like.is_file():
        return None
    if container_of(like) != "parquet":
        return parquet_schema(like)
    try:
        schema = pq.read_schema(like)
    except Exception:  # pyarrow raises several unrelated types; the reader has already named a bad file
        return None
    text = pa.field("realign", pa.string())
    index = schema.get_field_index("realign")
    return schema.set(index, text) if index >= 0 else schema.append(text)


def table_of(rows: list[dict[str, Any]], schema: Any) -> Any:
    """``rows`` as an Arrow table of ``schema`` when they fit it (no field it lacks, each value of its column's
    type, see :func:`fit_row`), else of the types inferred from them (None: always)."""
    import pyarrow as pa

    if schema is not None and all(key in schema.names for row in rows for key in row):
        with contextlib.suppress(pa.ArrowException, ValueError, TypeError):
            return _table(rows, schema)
    return _inferred_table(rows)


class AtomicWriter:
    """Writes rows to ``path`` through a temporary file that replaces it only on success."""

    def __init__(self, path: str | Path, *, like: str | Path | None = None) -> None:
        """``like``: the input file the rows come from. When both are Parquet, the output takes the input's
        schema (column types such as int32 or timestamp[ms], and its metadata, e.g. Hugging Face features),
        with ``realign`` as a JSON text column: a training pipeline reads the output as it read the input.
        A Parquet output of a JSON or JSONL ``like`` takes the schema of all its rows (see
        :func:`parquet_schema`), read here, before any row is written: a value no Parquet column can hold
        raises :class:`InputError` now, not after the run."""
        self.path = Path(path)
        self.kind = container_of(self.path)
        self._like = Path(like) if like is not None else None
        directory = self.path.parent if str(self.path.parent) else Path(".")
        if not directory.is_dir():
            raise UsageError(f"cannot write {self.path}: folder {directory} does not exist")
        #: The Parquet schema rows are written in: the input's (``_fixed``: a Parquet input's, which rows are
        #: tried in first, as they were read from it), else widened as rows need (see :func:`_merge`).
        self._schema: Any = input_schema(self._like) if self.kind == "parquet" and self._like else None
        self._fixed = self._schema is not None and container_of(self._like or self.path) == "parquet"
        fd, self._tmp = _temp_beside(self.path)
        os.close(fd)
        self._count = 0
        self._handle: IO[str] | None = None
        self._parquet: Any = None
        #: A Parquet output's finished parts, each of one schema; a row that needs a wider schema than the
        #: part being written starts a new one, and :meth:`commit` joins them in the widest.
        self._parts: list[Path] = []
        self._batch: list[dict[str, Any]] = []
        if self.kind != "parquet":
            self._handle = self._tmp.open("w", encoding="utf-8")
            if self.kind == "json":
                self._handle.write("[")

    def write(self, row: dict[str, Any]) -> None:
        if self._handle is not None:
            if self.kind == "json":
                self._handle.write(",\n" if self._count else "\n")
            try:
                try:
                    text = _json_text(row)
                except ValueError:  # NaN or infinity (a Parquet float column): strict JSON has no such number
                    text = _json_text(_finite(row))
            except TypeError as exc:  # a column type with no JSON form (see _json_value)
                raise InputError(f"{exc}; write .parquet instead", path=self.path, line=self._count + 1) from exc
            self._handle.write(text)
            if self.kind == "jsonl":
                self._handle.write("\n")
            self._count += 1
        else:
            self._batch.append(row)
            self._count += 1
            if len(self._batch) >= PARQUET_BATCH:
                self._flush_parquet()

    def _flush_parquet(self) -> None:
        import pyarrow as pa

        rows = [
            {**r, "realign": json.dumps(r["realign"], ensure_ascii=False)} if "realign" in r else r for r in self._batch
        ]
        first = self._count - len(rows) + 1
        self._batch = []
        try:
            table = self._fixed_table(rows) if self._fixed else None
            if table is None:
                self._fixed = False  # rows that left the input's schema: widen from it from now on
                try:
                    schema = _widened(self._schema, rows, list(range(first, self._count + 1)))
                except _Conflict as conflict:
                    raise InputError(conflict.message(), path=self.path, line=conflict.line) from None
                if self._parquet is None or not schema.equals(self._schema):
                    self._start_part(schema)
                table = _table(rows, schema)
            elif self._parquet is None:
                self._start_part(self._schema)
            self._parquet.write_table(table)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise InputError(
                f"rows {first}-{self._count} do not fit one Parquet schema ({exc}); write .jsonl instead",
                path=self.path,
            ) from exc

    def _fixed_table(self, rows: list[dict[str, Any]]) -> Any:
        """``rows`` in the input's schema, or None when they do not fit it (a field it lacks: pyarrow would
        drop it)."""
        import pyarrow as pa

        names = set(self._schema.names)
        if any(key not in names for row in rows for key in row):
            return None
        try:
            return _table(rows, self._schema)
        except (pa.ArrowException, ValueError, TypeError):
            return None

    def _start_part(self, schema: Any) -> None:
        """Write the next rows in ``schema``: into a new part when the current one has rows of another."""
        import pyarrow.parquet as pq

        if self._parquet is not None:
            self._parquet.close()
            self._parts.append(self._tmp)
            fd, self._tmp = _temp_beside(self.path)
            os.close(fd)
        self._schema = schema
        self._parquet = pq.ParquetWriter(self._tmp, schema)

    def _join_parts(self) -> None:
        """Write every part, in order, in the last (widest) schema, into one file: ``_tmp`` then."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = [*self._parts, self._tmp]
        fd, joined = _temp_beside(self.path)
        os.close(fd)
        self._parts, self._tmp = parts, joined  # abort() removes them all
        self._parquet = pq.ParquetWriter(joined, self._schema)
        for part in parts:
            with pq.ParquetFile(part) as handle:
                for batch in handle.iter_batches(batch_size=PARQUET_BATCH):
                    table = pa.Table.from_batches([batch])
                    if not table.schema.equals(self._schema):
                        table = _table(table.to_pylist(), self._schema)
                    self._parquet.write_table(table)
        self._parquet.close()
        for part in parts:
            part.unlink(missing_ok=True)
        self._parts = []

    def commit(self) -> None:
        """Finish the file and move it into place."""
        if self._handle is not None:
            if self.kind == "json":
                self._handle.write("\n]\n" if self._count else "]\n")
            self._handle.close()
        else:
            if self._batch:
                self._flush_parquet()
            if self._parquet is None:
                self._empty_parquet()
            self._parquet.close()
            if self._parts:
                self._join_parts()
        _publish(self._tmp, self.path)

    def _empty_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._parquet = pq.ParquetWriter(self._tmp, self._schema or pa.schema([]))

    def abort(self) -> None:
        """Drop the temporary files; the target is left as it was."""
        if self._handle is not None and not self._handle.closed:
            self._handle.close()
        if self._parquet is not None:
            with contextlib.suppress(Exception):  # the file is deleted next anyway
                self._parquet.close()
        for part in [*self._parts, self._tmp]:
            part.unlink(missing_ok=True)

    def __enter__(self) -> AtomicWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is not None:
            self.abort()
            return
        try:
            self.commit()
        except BaseException:
            self.abort()
            raise


def _temp_beside(path: Path) -> tuple[int, Path]:
    """A new temporary file next to ``path``, named after it and this process.

    A process killed with SIGKILL cannot remove its temporary file; the next writer of the same
    path removes those whose process is gone, so a crashed big run leaves no big stray file for long.
    """
    directory = path.parent if str(path.parent) else Path(".")
    for stale in directory.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = stale.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: cannot create a file in {directory} ({exc.strerror or exc})") from exc
    return fd, Path(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _publish(tmp: Path, path: Path) -> None:
    """Move a finished temporary file into place, with the permissions of a normal new file
    (mkstemp creates it private, 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


@overload
def atomic_file(path: Path, mode: Literal["w"] = ..., *, errors: str = ...) -> AbstractContextManager[IO[str]]: ...


@overload
def atomic_file(path: Path, mode: Literal["wb"], *, errors: str = ...) -> AbstractContextManager[IO[bytes]]: ...


@overload
def atomic_file(path: Path, mode: None, *, errors: str = ...) -> AbstractContextManager[Path]: ...


@contextlib.contextmanager
def atomic_file(path: Path, mode: Literal["w", "wb"] | None = "w", *, errors: str = "strict") -> Iterator[Any]:
    """Write ``path`` through a temporary file beside it that replaces it only on success.

    Yields the open temporary file (``"w"``: UTF-8 text with ``errors``, ``"wb"``: bytes), or with
    ``mode=None`` its path, for writers that open the file themselves (SQLite). When the block ends
    without an exception the file gets the permissions of a normal new file and is renamed to
    ``path``; when it raises, the temporary file is deleted and ``path`` is left as it was.
    Raises :class:`UsageError` when no file can be created in the folder; later OS errors (disk
    full, a failed rename) propagate for the caller to word.
    """
    path = Path(path)
    fd, tmp = _temp_beside(path)
    try:
        if mode is None:
            os.close(fd)
            yield tmp
        else:
            with os.fdopen(
                fd, mode, encoding="utf-8" if mode == "w" else None, errors=errors if mode == "w" else None
            ) as handle:
                yield handle
        _publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
