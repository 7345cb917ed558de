"""Benchmark of the embedded task classifier: load time, throughput, held-out and multilingual accuracy.

    python benchmarks/classifier.py [--heldout PATH] [--dev PATH] [--n 20000] [--errors]

The held-out set (``benchmarks/data/classifier_heldout.jsonl``, at least 8 instructions per task) was
written separately from the training examples and is never used to tune the classifier. The
multilingual development set (``benchmarks/data/classifier_dev_multilingual.jsonl``, at least 2
non-English instructions per task, each row with its ``lang``) is for checking progress on
requests in other languages and may be tuned on: it is not an independent measure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_HELDOUT = HERE / "data" / "classifier_heldout.jsonl"
DEFAULT_DEV = HERE / "data" / "classifier_dev_multilingual.jsonl"

if importlib.util.find_spec("realign") is None:  # not installed yet: use the source tree
    sys.path.insert(0, str(HERE.parent / "src"))


def load_rows(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append((row["instruction"], row["category"]))
    return rows


def load_langs(path: Path) -> list[str]:
    return [json.loads(line).get("lang", "?") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def f1_scores(gold: list[str], pred: list[str]) -> dict[str, float]:
    """Per-task F1 over the tasks that occur in ``gold``."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for g, p in zip(gold, pred, strict=True):
        if g == p:
            tp[g] += 1
        else:
            fp[p] += 1
            fn[g] += 1
    scores = {}
    for task in sorted(set(gold)):
        precision = tp[task] / (tp[task] + fp[task]) if tp[task] + fp[task] else 0.0
        recall = tp[task] / (tp[task] + fn[task]) if tp[task] + fn[task] else 0.0
        scores[task] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heldout", type=Path, default=DEFAULT_HELDOUT)
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV, help="multilingual development set")
    parser.add_argument("--n", type=int, default=20_000, help="instructions for the throughput test")
    parser.add_argument("--errors", action="store_true", help="list the development set's misclassified rows")
    args = parser.parse_args()

    start = time.perf_counter()
    from realign._classify import embedded as _embedded
    from realign._tasks import TASKS

    imported = time.perf_counter()
    classifier = _embedded.EmbeddedClassifier()
    loaded = time.perf_counter()
    print(f"import realign (the whole package, pydantic...): {imported - start:.3f} s")
    print(f"load (parse cues + train on {len(_embedded.load_examples())} examples): {loaded - imported:.3f} s")
    again = time.perf_counter()
    _embedded.EmbeddedClassifier()
    print(f"second construction (shared model): {(time.perf_counter() - again) * 1000:.2f} ms")

    rows = load_rows(args.heldout)
    texts = [text for text, _ in rows]
    batch = (texts * (args.n // len(texts) + 1))[: args.n]
    wall, cpu = time.perf_counter(), time.process_time()
    classifier.predict_many(batch)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"throughput: {len(batch) / wall:,.0f} instructions/s wall, {len(batch) / cpu:,.0f}/s CPU "
        f"({len(batch):,} instructions, one process)"
    )

    predictions = classifier.predict_many(texts)
    gold = [task for _, task in rows]
    pred = [p.task for p in predictions]
    correct = [g == p for g, p in zip(gold, pred, strict=True)]
    f1 = f1_scores(gold, pred)
    print(f"\nheld-out: {len(rows)} instructions, {len(set(gold))} tasks ({args.heldout.name})")
    print(f"top-1 accuracy: {sum(correct) / len(rows):.3f}")
    print(f"macro-F1: {sum(f1.values()) / len(f1):.3f}")

    confident = [ok for ok, p in zip(correct, predictions, strict=True) if p.confidence >= 0.5]
    if confident:
        print(
            f"confidence >= 0.5: {len(confident) / len(rows):.0%} of rows, "
            f"accuracy {sum(confident) / len(confident):.3f}"
        )

    by_group: dict[str, list[bool]] = defaultdict(list)
    for (_, task), ok in zip(rows, correct, strict=True):
        by_group[TASKS[task].group if task in TASKS else "custom"].append(ok)
    print("\naccuracy per group:")
    for group, oks in by_group.items():
        print(f"  {group:16s} {sum(oks) / len(oks):.3f}  ({len(oks)})")

    print("\nweakest tasks (F1):")
    for task, score in sorted(f1.items(), key=lambda kv: kv[1])[:8]:
        print(f"  {task:34s} {score:.2f}")
    confusions = Counter((g, p) for g, p in zip(gold, pred, strict=True) if g != p)
    print("\nmost frequent confusions (gold -> predicted):")
    for (g, p), n in confusions.most_common(8):
        print(f"  {n}  {g} -> {p}")

    if args.dev.is_file():
        report_dev(classifier, args.dev, errors=args.errors)


def report_dev(classifier: object, path: Path, *, errors: bool) -> None:
    """Accuracy on the multilingual development set, overall and per language."""
    rows = load_rows(path)
    langs = load_langs(path)
    predictions = classifier.predict_many([text for text, _ in rows])  # type: ignore[attr-defined]
    by_lang: dict[str, list[bool]] = defaultdict(list)
    for (_, task), lang, prediction in zip(rows, langs, predictions, strict=True):
        by_lang[lang].append(prediction.task == task)
    correct = sum(sum(oks) for oks in by_lang.values())
    print(f"\nmultilingual dev: {len(rows)} instructions, {len(by_lang)} languages ({path.name})")
    print(f"top-1 accuracy: {correct / len(rows):.3f}")
    print("  " + "  ".join(f"{lang} {sum(oks) / len(oks):.2f}" for lang, oks in sorted(by_lang.items())))
    if errors:
        for (text, task), lang, prediction in zip(rows, langs, predictions, strict=True):
            if prediction.task != task:
                print(f"  {lang} {task} -> {prediction.task} ({prediction.confidence:.2f}): {text[:70]!r}")


if __name__ == "__main__":
    main()
