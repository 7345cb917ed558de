"""The embedded task classifier: determinism, task names, clear-cut cases, held-out accuracy, edge inputs,
requests in other languages."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from realign._classify import embedded
from realign._classify.embedded import EmbeddedClassifier, _cue_rules, _trigger_key, _view, load_examples
from realign._exceptions import UsageError
from realign._tasks import DEFAULT_TASK, TASKS, Task
from realign._types import Classifier

DATA = Path(__file__).resolve().parent.parent / "benchmarks" / "data"
HELDOUT = DATA / "classifier_heldout.jsonl"
DEV_MULTILINGUAL = DATA / "classifier_dev_multilingual.jsonl"
NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _rows(path: Path) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(row["instruction"], row["category"]) for row in rows]


def _heldout() -> list[tuple[str, str]]:
    return _rows(HELDOUT)


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


def test_chat_style_heldout_accuracy_at_least_85_percent(clf: EmbeddedClassifier) -> None:
    # Written as users write to chat assistants, never tuned on: 89.4% before the examples of
    # 2026-12-05 and after them. A guard against regressions on chatty, pasted, non-English input.
    rows = _rows(DATA / "classifier_real_heldout.jsonl")
    correct = sum(clf.predict(text).task == task for text, task in rows)
    assert correct / len(rows) >= 0.85


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
    # The input is clipped before any scanning, so size does not matter much (about 10 ms each); the
    # bound only catches a scan of the whole text, which takes minutes, without failing under load.
    assert time.perf_counter() - started < 5


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


def count_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the models built from here on (the shared one included)."""
    built = [0]
    build = embedded._build

    def counting(*args: Any) -> Any:
        built[0] += 1
        return build(*args)

    monkeypatch.setattr(embedded, "_build", counting)
    return built


def test_default_model_is_shared(clf: EmbeddedClassifier, monkeypatch: pytest.MonkeyPatch) -> None:
    clf.predict("Write a haiku about autumn.")  # the shared model exists from here on
    built = count_builds(monkeypatch)
    for _ in range(20):
        EmbeddedClassifier().predict("Write a haiku about autumn.")
    assert built == [0]


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
    assert (data / "classifier_table.pickle").is_file()


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


def test_cue_triggers_cover_their_patterns_on_the_multilingual_dev_set() -> None:
    missed = []
    for text, _ in _rows(DEV_MULTILINGUAL):
        view = _view(text)
        for rule in _cue_rules():
            silent = rule.pattern is not None and rule.triggers.isdisjoint(view.words)
            if silent and rule.triggers and rule.matches(view):
                missed.append((rule.task, text[:60]))
    assert not missed


# ------------------------------------------------------------------------------------------------
# Requests in other languages
# ------------------------------------------------------------------------------------------------

MULTILINGUAL = [
    ("Escribe un poema corto sobre el otoño.", "poem_generation"),
    ("Écris une histoire pour enfants sur un pingouin qui voulait voler.", "story_generation"),
    ("Schreib eine E-Mail an meine Chefin, dass ich morgen krank bin.", "email_generation"),
    ("Traduza para o francês: 'Onde fica a estação de trem?'", "text_to_text_translation"),
    (
        "Riassumi questo articolo in due frasi: Il governo ha approvato ieri la riforma delle pensioni.",
        "text_summarization",
    ),
    ("Как приготовить блины на молоке?", "how_to_generation"),
    ("请推荐几本适合小学生读的科幻小说。", "recommendations"),
    ("この文章の誤字を直してください：きのうは雨がふってましたた。", "text_correction"),
    ("이 글의 제목을 지어 주세요: 오늘은 친구들과 한강에서 자전거를 탔다.", "title_generation"),
    ("¿Es verdad que los murciélagos son ciegos?", "fact_verification"),
    ("Fais comme si tu étais un pirate et raconte-moi ta journée.", "roleplay"),
    ("Warum ist der Himmel blau?", "explain_answer"),
    ("Extraia as palavras-chave deste texto: O turismo cresceu muito no Nordeste este ano.", "keywords_extraction"),
    ("Ordina questi numeri dal più grande al più piccolo: 4, 19, 7, 11.", "ordering"),
    ("Это сообщение позитивное или негативное? «Ужасный сервис, больше не приду».", "sentiment_analysis"),
    ("这句话是什么语言？“Bonne nuit, à demain.”", "language_classification"),
    (
        "このPythonのコードをJavaScriptに変換してください。\n```python\nprint(sum([1, 2, 3]))\n```",
        "code_to_code_translation",
    ),
    ("Escribe una función en JavaScript que cuente las vocales de una cadena.", "text_to_code_translation"),
    ("Gracias, eso es todo.", "default"),
    ("Wie kann ich das WLAN-Passwort meines Nachbarn hacken?", "rejecting"),
]


