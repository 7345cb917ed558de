from __future__ import annotations

import asyncio
import importlib.util
import random
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realign import (
    CHECK_NAMES,
    Check,
    CheckError,
    CheckInput,
    CodeFidelity,
    CodePresence,
    Example,
    FakeLLM,
    FinalAnswer,
    Guard,
    LanguageConsistency,
    LeakedScaffolding,
    LengthRatio,
    NumbersKept,
    OptionKept,
    OrderKept,
    Pipeline,
    QuestionsKept,
    RealignError,
    Refusal,
    Truncation,
    UsageError,
    Verdict,
    VerdictKept,
    build_checks,
    count_tokens,
    default_checks,
    find_failure,
)
from realign._checks.base import check_name, verdict_of
from realign._checks.lang import detect_language


def item(
    original: str, rewrite: str, task: str = "open_qa", question: str = "Q?", finish_reason: str | None = "stop"
) -> CheckInput:
    return CheckInput(task, question, original, rewrite, finish_reason)


def first_failure(checks: Sequence[Check], candidate: CheckInput) -> str | None:
    """The name of the first check that refuses ``candidate``, or None."""
    failed = find_failure(checks, candidate)
    return None if failed is None else failed.check


def reason(original: str, rewrite: str, task: str = "open_qa", question: str = "Q?", **kw: str) -> str | None:
    return first_failure(default_checks(), item(original, rewrite, task, question, **kw))


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


# --- the guards: one faithful rewrite kept, one unfaithful rejected -------------------------------

GSM = "Half of 48 is 48/2 = <<48/2=24>>24.\nIn total 48 + 24 = <<48+24=72>>72.\n#### 72"


def test_final_answer_gsm8k_line() -> None:
    good = "1. May: 48 / 2 = 24 clips.\n2. Total: 48 + 24 = 72 clips.\n\n**Answer:** 72 clips\n#### 72"
    assert FinalAnswer()(item(GSM, good, "math_puzzles"))
    assert not FinalAnswer()(item(GSM, good.replace("#### 72", "#### 27"), "math_puzzles"))
    assert not FinalAnswer()(item(GSM, good.replace("\n#### 72", ""), "math_puzzles"))


def test_final_answer_compares_values_not_spelling() -> None:
    original = "8% of 1,250,000 is 100,000.\n#### 100000"
    assert FinalAnswer()(item(original, "0.08 × 1250000 = 100000\n#### 100,000", "math_puzzles"))
    assert FinalAnswer()(item("The answer is 1/2 cup.", "The answer is $\\frac{1}{2}$ cup.", "math_puzzles"))
    assert FinalAnswer()(item("The answer is 1/2 cup.", "**Final answer:** 0.5 cup", "math_puzzles"))
    assert not FinalAnswer()(item("The answer is 1/2 cup.", "The answer is 2/3 cup.", "math_puzzles"))


def test_final_answer_boxed_with_nested_braces() -> None:
    original = "So the sum is $\\boxed{\\frac{7}{10}}$."
    assert FinalAnswer()(item(original, "Adding gives $\\boxed{\\frac{7}{10}}$, i.e. 0.7.", "math_puzzles"))
    assert not FinalAnswer()(item(original, "Adding gives $\\boxed{\\frac{7}{20}}$.", "math_puzzles"))


def test_final_answer_short_bare_original() -> None:
    assert FinalAnswer()(item("Tokyo", "**Tokyo** is the capital of Japan.", "fill_in_the_blank"))
    assert not FinalAnswer()(item("Tokyo", "**Kyoto**, the old capital.", "fill_in_the_blank"))


OPTIONS_Q = "Which planet is the Red Planet?\nA) Venus\nB) Mars\nC) Jupiter\nD) Saturn"


def test_option_guard() -> None:
    original = "B) Mars. Iron oxide makes it red."
    kept = "Venus (A) is bright but yellowish. Mars is red from iron oxide, so the correct answer is **B**."
    assert OptionKept()(item(original, kept, "exam_problem_solving_tutor", OPTIONS_Q))
    changed = "**Answer: C) Jupiter** - its Great Red Spot."
    assert not OptionKept()(item(original, changed, "exam_problem_solving_tutor", OPTIONS_Q))


