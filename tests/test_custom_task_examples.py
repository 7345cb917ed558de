"""A criteria folder's examples.jsonl teaches the embedded classifier its custom tasks (CLI and Python API)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from realign import Criteria, Example, Pipeline, UsageError
from realign._cli.main import main

RECIPES = [
    "Scale this pancake recipe from 4 servings to 10: 2 cups flour, 2 eggs, 1.5 cups milk, 2 tbsp sugar",
    "my lasagna recipe feeds 6, I need it for 15 people. 500g beef, 12 sheets, 800ml tomato sauce, 250g ricotta",
    "Halve this cookie recipe please: 225g butter, 200g sugar, 2 eggs, 375g flour, 1 tsp baking soda",
    "How much of each ingredient do I need to triple this curry? 400ml coconut milk, 2 tbsp paste, 500g chicken",
    "Adjust the quantities of this bread recipe for two loaves instead of one: 500g flour, 7g yeast, 350ml water",
    "Convert this soup recipe for 4 into one for 12 servings.\n1 onion\n3 carrots\n1 l stock\n200 g lentils",
    "recipe serves 8 but it's just me and my wife, cut it down: 1kg potatoes, 300ml cream, 100g cheese",
    "Multiply out this cocktail recipe for a party of 20 (it's for 1): 50ml gin, 25ml lemon juice, 15ml syrup",
]
#: not among the examples; without them the classifier calls it math_puzzles
UNSEEN = "Reduce this muffin recipe to make 6 instead of 24: 4 cups flour, 2 cups sugar, 4 eggs"


def folder(tmp_path: Path, examples: list[str] | None = None) -> Path:
    crit = tmp_path / "crit"
    crit.mkdir()
    header = "{# recipe_scaling: scale a recipe's quantities to another number of servings #}\n"
    (crit / "recipe_scaling.j2").write_text(header + "- A table of every ingredient, old and new quantity.\n")
    if examples is not None:
        (crit / "examples.jsonl").write_text("\n".join(examples) + "\n", encoding="utf-8")
    return crit


def rows(texts: list[str], task: str = "recipe_scaling") -> list[str]:
    return [json.dumps({"instruction": text, "category": task}) for text in texts]


def task_of(pipeline: Pipeline) -> str:
    return asyncio.run(pipeline.plan(Example(question=UNSEEN, response="..."))).task


def test_the_pipeline_classifier_learns_custom_tasks_from_the_folder(tmp_path: Path) -> None:
    assert task_of(Pipeline(None, criteria=folder(tmp_path, rows(RECIPES)))) == "recipe_scaling"


def test_without_examples_the_custom_task_is_not_chosen(tmp_path: Path) -> None:
    # the case the examples file is for: a description alone loses to the built-in tasks
    assert task_of(Pipeline(None, criteria=folder(tmp_path))) != "recipe_scaling"


def test_realign_classify_uses_the_folder_examples(tmp_path: Path) -> None:
    crit = folder(tmp_path, rows(RECIPES))
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"instruction": UNSEEN, "output": "..."}) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["classify", str(source), "-o", str(out), "--criteria", str(crit)]) == 0
    assert json.loads(out.read_text())["realign"]["task"] == "recipe_scaling"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "examples.jsonl:2: not JSON"),
        ('{"instruction": "x"}', "examples.jsonl:2: expected"),
        ('{"instruction": "x", "category": "recipe_scale"}', "examples.jsonl:2: unknown task 'recipe_scale'"),
    ],
)
def test_a_bad_examples_line_is_named(tmp_path: Path, line: str, message: str) -> None:
    crit = folder(tmp_path, [*rows(RECIPES[:1]), line])
    with pytest.raises(UsageError, match=message):
        Criteria(crit)


def test_examples_may_teach_built_in_tasks_too(tmp_path: Path) -> None:
    crit = folder(tmp_path, rows(["Tabulate the servings"], "table_extraction"))
    assert Criteria(crit).examples == [("Tabulate the servings", "table_extraction")]
