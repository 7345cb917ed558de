"""The embedded FTS5 index: building from JSONL and folders, splitting, querying, errors."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from realign._exceptions import InputError, UsageError
from realign._models import Evidence
from realign._search.evidence import clean_evidence
from realign._search.index import LocalIndex, build_index, fts_query, query_terms, split_passages

DOCS = [
    {
        "id": "photo",
        "title": "Photosynthesis",
        "url": "https://w.example/Photosynthesis",
        "text": "Plants convert light energy into chemical energy stored in glucose. Chlorophyll absorbs light.",
    },
    {
        "id": "volcano",
        "title": "Volcano",
        "text": "A volcano is a rupture in the crust of a planet where lava and ash escape. Magma rises.",
    },
    {
        "id": "cell",
        "title": "Mitochondrion",
        "text": "The mitochondrion produces most of the chemical energy needed by the cell, as ATP.",
    },
    {"title": "Mount Etna", "text": "Mount Etna in Sicily is one of the most active mountains in Europe."},
]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def search(index: LocalIndex, query: str) -> list[Evidence]:
    return asyncio.run(index.search(query))


@pytest.fixture
def index(tmp_path: Path) -> Any:
    build_index(write_jsonl(tmp_path / "docs.jsonl", DOCS), tmp_path / "index.sqlite")
    with_index = LocalIndex(tmp_path / "index.sqlite", k=3)
    yield with_index
    with_index.close()


# ---------------------------------------------------------------------------------------------
# Building


def test_build_from_jsonl_reports_stats(tmp_path: Path) -> None:
    output = tmp_path / "sub" / "index.sqlite"
    stats = build_index(write_jsonl(tmp_path / "docs.jsonl", DOCS), output)
    assert (stats.documents, stats.passages) == (4, 4)
    assert stats.path == output
    assert stats.bytes == output.stat().st_size > 0
    assert len(stats.content_sha256) == 64
    assert [p.name for p in output.parent.iterdir()] == ["index.sqlite"]  # no temporary file left


def test_relevant_passage_ranks_first(index: LocalIndex) -> None:
    found = search(index, "How do plants turn light into chemical energy?")
    assert found[0] == Evidence(text=DOCS[0]["text"], title="Photosynthesis", url="https://w.example/Photosynthesis")
    assert search(index, "Which part of the cell makes ATP?")[0].title == "Mitochondrion"


def test_title_weighs_more_than_body(index: LocalIndex) -> None:
    # "volcano" is in one title and one body; "mountains" only in Etna's body.
    assert search(index, "volcano mountains")[0].title == "Volcano"


def test_k_limits_the_results(tmp_path: Path) -> None:
    rows = [{"text": f"Energy fact number {i} about the energy of things."} for i in range(20)]
    build_index(write_jsonl(tmp_path / "d.jsonl", rows), tmp_path / "i.sqlite")
    with LocalIndex(tmp_path / "i.sqlite", k=4) as local:
        assert len(search(local, "energy")) == 4


@pytest.mark.parametrize(
    "query",
    [
        'NEAR(energy light) AND OR NOT * ^ "unbalanced',
        'c++ / c#? {x} [y] (z) -minus +plus col:umn \'single\' """',
        "!!! ??? ... ---",
        "",
        "the of and",  # only stopwords: searched as they are
        "energy*",
        "émigré naïve café 日本語 energy",
        "a" * 5000,
        "\x00 nul byte energy",
    ],
)
def test_punctuation_heavy_queries_do_not_crash(index: LocalIndex, query: str) -> None:
    assert isinstance(search(index, query), list)


def test_query_terms_and_fts_query() -> None:
    assert query_terms("Please explain: what is Photosynthesis? photosynthesis!") == ["photosynthesis"]
    assert query_terms("the of") == ["the", "of"]
    assert query_terms("...") == []
    assert fts_query('say "hi" NEAR(x)') == '"say" OR "hi" OR "near" OR "x"'
    assert fts_query("") == ""
    assert len(query_terms(" ".join(f"w{i}" for i in range(100)))) == 32


def test_common_terms_do_not_select_candidates_alone(tmp_path: Path) -> None:
    rows = [{"text": f"Common words fill passage number {i} here."} for i in range(3000)]
    rows.append({"title": "Target", "text": "The zebrafish regrows its fins; common words too."})
    build_index(write_jsonl(tmp_path / "d.jsonl", rows), tmp_path / "i.sqlite")
    query = "How do zebrafish regrow common fins? (unknownword)"
    with (
        LocalIndex(tmp_path / "i.sqlite", k=2) as pruned,
        LocalIndex(tmp_path / "i.sqlite", common_fraction=1.0) as full,
    ):
        assert pruned.match_expression(query) == (
            '("zebrafish" OR "regrow" OR "fins") AND ("zebrafish" OR "regrow" OR "common" OR "fins")'
        )
        assert full.match_expression(query) == '"zebrafish" OR "regrow" OR "common" OR "fins"'
        assert [e.title for e in search(pruned, query)] == ["Target"]
        assert search(full, query)[0].title == "Target"
        assert pruned.match_expression("common") == '"common"'  # nothing rarer: searched as it is
        assert pruned.match_expression("...") == ""