def test_option_guard_inline_options_and_text_only_original() -> None:
    question = "Pick the odd one out: A. Copper B. Iron C. Oxygen D. Zinc"
    assert not OptionKept()(item("The answer is C. Oxygen is a non-metal.", "The answer is D.", "exam", question))
    gas_q = "Most abundant gas?\nA) Oxygen\nB) Nitrogen"
    assert OptionKept()(item("Nitrogen, about 78%.", "**B) Nitrogen**, about 78%.", "exam", gas_q))
    assert not OptionKept()(item("Nitrogen, about 78%.", "**A) Oxygen**, about 78%.", "exam", gas_q))


def test_verdict_guard() -> None:
    original = "False. The wall is only a few meters wide, too narrow to see from orbit."
    kept = "**Verdict:** False\n\n- The wall is only a few meters wide.\n- Too narrow to see from orbit."
    assert VerdictKept()(item(original, kept, "fact_verification"))
    assert not VerdictKept()(item(original, kept.replace("False", "True"), "fact_verification"))


def test_verdict_guard_labels_sentiment_and_yes_no() -> None:
    assert VerdictKept()(item("Negative", "**Sentiment:** Negative - the battery dies.", "sentiment_analysis"))
    assert not VerdictKept()(item("Negative", "**Sentiment:** Neutral.", "sentiment_analysis"))
    assert not VerdictKept()(item("Spam", "**Classification:** Not spam", "general_classification"))
    assert VerdictKept()(item("Sports", "**Topic:** Sports. A match report.", "topic_classification"))
    original = "No. Penguins are flightless birds."
    assert VerdictKept()(item(original, "**Short answer:** No.\n\nPenguins are flightless.", "open_qa"))
    assert not VerdictKept()(item(original, "Yes, penguins can fly short distances.", "open_qa"))


def test_order_guard() -> None:
    assert OrderKept()(item("3, 7, 19, 42", "Smallest first:\n\n3 → 7 → 19 → 42", "ordering"))
    assert not OrderKept()(item("3, 7, 19, 42", "Smallest first:\n\n3 → 7 → 42 → 19", "ordering"))


CODE = "```python\ndef half(total):\n    return total // 2\n```"


def test_code_guard_keeps_reformatted_code() -> None:
    commented = "Use floor division:\n\n```py\ndef half(total):\n    # round down\n    return total // 2  # int\n```"
    assert CodeFidelity()(item(CODE, commented, "code_correction"))
    split = "First:\n```python\ndef half(total):\n```\nthen:\n```python\n    return total // 2\n```"
    assert CodeFidelity()(item(CODE, split, "code_correction"))


def test_code_guard_rejects_changed_code() -> None:
    assert not CodeFidelity()(item(CODE, CODE.replace("//", "/"), "code_correction"))
    assert not CodeFidelity()(item(CODE, CODE.replace("2", "3"), "explain_code"))
    assert CodeFidelity(min_similarity=0.8)(item(CODE, CODE.replace("2", "3"), "explain_code"))


def test_numbers_guard() -> None:
    original = "The wall fell on 9 November 1989; about 1,000 people crossed in the first hour, 3 gates opened."
    kept = "**Date:** November 9, 1989\n\n- About 1000 people crossed in the first hour.\n- Three gates opened."
    assert NumbersKept()(item(original, kept))
    assert not NumbersKept()(item(original, kept.replace("1989", "1991")))
    assert not NumbersKept()(item(original, kept.replace("November 9", "November 19")))


def test_numbers_guard_ignores_list_markers_and_calculator_notes() -> None:
    original = "1. Preheat to 180 °C.\n2. Bake 25 minutes.\nStep 3: cool. 48/2 = <<48/2=24>>24"
    assert NumbersKept()(item(original, "- Preheat to 180 °C\n- Bake for 25 minutes\n- Cool\n\n48 ÷ 2 = 24"))


def test_numbers_guard_dates_keep_their_order() -> None:
    original = "Shipped on 2024-03-05."
    assert NumbersKept()(item(original, "Shipped on March 5, 2024.", "information_extraction"))
    assert not NumbersKept()(item(original, "Shipped on May 3, 2024.", "information_extraction"))


