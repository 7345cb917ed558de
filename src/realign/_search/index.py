"""An embedded full-text index: evidence retrieval that needs no key and no network.

:func:`build_index` turns a dataset file (``.jsonl``, ``.json`` or ``.parquet`` rows with ``text`` and
optional ``title``, ``id``, ``url``) or a folder of ``.txt``/``.md`` files into one SQLite file with
an FTS5 table ranked by BM25.
:class:`LocalIndex` searches that file and implements the ``SearchClient`` seam.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from .._exceptions import FatalSearchError, InputError, UsageError
from .._io.files import atomic_file, read_rows
from .._loops import PerLoop
from .._models import Evidence
from .evidence import clean_evidence

__all__ = ["IndexStats", "LocalIndex", "build_index", "query_terms"]

#: Stored in the ``meta`` table; bump when the schema changes.
INDEX_FORMAT = "realign-fts5/1"
#: BM25 column weights (title, text): a term in a document's title says more than one in its body.
TITLE_WEIGHT, TEXT_WEIGHT = 4.0, 1.0
TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
#: A query of more terms than this is slower and no better: the first ones carry the question.
MAX_QUERY_TERMS = 32
#: A term in more than this share of passages is "common": see :meth:`LocalIndex.match_expression`.
COMMON_FRACTION = 0.1
#: ...and in more passages than this: below it BM25 over every match is cheap, and exact.
COMMON_MIN_PASSAGES = 1000
_DF_CACHE_SIZE = 100_000
_INSERT_BATCH = 2000

# Function words and the verbs instructions open with ("explain", "describe"): they match nearly
# every passage, so leaving them in an OR query only adds noise and time.
_STOPWORD_TEXT = """
    a about above after again against all also am an and any are aren't as at be because been before
    being below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just let me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own please same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours yourself yourselves
    tell explain describe give list write provide briefly detail details detailed know
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# Letters and digits: the characters unicode61 keeps in tokens ("_" separates tokens there too).
_WORD = re.compile(r"[^\W_]+")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")

_SCHEMA = f"""
CREATE VIRTUAL TABLE passages USING fts5(
    title, text, url UNINDEXED, doc_id UNINDEXED, tokenize = 'porter unicode61'
);
INSERT INTO passages(passages, rank) VALUES ('rank', 'bm25({TITLE_WEIGHT}, {TEXT_WEIGHT})');
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class IndexStats:
    """What :func:`build_index` wrote."""

    path: Path
    documents: int
    passages: int
    bytes: int
    seconds: float
    content_sha256: str
    """Hash of every passage indexed (with the split settings): it identifies the index's content."""


@dataclass(frozen=True, slots=True)
class _Document:
    text: str
    title: str
    url: str
    doc_id: str


# ---------------------------------------------------------------------------------------------
# Building


def build_index(source: Path, output: Path, *, passage_words: int = 200, overlap: int | None = None) -> IndexStats:
    """Index ``source`` (a JSONL/JSON/Parquet file, a ``.txt``/``.md`` file or a folder of them) into ``output``.

    Documents are split into passages of whole paragraphs, up to about ``passage_words`` words
    each; a paragraph longer than that is cut into windows that share ``overlap`` words (default:
    a fifth of ``passage_words``), so a sentence on a cut is still found whole in one of them.
    The file is written under a temporary name and renamed at the end: a failed build never leaves
    a half-written index at ``output``.

    Raises :class:`InputError` (with ``path`` and ``line``) for a row that cannot be used
    and :class:`UsageError` for a missing source, bad split settings or an output folder that cannot
    be written.
    """
    source, output = Path(source), Path(output)
    overlap = passage_words // 5 if overlap is None else overlap
    _check_split(passage_words, overlap)
    if not source.exists():
        raise UsageError(f"cannot index {source}: no such file or folder")
    if output.exists() and output.samefile(source):  # the index would replace the documents it was built from
        raise UsageError(f"cannot write the index over its own corpus {source}: name another file")
    started = time.perf_counter()
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        message = f"cannot write {output}: cannot create folder {output.parent} ({exc.strerror or exc})"
        raise UsageError(message) from exc
    with atomic_file(output, None) as tmp:
        documents, passages, digest = _write_index(tmp, _read_documents(source), passage_words, overlap)
    return IndexStats(
        path=output,
        documents=documents,
        passages=passages,
        bytes=output.stat().st_size,
        seconds=time.perf_counter() - started,
        content_sha256=digest,
    )


def _check_split(passage_words: int, overlap: int) -> None:
    if passage_words < 10:
        raise UsageError(f"passage_words must be at least 10 (got {passage_words})")
    if not 0 <= overlap < passage_words // 2:
        raise UsageError(f"overlap must be between 0 and passage_words / 2 (got {overlap})")