def test_build_from_folder(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    (folder / "deep" / "er").mkdir(parents=True)
    (folder / ".git").mkdir()
    (folder / "volcano.md").write_text("Intro line.\n\n# Volcanoes of Italy\n\nEtna erupts often.\n")
    (folder / "deep" / "er" / "ocean_tides.txt").write_text("Tides are caused by the moon's gravity.\n")
    (folder / "deep" / "image.png").write_bytes(b"\x89PNG")
    (folder / ".git" / "secret.md").write_text("# Hidden\n\nmoon gravity tides")
    stats = build_index(folder, tmp_path / "index.sqlite")
    assert (stats.documents, stats.passages) == (2, 2)
    with LocalIndex(tmp_path / "index.sqlite") as local:
        [tides] = search(local, "What causes tides?")
        assert tides.title == "ocean_tides"
        assert tides.url == str(folder / "deep" / "er" / "ocean_tides.txt")
        assert search(local, "Etna")[0].title == "Volcanoes of Italy"


def test_build_from_a_single_markdown_file(tmp_path: Path) -> None:
    note = tmp_path / "note.md"
    note.write_text("## Glaciers ##\n\nGlaciers carve valleys.")
    assert build_index(note, tmp_path / "i.sqlite").documents == 1
    with LocalIndex(tmp_path / "i.sqlite") as local:
        assert search(local, "glacier valleys")[0].title == "Glaciers"


def test_long_documents_are_split_into_passages(tmp_path: Path) -> None:
    paragraphs = [f"Paragraph {i} talks about topic{i} " + "filler " * 40 for i in range(10)]
    rows = [{"title": "Long", "text": "\n\n".join(paragraphs)}]
    stats = build_index(write_jsonl(tmp_path / "d.jsonl", rows), tmp_path / "i.sqlite", passage_words=100)
    assert stats.passages == 5  # two ~45-word paragraphs per passage
    with LocalIndex(tmp_path / "i.sqlite", k=1) as local:
        [hit] = search(local, "topic7")
        assert "topic7" in hit.text
        assert "topic6" in hit.text
        assert "topic5" not in hit.text


def test_split_passages_packs_paragraphs_and_windows_long_ones() -> None:
    assert list(split_passages("a b\n\nc d\n\n\n  \n\ne f", 4)) == ["a b\n\nc d", "e f"]
    assert list(split_passages("", 4)) == []
    words = " ".join(f"w{i}" for i in range(25))
    windows = list(split_passages(f"short one\n\n{words}\n\ntail", 10, overlap=2))
    assert windows[0] == "short one"
    assert windows[1].split() == [f"w{i}" for i in range(10)]
    assert windows[2].split()[:2] == ["w8", "w9"]  # the overlap
    assert windows[-2].split()[-1] == "w24"
    assert windows[-1] == "tail"
    assert all(len(w.split()) <= 10 for w in windows)


def test_same_content_gives_the_same_identity(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "d.jsonl", DOCS)
    first = build_index(source, tmp_path / "a.sqlite").content_sha256
    assert build_index(source, tmp_path / "b.sqlite").content_sha256 == first
    assert build_index(source, tmp_path / "c.sqlite", passage_words=50).content_sha256 != first
    write_jsonl(source, DOCS[:2])
    assert build_index(source, tmp_path / "d.sqlite").content_sha256 != first
    with LocalIndex(tmp_path / "a.sqlite") as a, LocalIndex(tmp_path / "b.sqlite") as b:
        assert a.identity == b.identity
        assert first[:16] in a.identity
        assert a.passages == 4
        assert "a.sqlite" in repr(a)


def test_rebuild_replaces_the_index(tmp_path: Path) -> None:
    output = tmp_path / "i.sqlite"
    build_index(write_jsonl(tmp_path / "d.jsonl", DOCS), output)
    build_index(write_jsonl(tmp_path / "d.jsonl", [{"text": "Only glaciers are left here."}]), output)
    with LocalIndex(output) as local:
        assert local.passages == 1
        assert search(local, "volcano") == []


def test_search_results_are_clean(index: LocalIndex) -> None:
    found = search(index, "energy")
    assert found == clean_evidence(found, max_items=3)


def test_concurrent_searches(index: LocalIndex) -> None:
    async def many() -> list[list[Evidence]]:
        return await asyncio.gather(*(index.search("energy light") for _ in range(50)))

    results = asyncio.run(many())
    assert all(r == results[0] and r for r in results)


# ---------------------------------------------------------------------------------------------
# Errors


def test_bad_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "d.jsonl", [DOCS[0], "", '{"text": "broken', DOCS[1]])
    output = tmp_path / "i.sqlite"
    with pytest.raises(InputError) as info:
        build_index(source, output)
    assert (info.value.path, info.value.line) == (str(source), 3)
    assert str(info.value).startswith(f"{source} line 3: invalid JSON")
    assert list(tmp_path.iterdir()) == [source]  # neither the index nor a temporary file