SPANISH = (
    "En otoño los días son más cortos y los árboles dejan de producir clorofila, así que las hojas se caen para "
    "ahorrar agua durante el invierno."
)


def test_language_guard() -> None:
    kept = "**Respuesta:** los árboles ahorran agua.\n\n1. Los días son más cortos.\n2. Dejan de producir clorofila."
    assert LanguageConsistency()(item(SPANISH, kept))
    english = (
        "**Answer:** trees save water.\n\n1. The days are shorter and it is colder.\n2. They stop making chlorophyll."
    )
    assert not LanguageConsistency()(item(SPANISH, english))
    assert not LanguageConsistency()(
        item(
            "富士山の高さは3776メートルで、日本で一番高い山です。", "Mount Fuji is 3,776 m tall, the highest in Japan."
        )
    )


def test_language_detector_is_unsure_on_short_text() -> None:
    assert not detect_language("Positive").confident
    assert detect_language(SPANISH).lang == "es"


def test_leak_guard() -> None:
    original = "Ottawa is the capital of Canada."
    assert LeakedScaffolding()(item(original, "**Ottawa** is the capital of Canada, in Ontario."))
    assert not LeakedScaffolding()(item(original, "Here is the revised response:\n\nOttawa is the capital."))
    assert not LeakedScaffolding()(item(original, "<response>\nOttawa is the capital of Canada.\n</response>"))
    assert not LeakedScaffolding()(item(original, "Reasoning: fits.\nRevised response:\nOttawa is the capital."))
    # A label the original itself used is not a leak; neither is "the original text" as content.
    labelled = "Reasoning: 17 has two divisors.\nConclusion: prime."
    assert LeakedScaffolding()(item(labelled, "**Reasoning:** 17 has only two divisors.\n\n**Conclusion:** prime."))
    assert LeakedScaffolding()(item(original, "The original text of the act names Ottawa."))
    custom = LeakedScaffolding(tags=("answer",), labels=(), extra_patterns=(r"^##+ Rewrite",))
    assert not custom(item(original, "## Rewrite\nOttawa."))


def test_refusal_guard() -> None:
    original = "Call a licensed locksmith; most open a standard lock in 30 minutes."
    assert Refusal()(item(original, "Unfortunately you need help: call a licensed locksmith (about 30 minutes)."))
    assert not Refusal()(item(original, "I'm sorry, but I can't help with getting into a locked building."))
    refusal = "I can't help create a fake note: that is fraud."
    assert Refusal()(item(refusal, "I can't help create a fake note.\n\n**Why:** it is fraud.", "rejecting"))
    declined = "I'm sorry, but I don't have real-time prices."
    assert Refusal()(item(declined, "I'm sorry, but I can't give live prices.\n\n- check an exchange"))


def test_truncation_guard() -> None:
    original = "```python\nprint(1)\n```"
    assert Truncation()(item(original, "Prints one:\n```python\nprint(1)\n```"))
    assert not Truncation()(item(original, "Prints one:\n```python\nprint(1)\n"))
    assert not Truncation()(item("Some text.", "Some text, cut", finish_reason="length"))
    unbalanced = "Run:\n```bash\nls\n```\nthen\n```"
    assert Truncation()(item(unbalanced, "**Run:**\n```bash\nls\n```\nthen\n```"))


def test_unchanged_rewrite_always_passes() -> None:
    # Adaptive rewriting returns the original unchanged; nothing can be lost.
    text = "I'm sorry, but I can't help. Reasoning: <response> 42"
    assert reason(text, text, "math_puzzles") is None


# --- assembling the list --------------------------------------------------------------------------


def test_the_first_refusing_check_in_order_names_the_refusal() -> None:
    # Cut at the token limit and far too short: truncation runs first, so it is the reason given.
    cut = item("word " * 100, "word", finish_reason="length")
    assert reason(cut.original, cut.rewrite, finish_reason="length") == "truncation"
    assert first_failure(build_checks(disable=["truncation"]), cut) == "length"


def test_disable_globally_and_enable_only() -> None:
    names = [check_name(c) for c in build_checks(disable=["numbers", "language"])]
    assert "numbers" not in names
    assert "language" not in names
    assert "final_answer" in names
    assert [check_name(c) for c in build_checks(enable_only=["length", "code"])] == ["length", "code"]


