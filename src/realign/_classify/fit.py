"""Refit the shipped logistic regression weights and rebuild the shipped table: ``python -m realign._classify.fit``.

Run it after changing the classifier's examples, the task table or its features; it rewrites
``_data/classifier_linear.json`` from the shipped examples only (deterministic, about 30 s), then
``_data/classifier_table.pickle``, the built-in model's table built from them (loaded instead of built
at run time). ``--table`` rebuilds the table only (after changing how it is built, not what it is fitted on).
"""

from __future__ import annotations

import json
import pickle
import sys
from importlib import resources

from .embedded import built_table, fit_linear_weights


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    data = resources.files("realign") / "_data"
    if "--table" not in args:
        target = data / "classifier_linear.json"
        with open(str(target), "w", encoding="utf-8") as handle:
            json.dump(fit_linear_weights(), handle, ensure_ascii=False, separators=(",", ":"))
            handle.write("\n")
        print(f"wrote {target}")
    target = data / "classifier_table.pickle"
    with open(str(target), "wb") as handle:
        pickle.dump(built_table(), handle, protocol=4)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
