"""Refit the shipped logistic regression weights: ``python -m realign._classify.fit``.

Run it after changing the classifier's examples, the task table or its features; it rewrites
``_data/classifier_linear.json`` from the shipped examples only (deterministic, about 30 s).
"""

from __future__ import annotations

import json
from importlib import resources

from .embedded import fit_linear_weights


def main() -> None:
    target = resources.files("realign") / "_data" / "classifier_linear.json"
    with open(str(target), "w", encoding="utf-8") as handle:
        json.dump(fit_linear_weights(), handle, ensure_ascii=False, separators=(",", ":"))
        handle.write("\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
