from __future__ import annotations

import pytest

from realign._protocol import has_final_answer, parse_reply


@pytest.mark.parametrize(
    "reply",
    [
        "Reasoning: fits.\nRevised response:\nHello world",
        "reasoning: fits.\nREVISED RESPONSE:\nHello world",
        "**Reasoning:** fits.\n**Revised response:**\nHello world",
        "**Reasoning**: fits.\n\n**Revised Response:** Hello world",
        "## Reasoning\nfits.\n## Revised response:\n\n  Hello world  \n",
        "Reasoning: fits.\n  Revised   response :\nHello world",
        "__Revised response:__\nHello world",
    ],
)
def test_parse_tolerates_case_emphasis_and_whitespace(reply: str) -> None:
    parsed = parse_reply(reply)
    assert parsed.rewrite == "Hello world"
    assert parsed.problem is None


def test_parse_keeps_reasoning_and_multiline_rewrite() -> None:
    parsed = parse_reply("Reasoning: add steps.\nRevised response:\n1. a\n2. b\n\n#### 42")
    assert parsed.reasoning == "add steps."
    assert parsed.rewrite == "1. a\n2. b\n\n#### 42"


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("Here is the improved answer: Hello", "no 'Revised response:' label"),
        ("Reasoning: fine\nRevised response:\n   \n", "empty revised response"),
        ("", "empty reply"),
        (" \n\t", "empty reply"),
    ],
)
def test_parse_failures(reply: str, problem: str) -> None:
    parsed = parse_reply(reply)
    assert parsed.rewrite is None
    assert parsed.problem == problem


def test_label_inside_a_sentence_is_not_a_label() -> None:
    assert parse_reply("Reasoning: my revised response: is below").rewrite is None


def test_final_answer_markers() -> None:
    assert has_final_answer("so 6 apples\n#### 6")
    assert has_final_answer("the result is $\\boxed{12}$")
    assert has_final_answer("The answer is 7.")
    assert not has_final_answer("Paris is the capital of France.")
