"""The corrections the ``--verify`` judge states on a row with evidence (``CHANGE: old => new [n]``): read from its
reply, checked against the texts, and recorded in place of the rules' reading; the rules stay for a judge that
lists none."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import realign
from conftest import is_verify, read_jsonl, reformat_command, write_jsonl
from realign import CheckInput, Evidence, FakeLLM, LLMVerifier, Pipeline, Prompts, TaskPrediction
from realign._checks.stated import checked_changes
from realign._cli.main import main
from realign._verify import read_changes, read_reason, read_verdict, verify_messages
from stub_server import Reply, StubServer, chat_reply

QUESTION = "Who directed Jaws?"
JAWS = "Jaws (1975) was directed by George Lucas and was based on the novel by Peter Benchley."
JAWS_FIXED = "*Jaws* (1975) was directed by **Steven Spielberg**, adapting Peter Benchley's novel."
SOURCE = "https://example.org/jaws"
EVIDENCE = (
    Evidence(text="Jaws premiered in June 1975.", title="Jaws release", url="https://example.org/release"),
    Evidence(
        text="Jaws is a 1975 American thriller film directed by Steven Spielberg, based on the novel by Peter "
        "Benchley.",
        title="Jaws (film)",
        url=SOURCE,
    ),
)
ITEM = CheckInput("open_qa", QUESTION, JAWS, JAWS_FIXED, evidence=EVIDENCE)
# Both items state the new value: the rules' record names the first, so a record naming the second (the item the
# judge names) can only be the judge's.
TWO_SOURCES = (Evidence(text="Steven Spielberg directed Jaws.", url="https://example.org/first"), EVIDENCE[1])


def pairs(item: CheckInput, *stated: tuple[str, str, int | None]) -> list[tuple[str, str, str]]:
    return [(c.before, c.after, c.source) for c in checked_changes(item, stated)]


# --- reading the reply ----------------------------------------------------------------------------------------------


def test_change_lines_are_read_in_order() -> None:
    reply = "VERDICT: yes\nREASON: corrected.\nCHANGE: George Lucas => Steven Spielberg [2]\nCHANGE: 1974 => 1975 [1]"
    assert read_changes(reply) == [("George Lucas", "Steven Spielberg", 2), ("1974", "1975", 1)]


@pytest.mark.parametrize(
    "line",
    [
        "CHANGE: George Lucas => Steven Spielberg [2]",
        "- **Change:** George Lucas -> Steven Spielberg (2)",
        "change = George Lucas → Steven Spielberg [2]",
        "CHANGES: George Lucas => Steven Spielberg [2]",
    ],
)
def test_change_lines_are_read_in_their_variants(line: str) -> None:
    assert read_changes(f"VERDICT: yes\nREASON: ok\n{line}") == [("George Lucas", "Steven Spielberg", 2)]


def test_a_change_without_an_item_number_is_read_without_one() -> None:
    assert read_changes("VERDICT: yes\nCHANGE: 1974 => 1975") == [("1974", "1975", None)]


def test_change_none_is_an_empty_list() -> None:
    assert read_changes("VERDICT: yes\nREASON: nothing changed.\nCHANGE: none") == []


def test_a_reply_without_change_lines_states_nothing() -> None:
    assert read_changes("VERDICT: yes\nREASON: nothing changed.") is None


def test_a_change_line_without_an_arrow_is_skipped() -> None:
    assert read_changes("VERDICT: yes\nCHANGE: the director\nCHANGE: 1974 => 1975 [1]") == [("1974", "1975", 1)]


# --- checking a stated change against the texts -------------------------------------------------------------------


def test_a_change_the_texts_bear_out_is_recorded_with_the_named_source() -> None:
    assert pairs(ITEM, ("George Lucas", "Steven Spielberg", 2)) == [("George Lucas", "Steven Spielberg", SOURCE)]


def test_the_values_are_recorded_as_the_texts_write_them() -> None:
    assert pairs(ITEM, ("george lucas", "STEVEN SPIELBERG", 2)) == [("George Lucas", "Steven Spielberg", SOURCE)]


def test_a_wrongly_numbered_source_is_replaced_by_the_item_that_states_the_value() -> None:
    assert pairs(ITEM, ("George Lucas", "Steven Spielberg", 1)) == [("George Lucas", "Steven Spielberg", SOURCE)]


def test_a_new_value_no_evidence_states_is_never_recorded() -> None:
    rewrite = JAWS_FIXED.replace("Steven Spielberg", "Ridley Scott")
    item = CheckInput("open_qa", QUESTION, JAWS, rewrite, evidence=EVIDENCE)
    assert pairs(item, ("George Lucas", "Ridley Scott", 2)) == []


def test_an_old_value_the_original_does_not_write_is_never_recorded() -> None:
    assert pairs(ITEM, ("Martin Scorsese", "Steven Spielberg", 2)) == []


def test_a_new_value_the_rewrite_does_not_write_is_never_recorded() -> None:
    assert pairs(ITEM, ("George Lucas", "Spielberg Steven", 2)) == []


def test_a_value_inside_a_longer_word_is_not_found() -> None:
    # "Lucas" is in the original, "Luca" is not a word of it
    assert pairs(ITEM, ("Luca", "Steven Spielberg", 2)) == []


def test_a_change_to_the_same_value_is_no_change() -> None:
    assert pairs(ITEM, ("Peter Benchley", "Peter Benchley", 2)) == []


TOWER = "The Eiffel Tower, in Paris, France, was completed in 1889. It is 330 m tall."
TOWER_LAID_OUT = "**Eiffel Tower**\n- Location: Paris, France\n- Completed: 1889\n- Height: 330 m"
TOWER_EVIDENCE = (Evidence(text="The Eiffel Tower in Paris, France, was completed in 1889.", url="u"),)


@pytest.mark.parametrize("stated", [("Paris", "France", 1), ("330 m", "1889", 1), ("Eiffel Tower", "Paris", 1)])
def test_a_pair_of_values_both_texts_write_alike_is_no_change(stated: tuple[str, str, int]) -> None:
    # A faithful rewrite: every value of the original is there, none is new. A judge that pairs two of them
    # (a misreading, or a hostile reply) states a change the texts do not bear out.
    item = CheckInput("open_qa", "Tell me about the Eiffel Tower.", TOWER, TOWER_LAID_OUT, evidence=TOWER_EVIDENCE)
    assert pairs(item, stated) == []


def test_a_corrected_value_the_rewrite_still_mentions_as_background_is_recorded() -> None:
    original = "The capital of Myanmar is Yangon."
    rewrite = "The capital of Myanmar is **Naypyidaw**. It replaced Yangon as the capital in 2006."
    evidence = (Evidence(text="Naypyidaw replaced Yangon as the capital of Myanmar in 2006.", url="u"),)
    item = CheckInput("open_qa", "What is the capital of Myanmar?", original, rewrite, evidence=evidence)
    assert pairs(item, ("Yangon", "Naypyidaw", 1)) == [("Yangon", "Naypyidaw", "u")]


def test_a_number_written_with_or_without_its_thousands_comma_is_no_change() -> None:
    item = number_item("It has 1,000 members.", "**Members:** 1000", "It has 1000 members.")
    assert pairs(item, ("1,000", "1000", 1)) == []


def test_a_decimal_comma_is_not_read_as_a_thousands_comma() -> None:
    item = number_item("Es kostet 15 Millionen.", "**Kosten:** 1,5 Millionen", "Es kostet 1,5 Millionen.")
    assert pairs(item, ("15 Millionen", "1,5 Millionen", 1)) == [("15 Millionen", "1,5 Millionen", "u")]


def test_accents_aside_the_value_is_found() -> None:
    evidence = (Evidence(text="The capital of Colombia is Bogotá.", url="u"),)
    original, rewrite = "The capital of Colombia is Medellin.", "Its capital is Bogotá."
    item = CheckInput("open_qa", "?", original, rewrite, evidence=evidence)
    assert pairs(item, ("Medellín", "Bogota", 1)) == [("Medellín", "Bogota", "u")]


def test_a_value_in_emphasis_or_a_table_cell_is_found() -> None:
    rewrite = "| Film | Director |\n|---|---|\n| Jaws | **Steven   Spielberg** |"
    item = CheckInput("open_qa", QUESTION, JAWS, rewrite, evidence=EVIDENCE)
    assert pairs(item, ("George Lucas", "Steven Spielberg", 2)) == [("George Lucas", "Steven Spielberg", SOURCE)]


def test_a_pair_stated_twice_is_recorded_once() -> None:
    stated = ("George Lucas", "Steven Spielberg", 2)
    assert len(pairs(ITEM, stated, stated)) == 1


def test_too_many_stated_changes_record_none() -> None:
    assert pairs(ITEM, *[("George Lucas", "Steven Spielberg", 2)] * 13) == []


def test_without_evidence_nothing_is_recorded() -> None:
    item = CheckInput("open_qa", QUESTION, JAWS, JAWS_FIXED)
    assert pairs(item, ("George Lucas", "Steven Spielberg", 2)) == []


# --- the judge's request ----------------------------------------------------------------------------------------------


def test_with_evidence_the_judge_is_asked_for_its_change_lines() -> None:
    (_, system), (_, user) = verify_messages(Prompts(), QUESTION, JAWS, JAWS_FIXED, EVIDENCE)
    assert "CHANGE: <old value> => <new value>" in system
    assert '"CHANGE:" line for each fact the rewrite changed' in user


def test_without_evidence_the_judge_is_asked_for_two_lines_only() -> None:
    (_, system), (_, user) = verify_messages(Prompts(), QUESTION, JAWS, JAWS_FIXED)
    assert "exactly two lines" in system
    assert "CHANGE" not in system + user


def test_with_evidence_the_reply_may_be_longer() -> None:
    verifier = LLMVerifier(FakeLLM())
    plain = verifier.request(CheckInput("open_qa", QUESTION, JAWS, JAWS_FIXED)).max_tokens
    assert verifier.request(ITEM).max_tokens > plain


# --- the pipeline records the judge's changes -------------------------------------------------------------------------


class OpenQA:
    async def classify(self, instruction: str) -> TaskPrediction:
        return TaskPrediction(task="open_qa", confidence=1.0, source="fixed")

    async def aclose(self) -> None:
        return None


def run(
    judge_reply: str,
    *,
    original: str = JAWS,
    rewrite: str = JAWS_FIXED,
    evidence: tuple[Evidence, ...] = EVIDENCE,
    **options: Any,
) -> realign.Result:
    writer = FakeLLM([f"Reasoning: corrected from the evidence.\nRevised response:\n{rewrite}"])
    judge = FakeLLM([judge_reply])
    pipeline = Pipeline(writer, classifier=OpenQA(), verifier=LLMVerifier(judge), cache=False, **options)
    example = {"question": QUESTION, "response": original, "evidence": [e.model_dump() for e in evidence]}
    [result] = realign.reformat([example], pipeline=pipeline)
    return result


def recorded(result: realign.Result) -> list[tuple[str, str, str]]:
    return [(c.before, c.after, c.source) for c in result.corrections]


def test_the_judges_change_is_recorded() -> None:
    result = run("VERDICT: yes\nREASON: corrected.\nCHANGE: George Lucas => Steven Spielberg [2]", evidence=TWO_SOURCES)
    assert (result.tag, recorded(result)) == ("rewrite", [("George Lucas", "Steven Spielberg", SOURCE)])


def test_the_judges_change_none_records_nothing_though_the_rules_would() -> None:
    assert run("VERDICT: yes\nREASON: fine.\nCHANGE: none").corrections == []


def test_a_judge_that_lists_no_changes_leaves_the_rules_record() -> None:
    assert recorded(run("VERDICT: yes\nREASON: corrected.")) == [("George Lucas", "Steven Spielberg", SOURCE)]


def test_a_judges_change_the_texts_do_not_bear_out_is_left_out() -> None:
    reply = "VERDICT: yes\nREASON: corrected.\nCHANGE: George Lucas => Ridley Scott [2]"
    assert run(reply).corrections == []


def test_a_refusal_records_no_corrections() -> None:
    result = run("VERDICT: no\nREASON: unsupported.\nCHANGE: George Lucas => Steven Spielberg [2]")
    assert (result.reason, result.corrections) == ("filter:verify", [])


def test_with_corrections_off_the_judge_records_nothing() -> None:
    # the rules then refuse the changed name before the judge is asked
    result = run("VERDICT: yes\nREASON: ok\nCHANGE: George Lucas => Steven Spielberg [2]", corrections=False)
    assert (result.reason, result.corrections) == ("filter:entities", [])


def test_a_referral_the_judge_accepts_records_its_changes() -> None:
    # The evidence states the old value too (as another film's director), so the entities check refuses the
    # change; the referral's yes accepts it, and the judge's pair is the record.
    evidence_text = EVIDENCE[1].text + " George Lucas directed Star Wars."
    original, rewrite = JAWS, JAWS_FIXED
    writer = FakeLLM([f"Reasoning: corrected.\nRevised response:\n{rewrite}"])
    judge = FakeLLM(["VERDICT: yes\nREASON: supported.\nCHANGE: George Lucas => Steven Spielberg [1]"])
    pipeline = Pipeline(writer, classifier=OpenQA(), verifier=LLMVerifier(judge), refer=True, cache=False)
    example = {"question": QUESTION, "response": original, "evidence": [{"text": evidence_text, "url": SOURCE}]}
    [result] = realign.reformat([example], pipeline=pipeline)
    assert [o.check for o in result.overruled] == ["entities"]
    assert recorded(result) == [("George Lucas", "Steven Spielberg", SOURCE)]


def test_the_judges_change_reaches_the_result_over_real_http() -> None:
    def handler(path: str, body: dict[str, Any]) -> Reply:
        if is_verify(body):
            return 200, {}, chat_reply("VERDICT: yes\nREASON: corrected.\nCHANGE: George Lucas => Steven Spielberg [2]")
        return 200, {}, chat_reply(f"Reasoning: corrected.\nRevised response:\n{JAWS_FIXED}")

    with StubServer(handler) as server:
        result = realign.reformat(
            QUESTION,
            JAWS,
            task="open_qa",
            evidence=list(TWO_SOURCES),
            base_url=server.base_url,
            model="stub",
            cache=False,
            verify=True,
        )
    assert isinstance(result, realign.Result)
    assert recorded(result) == [("George Lucas", "Steven Spielberg", SOURCE)]


# --- values with numbers, and scripts without spaces ------------------------------------------------------------------


def number_item(original: str, rewrite: str, evidence: str) -> CheckInput:
    return CheckInput("open_qa", "?", original, rewrite, evidence=(Evidence(text=evidence, url="u"),))


def test_a_value_rounded_from_the_evidence_is_stated_by_it() -> None:
    item = number_item("Ethanol boils at about 82 °C.", "**Boiling point: about 78 °C**", "It boils at 78.37 °C.")
    assert pairs(item, ("82 °C", "78 °C", 1)) == [("82 °C", "78 °C", "u")]


def test_a_value_more_precise_than_the_evidence_is_not_stated_by_it() -> None:
    item = number_item("It is 8,849 metres tall.", "It is **8,848 m** tall.", "It is 8,848.86 metres tall.")
    assert pairs(item, ("8,849 metres", "8,848 m", 1)) == []


def test_a_units_abbreviation_need_not_be_written_the_same() -> None:
    item = number_item("It is 8,848 metres tall.", "It is **8,848.86 m** tall.", "It is 8,848.86 metres tall.")
    assert pairs(item, ("8,848 metres", "8,848.86 m", 1)) == [("8,848 metres", "8,848.86 m", "u")]


def test_a_longer_word_after_the_number_must_be_stated() -> None:
    item = number_item("It is 300 metres tall.", "It is 330 feet tall.", "It is 330 metres tall.")
    assert pairs(item, ("300 metres", "330 feet", 1)) == []


def test_a_value_in_a_script_without_spaces_is_found_inside_its_sentence() -> None:
    original, rewrite = "新幹線は1966年10月1日に開業しました。", "- **開業日：** 1964年10月1日"
    item = number_item(original, rewrite, "1964年10月1日に開業した。")
    assert pairs(item, ("1966年10月1日", "1964年10月1日", 1)) == [("1966年10月1日", "1964年10月1日", "u")]


# --- the CLI's default: corrections with a judge; --corrections and --no-corrections ---------------------------------


def corrected_run(tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    def handler(path: str, body: dict[str, Any]) -> Reply:
        if is_verify(body):
            return 200, {}, chat_reply("VERDICT: yes\nREASON: supported.\nCHANGE: George Lucas => Steven Spielberg [2]")
        return 200, {}, chat_reply(f"Reasoning: corrected.\nRevised response:\n{JAWS_FIXED}")

    evidence = [e.model_dump() for e in TWO_SOURCES]
    row = {
        "instruction": QUESTION,
        "output": JAWS,
        "realign": {"task": "open_qa", "confidence": 1.0, "evidence": evidence, "retrieval": "ok"},
    }
    source = write_jsonl(tmp_path / "in.jsonl", [row])
    with StubServer(handler) as server:
        code = main(reformat_command(tmp_path, source, server.base_url, *extra))
    return code, read_jsonl(tmp_path / "out.jsonl")[0]["realign"]


def test_cli_without_a_judge_refuses_a_correction_by_default(tmp_path: Path) -> None:
    code, record = corrected_run(tmp_path)
    assert (code, record["reason"], record.get("corrections", [])) == (0, "filter:entities", [])
    assert "corrections need a judge (--verify) or --corrections" in record["rejected"][0]["detail"]


def test_cli_with_a_judge_records_its_correction_by_default(tmp_path: Path) -> None:
    code, record = corrected_run(tmp_path, "--verify")
    assert (code, record["tag"], record["corrections"]) == (
        0,
        "rewrite",
        [{"from": "George Lucas", "to": "Steven Spielberg", "source": SOURCE}],
    )


def test_cli_corrections_flag_accepts_by_the_rules_without_a_judge(tmp_path: Path) -> None:
    code, record = corrected_run(tmp_path, "--corrections")
    assert (code, record["tag"], [c["to"] for c in record["corrections"]]) == (0, "rewrite", ["Steven Spielberg"])


def test_cli_no_corrections_refuses_even_with_a_judge(tmp_path: Path) -> None:
    code, record = corrected_run(tmp_path, "--verify", "--no-corrections")
    assert (code, record["reason"]) == (0, "filter:entities")


def test_cli_corrections_and_no_corrections_exclude_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"instruction": QUESTION, "output": JAWS}])
    with pytest.raises(SystemExit) as exit_info:
        main(reformat_command(tmp_path, source, "http://127.0.0.1:9/v1", "--corrections", "--no-corrections"))
    assert (exit_info.value.code, "not allowed with argument" in capsys.readouterr().err) == (2, True)


# --- a refusal that only the want of a judge made one says how to lift it -------------------------------------------


def refused_without_judge(rewrite: str, **options: Any) -> realign.Result:
    writer = FakeLLM([f"Reasoning: corrected.\nRevised response:\n{rewrite}"])
    pipeline = Pipeline(writer, classifier=OpenQA(), cache=False, **options)
    example = {"question": QUESTION, "response": JAWS, "evidence": [e.model_dump() for e in EVIDENCE]}
    [result] = realign.reformat([example], pipeline=pipeline)
    return result


def test_a_correction_refused_for_want_of_a_judge_says_how_to_accept_it() -> None:
    detail = refused_without_judge(JAWS_FIXED).candidates[0].detail or ""
    assert "swapped: George Lucas -> Steven Spielberg" in detail
    assert "corrections need a judge (--verify) or --corrections" in detail


def test_an_unsupported_change_gets_no_such_hint() -> None:
    detail = refused_without_judge(JAWS_FIXED.replace("Steven Spielberg", "Ridley Scott")).candidates[0].detail
    assert "--verify" not in (detail or "")


def test_corrections_switched_off_get_no_such_hint() -> None:
    detail = refused_without_judge(JAWS_FIXED, corrections=False).candidates[0].detail
    assert "--verify" not in (detail or "")


def test_a_check_list_of_ones_own_that_accepts_corrections_has_them_recorded() -> None:
    result = refused_without_judge(JAWS_FIXED, checks=realign.build_checks())
    assert (result.tag, [c.after for c in result.corrections]) == ("rewrite", ["Steven Spielberg"])


def test_a_check_list_of_ones_own_without_corrections_refuses_with_the_hint() -> None:
    result = refused_without_judge(JAWS_FIXED, checks=realign.build_checks(corrections=False))
    assert (result.reason, "--verify" in (result.candidates[0].detail or "")) == ("filter:entities", True)


# --- replies a judge should not send: huge, malformed, arrows inside values -------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "\n" * 100_000,
        "*\n" * 50_000,
        "VERDICT: yes\nCHANGE: a" + " " * 100_000 + "b",
        "VERDICT: yes\nCHANGE: a => b" + " *" * 50_000 + "x",
        "VERDICT: yes\n" + "CHANGE: 1974 => 1975 [1]\n" + "\n" * 100_000 + "REASON: ok",
    ],
)
def test_a_huge_reply_is_read_in_linear_time(reply: str) -> None:
    # A server that ignores max_tokens, or a model stuck on blank lines: the patterns used to go back over the
    # rest of the reply from each line (100,000 characters took minutes).
    started = time.perf_counter()
    read_verdict(reply)
    read_reason(reply)
    read_changes(reply)
    assert time.perf_counter() - started < 5


def test_the_prompts_arrow_splits_a_value_with_another_arrow_in_it() -> None:
    assert read_changes("VERDICT: yes\nCHANGE: A->B => C->D [1]") == [("A->B", "C->D", 1)]


def test_a_reply_with_windows_line_ends_keeps_its_item_numbers() -> None:
    reply = "VERDICT: yes\r\nREASON: ok\r\n- **CHANGE:** **1974** => **1975** [1]\r\nCHANGE: Lucas => Spielberg [2]\r\n"
    assert read_changes(reply) == [("1974", "1975", 1), ("Lucas", "Spielberg", 2)]


@pytest.mark.parametrize(
    "listing",
    [
        "Changes:\n- George Lucas => Steven Spielberg [2]\n- 1974 => 1975 [1]",
        "**Changes:**\n\n1. George Lucas => Steven Spielberg [2]\n2. 1974 => 1975 [1]\n\nBoth are supported.",
        "1. CHANGE: George Lucas => Steven Spielberg [2]\n2. CHANGE: 1974 => 1975 [1]",
    ],
)
def test_changes_listed_under_a_heading_or_numbered_are_read(listing: str) -> None:
    # A bare "Changes:" line used to read as "CHANGE: none": the row's record came out empty.
    reply = f"VERDICT: yes\nREASON: corrected.\n{listing}"
    assert read_changes(reply) == [("George Lucas", "Steven Spielberg", 2), ("1974", "1975", 1)]


def test_a_changes_heading_over_no_list_states_none() -> None:
    assert read_changes("VERDICT: yes\nREASON: ok\nChanges:\nnone") == []


def test_a_list_after_change_none_is_not_read_as_changes() -> None:
    assert read_changes("VERDICT: yes\nCHANGE: none\n- George Lucas => Steven Spielberg [2]") == []


def test_a_stated_value_as_long_as_a_clause_is_no_value() -> None:
    sentence = (
        "Jaws is a 1975 American thriller film directed by Steven Spielberg and based on the 1974 bestselling novel of "
        "the same name by Peter Benchley"
    )
    item = CheckInput("open_qa", QUESTION, JAWS, f"{sentence}.", evidence=(Evidence(text=f"{sentence}.", url="u"),))
    assert len(sentence) > 120
    assert pairs(item, ("George Lucas", sentence, 1)) == []
    assert pairs(item, ("George Lucas", "Steven Spielberg", 1)) == [("George Lucas", "Steven Spielberg", "u")]