def _write_index(path: Path, documents: Iterable[_Document], passage_words: int, overlap: int) -> tuple[int, int, str]:
    digest = hashlib.sha256(f"{INDEX_FORMAT}\0{passage_words}\0{overlap}".encode())
    n_docs = n_passages = 0
    conn = sqlite3.connect(path)
    try:
        # The file is private until the final rename, so durability during the build buys nothing.
        conn.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + _SCHEMA)
        batch: list[tuple[str, str, str, str]] = []
        for doc in documents:
            n_docs += 1
            for text in split_passages(doc.text, passage_words, overlap):
                row = (doc.title, text, doc.url, doc.doc_id)
                digest.update("\0".join(row).encode() + b"\1")
                batch.append(row)
                if len(batch) >= _INSERT_BATCH:
                    n_passages += _insert(conn, batch)
        n_passages += _insert(conn, batch)
        # Merge the b-tree segments written batch by batch: smaller file, faster queries.
        conn.execute("INSERT INTO passages(passages) VALUES ('optimize')")
        meta = {
            "format": INDEX_FORMAT,
            "documents": str(n_docs),
            "passages": str(n_passages),
            "passage_words": str(passage_words),
            "overlap": str(overlap),
            "content_sha256": digest.hexdigest(),
        }
        conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        conn.commit()
    finally:
        conn.close()
    return n_docs, n_passages, digest.hexdigest()


def _insert(conn: sqlite3.Connection, batch: list[tuple[str, str, str, str]]) -> int:
    conn.executemany("INSERT INTO passages (title, text, url, doc_id) VALUES (?, ?, ?, ?)", batch)
    n = len(batch)
    batch.clear()
    return n


def split_passages(text: str, passage_words: int, overlap: int = 0) -> Iterator[str]:
    """Pack whole paragraphs into passages of up to ``passage_words`` words; window longer paragraphs."""
    pending: list[str] = []
    size = 0
    for paragraph in _PARAGRAPH_BREAK.split(text):
        words = paragraph.split()
        if not words:
            continue
        if size + len(words) > passage_words and pending:
            yield "\n\n".join(pending)
            pending, size = [], 0
        if len(words) > passage_words:
            yield from _windows(words, passage_words, overlap)
            continue
        pending.append(" ".join(words))
        size += len(words)
    if pending:
        yield "\n\n".join(pending)


def _windows(words: list[str], size: int, overlap: int) -> Iterator[str]:
    step = size - overlap
    for start in range(0, len(words), step):
        yield " ".join(words[start : start + size])
        if start + size >= len(words):
            return


def _read_documents(source: Path) -> Iterator[_Document]:
    if source.is_dir():
        return _read_folder(source)
    if source.suffix.lower() in TEXT_SUFFIXES:
        return iter([_read_text_file(source)])
    return _read_rows(source)


def _read_rows(path: Path) -> Iterator[_Document]:
    rows = read_rows(path)  # checks the file type now, before anything is written
    documents = (_row_document(path, number, row) for number, row in rows)
    return (doc for doc in documents if doc is not None)


def _row_document(path: Path, number: int, row: Any) -> _Document | None:
    if not isinstance(row, dict) or not isinstance(row.get("text"), str):
        raise InputError('expected a JSON object with a string field "text"', path=path, line=number)
    if not row["text"].strip():
        return None
    return _Document(
        text=row["text"],
        title=_field(row, "title"),
        url=_field(row, "url"),
        doc_id=_field(row, "id") or str(number),
    )


