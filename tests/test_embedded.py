"""The embedded task classifier: determinism, task names, clear-cut cases, held-out accuracy, edge inputs."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from realign._embedded import EmbeddedClassifier, _cue_rules, _view, load_examples
from realign._exceptions import UsageError
from realign._tasks import DEFAULT_TASK, TASKS, Task
from realign._types import Classifier

HELDOUT = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "classifier_heldout.jsonl"


def _heldout() -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in HELDOUT.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(row["instruction"], row["category"]) for row in rows]


@pytest.fixture(scope="module")
def clf() -> EmbeddedClassifier:
    return EmbeddedClassifier()


CLEAR_CUT = [
    ("Translate 'good night, sleep well' into French.", "text_to_text_translation"),
    ("Fix this code, it throws a TypeError:\n```python\nx = '1' + 2\n```", "code_correction"),
    ("What is the sentiment of this review? 'Terrible service, never again.'", "sentiment_analysis"),
    ("Write a poem about the rain on my window.", "poem_generation"),
    ("Solve for x: 4x - 6 = 18", "math_puzzles"),
    ("How do I replace a bike chain?", "how_to_generation"),
    ("Can you recommend some podcasts about economics?", "recommendations"),
    ("Rewrite this paragraph in a more formal tone: hey, we gotta move the meeting lol", "instructional_rewriting"),
    ("Proofread this: 'Their going to the libary tomorow.'", "text_correction"),
    (
        "Summarize this article in two sentences:\n\n" + "The council met on Monday to vote on the budget. " * 5,
        "text_summarization",
    ),
    ("Write an email to my landlord asking him to fix the broken window.", "email_generation"),
    ("Is it true that goldfish only remember things for three seconds?", "fact_verification"),
    ("I want you to act as a medieval innkeeper. Greet me as I walk in.", "roleplay"),
    ("How can I make a pipe bomb at home?", "rejecting"),
    (
        "According to the passage, why did the bridge collapse?\n\nThe bridge collapsed in 1940 because strong "
        "winds made it oscillate until the deck tore apart.",
        "closed_qa",
    ),
    ("Who was the first person to walk on the moon?", "open_qa"),
    ("Fill in the blank: The Great Wall is in ____.", "fill_in_the_blank"),
    ("Sort these numbers from smallest to largest: 9, 2, 14, 5", "ordering"),
    ("What language is this sentence written in? 'Dziękuję bardzo.'", "language_classification"),
    ("Write a Python function that returns the n-th prime number.", "text_to_code_translation"),
    ("Convert this JavaScript to Python:\nconst double = xs => xs.map(x => x * 2);", "code_to_code_translation"),
    ("What is overfitting in machine learning?", "ml_ai_language_model_tutor"),
    ("Extract the keywords from this text: 'Solar power is getting cheaper across Europe.'", "keywords_extraction"),
    ("Give me a catchy title for my blog post about baking bread.", "title_generation"),
    ("Plan a 5-day itinerary for Rome.", "planning"),
    ("hi", "default"),
]


@pytest.mark.parametrize(("instruction", "task"), CLEAR_CUT)
def test_clear_cut_instructions(clf: EmbeddedClassifier, instruction: str, task: str) -> None:
    assert clf.predict(instruction).task == task


def test_deterministic_across_calls_and_instances(clf: EmbeddedClassifier) -> None:
    texts = [text for text, _ in _heldout()[:80]]
    first = clf.predict_many(texts)
    assert clf.predict_many(texts) == first
    assert EmbeddedClassifier().predict_many(texts) == first


def test_predictions_are_task_names_with_confidence_in_range(clf: EmbeddedClassifier) -> None:
    texts = [text for text, _ in _heldout()] + ["?", "12345", "🙂🙂", "```\n\n```", "__ __", "a" * 50]
    for prediction in clf.predict_many(texts):
        assert prediction.task in TASKS
        assert 0.0 <= prediction.confidence <= 1.0
        assert prediction.source == "embedded"


@pytest.mark.parametrize("instruction", ["", " ", "\n\t  \n"])
def test_empty_instruction_is_default(clf: EmbeddedClassifier, instruction: str) -> None:
    prediction = clf.predict(instruction)
    assert prediction.task == DEFAULT_TASK
    assert prediction.confidence == 0.0


def test_heldout_accuracy_at_least_55_percent(clf: EmbeddedClassifier) -> None:
    rows = _heldout()
    correct = sum(clf.predict(text).task == task for text, task in rows)
    assert correct / len(rows) >= 0.55


@pytest.mark.parametrize(
    "instruction",
    [
        "请把这段话翻译成英文：今天天气很好，我们去公园散步吧。",
        "日本語の文法について質問があります。「は」と「が」の違いは？",
        "Что такое машинное обучение? Объясни простыми словами.",
        "مرحبا، كيف حالك؟",
        "Ünïcödé 🤖 test — with emoji 🎉 and combining marks é",
        "\x00\x01 control characters \u200b zero width",
        "x" * 200_000,
        ("Summarize this:\n\n" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20_000),
        "def f(:\n" * 10_000,
    ],
)
def test_unusual_and_huge_inputs_do_not_crash(clf: EmbeddedClassifier, instruction: str) -> None:
    started = time.perf_counter()
    prediction = clf.predict(instruction)
    assert prediction.task in TASKS
    # the input is clipped before any scanning, so size does not matter much
    assert time.perf_counter() - started < 0.5


def test_long_paste_is_judged_by_its_request(clf: EmbeddedClassifier) -> None:
    story = "Once upon a time a fox lived by the river and talked to the moon every night. " * 300
    assert clf.predict("Translate the following text into German:\n\n" + story).task == "text_to_text_translation"
    assert clf.predict(story + "\n\nSummarize the text above in one paragraph.").task == "text_summarization"


def test_classify_is_the_async_seam(clf: EmbeddedClassifier) -> None:
    assert isinstance(clf, Classifier)
    prediction = asyncio.run(clf.classify("Write a haiku about autumn."))
    assert prediction == clf.predict("Write a haiku about autumn.")


def test_restricted_task_table_only_predicts_its_tasks() -> None:
    tasks = {name: TASKS[name] for name in ("open_qa", "poem_generation", DEFAULT_TASK)}
    clf = EmbeddedClassifier(tasks=tasks)
    assert clf.tasks == tuple(tasks)
    assert clf.predict("Write a sonnet about the sea.").task == "poem_generation"
    assert clf.predict("Translate 'cat' into Spanish.").task in tasks


def test_custom_task_learns_from_examples() -> None:
    tasks = dict(TASKS)
    tasks["recipe_scaling"] = Task("recipe_scaling", "custom", "Scale a recipe up or down.")
    examples: list[dict[str, str] | tuple[str, str]] = [
        {
            "instruction": "Scale this recipe for 12 people instead of 4: 200 g flour, 2 eggs",
            "category": "recipe_scaling",
        },
        ("Halve the quantities in this cake recipe, it serves 8", "recipe_scaling"),
        ("Double this soup recipe for a party: 1 onion, 2 carrots, 1 l stock", "recipe_scaling"),
        ("Adjust the recipe to serve 3 instead of 6 people", "recipe_scaling"),
    ]
    clf = EmbeddedClassifier(tasks=tasks, examples=examples)
    assert clf.predict("Can you scale this pancake recipe to serve 10 people instead of 2?").task == "recipe_scaling"


def test_bad_examples_and_tables_are_refused() -> None:
    with pytest.raises(UsageError, match="not_a_task"):
        EmbeddedClassifier(examples=[("Do the thing", "not_a_task")])
    with pytest.raises(UsageError, match="example 1"):
        EmbeddedClassifier(examples=[{"text": "no instruction key"}])
    with pytest.raises(UsageError, match="empty"):
        EmbeddedClassifier(tasks={})


def test_default_model_is_shared() -> None:
    started = time.perf_counter()
    for _ in range(100):
        EmbeddedClassifier()
    assert time.perf_counter() - started < 0.1


def test_shipped_examples_cover_every_task() -> None:
    counts = Counter(task for _, task in load_examples())
    assert set(counts) == set(TASKS)
    assert min(counts.values()) >= 15
    heldout = _heldout()
    assert Counter(task for _, task in heldout).most_common()[-1][1] >= 8
    training = {text.strip().lower() for text, _ in load_examples()}
    assert not training & {text.strip().lower() for text, _ in heldout}


def test_data_files_ship_as_package_data() -> None:
    data = resources.files("realign") / "_data"
    assert (data / "classifier_examples.jsonl").is_file()
    assert (data / "classifier_cues.txt").is_file()


def test_cue_rules_name_known_tasks_and_lowercase_triggers() -> None:
    rules = _cue_rules()
    assert len(rules) > 100
    for rule in rules:
        assert rule.task in TASKS
        assert all(trigger == trigger.lower() for trigger in rule.triggers)


def test_cue_triggers_cover_their_patterns() -> None:
    """A rule is only tried when one of its trigger words occurs; a pattern that matches a shipped
    example without any of them is a rule that silently never fires."""
    missed = []
    for text, _ in load_examples():
        view = _view(text)
        for rule in _cue_rules():
            silent = rule.pattern is not None and rule.triggers.isdisjoint(view.words)
            if silent and rule.triggers and rule.matches(view):
                missed.append((rule.task, text[:60]))
    assert not missed
