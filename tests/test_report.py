"""``realign report``: the summary counts, the escaping, the atomic write, and the page in a real browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import realign
from conftest import realign_row, write_jsonl
from realign._exceptions import InputError, UsageError
from realign._report.html import ReportSummary, write_report

DATA_TAG = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.S)


def rewritten(question: str, original: str, final: str, task: str = "open_qa", **meta: Any) -> dict[str, Any]:
    return realign_row(
        question,
        final,
        realign={
            "task": task,
            "confidence": 0.9,
            "tag": "rewrite",
            "reason": None,
            "evidence": [],
            "original": original,
            **meta,
        },
    )


def kept(question: str, answer: str, reason: str, task: str = "open_qa", **meta: Any) -> dict[str, Any]:
    return realign_row(
        question,
        answer,
        realign={"task": task, "confidence": 0.9, "tag": "original", "reason": reason, "evidence": [], **meta},
    )


def usage(prompt: int, completion: int, cached: int = 0) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "cached_tokens": cached}


XSS = [
    '<script>document.body.dataset.pwned = "script"</script>',
    '</script><script>document.body.dataset.pwned = "breakout"</script>',
    "<img src=x onerror=\"document.body.dataset.pwned = 'img'\">",
]


def sample_rows() -> list[dict[str, Any]]:
    return [
        rewritten(
            "Why is the sky blue?",
            "The sky is blue because of scattering.",
            "The sky is blue because of **Rayleigh scattering**.",
            usage=usage(1000, 200, 500),
            evidence=[
                {
                    "title": "Rayleigh",
                    "url": "https://en.wikipedia.org/wiki/Rayleigh_scattering",
                    "text": "see http://example.org/x",
                }
            ],
        ),
        rewritten(
            "How do I boil an egg?",
            "Boil it for 9 minutes.",
            "1. Boil water.\n2. Cook the egg 9 minutes.",
            task="how_to_generation",
            usage=usage(800, 100),
            rejected=["filter:length"],
        ),
        kept("Write a poem about the sea.", "Waves upon waves...", "task_not_rewritten", task="poem_generation"),
        kept(
            "What is 17 * 23?",
            "391",
            "filter:final_answer",
            task="math_puzzles",
            usage=usage(500, 50),
            rejected=["filter:final_answer"],
        ),
        kept(
            "Translate: good morning", "Bonjour", "filter:length", task="text_to_text_translation", usage=usage(400, 40)
        ),
        kept(XSS[0], XSS[1], "llm_error:timeout", task="email_generation"),
        kept(XSS[2], "fine", "unchanged", task="email_generation"),
    ]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "out.jsonl", sample_rows())


def embedded(page: str) -> dict[str, Any]:
    match = DATA_TAG.search(page)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


# Counts ---------------------------------------------------------------------------------------------------------


def test_summary_counts(source: Path, tmp_path: Path) -> None:
    summary = write_report(source, tmp_path / "report.html")

    assert isinstance(summary, ReportSummary)
    assert (summary.rows, summary.rewritten, summary.kept) == (7, 2, 5)
    assert summary.by_task == {
        "open_qa": 1,
        "how_to_generation": 1,
        "poem_generation": 1,
        "math_puzzles": 1,
        "text_to_text_translation": 1,
        "email_generation": 2,
    }
    assert summary.by_reason == {
        "rewritten": 2,
        "task_not_rewritten": 1,
        "filter:final_answer": 1,
        "filter:length": 1,
        "llm_error:timeout": 1,
        "unchanged": 1,
    }
    assert summary.guards == {"final_answer": 1, "length": 1}
    assert summary.rejected == {"filter:length": 1, "filter:final_answer": 1}
    assert (summary.prompt_tokens, summary.completion_tokens, summary.cached_tokens) == (2700, 390, 500)
    assert summary.cost is None


def test_cost_is_summed_when_rows_carry_one(tmp_path: Path) -> None:
    rows = [rewritten("q", "a", "b", cost=0.25), kept("q", "a", "unchanged", usage={**usage(1, 1), "cost": 0.5})]
    summary = write_report(write_jsonl(tmp_path / "out.jsonl", rows), tmp_path / "r.html")

    assert summary.cost == pytest.approx(0.75)
    assert "$0.75" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_page_shows_the_summary_and_embeds_each_row_once(source: Path, tmp_path: Path) -> None:
    page_path = tmp_path / "report.html"
    write_report(source, page_path, title="Batch 7 review")
    page = page_path.read_text(encoding="utf-8")
    data = embedded(page)

    assert "<title>Batch 7 review</title>" in page
    assert "<svg" in page
    assert "Rows by task" in page
    assert page.count("Why is the sky blue?") == 1  # only in the JSON: rows are rendered by the page's script
    first = data["rows"][0]
    assert (first["q"], first["o"], first["f"], first["g"]) == (
        "Why is the sky blue?",
        "The sky is blue because of scattering.",
        "The sky is blue because of **Rayleigh scattering**.",
        1,
    )
    assert data["tasks"][first["t"]] == "open_qa"
    poem = data["rows"][2]
    assert (poem["g"], poem["r"], "o" in poem) == (0, "task_not_rewritten", False)


def test_rows_without_a_tag_are_shown_as_not_reformatted(tmp_path: Path) -> None:
    rows = [realign_row("q", "a", realign={"task": "open_qa", "confidence": 0.7})]  # `realign classify` output
    summary = write_report(write_jsonl(tmp_path / "c.jsonl", rows), tmp_path / "r.html")

    assert summary.by_reason == {"not_reformatted": 1}


def test_an_empty_file_gives_an_empty_report(tmp_path: Path) -> None:
    source = tmp_path / "empty.jsonl"
    source.write_text("", encoding="utf-8")

    summary = write_report(source, tmp_path / "r.html")

    assert summary.rows == 0
    assert embedded((tmp_path / "r.html").read_text(encoding="utf-8"))["rows"] == []


# Escaping -------------------------------------------------------------------------------------------------------


def test_markup_in_the_data_cannot_leave_its_script_tag(source: Path, tmp_path: Path) -> None:
    rows = [*sample_rows(), kept("q", "a", "filter:<i>odd</i>", task="<b>bold</b>")]
    page_path = tmp_path / "report.html"
    write_report(write_jsonl(tmp_path / "x.jsonl", rows), page_path)
    page = page_path.read_text(encoding="utf-8")
    template = (Path(__file__).parents[1] / "src/realign/_report/template.html").read_text(encoding="utf-8")

    assert page.lower().count("</script") == template.lower().count("</script")
    assert "<b>bold</b>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<i>odd</i>" not in page
    assert "<img" not in page
    questions = [row["q"] for row in embedded(page)["rows"]]
    assert XSS[0] in questions
    assert XSS[2] in questions


def test_a_placeholder_in_the_data_is_not_expanded(tmp_path: Path) -> None:
    rows = [rewritten("@@SUMMARY@@ and @@DATA@@", "a", "b")]
    page_path = tmp_path / "r.html"
    write_report(write_jsonl(tmp_path / "x.jsonl", rows), page_path)

    assert embedded(page_path.read_text(encoding="utf-8"))["rows"][0]["q"] == "@@SUMMARY@@ and @@DATA@@"


def test_no_url_outside_the_embedded_data(source: Path, tmp_path: Path) -> None:
    page_path = tmp_path / "report.html"
    write_report(source, page_path)
    page = page_path.read_text(encoding="utf-8")
    outside = DATA_TAG.sub("", page)

    assert "https://en.wikipedia.org" in page  # the evidence link is there, as data
    assert "http://" not in outside
    assert "https://" not in outside
    assert "<link" not in outside
    assert not re.search(r"\bsrc\s*=", outside)
    assert "url(" not in outside


def test_a_lone_surrogate_does_not_break_the_report(tmp_path: Path) -> None:
    source = tmp_path / "s.jsonl"
    source.write_text(json.dumps(rewritten("bad \ud800 text", "a", "b")) + "\n", encoding="utf-8")

    assert write_report(source, tmp_path / "r.html").rows == 1


# Writing --------------------------------------------------------------------------------------------------------


def test_the_report_is_written_atomically(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("previous report", encoding="utf-8")
    moves: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        moves.append((str(src), str(dst)))
        assert Path(src).parent == target.parent
        assert Path(src).read_text(encoding="utf-8").startswith("<!doctype")
        real_replace(src, dst)

    monkeypatch.setattr("realign._report.html.os.replace", spy)
    write_report(source, target)

    assert len(moves) == 1
    assert moves[0][1] == str(target)
    assert target.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "report.html"]  # no temp file left
    assert target.stat().st_mode & 0o777 == 0o644 or os.name == "nt"


def test_a_failed_write_keeps_the_previous_report(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.html"
    target.write_text("previous report", encoding="utf-8")

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("realign._report.html.os.replace", fail)
    with pytest.raises(UsageError, match="No space left"):
        write_report(source, target)

    assert target.read_text(encoding="utf-8") == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "report.html"]


def test_a_bad_row_fails_before_anything_is_written(tmp_path: Path) -> None:
    source = tmp_path / "out.jsonl"
    source.write_text(json.dumps(rewritten("q", "a", "b")) + "\n{not json\n", encoding="utf-8")
    target = tmp_path / "report.html"

    with pytest.raises(InputError, match="line 2"):
        write_report(source, target)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


@pytest.mark.parametrize(
    ("name", "content", "error", "message"),
    [
        ("missing.jsonl", None, InputError, "file not found"),
        ("data.csv", "a,b\n", UsageError, "unsupported file type"),
        ("plain.jsonl", json.dumps(realign_row("q", "a")) + "\n", InputError, "no row has a 'realign' object"),
        ("odd.jsonl", json.dumps({"text": "x"}) + "\n", InputError, "unknown shape"),
    ],
)
def test_bad_input(tmp_path: Path, name: str, content: str | None, error: type[Exception], message: str) -> None:
    source = tmp_path / name
    if content is not None:
        source.write_text(content, encoding="utf-8")

    with pytest.raises(error, match=message):
        write_report(source, tmp_path / "report.html")


def test_bad_output(source: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        write_report(source, tmp_path / "nowhere" / "report.html")
    with pytest.raises(UsageError, match="is a folder"):
        write_report(source, tmp_path)
    with pytest.raises(UsageError, match="must not be the input"):
        write_report(source, source)


def test_the_template_ships_as_package_data() -> None:
    from importlib import resources

    assert "@@DATA@@" in resources.files("realign").joinpath("_report", "template.html").read_text(encoding="utf-8")


# In a real browser ---------------------------------------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


def chromium() -> str:
    """The browser, or a skip; under CI a missing browser fails, so the test cannot silently stop running."""
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed (apt-get install chromium): CI must run the browser tests")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def run_chromium(url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def dump_dom(page: Path, tmp_path: Path, fragment: str = "") -> tuple[str, str]:
    done = run_chromium(page.as_uri() + fragment, tmp_path, "--dump-dom")
    return done.stdout, done.stderr


def body(dom: str) -> str:
    """The attributes of <body>: the page reports ``data-ready`` and any ``data-errors`` (or ``data-pwned``) there."""
    match = re.search(r"<body([^>]*)>", dom)
    assert match is not None
    return match.group(1)


def console_lines(stderr: str) -> list[str]:
    # Chromium logs every console message and uncaught error as "...:INFO:CONSOLE..."; the page logs nothing.
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture
def page(tmp_path: Path) -> Path:
    chromium()
    cats = rewritten("Tell me about cats.", "The cat sat on the mat.", "The black cat sat on the mat.")
    rows = [*sample_rows(), cats]
    target = tmp_path / "site" / "report.html"
    target.parent.mkdir()
    write_report(write_jsonl(tmp_path / "cats.jsonl", rows), target)
    return target


def test_browser_renders_rows_without_errors_and_keeps_data_inert(page: Path, tmp_path: Path) -> None:
    dom, stderr = dump_dom(page, tmp_path)

    assert 'data-ready="1"' in body(dom)
    assert "data-errors" not in body(dom)
    assert console_lines(stderr) == []
    assert 'data-matches="8"' in dom
    assert dom.count("<article") == 8
    assert "data-pwned" not in body(dom)  # neither the <script>, the </script> breakout nor the <img onerror> ran
    assert "&lt;script&gt;document.body.dataset.pwned" in dom  # ...and the question shows as text
    assert "<ins>black</ins>" in dom  # the word diff of the last row
    assert "<del>scattering</del>" not in dom
    assert "<ins>**Rayleigh</ins>" in dom


def test_browser_applies_filters_from_the_url_hash(page: Path, tmp_path: Path) -> None:
    dom, stderr = dump_dom(page, tmp_path, "#tag=original&task=email_generation&q=PWNED")

    assert 'data-ready="1"' in body(dom)
    assert "data-errors" not in body(dom)
    assert console_lines(stderr) == []
    assert 'data-matches="2"' in dom
    assert "2 of 8 rows match" in dom
    assert re.findall(r'data-tag="(\w+)"', dom) == ["original", "original"]

    dom, _ = dump_dom(page, tmp_path, "#reason=filter%3Alength")
    assert 'data-matches="1"' in dom
    assert "Bonjour" in dom


def test_browser_screenshot(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    run_chromium(page.as_uri(), tmp_path, f"--screenshot={shot}", "--window-size=1280,900", "--hide-scrollbars")

    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 10_000
    assert struct.unpack(">II", png[16:24]) == (1280, 900)


def refused_row() -> dict[str, Any]:
    return kept(
        "What is 17 * 23?",
        "17 * 23 = 391",
        "filter:numbers",
        task="math_puzzles",
        model="gpt-4o-mini",
        usage=usage(1_000_000, 0),
        rejected=[
            {
                "reason": "filter:numbers",
                "detail": "missing: 391",
                "text": "**Answer:** 17 * 23 = 401",
                "reasoning": "bolded it",
            }
        ],
    )


def test_browser_shows_each_refused_candidate_with_its_diff_and_explanation(tmp_path: Path) -> None:
    chromium()
    target = tmp_path / "refused.html"
    write_report(write_jsonl(tmp_path / "refused.jsonl", [refused_row()]), target)

    dom, stderr = dump_dom(target, tmp_path)

    assert "data-errors" not in body(dom)
    assert console_lines(stderr) == []
    assert "refused candidates (1)" in dom
    assert "missing: 391" in dom  # the check's explanation
    assert "<ins>401</ins>" in dom  # the candidate, diffed against the original
    assert "<del>391</del>" in dom


def test_cost_in_dollars_for_the_run_and_per_task(tmp_path: Path) -> None:
    target = tmp_path / "cost.html"
    summary = write_report(write_jsonl(tmp_path / "cost.jsonl", [refused_row()]), target)

    assert summary.cost == pytest.approx(0.15)  # 1M prompt tokens at gpt-4o-mini's $0.15
    assert summary.cost_by_task == {"math_puzzles": pytest.approx(0.15)}
    assert "$0.1500" in target.read_text(encoding="utf-8")


def test_price_flags_override_the_table(tmp_path: Path) -> None:
    summary = write_report(
        write_jsonl(tmp_path / "cost.jsonl", [refused_row()]), tmp_path / "c.html", price_in=2.0, price_out=1.0
    )
    assert summary.cost == pytest.approx(2.0)


def test_report_command_prints_a_human_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from realign._cli.main import main

    source = write_jsonl(tmp_path / "rows.jsonl", [*sample_rows(), refused_row()])
    assert main(["report", str(source), "-o", str(tmp_path / "r.html")]) == 0
    err = capsys.readouterr().err
    assert "rows: 8  rewritten: 2" in err
    assert "Counter(" not in err
    assert "ReportSummary(" not in err
    assert "cost: $0.1500" in err


def test_refused_reasons_listed_once_by_who_refused(tmp_path: Path) -> None:
    rows = [kept("q", "a", "parse_error", rejected=["parse_error", "filter:length"])]
    page = write_report(write_jsonl(tmp_path / "p.jsonl", rows), tmp_path / "p.html")
    html_text = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert page.rejected == {"parse_error": 1, "filter:length": 1}
    assert html_text.count("<td>parse_error</td>") == 1
    assert "<td>reply</td>" in html_text


def test_a_check_that_raised_is_listed_as_a_check(tmp_path: Path) -> None:
    rows = [kept("q", "a", "check_error:mine", rejected=["check_error:mine"])]
    write_report(write_jsonl(tmp_path / "p.jsonl", rows), tmp_path / "p.html")
    assert "<td>check_error:mine</td><td>check</td>" in (tmp_path / "p.html").read_text(encoding="utf-8")


def test_a_row_kept_with_llm_error_shows_which_call_failed(tmp_path: Path) -> None:
    page = tmp_path / "e.html"
    error = "verify: server error 500; retries exhausted"
    write_report(write_jsonl(tmp_path / "e.jsonl", [kept("q", "a", "llm_error:server_error", error=error)]), page)
    assert page_rows(page)[0]["er"] == error


# Corrections from evidence: what a reviewer checks before training on a corrected row ----------------------------

JAWS_SOURCE = "https://en.wikipedia.org/wiki/Jaws_(film)"


def corrected_row(source: str = JAWS_SOURCE) -> dict[str, Any]:
    return rewritten(
        "Who directed Jaws?",
        "Jaws was directed by George Lucas.",
        "Jaws was directed by Steven Spielberg.",
        corrections=[{"from": "George Lucas", "to": "Steven Spielberg", "source": source}],
    )


def page_rows(page: Path) -> list[dict[str, Any]]:
    match = DATA_TAG.search(page.read_text(encoding="utf-8"))
    assert match is not None
    rows: list[dict[str, Any]] = json.loads(match.group(1))["rows"]
    return rows


def test_the_page_carries_each_correction_with_its_source(tmp_path: Path) -> None:
    page = tmp_path / "c.html"
    write_report(write_jsonl(tmp_path / "c.jsonl", [corrected_row(), sample_rows()[0]]), page)
    assert page_rows(page)[0]["k"] == [["George Lucas", "Steven Spielberg", JAWS_SOURCE]]


def test_the_summary_counts_the_corrections(tmp_path: Path) -> None:
    summary = write_report(write_jsonl(tmp_path / "c.jsonl", [corrected_row(), corrected_row()]), tmp_path / "c.html")
    assert "corrections: 2 in 2 rows or turns" in summary.text()


def test_a_conversation_turn_carries_its_corrections(tmp_path: Path) -> None:
    row = {
        "messages": [
            {"role": "user", "content": "Who directed Jaws?"},
            {"role": "assistant", "content": "Jaws was directed by Steven Spielberg."},
            {"role": "user", "content": "When?"},
            {"role": "assistant", "content": "In 1975."},
        ],
        "realign": {
            "task": "open_qa",
            "tag": "rewrite",
            "turns": [
                {
                    "turn": 1,
                    "task": "open_qa",
                    "tag": "rewrite",
                    "original": "Jaws was directed by George Lucas.",
                    "corrections": [{"from": "George Lucas", "to": "Steven Spielberg", "source": JAWS_SOURCE}],
                },
                {"turn": 3, "task": "open_qa", "tag": "original", "reason": "filter:length"},
            ],
        },
    }
    page = tmp_path / "t.html"
    write_report(write_jsonl(tmp_path / "t.jsonl", [row]), page)
    assert page_rows(page)[0]["th"][1]["k"] == [["George Lucas", "Steven Spielberg", JAWS_SOURCE]]


def test_a_tool_call_row_keeps_its_call_beside_its_confidence(tmp_path: Path) -> None:
    # `realign classify` output: a confidence, and an answer that only calls a tool. The confidence used to
    # overwrite the call, and the page showed "Tool call: 0.497".
    row = {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
                ],
            },
        ],
        "realign": {"task": "open_qa", "confidence": 0.497, "tag": "original", "reason": "tool_call"},
    }
    page = tmp_path / "k.html"
    write_report(write_jsonl(tmp_path / "k.jsonl", [row]), page)
    assert page_rows(page)[0]["c"] == 'weather({"city": "Paris"})'


def test_browser_shows_each_correction_and_links_only_http_sources(tmp_path: Path) -> None:
    chromium()
    target = tmp_path / "corrected.html"
    rows = [corrected_row(), corrected_row("javascript:document.body.dataset.pwned='source'")]
    write_report(write_jsonl(tmp_path / "corrected.jsonl", rows), target)

    dom, stderr = dump_dom(target, tmp_path)

    assert "data-errors" not in body(dom)
    assert console_lines(stderr) == []
    assert "corrections from evidence (1)" in dom
    assert "<del>George Lucas</del> → <ins>Steven Spielberg</ins>" in dom
    assert f'<a href="{JAWS_SOURCE}"' in dom
    assert 'href="javascript:' not in dom


def test_the_run_summary_counts_the_corrections_of_rows_and_turns() -> None:
    fix = realign.Correction.of("George Lucas", "Steven Spielberg", JAWS_SOURCE)
    stats = realign.RunStats()
    stats.add(realign.Record(task="open_qa", tag="rewrite", corrections=[fix, fix]), realign.Usage())
    turn = realign.TurnOutcome(turn=1, task="open_qa", tag="rewrite", corrections=[fix])
    stats.add(realign.Record(task="open_qa", tag="rewrite", turns=[turn]), realign.Usage())
    stats.add(realign.Record(task="open_qa", tag="rewrite"), realign.Usage())
    assert "corrections: 3 in 2 rows or turns (from evidence)" in stats.summary().splitlines()


# The output of `--engine ray` into a folder: Parquet shards ------------------------------------------------------


def _shard(path: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = [{**row, "realign": json.dumps(row["realign"])} for row in rows]  # realign's Parquet: JSON text
    pq.write_table(pa.Table.from_pylist(flat), path)


def test_a_folder_of_parquet_shards_is_reported_in_name_order(tmp_path: Path) -> None:
    folder = tmp_path / "out_shards"
    folder.mkdir()
    rows = [kept(f"question {i}", f"answer {i}", "task_not_rewritten") for i in range(3)]
    _shard(folder / "b_000001-0.parquet", rows[2:])
    _shard(folder / "a_000000-0.parquet", rows[:2])
    page = tmp_path / "shards.html"
    summary = write_report(folder, page)
    assert summary.rows == 3
    assert [(r["n"], r["q"]) for r in page_rows(page)] == [(1, "question 0"), (2, "question 1"), (3, "question 2")]


def test_a_folder_without_shards_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no \.parquet shard"):
        write_report(tmp_path / "empty", tmp_path / "e.html")
