"""How far a criteria folder's ``examples.jsonl`` teaches the embedded classifier a custom task.

Builds a folder with one custom task (``recipe_scaling``) and the 8 examples of
``data/custom_task_examples.jsonl``, then reports which task the classifier picks for 5 new requests of that
task, without and with the examples, and (``--realign-train PATH``) its accuracy on the built-in tasks of the
ReAlign development set both ways: teaching a custom task should cost the built-in ones nothing.

    python benchmarks/custom_tasks.py [--realign-train PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from realign import Criteria, EmbeddedClassifier

DATA = Path(__file__).parent / "data"
HEADER = "{# recipe_scaling: scale a recipe's quantities to another number of servings #}\n"
#: written for this benchmark; none is among the examples
NEW_REQUESTS = (
    "I want to make this brownie recipe for 30 kids instead of 12: 200g chocolate, 150g butter, 3 eggs, 100g flour",
    "double the quantities in this risotto recipe: 320g rice, 1l broth, 1 onion, 50g parmesan",
    "Reduce this muffin recipe to make 6 instead of 24: 4 cups flour, 2 cups sugar, 4 eggs",
    "Please scale my chili recipe up for 40 guests, currently serves 5: 1kg beef, 2 cans beans, 3 tbsp chili powder",
    "cut this cake recipe in half: 3 eggs, 250g flour, 200g sugar, 200g butter",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--realign-train", type=Path, help="ReAlign's task_classifier_train_dataset.json")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="realign-custom-"))
    try:
        (folder / "recipe_scaling.j2").write_text(HEADER + "- A table of every ingredient, old and new quantity.\n")
        shutil.copy(DATA / "custom_task_examples.jsonl", folder / "examples.jsonl")
        criteria = Criteria(folder)
        dev = json.loads(args.realign_train.read_text(encoding="utf-8")) if args.realign_train else []
        for name, examples in (("without examples", None), ("with 8 examples", criteria.examples)):
            classifier = EmbeddedClassifier(criteria.tasks, examples)
            picked = [p.task for p in classifier.predict_many(NEW_REQUESTS)]
            line = f"{name}: recipe_scaling for {picked.count('recipe_scaling')} of {len(picked)} ({', '.join(picked)})"
            if dev:
                found = classifier.predict_many([row["instruction"] for row in dev])
                right = sum(p.task == row["category"] for p, row in zip(found, dev, strict=True))
                line += f"; development set {right / len(dev):.1%}"
            print(line)
    finally:
        shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