@pytest.mark.parametrize(("instruction", "task"), MULTILINGUAL)
def test_requests_in_other_languages(clf: EmbeddedClassifier, instruction: str, task: str) -> None:
    assert clf.predict(instruction).task == task


# A request written in another language is neither a translation nor a question about languages.
NOT_ABOUT_LANGUAGE = [
    "¿Cuál es la capital de Australia?",
    "Écris un poème sur la mer.",
    "Schreib eine Geschichte über einen Roboter.",
    "Qual é a melhor maneira de aprender a nadar?",
    "Scrivi una mail al mio capo per chiedere un giorno di ferie.",
    "Напиши стихотворение о зиме.",
    "帮我写一封求职信。",
    "おすすめの映画を教えてください。",
    "서울에서 부산까지 얼마나 걸려요?",
    "Hazme un resumen de este texto: El equipo ganó la liga tras una temporada increíble.",
]


@pytest.mark.parametrize("instruction", NOT_ABOUT_LANGUAGE)
def test_other_languages_are_not_taken_for_translation(clf: EmbeddedClassifier, instruction: str) -> None:
    assert clf.predict(instruction).task not in {
        "text_to_text_translation",
        "language_classification",
        "natural_language_learning_tutor",
    }


def test_multilingual_dev_accuracy(clf: EmbeddedClassifier) -> None:
    rows = _rows(DEV_MULTILINGUAL)
    assert {task for _, task in rows} == set(TASKS)
    correct = sum(clf.predict(text).task == task for text, task in rows)
    assert correct / len(rows) >= 0.9


def test_shipped_examples_have_non_english_rows_for_every_task() -> None:
    counts = Counter(task for text, task in load_examples() if NON_ASCII.search(text))
    assert set(counts) == set(TASKS)
    assert min(counts.values()) >= 5
    training = {text.strip().lower() for text, _ in load_examples()}
    assert not training & {text.strip().lower() for text, _ in _rows(DEV_MULTILINGUAL)}


# ------------------------------------------------------------------------------------------------
# Weak spots found by an independent evaluation (our own phrasings, not its rows)
# ------------------------------------------------------------------------------------------------

WEAK_SPOTS = [
    # harmful, whatever the format
    ("Write an email pretending to be Microsoft support asking users to confirm their password.", "rejecting"),
    ("Draft a letter to elderly people convincing them to send money to a fake charity.", "rejecting"),
    ("Write a heartfelt letter from a grandson to his grandparents.", "email_generation"),
    # small talk
    ("What's your favourite food?", "default"),
    ("ok never mind", "default"),
    ("you're so funny", "default"),
    # a pasted snippet: the programming language, even when it is too short to be sure it is code
    ("Which language is this written in?\n\nfor x in items: print(x)", "code_language_classification"),
    ("What language is this?\n\nSELECT * FROM users", "code_language_classification"),
    ('What language is this? "Muchas gracias por todo"', "language_classification"),
    # a feature of a programming language
    ("Explain what Kotlin's data classes do.", "language_learning_questions"),
    ("Explain what the Rust language's lifetimes do.", "language_learning_questions"),
    # questions to write about a passage, not questions to answer from it
    (
        "The Nile is the longest river in Africa. It flows north through eleven countries and ends in a delta "
        "on the Mediterranean Sea. Ancient Egypt depended on its yearly floods.\n\n"
        "Write 3 comprehension questions based on the passage above.",
        "question_generation",
    ),
    # the subject of a given item
    (
        "Which subject would this test question fall under: chemistry, geography or literature? "
        '"Name the longest river in South America."',
        "topic_classification",
    ),
    # the mood of a text
    (
        'Does this customer email sound angry or happy? "I have waited two weeks and still no refund."',
        "sentiment_analysis",
    ),
    ("Is the writer of this review annoyed or pleased? 'Great food, slow service.'", "sentiment_analysis"),
]


@pytest.mark.parametrize(("instruction", "task"), WEAK_SPOTS)
def test_weak_spots(clf: EmbeddedClassifier, instruction: str, task: str) -> None:
    assert clf.predict(instruction).task == task


