"""The other commands end to end: dry run, classify (embedded, LLM, completion, cascade, --eval), retrieve."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import read_jsonl, realign_row, write_jsonl
from realign._cli.main import main
from realign._jobs.cost import Price, price_for
from realign._models import Usage
from stub_server import StubServer, chat_reply

SAMPLE = Path(__file__).parent.parent / "notebooks" / "sample.jsonl"


def test_dry_run_needs_no_key_and_makes_no_call(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reformat", str(SAMPLE), "--dry-run", "--model", "gpt-4o-mini"]) == 0
    out = capsys.readouterr().out
    assert "dry run: no call made" in out
    assert "rows: 10  (realign 10)" in out
    assert "to rewrite:" in out
    assert "rows needing retrieval:" in out
    assert "$" in out
    assert "with --batch" in out
    assert "example prompt:" in out
    assert "<response>" in out


def test_dry_run_unknown_model_price(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reformat", str(SAMPLE), "--dry-run", "--model", "my-local-model"]) == 0
    assert "give --price-in and --price-out" in capsys.readouterr().out
    assert (
        main(["reformat", str(SAMPLE), "--dry-run", "--model", "my-local-model", "--price-in", "1", "--price-out", "2"])
        == 0
    )
    assert "at $1.0/1M in, $2.0/1M out" in capsys.readouterr().out


def test_reformat_without_output_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reformat", str(SAMPLE)]) == 2
    assert "needs -o OUTPUT" in capsys.readouterr().err


def test_prices() -> None:
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000, cached_tokens=500_000)
    price = price_for("gpt-4o-mini-2024-07-18")
    assert price is not None
    assert price.cost(usage) == pytest.approx(0.5 * 0.15 + 0.5 * 0.075 + 0.60)
    assert price.cost(usage, batch=True) == pytest.approx(price.cost(usage) / 2)
    assert price_for("unknown") is None
    assert price_for("unknown", price_in=1, price_out=2) == Price(1, 2)


def test_classify_embedded_keeps_fields_and_given_categories(tmp_path: Path) -> None:
    rows = [
        {"instruction": "Translate 'good morning' into French.", "extra": 1},
        {"instruction": "Whatever", "category": "poem_generation"},
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    assert main(["classify", str(source), "-o", str(out), "--classifier", "embedded", "-q"]) == 0
    first, second = read_jsonl(out)
    assert first["extra"] == 1
    assert first["realign"]["task"] == "text_to_text_translation"
    assert 0 <= first["realign"]["confidence"] <= 1
    assert second["realign"] == {"task": "poem_generation", "confidence": 1.0, "classifier": "given"}


def test_classify_unknown_category_default_or_strict(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"instruction": "x", "category": "no_such"}])
    out = tmp_path / "out.jsonl"
    assert main(["classify", str(source), "-o", str(out), "-q"]) == 0
    assert read_jsonl(out)[0]["realign"]["task"] == "default"
    assert "unknown task 'no_such'" in caplog.text
    assert main(["classify", str(source), "-o", str(out), "--strict"]) == 2


def answer_with(text: str) -> Any:
    def handler(path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        if path.endswith("/chat/completions"):
            return 200, {}, chat_reply(text)
        return (
            200,
            {},
            {
                "id": "c",
                "object": "text_completion",
                "created": 0,
                "model": "m",
                "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
            },
        )

    return handler


@pytest.mark.parametrize(
    ("mode", "answer", "expected"),
    [
        ("llm", "`Math_Puzzles`", "math_puzzles"),
        ("llm", "The task is open qa.", "open_qa"),
        ("llm", "no idea", "default"),
        ("completion", " code_correction\n", "code_correction"),
    ],
)
def test_classify_with_llm_modes(tmp_path: Path, mode: str, answer: str, expected: str) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"instruction": "What is 2+2?"}])
    out = tmp_path / "out.jsonl"
    with StubServer(answer_with(answer)) as stub:
        assert (
            main(
                [
                    "classify",
                    str(source),
                    "-o",
                    str(out),
                    "--classifier",
                    mode,
                    "--base-url",
                    stub.base_url,
                    "--model",
                    "clf",
                    "-q",
                ]
            )
            == 0
        )
        path, body = stub.requests[0]
    assert read_jsonl(out)[0]["realign"]["task"] == expected
    if mode == "completion":
        assert path.endswith("/v1/completions")
        assert "Query: What is 2+2?" in body["prompt"]
        assert body["max_tokens"] == 50
        assert body["temperature"] == 0
    else:
        prompt = body["messages"][-1]["content"]
        assert "- math_puzzles:" in prompt
        assert prompt.rstrip().endswith("Task name:")
        assert body["temperature"] == 0


def test_cascade_sends_only_unsure_rows_to_the_llm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"instruction": "Translate 'thank you very much' into German."}, {"instruction": "hmm"}]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    with StubServer(answer_with("open_qa")) as stub:
        assert (
            main(
                [
                    "classify",
                    str(source),
                    "-o",
                    str(out),
                    "--classifier",
                    "cascade",
                    "--base-url",
                    stub.base_url,
                    "--cascade-threshold",
                    "0.99",
                ]
            )
            == 0
        )
        calls = len(stub.requests)
    err = capsys.readouterr().err
    counts = ast.literal_eval(err.split("classifier: ")[1].splitlines()[0])  # the summary prints a dict
    assert counts["llm"] == calls
    assert counts["embedded"] + counts["llm"] == 2
    assert calls >= 1  # "hmm" is nothing the embedded classifier is sure of


def test_classify_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labelled = write_jsonl(
        tmp_path / "gold.jsonl",
        [
            {"instruction": "Translate 'good night' into Italian.", "category": "text_to_text_translation"},
            {"instruction": "Write a haiku about snow.", "category": "poem_generation"},
        ],
    )
    assert main(["classify", "--eval", str(labelled)]) == 0
    out = capsys.readouterr().out
    assert "rows: 2  accuracy: 100.0%  macro-F1: 1.000" in out
    assert "by group:" in out


def test_retrieve_then_reformat_reuses_evidence(tmp_path: Path, server: StubServer) -> None:
    docs = write_jsonl(
        tmp_path / "docs.jsonl",
        [
            {"title": "Boiling point", "text": "Water boils at 100 degrees Celsius at sea level pressure."},
            {"title": "Granite", "text": "Granite is an igneous rock rich in quartz and feldspar."},
        ],
    )
    index = tmp_path / "docs.idx"
    assert main(["index", str(docs), "-o", str(index)]) == 0
    rows = [
        realign_row("At what temperature does water boil at sea level?", "100 degrees Celsius.", "open_qa"),
        realign_row("Write a haiku", "Snow", "poem_generation"),
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    staged = tmp_path / "staged.jsonl"
    assert main(["retrieve", str(source), "-o", str(staged), "--search", f"local:{index}", "-q"]) == 0
    qa, poem = read_jsonl(staged)
    assert qa["realign"]["retrieval"] == "ok"
    assert "boils at 100" in qa["realign"]["evidence"][0]["text"]
    assert poem["realign"]["evidence"] == []
    assert "retrieval" not in poem["realign"]  # no search needed: absent, as in reformat's output
    out = tmp_path / "out.jsonl"
    assert main(["reformat", str(staged), "-o", str(out), "--base-url", server.base_url, "--no-cache", "-q"]) == 0
    prompt = server.chat_requests()[0]["messages"][-1]["content"]
    assert "<evidence>" in prompt
    assert "boils at 100" in prompt
    assert read_jsonl(out)[0]["realign"]["evidence"] == qa["realign"]["evidence"]


def test_reformat_with_local_search(tmp_path: Path, server: StubServer) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tea.md").write_text("# Green tea\n\nGreen tea is brewed at 80 degrees, not boiling.\n")
    index = tmp_path / "idx.db"
    assert main(["index", str(docs), "-o", str(index)]) == 0
    rows = [
        realign_row(
            "How do I brew green tea?", "Heat water to 80 degrees and steep for two minutes.", "how_to_generation"
        ),
        realign_row("Fix my code: print(1", "Add the missing bracket: print(1)", "code_correction"),
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.json"
    assert (
        main(
            [
                "reformat",
                str(source),
                "-o",
                str(out),
                "--base-url",
                server.base_url,
                "--no-cache",
                "--search",
                f"local:{index}",
                "-q",
            ]
        )
        == 0
    )
    tea, code = json.loads(out.read_text())
    assert tea["realign"]["evidence"]
    assert "80 degrees" in tea["realign"]["evidence"][0]["text"]
    assert code["realign"]["evidence"] == []
    prompts = [b["messages"][-1]["content"] for b in server.chat_requests()]
    assert sum("<evidence>" in p for p in prompts) == 1


def _retrieve_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The stderr lines of `realign retrieve` over one row that needs evidence and one that does not."""
    docs = write_jsonl(tmp_path / "docs.jsonl", [{"text": "Water boils at 100 degrees Celsius at sea level."}])
    index = tmp_path / "docs.idx"
    assert main(["index", str(docs), "-o", str(index), "-q"]) == 0
    rows = [
        realign_row("At what temperature does water boil at sea level?", "100 degrees Celsius.", "open_qa"),
        realign_row("Write a haiku", "Snow", "poem_generation"),
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    capsys.readouterr()
    assert main(["retrieve", str(source), "-o", str(tmp_path / "out.jsonl"), "--search", f"local:{index}"]) == 0
    return capsys.readouterr().err.splitlines()


def test_retrieve_summarises_what_the_searches_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "retrieval: not needed 1, ok 1" in _retrieve_summary(tmp_path, capsys)


def test_retrieve_says_nothing_of_rewrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert not [line for line in _retrieve_summary(tmp_path, capsys) if "rewritten" in line]


def test_retrieve_with_the_embedded_classifier_shows_no_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not [line for line in _retrieve_summary(tmp_path, capsys) if "tokens" in line]


def test_dry_run_refuses_an_unknown_search_backend(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reformat", str(SAMPLE), "--dry-run", "--search", "bogus"]) == 2
    assert "unknown search backend 'bogus'" in capsys.readouterr().err


def test_dry_run_checks_a_search_backend_without_its_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SERPER_API_KEY", raising=False)
    assert main(["reformat", str(SAMPLE), "--dry-run", "--search", "serper"]) == 0


def _classified_then_reformatted(tmp_path: Path, server: StubServer, rows: list[dict[str, Any]]) -> list[Any]:
    """``realign classify`` then ``realign reformat`` of its output; both files' rows."""
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    staged, out = tmp_path / "staged.jsonl", tmp_path / "out.jsonl"
    assert main(["classify", str(source), "-o", str(staged), "-q"]) == 0
    assert main(["reformat", str(staged), "-o", str(out), "--base-url", server.base_url, "--no-cache", "-q"]) == 0
    return [read_jsonl(staged), read_jsonl(out)]


def test_classify_then_reformat_keeps_the_classifier_s_confidence(tmp_path: Path, server: StubServer) -> None:
    staged, out = _classified_then_reformatted(tmp_path, server, [realign_row("What causes tides?", "The Moon.")])
    assert out[0]["realign"]["confidence"] == staged[0]["realign"]["confidence"]


def test_classify_then_reformat_names_the_classifier_not_given(tmp_path: Path, server: StubServer) -> None:
    _, out = _classified_then_reformatted(tmp_path, server, [realign_row("What causes tides?", "The Moon.")])
    assert out[0]["realign"]["classifier"] == "embedded"


def test_classify_then_reformat_keeps_each_turn_s_confidence(tmp_path: Path, server: StubServer) -> None:
    turns = [
        {"from": "human", "value": "How do I boil an egg?"},
        {"from": "gpt", "value": "Boil it for 9 minutes."},
        {"from": "human", "value": "And a soft one?"},
        {"from": "gpt", "value": "Boil it for 6 minutes."},
    ]
    staged, out = _classified_then_reformatted(tmp_path, server, [{"conversations": turns}])
    confidences = [t["confidence"] for t in staged[0]["realign"]["turns"]]
    assert [t["confidence"] for t in out[0]["realign"]["turns"]] == confidences


def test_a_row_category_stays_given_after_classify(tmp_path: Path, server: StubServer) -> None:
    rows = [realign_row("What causes tides?", "The Moon.", "open_qa")]
    _, out = _classified_then_reformatted(tmp_path, server, rows)
    assert out[0]["realign"]["classifier"] == "given"
