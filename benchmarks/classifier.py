"""Benchmark of the embedded task classifier: load time, throughput, held-out and multilingual accuracy.

    python benchmarks/classifier.py [--heldout PATH] [--dev PATH] [--n 20000] [--errors]
        [--process-rows 20000] [--realign-train PATH] [--labelled PATH ...]

``--process-rows N`` times the whole ``realign classify`` process (start-up, reading, classifying,
writing) on an N-row file, best of three. ``--realign-train PATH`` reports accuracy on the public
ReAlign classifier training set (``datasets/classification/task_classifier_train_dataset.json`` of
GAIR-NLP/ReAlign, a development set: read from PATH, never copied into this repository), on the
two thirds the cue rules were tuned on and on the third left untouched (a fixed shuffle, seed 16).
``--labelled PATH`` (repeatable) prints top-1 accuracy on any other labelled file, e.g. that
repository's held-out ``task_classifier_test_dataset.json``.

The held-out set (``benchmarks/data/classifier_heldout.jsonl``, at least 8 instructions per task) was
written separately from the training examples and is never used to tune the classifier; so was
``benchmarks/data/classifier_real_heldout.jsonl`` (instructions as users write to chat assistants, in
roughly the proportions of real SFT data), and ``benchmarks/data/classifier_style_heldout.jsonl`` (209
instructions in the style of public instruction datasets: Alpaca, Dolly, FLAN, GSM8K, Code Alpaca, ...,
written before the logistic regression was added and never tuned on), always reported. The
multilingual development set (``benchmarks/data/classifier_dev_multilingual.jsonl``, at least 2
non-English instructions per task, each row with its ``lang``) is for checking progress on
requests in other languages and may be tuned on: it is not an independent measure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_HELDOUT = HERE / "data" / "classifier_heldout.jsonl"
DEFAULT_DEV = HERE / "data" / "classifier_dev_multilingual.jsonl"
DEFAULT_REAL = HERE / "data" / "classifier_real_heldout.jsonl"
DEFAULT_STYLE = HERE / "data" / "classifier_style_heldout.jsonl"

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
    parser.add_argument("--process-rows", type=int, default=0, help="time `realign classify` on this many rows")
    parser.add_argument("--realign-train", type=Path, help="ReAlign's task_classifier_train_dataset.json")
    parser.add_argument("--labelled", type=Path, action="append", default=[], help="other labelled file (repeatable)")
    args = parser.parse_args()

    start = time.perf_counter()
    from realign._classify import embedded as _embedded
    from realign._tasks import TASKS

    imported = time.perf_counter()
    classifier = _embedded.EmbeddedClassifier()
    constructed = time.perf_counter()
    classifier.predict("warm-up")  # the model is built on the first prediction
    loaded = time.perf_counter()
    print(f"import realign (the whole package, pydantic...): {imported - start:.3f} s")
    print(f"construction (nothing built yet): {(constructed - imported) * 1000:.2f} ms")
    examples = len(_embedded.load_examples())
    print(f"first prediction (parse cues + train on {examples} examples): {loaded - constructed:.3f} s")
    again = time.perf_counter()
    _embedded.EmbeddedClassifier().predict("warm-up")
    print(f"second classifier's first prediction (shared model): {(time.perf_counter() - again) * 1000:.2f} ms")

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
    for path in (DEFAULT_REAL, DEFAULT_STYLE):
        if path.is_file():
            report_labelled(classifier, path)
    if args.realign_train is not None:
        report_realign_train(classifier, args.realign_train)
    for path in args.labelled:
        report_labelled(classifier, path)
    if args.process_rows:
        report_process(texts, args.process_rows)


def load_any(path: Path) -> list[tuple[str, str]]:
    """Labelled rows ``{"instruction", "category"}`` from a JSON array or a JSONL file."""
    text = path.read_text(encoding="utf-8")
    rows = (
        json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.splitlines() if x.strip()]
    )
    return [(row["instruction"], row["category"]) for row in rows]


def accuracy(classifier: object, rows: list[tuple[str, str]]) -> float:
    predictions = classifier.predict_many([text for text, _ in rows])  # type: ignore[attr-defined]
    return sum(p.task == task for p, (_, task) in zip(predictions, rows, strict=True)) / len(rows)


# The cue rules from this heading on were written after reading the ReAlign training set's rows.
TUNED_SECTION = "# ---------------------------------------------------------------- how real instructions are phrased"


def without_tuned_cues(cues: str = "tuned", *, linear: bool = True) -> object:
    """A classifier without the cue rules tuned on the development set (everything else as shipped).

    Its accuracy on the development set tells how well the parts that never saw that set carry over
    to instructions phrased differently: the closest figure we have to an unseen test set.
    ``cues="all"`` leaves out every cue rule, ``cues="none"`` none; ``linear=False`` leaves out the
    logistic regression.
    """
    from importlib import resources

    from realign._classify import embedded as _embedded
    from realign._tasks import TASKS

    text = (resources.files("realign") / "_data" / "classifier_cues.txt").read_text(encoding="utf-8")
    kept = {"tuned": text[: text.index(TUNED_SECTION)], "all": "", "none": text}[cues]
    rules = tuple(_embedded._CueParser().parse(kept))
    weights = _embedded._linear_weights() if linear else None
    model = _embedded._train(_embedded._training_rows(TASKS), list(TASKS), rules, weights)

    class _Stripped:
        def predict_many(self, texts: list[str]) -> list[object]:
            out = []
            for text in texts:
                scores = model.scores(_embedded._view(text))
                out.append(_Task(model.labels[scores.index(max(scores))]))
            return out

    return _Stripped()


class _Task:
    def __init__(self, task: str) -> None:
        self.task = task


def report_realign_train(classifier: object, path: Path) -> None:
    """The development set: the whole, the tuning two thirds and the untouched third.

    Also without the cue rules written for it, which is what an unseen phrasing meets.
    """
    rows = load_any(path)
    order = list(range(len(rows)))
    random.Random(16).shuffle(order)
    cut = len(rows) * 2 // 3
    tune, check = [rows[i] for i in order[:cut]], [rows[i] for i in order[cut:]]
    print(f"\nReAlign training set ({path.name}, {len(rows)} rows, development set):")
    variants = {
        "as shipped": classifier,
        "without the cues tuned on it": without_tuned_cues(),
        "without any cue rule": without_tuned_cues("all"),
        "as shipped, no regression": without_tuned_cues("none", linear=False),
        "without the tuned cues, no regression": without_tuned_cues(linear=False),
        "without any cue rule, no regression": without_tuned_cues("all", linear=False),
    }
    for label, model in variants.items():
        print(
            f"  {label}: top-1 accuracy all {accuracy(model, rows):.3f}, tuning split {accuracy(model, tune):.3f} "
            f"({len(tune)}), untouched split {accuracy(model, check):.3f} ({len(check)})"
        )
    for label in ("without the cues tuned on it", "without any cue rule"):
        model = variants[label]
        predictions = model.predict_many([text for text, _ in rows])  # type: ignore[attr-defined]
        hits: dict[str, list[bool]] = defaultdict(list)
        for prediction, (_, task) in zip(predictions, rows, strict=True):
            hits[task].append(prediction.task == task)
        weakest = sorted(hits.items(), key=lambda item: sum(item[1]) / len(item[1]))[:12]
        print(f"  per-task recall {label}, weakest: " + ", ".join(f"{t} {sum(h)}/{len(h)}" for t, h in weakest))


def report_labelled(classifier: object, path: Path) -> None:
    rows = load_any(path)
    print(f"\n{path.name}: {len(rows)} rows, top-1 accuracy {accuracy(classifier, rows):.3f}")


def report_process(texts: list[str], n: int) -> None:
    """Wall and CPU time of the whole ``realign classify`` process on ``n`` rows, best of three."""
    with tempfile.TemporaryDirectory() as folder:
        source, output = Path(folder) / "rows.jsonl", Path(folder) / "out.jsonl"
        with source.open("w", encoding="utf-8") as handle:
            for i in range(n):
                handle.write(json.dumps({"instruction": texts[i % len(texts)], "output": "ok"}) + "\n")
        command = [sys.executable, "-c", "import sys; from realign._cli.main import main; sys.exit(main())"]
        runs = []
        for _ in range(3):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([*command, "classify", str(source), "-o", str(output), "-q"], check=True)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            runs.append((wall, cpu))
    wall, cpu = min(runs)
    print(
        f"\nwhole `realign classify` process on {n:,} rows: {n / wall:,.0f} rows/s wall ({wall:.2f} s), "
        f"{n / cpu:,.0f} rows/s CPU ({cpu:.2f} s), best of 3"
    )


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