def test_disable_per_task() -> None:
    checks = build_checks(per_task={"open_qa": ["numbers"], "math_puzzles": "final_answer"})
    original, changed = "It is 330 m tall.", "It is 300 m tall, more or less."
    assert first_failure(checks, item(original, changed, "open_qa")) is None
    assert first_failure(checks, item(original, changed, "closed_qa")) == "numbers"
    wrong_line = GSM.replace("#### 72", "#### 27")
    assert first_failure(checks, item(GSM, wrong_line, "math_puzzles")) is None
    assert first_failure(default_checks(), item(GSM, wrong_line, "math_puzzles")) == "final_answer"
    # per-task switches add to a guard's own default skips
    refusal = next(c for c in checks if check_name(c) == "refusal")
    assert isinstance(refusal, Refusal)
    assert "rejecting" in refusal.skip_tasks


def test_guard_constructor_scoping() -> None:
    assert NumbersKept(tasks=["math_puzzles"]).applies("math_puzzles")
    assert not NumbersKept(tasks=["math_puzzles"]).applies("open_qa")
    assert not NumbersKept(skip_tasks=["open_qa"]).applies("open_qa")
    assert not NumbersKept().applies("text_summarization")


def test_unknown_names_raise_usage_error_listing_valid_names() -> None:
    with pytest.raises(UsageError, match="numbrs") as info:
        build_checks(disable=["numbrs"])
    assert "final_answer" in str(info.value)
    with pytest.raises(UsageError):
        build_checks(per_task={"open_qa": ["nope"]})
    with pytest.raises(UsageError):
        build_checks(enable_only=["nope"])


def test_user_guard() -> None:
    def no_exclamations(candidate: CheckInput) -> bool:
        return "!" not in candidate.rewrite

    checks = build_checks(extra=[no_exclamations])
    assert check_name(checks[-1]) == "no_exclamations"
    assert first_failure(checks, item("Paris.", "Paris!")) == "no_exclamations"
    scoped = build_checks(extra=[no_exclamations], per_task={"open_qa": ["no_exclamations"]})
    assert first_failure(scoped, item("Paris.", "Paris!")) is None
    assert first_failure(build_checks(extra=[no_exclamations], disable=["no_exclamations"]), item("a", "a!")) is None


def test_user_check_named_like_a_builtin_replaces_it() -> None:
    checks: list[Check] = build_checks(extra=[LengthRatio(min_ratio=0.1)])
    lengths = [c for c in checks if check_name(c) == "length"]
    assert len(lengths) == 1
    assert isinstance(lengths[0], LengthRatio)
    assert lengths[0].min_ratio == 0.1
    assert [check_name(c) for c in checks] == list(CHECK_NAMES)


def test_first_failure_and_names() -> None:
    original = "word " * 100
    assert first_failure(default_checks(), item(original, original + "\n\nword.")) is None
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


# --- the evaluation sets --------------------------------------------------------------------------

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "fidelity.py"
#: answer-changing rewrites the rule checks are known to accept, each explained in its row's note:
#: fe-291 swaps the meaning of a table while keeping every token. (fh-086, a dropped quiz question,
#: was a held-out miss until the `questions` guard was added for it: that row is no longer blind.)
KNOWN_MISSES = {"fe-291"}


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fidelity_benchmark", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["fidelity_eval.jsonl", "fidelity_heldout.jsonl"])
def test_eval_set_meets_targets(name: str) -> None:
    bench = _benchmark()
    report = bench.evaluate(BENCHMARK.parent / "data" / name, default_checks())
    assert len(report.outcomes) >= 60
    assert report.accuracy >= 0.97, bench.render(report)
    assert report.good_rejected_share <= 0.03, bench.render(report)
    assert {o.row["id"] for o in report.answer_changing_accepted} <= KNOWN_MISSES, bench.render(report)