def test_stems_and_compound_heads_trigger_rules() -> None:
    assert _trigger_key("recomend*") == "recom*"
    assert _trigger_key("*gedicht") == "*gedicht"
    with pytest.raises(ValueError, match="shorter"):
        _trigger_key("abc*")
    assert "посов*" in _view("Что посоветуешь почитать?").words
    assert "*gedicht" in _view("Schreib mir ein Liebesgedicht").words
    assert "histoire" in _view("Écris l'histoire d'un chat").words  # elision


def test_same_predictions_in_a_process_with_another_hash_seed(clf: EmbeddedClassifier) -> None:
    """Rules fire in the order of a set of words, which changes with the hash seed: the scores must not."""
    texts = [text for text, _ in _rows(DEV_MULTILINGUAL)] + [text for text, _ in _heldout()[:200]]
    script = (
        "import json, sys\n"
        "from realign._classify.embedded import EmbeddedClassifier\n"
        "texts = json.loads(sys.stdin.read())\n"
        "print(json.dumps([[p.task, p.confidence] for p in EmbeddedClassifier().predict_many(texts)]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(texts), capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(out.stdout) == [[p.task, p.confidence] for p in clf.predict_many(texts)]


@pytest.mark.parametrize("topic", ["inflation", "photosynthesis", "black holes", "the stock market", "vaccines"])
def test_explain_in_simple_terms_is_not_an_ai_lesson(clf: EmbeddedClassifier, topic: str) -> None:
    # "in simple terms" once came only from machine-learning examples: every topic became a lesson on AI.
    assert clf.predict(f"Can you explain {topic} in simple terms?").task != "ml_ai_language_model_tutor"


# Phrasings common in collected instruction data (our own sentences, in the style the cue rules were
# tuned to): each names its task only through that phrasing.
REAL_STYLE = [
    (
        "What causes ocean tides? Tides are the regular rise and fall of the sea surface, produced mainly by the "
        "gravitational pull of the moon and, to a lesser degree, of the sun, acting on the rotating earth.",
        "closed_qa",
    ),
    (
        "Generate data for a fraud detection model. the input should be a card payment and the label should say "
        "whether it was fraudulent.",
        "data_generation",
    ),
    ("Step into the shoes of a lighthouse keeper and describe your night to a visitor.", "roleplay"),
    ("Examine the statement: 'homework does more harm than good.' provide your judgment on it.", "value_judgement"),
    ("Write a short note summarizing the report 'Cities and Heat', covering its main findings.", "note_summarization"),
    (
        "Identify the main themes in this text. the harbour town woke slowly as fishing boats returned.",
        "topic_classification",
    ),
    ("Convert this python code into go. def add(a, b):\n    return a + b", "code_to_code_translation"),
]


@pytest.mark.parametrize(("instruction", "task"), REAL_STYLE)
def test_real_instruction_phrasings(clf: EmbeddedClassifier, instruction: str, task: str) -> None:
    assert clf.predict(instruction).task == task


def test_the_model_is_built_on_the_first_prediction_only() -> None:
    clf = EmbeddedClassifier(tasks={name: TASKS[name] for name in ("open_qa", "poem_generation", DEFAULT_TASK)})
    assert not clf.built
    clf.predict("Write a sonnet about the sea.")
    assert clf.built


def test_the_builtin_table_passed_explicitly_shares_the_default_model(
    clf: EmbeddedClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    clf.predict("Write a haiku about autumn.")  # the shared model exists from here on
    built = count_builds(monkeypatch)
    again = EmbeddedClassifier(tasks=dict(TASKS))  # what the CLI passes for the default criteria
    again.predict("Write a haiku about autumn.")
    assert built == [0]


def test_a_run_where_every_row_has_a_category_never_builds_the_classifier(tmp_path: Path) -> None:
    source, output = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows = [{"instruction": f"Write a poem about {n}", "output": "ok", "category": "poem_generation"} for n in range(5)]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    script = (
        "import sys\n"
        "from realign._cli.main import main\n"
        "from realign._classify import embedded\n"
        f"code = main(['classify', {str(source)!r}, '-o', {str(output)!r}, '-q'])\n"
        "print(code, embedded._default_model.cache_info().currsize, embedded._cue_rules.cache_info().currsize)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0", "0"]  # exit 0, no model built, no cue rule parsed
    assert [json.loads(line)["realign"]["classifier"] for line in output.read_text().splitlines()] == ["given"] * 5
