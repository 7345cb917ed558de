from __future__ import annotations

import pytest

from realign._checks import (
    CheckError,
    CodePresence,
    LengthRatio,
    check_name,
    default_checks,
    first_failure,
)
from realign._exceptions import RealignError
from realign._tokens import count_tokens
from realign._types import CheckInput


def item(
    original: str, rewrite: str, task: str = "open_qa", question: str = "Q?", **kw: object
) -> CheckInput:
    return CheckInput(task=task, question=question, original=original, rewrite=rewrite, **kw)  # type: ignore[arg-type]


# --- token estimate -------------------------------------------------------------------------------


def test_count_tokens_english_is_about_four_chars_per_token() -> None:
    text = (
        "Photosynthesis converts light energy into chemical energy: in 2023, researchers measured "
        "an efficiency of about 1-2% for most crops (sugarcane reaches ~8%). Why so low? Because "
        "plants saturate at moderate light, and respiration consumes part of the sugar they make.\n"
    ) * 10
    assert 3.0 < len(text) / count_tokens(text) < 5.0


def test_count_tokens_cjk_counts_each_character() -> None:
    assert count_tokens("我爱北京天安门") == 7
    assert count_tokens("こんにちは") == 5
    assert count_tokens("안녕하세요") == 5


def test_count_tokens_code_symbols_count() -> None:
    assert count_tokens("a = b + c * (d - e)") >= 9


def test_count_tokens_long_words_cost_more_and_empty_is_zero() -> None:
    assert count_tokens("internationalization") > count_tokens("nation")
    assert count_tokens("") == 0
    assert count_tokens("   ") == 1


def test_count_tokens_digits_grouped_by_three() -> None:
    assert count_tokens("123456789") == 3


# --- the paper's checks ---------------------------------------------------------------------------


def test_length_ratio() -> None:
    original = "word " * 100
    assert LengthRatio()(item(original, "word " * 60))
    assert not LengthRatio()(item(original, "word " * 50))
    assert LengthRatio(min_ratio=0.2)(item(original, "word " * 30))
    assert LengthRatio.name == "length"


def test_code_presence() -> None:
    fenced = "Use this:\n```python\nprint(1)\n```"
    plain_def = "def f(x):\n    return x"
    assert CodePresence()(item(fenced, fenced + "\nDone."))
    assert CodePresence()(item(plain_def, "```python\n" + plain_def + "\n```"))
    assert not CodePresence()(item(fenced, "Use print(1)."))
    assert not CodePresence()(item("Just prose.", fenced))
    assert CodePresence()(item("no code", "still no code"))


def test_first_failure_and_names() -> None:
    original = "word " * 100
    assert first_failure(default_checks(), item(original, original)) is None
    assert first_failure(default_checks(), item(original, "word")) == "length"

    def my_guard(_: CheckInput) -> bool:
        return False

    assert check_name(my_guard) == "my_guard"
    assert first_failure([my_guard], item("a", "a")) == "my_guard"


def test_a_raising_check_is_wrapped() -> None:
    def broken(_: CheckInput) -> bool:
        raise ValueError("boom")

    with pytest.raises(CheckError) as info:
        first_failure([broken], item("a", "a"))
    assert info.value.check == "broken"
    assert isinstance(info.value, RealignError)
    assert isinstance(info.value.__cause__, ValueError)