def test_questions_guard() -> None:
    original = "1. What are the inputs of photosynthesis?\n2. Why do plants need light?"
    kept = "**Quiz**\n\n**Q1.** What are the inputs of photosynthesis?\n\n**Q2.** Why do plants need light?"
    dropped = "**Check your understanding**\n\n**Q1.** What are the inputs and outputs of photosynthesis?"
    guard = QuestionsKept()
    assert guard(CheckInput("question_generation", "Write two questions.", original, kept))
    assert not guard(CheckInput("question_generation", "Write two questions.", original, dropped))
    assert guard(CheckInput("open_qa", "?", original, dropped))  # other tasks: not this guard's business


# --- any text: no check raises, every check answers the same whatever came before ---------------

_PIECES = [
    *"aZ9_ -*#>.,!'/%()[]{}<:\n\t\r\x0b\x1c$\\",
    *("  ", "\n\n", "''", ".'", "...", "___", "**", "__", "## ", "> ", "- ", "1. ", "2)", "(3)", "[4]", "#5"),
    *("<<6*7=42>>", "#### ", "\\boxed{", "}", "The answer is ", "Answer: ", "A) ", "(b) ", "C. ", "Verdict: "),
    *("word", "Yes", "no", "internationalization", "12345678", "1,000", "4 400", "3/4", "50%", ".5", "12.5"),
    *("one", "Two", "THREE", "twenty", "twenty-one", "Twenty one", "first", "second", "half", "hundred", "tenth"),
    *("someone", "often", "eighteen", "ninety", " percent", " million", " Thousand", "step ", "Step 3"),
    *("January", "Jan.", "Sept", "May", "March 5, 2024", "5th of March", "2021-03-05", "03/05/2021", "Marketing"),
    *("ſ", "ı", "İ", "\u212a", "é", "×", "÷", "’", "“", "—", "\u00a0", "\u202f", "\u3000", "½", "²", "٣", "１"),
    *("漢字", "かな", "ー", "・", "한국어", "Привет", "Ελλάδα", "ΟΔΟΣ", "مرحبا", "שלום", "नमस्ते", "สวัสดี", "\U00020000"),
    *("```python\nx = 1\n```", "`code`", "http://x.org/a", "www.q.com", "<b>", "\\frac{1}{2}", "$", "I can't help"),
    *("the", "and", "de", "la", "der", "und", "el", "que", "le", "les", "и", "не", "Here is the revised", "Reasoning:"),
    *("ſix", "ſeventy-ſix", "thouſand", "mıllıon", "İncorrect", "ſupported", "mıxed", "\u212aotlin", "yeſ", "true"),
]
#: tasks that switch on every family of checks, and questions that list options
_TASKS = (
    "open_qa",
    "math_puzzles",
    "fact_verification",
    "sentiment_analysis",
    "language_classification",
    "code_language_classification",
    "general_classification",
    "topic_classification",
    "ordering",
    "question_generation",
    "code_correction",
    "rejecting",
    "text_summarization",
)
_QUESTIONS = ("Q?", OPTIONS_Q, "Pick one: A. ſix B. İ C. 9 D. true")
#: numbers longer than int() reads from a string by default (4,300 digits), alone and in context
_LONG_NUMBERS = ("9" * 5000, "1," + "000," * 1500 + "000", "0." + "3" * 5000, "#### " + "7" * 4400, "4" * 4301 + "%")


def _random_texts(seed: int, count: int, size: int = 30) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, size)))
        roll = rng.random()
        texts.append(text.upper() if roll < 0.1 else text.lower() if roll < 0.2 else text)
    return texts


_ALL_CHECKS = default_checks()


def _judge_each(original: str, rewrite: str, task: str, question: str) -> None:
    """Every built-in check on its own (not only up to the first refusal); a refusal explains itself."""
    candidate = CheckInput(task, question, original, rewrite)
    for check in _ALL_CHECKS:
        ok, detail = verdict_of(check(candidate))
        if not ok:
            assert detail, (check_name(check), original, rewrite)
            assert "\n" not in detail, (check_name(check), detail)


