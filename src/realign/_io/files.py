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
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, overload

from .._exceptions import InputError, UsageError

__all__ = ["AtomicWriter", "atomic_file", "container_of", "fit_row", "read_rows"]

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
        for batch in handle.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                number += 1
                if isinstance(row.get("realign"), str):  # our metadata column is stored as JSON text
                    try:
                        row["realign"] = json.loads(row["realign"])
                    except (json.JSONDecodeError, RecursionError) as exc:
                        raise InputError("the 'realign' column is not JSON text", path=path, line=number) from exc
                yield number, row


def _json_value(value: Any) -> Any:
    """The JSON form of a value a Parquet column holds and JSON has no type for: dates and times in
    ISO 8601, a duration in seconds, a decimal as its exact digits (a string), bytes in base64."""
    if isinstance(value, (datetime.date, datetime.time)):  # datetime.datetime is a date
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
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
    """``value`` with each string where ``kind`` holds a list of text parts made one text part."""
    import pyarrow as pa

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


#: Rows a Parquet output's first table holds: their fields fix the file's schema (a Parquet file has one).
PARQUET_BATCH = 1024


def fields_after_first_batch(rows: Iterable[tuple[int, dict[str, Any]]]) -> tuple[int, str] | None:
    """The first ``(line, field)`` whose top-level field none of the first :data:`PARQUET_BATCH` rows has, or
    None. Such a row cannot join a Parquet output whose schema the first rows set: run before any call is
    paid, this turns a failure at the write (after every row was paid for) into one line at the start."""
    seen: set[str] = set()
    for count, (line, row) in enumerate(rows):
        if count < PARQUET_BATCH:
            seen.update(row)
            continue
        extra = next((key for key in row if key not in seen), None)
        if extra is not None:
            return line, extra
    return None


class AtomicWriter:
    """Writes rows to ``path`` through a temporary file that replaces it only on success."""

    def __init__(self, path: str | Path, *, like: str | Path | None = None) -> None:
        """``like``: the input file the rows come from. When both are Parquet, the output takes the input's
        schema (column types such as int32 or timestamp[ms], and its metadata, e.g. Hugging Face features),
        with ``realign`` as a JSON text column: a training pipeline reads the output as it read the input."""
        self.path = Path(path)
        self.kind = container_of(self.path)
        self._like = Path(like) if like is not None else None
        directory = self.path.parent if str(self.path.parent) else Path(".")
        if not directory.is_dir():
            raise UsageError(f"cannot write {self.path}: folder {directory} does not exist")
        fd, self._tmp = _temp_beside(self.path)
        os.close(fd)
        self._count = 0
        self._handle: IO[str] | None = None
        self._parquet: Any = None
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
        import pyarrow.parquet as pq

        rows = [
            {**r, "realign": json.dumps(r["realign"], ensure_ascii=False)} if "realign" in r else r for r in self._batch
        ]
        first = self._count - len(rows) + 1
        self._batch = []
        try:
            if self._parquet is None:
                table = self._first_table(rows)
                self._parquet = pq.ParquetWriter(self._tmp, table.schema)
            else:
                # A Parquet file has one schema: later rows must fit the one the first rows set.
                names = set(self._parquet.schema.names)
                extra = next((key for row in rows for key in row if key not in names), None)
                if extra is not None:
                    raise InputError(
                        f"field {extra!r} is missing from the first rows; Parquet needs one schema "
                        "for all rows (write .jsonl instead)",
                        path=self.path,
                        line=first,
                    )
                table = _table(rows, self._parquet.schema)
            self._parquet.write_table(table)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise InputError(
                f"rows {first}-{self._count} do not fit one Parquet schema ({exc}); write .jsonl instead",
                path=self.path,
            ) from exc

    def _input_schema(self) -> Any:
        """The schema of a Parquet input (``like``) with ``realign`` as a text column; None without one."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._like is None or self._like.suffix.lower() != ".parquet":
            return None
        try:
            schema = pq.read_schema(self._like)
        except Exception:  # pyarrow raises several unrelated types; the reader has already named a bad file
            return None
        text = pa.field("realign", pa.string())
        index = schema.get_field_index("realign")
        return schema.set(index, text) if index >= 0 else schema.append(text)

    def _first_table(self, rows: list[dict[str, Any]]) -> Any:
        """The first rows as a table, in the input's schema when it has one they fit, else in the types
        inferred from them (a rewritten value no longer of its column's type: a list of text parts
        written back as a string)."""
        import pyarrow as pa

        schema = self._input_schema()
        if schema is not None:
            try:
                return _table(rows, schema)
            except (pa.ArrowException, ValueError, TypeError):
                pass
        # Every field of every row: pyarrow's from_pylist takes the first row's keys and silently drops the
        # others (an OpenAI row with `tools` after one without).
        names = dict.fromkeys(key for row in rows for key in row)
        return pa.Table.from_pydict({name: [row.get(name) for row in rows] for name in names})

    def commit(self) -> None:
        """Finish the file and move it into place."""
        if self._handle is not None:
            if self.kind == "json":
                self._handle.write("\n]\n" if self._count else "]\n")
            self._handle.close()
        else:
            if self._batch or self._parquet is None:
                self._flush_parquet() if self._batch else self._empty_parquet()
            self._parquet.close()
        _publish(self._tmp, self.path)

    def _empty_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._parquet = pq.ParquetWriter(self._tmp, self._input_schema() or pa.schema([]))

    def abort(self) -> None:
        """Drop the temporary file; the target is left as it was."""
        if self._handle is not None and not self._handle.closed:
            self._handle.close()
        if self._parquet is not None:
            with contextlib.suppress(Exception):  # the file is deleted next anyway
                self._parquet.close()
        self._tmp.unlink(missing_ok=True)

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