@pytest.mark.parametrize("row", ['["a list"]', '{"title": "no text"}', '{"text": 42}', "17"])
def test_rows_without_text_are_input_errors(tmp_path: Path, row: str) -> None:
    source = write_jsonl(tmp_path / "d.jsonl", [row])
    with pytest.raises(InputError, match='line 1: expected a JSON object with a string field "text"'):
        build_index(source, tmp_path / "i.sqlite")


def test_blank_rows_are_skipped(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "d.jsonl", [{"text": "  "}, DOCS[0]])
    assert build_index(source, tmp_path / "i.sqlite").documents == 1


def test_non_utf8_source(tmp_path: Path) -> None:
    source = tmp_path / "d.jsonl"
    source.write_bytes(b'{"text": "caf\xe9"}\n')
    with pytest.raises(InputError, match="UTF-8"):
        build_index(source, tmp_path / "i.sqlite")


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        build_index(tmp_path / "nope.jsonl", tmp_path / "i.sqlite")


def test_unwritable_output_folder_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = write_jsonl(tmp_path / "d.jsonl", DOCS)
    folder = tmp_path / "out"
    folder.mkdir()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    # Root may write anywhere, so the refusal is simulated where the temporary file is created.
    monkeypatch.setattr("realign._io.files.tempfile.mkstemp", refuse)
    with pytest.raises(UsageError, match=r"cannot write .*i\.sqlite: cannot create a file in .*out") as info:
        build_index(source, folder / "i.sqlite")
    assert "(Permission denied)" in str(info.value)
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="needs a user that permissions bind")
def test_read_only_output_folder_is_a_usage_error(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "d.jsonl", DOCS)
    folder = tmp_path / "out"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(UsageError, match=r"cannot write .*Permission denied"):
            build_index(source, folder / "i.sqlite")
    finally:
        folder.chmod(0o700)


def test_output_folder_that_cannot_be_created_is_a_usage_error(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "d.jsonl", DOCS)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(UsageError, match=r"cannot write .*cannot create folder"):
        build_index(source, blocker / "sub" / "i.sqlite")


@pytest.mark.parametrize(("words", "overlap"), [(5, 0), (100, -1), (100, 50), (100, 200)])
def test_bad_split_settings(tmp_path: Path, words: int, overlap: int) -> None:
    with pytest.raises(UsageError):
        build_index(
            write_jsonl(tmp_path / "d.jsonl", DOCS), tmp_path / "i.sqlite", passage_words=words, overlap=overlap
        )


def test_missing_index_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no search index at .*build one"):
        LocalIndex(tmp_path / "missing.sqlite")


def test_file_that_is_not_an_index(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_text("this is not a database " * 100)
    with pytest.raises(UsageError, match="not a realign search index"):
        LocalIndex(garbage)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(UsageError, match="not a realign search index"):
        LocalIndex(other)


def test_index_of_another_format(tmp_path: Path) -> None:
    path = tmp_path / "i.sqlite"
    build_index(write_jsonl(tmp_path / "d.jsonl", DOCS), path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value = 'realign-fts5/0' WHERE key = 'format'")
    conn.close()
    with pytest.raises(UsageError, match="rebuild"):
        LocalIndex(path)


def test_bad_k(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        LocalIndex(tmp_path / "whatever", k=0)


def test_index_command_prints_a_human_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from realign._cli.main import main

    corpus = tmp_path / "docs.jsonl"
    corpus.write_text('{"text": "Cats sleep a lot."}\n{"text": "Dogs bark."}\n', encoding="utf-8")
    assert main(["index", str(corpus), "-o", str(tmp_path / "docs.sqlite")]) == 0
    err = capsys.readouterr().err
    assert "2 documents, 2 passages" in err
    assert "IndexStats(" not in err
    assert "PosixPath" not in err


def test_the_index_is_never_written_over_its_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from realign._cli.main import main

    corpus = tmp_path / "docs.jsonl"
    corpus.write_text('{"text": "Cats sleep a lot."}\n', encoding="utf-8")
    assert main(["index", str(corpus), "-o", str(corpus)]) == 2


def test_a_corpus_named_as_the_output_is_left_as_it_was(tmp_path: Path) -> None:
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text('{"text": "Cats sleep a lot."}\n', encoding="utf-8")
    with pytest.raises(UsageError, match="over its own corpus"):
        build_index(corpus, tmp_path / "." / "docs.jsonl")
    assert corpus.read_text(encoding="utf-8") == '{"text": "Cats sleep a lot."}\n'
