"""The logistic regression of the embedded classifier: the trainer, and the shipped weights it produced."""

from __future__ import annotations

import json
import pickle
from importlib import resources

from realign._classify import embedded
from realign._classify.embedded import EmbeddedClassifier, examples_digest
from realign._classify.linear import fit_softmax
from realign._tasks import TASKS

# Three classes told apart by one word each; "the" and "a" occur in every class.
TOY = [
    (["the", "apple"], 0),
    (["a", "apple"], 0),
    (["the", "river"], 1),
    (["a", "river"], 1),
    (["the", "engine"], 2),
    (["a", "engine"], 2),
]


def _argmax(table: dict[str, list[tuple[int, float]]], bias: list[float], features: list[str]) -> int:
    scores = list(bias)
    for feature in features:
        for cls, weight in table.get(feature, []):
            scores[int(cls)] += weight
    return scores.index(max(scores))


def test_the_trainer_learns_the_words_that_tell_classes_apart() -> None:
    table, bias = fit_softmax(TOY, 3, epochs=30, prune=0.0)
    typed = {feature: [(int(c), float(w)) for c, w in pairs] for feature, pairs in table.items()}
    predictions = [_argmax(typed, list(bias), features) for features, _ in TOY]
    assert predictions == [label for _, label in TOY]


def test_words_every_class_uses_get_less_weight_than_the_ones_that_separate() -> None:
    table, _ = fit_softmax(TOY, 3, epochs=30, prune=0.0)
    shared = max(abs(w) for _, w in table["the"])
    separating = max(abs(w) for _, w in table["apple"])
    assert shared < separating


def test_the_trainer_is_deterministic() -> None:
    assert fit_softmax(TOY, 3, epochs=5) == fit_softmax(TOY, 3, epochs=5)


def test_pruning_drops_small_weights() -> None:
    table, _ = fit_softmax(TOY, 3, epochs=30, prune=0.5)
    assert all(abs(w) >= 0.5 for pairs in table.values() for _, w in pairs)


def test_the_shipped_weights_were_fitted_on_the_shipped_examples_and_tasks() -> None:
    # Fails after the examples or the task table change: rerun `python -m realign._classify.fit`.
    path = resources.files("realign") / "_data" / "classifier_linear.json"
    shipped = json.loads(path.read_text(encoding="utf-8"))
    assert shipped["examples_sha256"] == examples_digest()


def test_the_shipped_weights_name_the_task_table_in_order() -> None:
    path = resources.files("realign") / "_data" / "classifier_linear.json"
    assert json.loads(path.read_text(encoding="utf-8"))["labels"] == list(TASKS)


def test_the_built_in_classifier_adds_the_shipped_weights() -> None:
    with_weights = embedded._train(embedded._training_rows(TASKS), list(TASKS), (), embedded._linear_weights())
    without = embedded._train(embedded._training_rows(TASKS), list(TASKS), (), None)
    view = embedded._view("Write a haiku about rain.")
    assert with_weights.scores(view) != without.scores(view)


def test_a_classifier_with_examples_of_its_own_keeps_the_shipped_weights() -> None:
    # The caller's examples add to naive Bayes; the built-in tasks keep the regression fitted on ours, so
    # teaching a custom task costs the built-in ones nothing.
    own = EmbeddedClassifier(examples=[("Write a haiku about rain.", "poem_generation")])
    own.predict("warm-up")
    assert own._model.bias != (0.0,) * len(TASKS)


def test_a_table_without_some_built_in_task_does_not_use_the_shipped_weights() -> None:
    # The regression's columns are the built-in table's: a table that lacks one of its tasks cannot use them.
    table = {name: task for name, task in TASKS.items() if name != "roleplay"}
    narrow = EmbeddedClassifier(table)
    narrow.predict("warm-up")
    assert narrow._model.bias == (0.0,) * len(table)


def test_the_shipped_table_is_the_table_the_shipped_data_builds() -> None:
    # Fails after the examples, the task table, the weights or the table's build change:
    # rerun `python -m realign._classify.fit` (or `... fit --table`).
    path = resources.files("realign") / "_data" / "classifier_table.pickle"
    with path.open("rb") as handle:
        shipped = pickle.load(handle)
    assert shipped == embedded.built_table()


def test_the_built_in_classifier_loads_the_shipped_table() -> None:
    assert embedded._shipped_table() is not None