def _field(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    return "" if value is None else str(value)


def _read_folder(folder: Path) -> Iterator[_Document]:
    # Sorted so the same folder always gives the same index (and the same content hash).
    for path in sorted(folder.rglob("*")):
        hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
        if path.is_file() and path.suffix.lower() in TEXT_SUFFIXES and not hidden:
            yield _read_text_file(path)


def _read_text_file(path: Path) -> _Document:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", path=path) from exc
    heading = _HEADING.search(text)
    title = heading.group(1) if heading else path.stem
    return _Document(text=text, title=title, url=str(path), doc_id=str(path))


# ---------------------------------------------------------------------------------------------
# Querying


def query_terms(text: str, *, limit: int = MAX_QUERY_TERMS) -> list[str]:
    """The distinct content words of ``text``, in order, lower-cased (stopwords dropped if any remain)."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))
    content = [w for w in words if w not in STOPWORDS]
    return (content or words)[:limit]


def fts_query(text: str) -> str:
    """An FTS5 query matching any content word of ``text``; "" when ``text`` has no words.

    Every term is a quoted string, so operators, quotes, colons, parentheses and ``NEAR`` in user
    text are matched as plain words and can never make the query a syntax error.
    """
    return _any_of(query_terms(text))


def _any_of(terms: Iterable[str]) -> str:
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


class LocalIndex:
    """A :class:`~realign.SearchClient` over an index written by :func:`build_index`.

    ``search`` returns the ``k`` best passages by BM25 (title weighted higher), cleaned with
    :func:`~realign._evidence.clean_evidence` under a ``max_chars`` total budget. Queries run in
    a worker thread so the event loop keeps going; the connection is read-only.

    ``common_fraction``: terms found in more than this share of passages do not select candidates
    on their own (see :meth:`match_expression`); 1.0 turns that off.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        k: int = 5,
        max_chars: int = 3000,
        concurrency: int = 10,
        common_fraction: float = COMMON_FRACTION,
    ) -> None:
        if k < 1:
            raise UsageError(f"k must be at least 1 (got {k})")
        self.path = Path(path)
        self.k = k
        self.max_chars = max_chars
        self.common_fraction = common_fraction
        self._conn, self._meta = _open_index(self.path)
        self._lock = threading.Lock()
        # Made again for a run under another asyncio.run: a semaphore binds to the loop it first waits on.
        self._semaphore = PerLoop(lambda: asyncio.Semaphore(concurrency))
        self._document_frequencies: dict[str, int] = {}

    @property
    def identity(self) -> str:
        """Names this index by content, not location: a cache key for its results."""
        return f"local:{self._meta['content_sha256'][:16]}:k={self.k}:chars={self.max_chars}"

    @property
    def passages(self) -> int:
        """How many passages the index holds."""
        return int(self._meta.get("passages", "0"))

    async def search(self, query: str) -> list[Evidence]:
        """The passages best matching ``query``; [] when it has no searchable words."""
        terms = query_terms(query)
        if not terms:
            return []
        async with self._semaphore.get():
            rows = await asyncio.to_thread(self._query, terms)
        return clean_evidence(rows, max_items=self.k, max_chars=self.max_chars)

    def _query(self, terms: list[str]) -> list[Evidence]:
        # Ask for extra rows: cleaning may drop near-duplicate passages (overlapping windows).
        sql = "SELECT title, text, url FROM passages WHERE passages MATCH ? ORDER BY rank LIMIT ?"
        try:
            with self._lock:
                rows = self._conn.execute(sql, (self._match_expression(terms), self.k * 2)).fetchall()
        except sqlite3.DatabaseError as exc:
            # A file damaged past the pages opening it reads (a copy cut short, a bad disk) fails on every
            # query that reaches the damage: going on would write an output without evidence, row by row.
            raise FatalSearchError(f"the search index {self.path} is damaged ({exc}): rebuild it") from exc
        return [Evidence(text=text, title=title, url=url) for title, text, url in rows]

    def match_expression(self, query: str) -> str:
        """The FTS5 expression :meth:`search` runs for ``query`` ("" when it has no words).

        BM25 costs time for every passage that matches, and a plain OR of the query's terms
        matches every passage holding any common word. So when the query has both rare and common
        terms (common: in more than ``common_fraction`` of the passages and more than
        ``COMMON_MIN_PASSAGES``), candidates must hold a rare one, and every term still scores:
        ``(rare...) AND (all terms...)``. Terms found nowhere are left out. The rare terms then
        count twice, a mild sharpening of their weight; on 100,000 passages this cuts query time
        about tenfold (see ``benchmarks/search_index.py``).
        """
        terms = query_terms(query)
        with self._lock:
            return self._match_expression(terms) if terms else ""

    def _match_expression(self, terms: list[str]) -> str:
        limit = max(self.common_fraction * self.passages, COMMON_MIN_PASSAGES)
        frequencies = {term: self._document_frequency(term) for term in terms}
        present = [term for term in terms if frequencies[term]] or terms
        rare = [term for term in present if frequencies[term] <= limit]
        if rare and len(rare) < len(present):
            return f"({_any_of(rare)}) AND ({_any_of(present)})"
        return _any_of(present)

    def _document_frequency(self, term: str) -> int:
        """Passages holding ``term`` (cached: counting is cheap, but common terms are asked often)."""
        if term not in self._document_frequencies:
            if len(self._document_frequencies) >= _DF_CACHE_SIZE:
                self._document_frequencies.clear()
            sql = "SELECT count(*) FROM passages WHERE passages MATCH ?"
            self._document_frequencies[term] = self._conn.execute(sql, (_any_of([term]),)).fetchone()[0]
        return self._document_frequencies[term]

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    async def aclose(self) -> None:
        """Close the database connection (async, like the web clients)."""
        self.close()

    def __enter__(self) -> LocalIndex:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> LocalIndex:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalIndex({str(self.path)!r}, k={self.k}, passages={self.passages})"


def _open_index(path: Path) -> tuple[sqlite3.Connection, dict[str, str]]:
    if not path.is_file():
        raise UsageError(f"no search index at {path}: build one first from a JSONL file or a folder of .txt/.md files")
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False)
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        conn.execute("SELECT rowid FROM passages LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise UsageError(f"{path} is not a realign search index ({exc}): rebuild it") from exc
    if meta.get("format") != INDEX_FORMAT:
        conn.close()
        raise UsageError(
            f"{path} is a search index of format {meta.get('format')!r}, this version reads "
            f"{INDEX_FORMAT!r}: rebuild it"
        )
    return conn, meta
