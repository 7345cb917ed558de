"""`realign reformat --batch --verify [MODEL]` end to end: the verify requests go out as a further batch round
(the real CLI and SDK over real sockets, against the stand-in Batch API on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batch_stub import BatchServer, FakeBatchAPI, rewrite
from conftest import batch_command, is_verify, read_jsonl, realign_row, write_jsonl
from realign._cli.main import main
from stub_server import chat_reply

ROWS = [
    realign_row("Who painted the Mona Lisa?", "Leonardo da Vinci painted it.", "open_qa", id="a"),
    realign_row("What is the capital of Peru?", "The capital of Peru is Lima.", "open_qa", id="b"),
    realign_row("Write a haiku about rain.", "Soft rain on the roof", "poem_generation", id="p"),
]


def reply(body: dict[str, Any]) -> dict[str, Any]:
    """Rewrites faithfully; the judge refuses the Peru row."""
    if not is_verify(body):
        return rewrite(body)
    no = "Peru" in body["messages"][1]["content"]
    return chat_reply("VERDICT: no\nREASON: the city changed." if no else "VERDICT: yes\nREASON: same.")  # type: ignore[no-any-return]


@pytest.fixture
def api() -> FakeBatchAPI:
    return FakeBatchAPI(reply=reply, polls=1)


@pytest.fixture
def batch_server(api: FakeBatchAPI) -> Iterator[BatchServer]:
    with BatchServer(api) as server:
        yield server


def reformat(tmp_path: Path, server: BatchServer, *extra: str) -> tuple[int, dict[str, Any]]:
    source = write_jsonl(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    code = main(batch_command(tmp_path, source, server.base_url, *extra))
    rows = {r["id"]: r["realign"] for r in read_jsonl(out)} if out.exists() else {}
    return code, rows


def test_batch_verify_exits_0(tmp_path: Path, api: FakeBatchAPI, batch_server: BatchServer) -> None:
    code, _ = reformat(tmp_path, batch_server, "--verify")
    assert code == 0


def test_batch_verify_makes_no_online_call(tmp_path: Path, api: FakeBatchAPI, batch_server: BatchServer) -> None:
    reformat(tmp_path, batch_server, "--verify")
    assert api.chat_calls == 0


def test_batch_verify_sends_the_verify_requests_as_a_second_round(
    tmp_path: Path, api: FakeBatchAPI, batch_server: BatchServer
) -> None:
    reformat(tmp_path, batch_server, "--verify")
    rounds = [[is_verify(line["body"]) for line in lines] for lines in api.uploaded_lines()]
    assert rounds == [[False, False], [True, True]]


def test_batch_verify_accepts_what_the_judge_approved(
    tmp_path: Path, api: FakeBatchAPI, batch_server: BatchServer
) -> None:
    _, rows = reformat(tmp_path, batch_server, "--verify")
    assert rows["a"]["tag"] == "rewrite"


def test_batch_verify_refuses_what_the_judge_refused(
    tmp_path: Path, api: FakeBatchAPI, batch_server: BatchServer
) -> None:
    _, rows = reformat(tmp_path, batch_server, "--verify")
    assert (rows["b"]["reason"], rows["b"]["rejected"][0]["detail"]) == ("filter:verify", "judge: the city changed.")


def test_batch_verify_rerun_submits_nothing(tmp_path: Path, api: FakeBatchAPI, batch_server: BatchServer) -> None:
    reformat(tmp_path, batch_server, "--verify")
    api.calls.clear()
    reformat(tmp_path, batch_server, "--verify")
    assert api.creates == 0


def test_batch_verify_resumes_after_the_rewrite_round(
    tmp_path: Path, api: FakeBatchAPI, batch_server: BatchServer
) -> None:
    # A first run without --verify paid for the rewrites: adding --verify sends only the verify requests.
    reformat(tmp_path, batch_server)
    before = len(api.uploaded_lines())
    reformat(tmp_path, batch_server, "--verify")
    new = api.uploaded_lines()[before:]
    assert [[is_verify(line["body"]) for line in lines] for lines in new] == [[True, True]]


def test_batch_judge_model_gets_batches_of_its_own(
    tmp_path: Path, api: FakeBatchAPI, batch_server: BatchServer
) -> None:
    reformat(tmp_path, batch_server, "--verify", "judge-mini")
    models = [sorted({line["body"]["model"] for line in lines}) for lines in api.uploaded_lines()]
    assert models == [["stub"], ["judge-mini"]]


def test_batch_judge_model_decides_the_rows(tmp_path: Path, api: FakeBatchAPI, batch_server: BatchServer) -> None:
    _, rows = reformat(tmp_path, batch_server, "--verify", "judge-mini")
    assert [rows[k]["reason"] for k in ("a", "b")] == [None, "filter:verify"]


def test_batch_judge_model_summary_has_its_own_line(
    tmp_path: Path, api: FakeBatchAPI, batch_server: BatchServer, capsys: pytest.CaptureFixture[str]
) -> None:
    reformat(tmp_path, batch_server, "--verify", "judge-mini")
    assert "batch (verify, judge-mini): 2 requests in 1 batch(es), 2 answered" in capsys.readouterr().err


def test_batch_failed_verify_request_leaves_the_row_undecided(tmp_path: Path, batch_server: BatchServer) -> None:
    api = FakeBatchAPI(reply=reply, polls=1, route=lambda body: "expired" if is_verify(body) else "ok")
    with BatchServer(api) as server:
        code, rows = reformat(tmp_path, server, "--verify")
    assert (code, rows["a"]["reason"]) == (3, "llm_error:batch_expired")


# --- --refer: referrals go out in the same batch round as the verify requests --------------------------------------

BOILING = "Water boils at 212 °F at sea level."
REFER_ROWS = [
    realign_row("At what temperature does water boil?", BOILING, "open_qa", id="spelled"),
    realign_row("What is the capital of Peru?", "The capital of Peru is Lima.", "open_qa", id="b"),
]


def refer_reply(body: dict[str, Any]) -> dict[str, Any]:
    """The boiling row rewritten with its number in words (the numbers check refuses it); the judge accepts the
    referral and every plain verify request."""
    if is_verify(body):
        return chat_reply("VERDICT: yes\nREASON: the same temperature in words.")  # type: ignore[no-any-return]
    if "boils" in str(body["messages"][-1]["content"]):
        text = "Reasoning: r.\nRevised response:\nWater boils at two hundred and twelve °F at sea level."
        return chat_reply(text)  # type: ignore[no-any-return]
    return rewrite(body)


def refer_batch(tmp_path: Path) -> tuple[FakeBatchAPI, dict[str, Any]]:
    api = FakeBatchAPI(reply=refer_reply, polls=1)
    with BatchServer(api) as server:
        source = write_jsonl(tmp_path / "in.jsonl", REFER_ROWS)
        assert main(batch_command(tmp_path, source, server.base_url, "--verify", "--refer")) == 0
    return api, {r["id"]: r["realign"] for r in read_jsonl(tmp_path / "out.jsonl")}


def test_batch_refer_sends_the_referral_with_the_verify_requests(tmp_path: Path) -> None:
    api, _ = refer_batch(tmp_path)
    rounds = [
        sorted("<flagged>" in line["body"]["messages"][1]["content"] for line in lines if is_verify(line["body"]))
        for lines in api.uploaded_lines()
    ]
    assert rounds == [[], [False, True]]


def test_batch_refer_records_the_overruled_check(tmp_path: Path) -> None:
    _, rows = refer_batch(tmp_path)
    assert [o["check"] for o in rows["spelled"]["overruled"]] == ["numbers"]


def test_batch_refer_makes_no_online_call(tmp_path: Path) -> None:
    api, _ = refer_batch(tmp_path)
    assert api.chat_calls == 0


# --- a row with evidence: the judge's stated change is its corrections record ---------------------------------------

JAWS = "Jaws (1975) was directed by George Lucas."
JAWS_FIXED = "*Jaws* (1975) was directed by **Steven Spielberg**."
# Both items state the new value: the rules' record names the first, the judge names the second.
JAWS_EVIDENCE = [
    {"title": "Jaws", "url": "https://example.org/first", "text": "Jaws (1975) was directed by Steven Spielberg."},
    {"title": "Jaws", "url": "https://example.org/named", "text": "Steven Spielberg directed Jaws (1975)."},
]


def corrected_reply(body: dict[str, Any]) -> dict[str, Any]:
    if is_verify(body):
        return chat_reply("VERDICT: yes\nREASON: supported.\nCHANGE: George Lucas => Steven Spielberg [2]")  # type: ignore[no-any-return]
    return chat_reply(f"Reasoning: corrected.\nRevised response:\n{JAWS_FIXED}")  # type: ignore[no-any-return]


def test_batch_verify_records_the_judges_correction(tmp_path: Path) -> None:
    row = {
        "instruction": "Who directed Jaws?",
        "output": JAWS,
        "id": "j",
        "realign": {"task": "open_qa", "confidence": 1.0, "evidence": JAWS_EVIDENCE, "retrieval": "ok"},
    }
    api = FakeBatchAPI(reply=corrected_reply, polls=1)
    with BatchServer(api) as server:
        source = write_jsonl(tmp_path / "in.jsonl", [row])
        assert main(batch_command(tmp_path, source, server.base_url, "--verify")) == 0
    [written] = read_jsonl(tmp_path / "out.jsonl")
    assert (api.chat_calls, written["realign"]["corrections"]) == (
        0,
        [{"from": "George Lucas", "to": "Steven Spielberg", "source": "https://example.org/named"}],
    )