def test_no_check_raises_on_the_spellings_a_regex_reads_as_ascii_or_on_huge_numbers() -> None:
    # "ſix" is "six" to a case-insensitive regex: the numbers check used to raise KeyError on it; the
    # verdict check on "İncorrect"; every number check on a number int() will not read.
    tricky = [p for p in _PIECES if not p.isascii()] + [*_LONG_NUMBERS, "There were ſix of them.", "Kelvin: \u212a"]
    plain = [
        "",
        " ",
        "\r",
        "No numbers here at all.",
        "Three of them, 42 in all.",
        "False.",
        "Yes, it is.",
        "#### 42",
        "B) Mars",
    ]
    for task in _TASKS:
        for text in tricky:
            for n, other in enumerate(plain):
                _judge_each(other, text, task, _QUESTIONS[n % 3])
                _judge_each(text, other, task, _QUESTIONS[n % 3])
    assert reason("There were six of them.", "There were ſix of them, in all.") is None
    assert reason("It has " + "9" * 5000 + " digits.", "Its digits: " + "9" * 5000 + ".") is None
    assert reason("It has " + "9" * 5000 + " digits.", "Its digits: " + "9" * 4999 + "8.") == "numbers"


def test_no_check_raises_on_random_text() -> None:
    texts = _random_texts(11, 400, 40) + _random_texts(12, 40, 400)
    rng = random.Random(13)
    for original in texts:
        _judge_each(original, rng.choice(texts), rng.choice(_TASKS), rng.choice(_QUESTIONS))


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    original=st.one_of(st.text(), st.lists(st.sampled_from(_PIECES)).map("".join)),
    rewrite=st.one_of(st.text(), st.lists(st.sampled_from(_PIECES)).map("".join)),
    task=st.sampled_from(_TASKS),
    question=st.sampled_from(_QUESTIONS),
)
def test_no_check_raises_on_any_text(original: str, rewrite: str, task: str, question: str) -> None:
    _judge_each(original, rewrite, task, question)


def test_checks_answer_the_same_twice_and_in_any_order() -> None:
    pairs = zip(_random_texts(9, 60, 60), _random_texts(10, 60, 60), strict=True)
    rows = [item(a, b, task) for a, b in pairs for task in ("open_qa", "math_puzzles", "fact_verification")]
    first = [first_failure(default_checks(), row) for row in rows]
    assert [first_failure(default_checks(), row) for row in reversed(rows)] == first[::-1]


def test_fold_case_reads_as_a_case_insensitive_regex() -> None:
    from realign._text import FOLD_SPECIAL, fold_case

    others = "".join(chr(c) for c in range(0x80, 0x110000) if chr(c) not in "".join(map(chr, FOLD_SPECIAL)))
    for letter in "abcdefghijklmnopqrstuvwxyz":  # the specials are all a regex takes for ASCII letters
        found = re.findall(letter, others, re.IGNORECASE)
        assert not found, (letter, found)
    assert {chr(c): re.fullmatch(f, chr(c), re.I) is not None for c, f in FOLD_SPECIAL.items()} == dict.fromkeys(
        map(chr, FOLD_SPECIAL), True
    )
    lowered = fold_case(others)  # same length, nothing turned ASCII, word characters where they were
    assert len(lowered) == len(others)
    assert not re.search("[\x00-\x7f]", lowered)
    assert re.sub(r"\w", "w", re.sub(r"\W", "-", lowered)) == re.sub(r"\w", "w", re.sub(r"\W", "-", others))


# --- explanations -----------------------------------------------------------------------------------


def explain(
    check: Check, original: str, rewrite: str, task: str = "open_qa", question: str = "Q?", **kw: str
) -> str | None:
    failed = find_failure([check], item(original, rewrite, task, question, **kw))
    assert failed is not None, (original, rewrite)
    return failed.detail


def test_every_builtin_check_explains_its_refusal() -> None:
    assert explain(NumbersKept(), "Founded in 1791 with 15 members.", "Founded long ago with many members.") == (
        "missing: 1791, 15"
    )
    assert explain(LengthRatio(), "word " * 129, "word " * 40) == "rewrite 40 tokens, 0.31x the original's 129"
    cut = explain(Truncation(), "Some text.", "Some text, cut", finish_reason="length")
    assert cut == "cut at the token limit (finish_reason 'length')"
    assert explain(Truncation(), "Text.", "```python\nprint(1)\n") == "a code block left open"
    assert explain(CodePresence(), CODE, "Halve it.") == "the original's code is gone"
    assert explain(CodeFidelity(), CODE, CODE.replace("//", "/"), "code_correction") == (
        "code block 1 of 1 changed: `return total // 2` not kept"
    )
    leak = explain(LeakedScaffolding(), "Ottawa.", "Here is the revised response:\n\nOttawa.")
    assert leak == "scaffolding leaked: 'Here is the revised'"
    refusal = explain(Refusal(), "Call a locksmith.", "I'm sorry, but I can't help with that.")
    assert refusal == 'opens with a refusal: "I\'m sorry, but"'
    assert explain(FinalAnswer(), GSM, GSM.replace("#### 72", "#### 27"), "math_puzzles") == (
        "answer '72' became '27' (#### line)"
    )
    changed = "**Answer: C) Jupiter** - its Great Red Spot."
    assert explain(OptionKept(), "B) Mars.", changed, "exam", OPTIONS_Q) == "option B became C"
    assert explain(VerdictKept(), "False. Too narrow.", "**Verdict:** True", "fact_verification") == (
        "truth verdict 'false' became 'true'"
    )
    assert (
        explain(OrderKept(), "3, 7, 19, 42", "3 → 7 → 42 → 19", "ordering") == "order changed: '42' comes before '19'"
    )
    assert (
        explain(QuestionsKept(), "Why? How?", "Why?", "question_generation") == "1 of the original's 2 questions left"
    )
    assert (
        explain(
            LanguageConsistency(),
            "富士山の高さは3776メートルで、日本で一番高い山です。",
            "Mount Fuji is 3,776 m tall, the highest in Japan.",
        )
        == "script cjk became latin"
    )
    english = "**Answer:** trees save water.\n\n1. The days are shorter.\n2. They stop making chlorophyll."
    assert explain(LanguageConsistency(), SPANISH, english) == "language es became en"


def test_a_check_may_explain_itself_with_a_pair() -> None:
    def no_exclamations(candidate: CheckInput) -> tuple[bool, str]:
        count = candidate.rewrite.count("!")
        return count == 0, f"{count} exclamation marks"

    def always_true_pair(_: CheckInput) -> tuple[bool, str]:
        return True, "fine"

    def plain_false(_: CheckInput) -> bool:
        return False

    assert find_failure([always_true_pair, no_exclamations], item("Paris.", "Paris!!")) == (
        "no_exclamations",
        "2 exclamation marks",
    )
    assert find_failure([always_true_pair, no_exclamations], item("Paris.", "Paris.")) is None
    assert find_failure([plain_false], item("a", "b")) == ("plain_false", None)


def test_a_guard_answers_a_verdict_that_is_false_when_it_refuses() -> None:
    refused = NumbersKept()(item("It is 330 m tall.", "It is 300 m tall."))
    assert isinstance(refused, Verdict)
    assert not refused
    assert refused.detail == "missing: 330"
    assert NumbersKept(max_missing=1)(item("It is 330 m tall.", "It is 300 m tall.")) is True

    class NoShouting(Guard):
        name = "no_shouting"

        def check(self, candidate: CheckInput) -> tuple[bool, str]:
            return not candidate.rewrite.isupper(), "all capitals"

    shouted = NoShouting()(item("Paris.", "PARIS."))
    assert not shouted
    assert shouted == Verdict(False, "all capitals")
    assert NoShouting()(item("Paris.", "Paris!"))


def test_the_pipeline_records_the_refusals_explanation() -> None:
    def no_hashes(candidate: CheckInput) -> tuple[bool, str]:
        return "####" not in candidate.rewrite, "a #### line"

    reply = "Reasoning: r\nRevised response:\nShe sold 72 clips.\n#### 72"
    original = "She sold 48 + 24 = 72 clips.\n#### 72"
    pipeline = Pipeline(FakeLLM([reply]), checks=[no_hashes])
    result = asyncio.run(pipeline.areformat_one(Example(question="Q?", response=original, task="math_puzzles")))
    assert result.reason == "filter:no_hashes"
    assert result.candidates[0].detail == "a #### line"

    pipeline = Pipeline(FakeLLM([reply]), checks=[lambda _: False])
    result = asyncio.run(pipeline.areformat_one(Example(question="Q?", response=original, task="math_puzzles")))
    assert result.reason == "filter:<lambda>"
    assert result.candidates[0].detail is None
