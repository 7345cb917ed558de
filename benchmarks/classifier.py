"""Benchmark of the embedded task classifier: load time, throughput, held-out and multilingual accuracy.

    python benchmarks/classifier.py [--heldout PATH] [--dev PATH] [--n 20000] [--errors]
        [--process-rows 20000] [--realign-train PATH] [--labelled PATH ...] [--cv PATH [--cv-seed N]]

``--process-rows N`` times the whole ``realign classify`` process (start-up, reading, classifying,
writing) on an N-row file of distinct rows (the held-out texts with varied openings and closings),
best of three. ``--realign-train PATH`` reports accuracy on the public
ReAlign classifier training set (``datasets/classification/task_classifier_train_dataset.json`` of
GAIR-NLP/ReAlign, a development set: read from PATH, never copied into this repository), on the
two thirds the cue rules were tuned on and on the third left untouched (a fixed shuffle, seed 16).
``--labelled PATH`` (repeatable) prints top-1 accuracy on any other labelled file, e.g. that
repository's held-out ``task_classifier_test_dataset.json``. ``--cv PATH`` cross-validates on the
development set (the training set; 5 folds, stratified by task and grouped by template): whatever is chosen by looking
at it (which tuned cue alternatives to keep, per-task bias terms, the weights of the two models) is
chosen on four folds and scored on the fifth; the mean over the folds is the figure that may carry to
unseen text, the figure "as shipped" is not.

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
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_HELDOUT = HERE / "data" / "classifier_heldout.jsonl"
DEFAULT_DEV = HERE / "data" / "classifier_dev_multilingual.jsonl"
DEFAULT_REAL = HERE / "data" / "classifier_real_heldout.jsonl"
DEFAULT_STYLE = HERE / "data" / "classifier_style_heldout.jsonl"
DEFAULT_LONGFORM = HERE / "data" / "classifier_longform_heldout.jsonl"

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
    parser.add_argument("--cv", type=Path, help="development set to cross-validate on (ReAlign's training set)")
    parser.add_argument("--cv-seed", type=int, default=5, help="seed of the cross-validation folds")
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
    for path in (DEFAULT_REAL, DEFAULT_STYLE, DEFAULT_LONGFORM):
        if path.is_file():
            report_labelled(classifier, path)
    if args.realign_train is not None:
        report_realign_train(classifier, args.realign_train)
    for path in args.labelled:
        report_labelled(classifier, path)
    if args.cv is not None:
        report_cross_validation(args.cv, args.cv_seed)
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


# Ways people open and close a request: the process benchmark's rows are the held-out texts, each
# framed differently on each pass, so that no two rows are alike (a cache of repeated texts gains
# nothing) while every row stays an instruction as users write them.
_OPENINGS = ("", "Please help: ", "Hi! ", "Quick question. ", "Hey, ", "Hello, ", "I need some help. ", "Okay, ")
_CLOSINGS = ("", " Thanks!", " Thank you.", " Please be concise.", " Keep it brief.", " No rush.", " Cheers.", " :)")


def process_texts(texts: list[str], n: int) -> list[str]:
    """``n`` distinct instructions: the texts in turn, each pass with another opening and closing."""
    distinct = list(dict.fromkeys(texts))
    passes = len(_OPENINGS) * len(_CLOSINGS)
    if n > len(distinct) * passes:
        raise SystemExit(f"--process-rows at most {len(distinct) * passes} (distinct rows)")
    out = []
    for i in range(n):
        framing = i // len(distinct)
        opening, closing = _OPENINGS[framing % len(_OPENINGS)], _CLOSINGS[framing // len(_OPENINGS)]
        out.append(opening + distinct[i % len(distinct)] + closing)
    return out


def report_process(texts: list[str], n: int) -> None:
    """Wall and CPU time of the whole ``realign classify`` process on ``n`` distinct rows, best of three."""
    rows = process_texts(texts, n)
    with tempfile.TemporaryDirectory() as folder:
        source, output = Path(folder) / "rows.jsonl", Path(folder) / "out.jsonl"
        with source.open("w", encoding="utf-8") as handle:
            for text in rows:
                handle.write(json.dumps({"instruction": text, "output": "ok"}) + "\n")
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


# --------------------------------------------------------------------------------------------------
# Cross-validation on the development set (--cv)
# --------------------------------------------------------------------------------------------------

# What a row's score is made of, so that each variant is a sum rather than a rebuilt model: naive Bayes,
# the regression (both already halved outside ASCII, as the classifier does), the cue rules that fired
# (index, class, weight, and for a tuned rule which of its alternatives matched), and whether the text is
# plain ASCII (the regression's intercept, and any per-task bias, apply only then).
Fired = tuple[int, int, float, frozenset[int]]
Parts = tuple[list[float], list[float], list[Fired], bool]
#: A tuned cue rule's alternative: (rule index, alternative index), the unit kept or dropped.
Unit = tuple[int, int]

CV_FOLDS = 5
RULE_CAP = 6.0  # the classifier's _RULE_CAP


def top_level_branches(pattern: str) -> list[str]:
    """A regex split at its top-level ``|`` (outside groups and character classes)."""
    branches, depth, start, i, in_class = [], 0, 0, 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]" or pattern[i + 1 : i + 3] == "^]":  # "[]...]": a literal ]
                i += 2 if pattern[i + 1] == "]" else 3
                continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append(pattern[start:i])
            start = i + 1
        i += 1
    return [*branches, pattern[start:]]


def score_parts(texts: list[str]) -> tuple[list[str], dict[Unit, tuple[str, float, int, str]], int, list[Parts]]:
    """The labels, each tuned rule's alternatives (task, weight, line), the first tuned rule, each text's parts.

    A tuned rule is measured one alternative (a top-level branch of a ``| `` line) at a time: most were
    written from one row each, and a rule is only as general as each of its alternatives.
    """
    import re
    from importlib import resources

    from realign._classify import embedded as _embedded
    from realign._tasks import TASKS

    text = (resources.files("realign") / "_data" / "classifier_cues.txt").read_text(encoding="utf-8")
    parser = _embedded._CueParser()
    rules = parser.parse(text)
    first_tuned = len(_embedded._CueParser().parse(text[: text.index(TUNED_SECTION)]))
    alternatives: dict[int, list[tuple[int, re.Pattern[str]]]] = defaultdict(list)
    number = -1
    for line_number, line in enumerate(text.splitlines(), 1):
        if line.startswith("== "):
            number += 1
        elif line.startswith("| ") and number >= first_tuned:
            for branch in top_level_branches(parser._expand(line[2:].strip())):
                alternatives[number].append((line_number, re.compile(branch, re.MULTILINE)))
    labels = list(TASKS)
    index = {label: i for i, label in enumerate(labels)}
    training = _embedded._training_rows(TASKS)
    naive = _embedded._train(training, labels, (), None)
    full = _embedded._train(training, labels, (), _embedded._linear_weights())
    by_trigger: dict[str, list[int]] = defaultdict(list)
    untriggered = []
    for i, rule in enumerate(rules):
        if rule.task not in index:
            continue
        if not rule.triggers:
            untriggered.append(i)
        for trigger in rule.triggers:
            by_trigger[trigger].append(i)
    parts: list[Parts] = []
    for instruction in texts:
        view = _embedded._view(instruction)
        nb, both = naive.scores(view), full.scores(view)
        tried = set(untriggered).union(*(by_trigger.get(word, ()) for word in view.words))
        fired: list[Fired] = []
        for i in sorted(tried):
            rule = rules[i]
            if not rule.matches(view):
                continue
            where = view.focus if rule.whole else view.request
            matched = frozenset(a for a, (_, pattern) in enumerate(alternatives[i]) if pattern.search(where))
            fired.append((i, index[rule.task], rule.weight, matched or frozenset({0})))
        parts.append((nb, [b - n for b, n in zip(both, nb, strict=True)], fired, view.ascii_only))
    units = {
        (i, a): (rules[i].task, rules[i].weight, line, pattern.pattern)
        for i in range(first_tuned, len(rules))
        if rules[i].task in index
        for a, (line, pattern) in enumerate(alternatives[i] or [(0, re.compile(""))])
    }
    return labels, units, first_tuned, parts


def combine(
    parts: Parts,
    dropped: set[Unit] = frozenset(),  # type: ignore[assignment]
    nb: float = 1.0,
    lin: float = 1.0,
    bias: list[float] | None = None,
    *,
    cues: bool = True,
) -> list[float]:
    """A row's scores without the tuned alternatives in ``dropped`` (no cue rule at all: ``cues=False``),
    the two models weighted, a per-task bias added."""
    naive, linear, fired, ascii_only = parts
    scores = [nb * a + lin * b for a, b in zip(naive, linear, strict=True)]
    if bias is not None and ascii_only:
        scores = [s + b for s, b in zip(scores, bias, strict=True)]
    if not cues:
        return scores
    bonus: dict[int, float] = {}
    penalties = []
    for number, cls, weight, matched in fired:  # the classifier's _rule_bonus: bonuses capped, then penalties
        if dropped and all((number, a) in dropped for a in matched):
            continue
        if weight > 0:
            bonus[cls] = min(bonus.get(cls, 0.0) + weight, RULE_CAP)
        else:
            penalties.append((cls, weight))
    for cls, weight in penalties:
        bonus[cls] = bonus.get(cls, 0.0) + weight
    for cls, value in bonus.items():
        scores[cls] += value
    return scores


def top(scores: list[float]) -> int:
    return scores.index(max(scores))


def template_folds(rows: list[tuple[str, str]], seed: int, k: int = CV_FOLDS) -> list[int]:
    """Each row's fold: stratified by task, and grouped by template (same first four words and task).

    The development set repeats templates (five rows of one question, a dozen of one "Summarize the
    article ... in a note"): a rule written from one of them must not be credited on its twins in
    another fold. Deterministic for a seed.
    """
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, (text, task) in enumerate(rows):
        groups[(" ".join(text.lower().split()[:4]), task)].append(i)
    by_task: dict[str, list[list[int]]] = defaultdict(list)
    for (_, task), members in sorted(groups.items()):
        by_task[task].append(members)
    shuffle = random.Random(seed).shuffle
    fold = [0] * len(rows)
    size = [0] * k
    for task in sorted(by_task):
        members_list = by_task[task]
        shuffle(members_list)
        members_list.sort(key=len, reverse=True)  # stable: big templates first, ties in shuffled order
        count = [0] * k
        for members in members_list:
            target = min(range(k), key=lambda f: (count[f], size[f], f))
            for i in members:
                fold[i] = target
            count[target] += len(members)
            size[target] += len(members)
    return fold


def fit_task_bias(scores: list[list[float]], gold: list[int], l2: float, steps: int = 200) -> list[float]:
    """Per-task bias terms (a prior correction): softmax log-loss plus an L2 penalty, full-batch gradient descent."""
    n_classes = len(scores[0])
    bias = [0.0] * n_classes
    for _ in range(steps):
        gradient = [0.0] * n_classes
        for row, label in zip(scores, gold, strict=True):
            shifted = [s + b for s, b in zip(row, bias, strict=True)]
            peak = max(shifted)
            exps = [math.exp(s - peak) for s in shifted]
            total = sum(exps)
            gradient = [g + e / total for g, e in zip(gradient, exps, strict=True)]
            gradient[label] -= 1.0
        bias = [b - (g / len(scores) + l2 * b) for b, g in zip(bias, gradient, strict=True)]
    return bias


def report_cross_validation(path: Path, seed: int, *, bias_l2: tuple[float, ...] = (0.01, 0.03, 0.1)) -> None:
    """Out-of-fold accuracy on the development set of everything chosen by looking at it.

    5 folds, stratified by task and grouped by template. Whatever is tuned on the set (which of the
    tuned cue rules to keep, per-task bias terms, the weight of the two models) is chosen on four folds
    and scored on the fifth; the mean over the five is the figure that may carry to unseen text. The
    cue rules were written after reading the whole set, so a rule is kept in a fold only when it gains
    rows on the other four: a rule that helps only the template it was written from scores nothing.
    """
    rows = load_any(path)
    gold = [task for _, task in rows]
    labels, units, _, parts = score_parts([text for text, _ in rows])
    index = {label: i for i, label in enumerate(labels)}
    y = [index[task] for task in gold]
    fold = template_folds(rows, seed)
    folds = range(CV_FOLDS)
    sizes = [fold.count(f) for f in folds]
    n = len(rows)
    every = set(units)

    def hits(dropped: set[Unit] = frozenset(), **kw: Any) -> list[bool]:  # type: ignore[assignment]
        return [top(combine(p, dropped, **kw)) == t for p, t in zip(parts, y, strict=True)]

    def template(j: int) -> tuple[str, str]:
        return " ".join(rows[j][0].lower().split()[:4]), gold[j]

    shipped = hits()
    per_fold = [sum(h for h, f in zip(shipped, fold, strict=True) if f == k) / sizes[k] for k in folds]
    print(
        f"\ncross-validation on {path.name} ({n} rows, {CV_FOLDS} folds by task and template, seed {seed}; "
        f"fold sizes {sizes})"
    )
    print(f"  as shipped: {sum(shipped) / n:.3f} (per fold {', '.join(f'{a:.3f}' for a in per_fold)})")
    untuned = hits(every)
    tuned_rules = len({i for i, _ in units})
    print(
        f"  without the tuned cue rules ({tuned_rules} rules, {len(units)} alternatives): {sum(untuned) / n:.3f}; "
        f"no cue rule: {sum(hits(cues=False)) / n:.3f}"
    )

    # 1. The tuned cue rules, one alternative at a time, chosen on four folds by greedy forward selection
    # (start with none, add the alternative that gains most rows on those folds, stop when none gains a
    # row): alternatives that match the same rows count once, and one that helps only the template it was
    # written from gains nothing while that template sits in the fifth fold.
    affected = [j for j in range(n) if any((i, a) in units for i, _, _, matched in parts[j][2] for a in matched)]

    def right(rows_: list[int], dropped: set[Unit]) -> int:
        return sum(top(combine(parts[j], dropped)) == y[j] for j in rows_)

    selected: Counter[Unit] = Counter()
    chosen_hits = 0
    for k in folds:
        train = [j for j in affected if fold[j] != k]
        kept: list[Unit] = []
        current = right(train, every)
        while True:
            trials = [(right(train, every - {*kept, unit}), unit) for unit in units if unit not in kept]
            best = max(trials, key=lambda trial: trial[0], default=None)
            if best is None or best[0] < current + 1:
                break
            current = best[0]
            kept.append(best[1])
        selected.update(kept)
        chosen_hits += (
            sum(h for h, f in zip(shipped, fold, strict=True) if f == k)
            - right([j for j in affected if fold[j] == k], set())
            + right([j for j in affected if fold[j] == k], every - set(kept))
        )
    print(
        f"  out-of-fold, each fold keeping the tuned alternatives chosen on the other four: "
        f"{chosen_hits / n:.3f} (all kept: {sum(shipped) / n:.3f}, none: {sum(untuned) / n:.3f})"
    )
    print(
        "  tuned alternatives (line, task, weight, pattern): alone, rows fixed / broken, templates fixed; folds chosen"
    )
    for unit, (task, weight, line, pattern) in units.items():
        alone = hits(every - {unit})
        fixed = [j for j in range(n) if alone[j] and not untuned[j]]
        broken = sum(untuned[j] and not alone[j] for j in range(n))
        print(
            f"    {line:5d} {task:31s} {weight:4.1f} {pattern[:36]:36s}: {len(fixed)} / {broken}, "
            f"{len({template(j) for j in fixed})}; {selected[unit]}"
        )

    # 2. Per-task bias terms, fitted on four folds (log-loss with an L2 penalty), scored on the fifth.
    full = [combine(p) for p in parts]
    for l2 in bias_l2:
        right = 0
        for k in folds:
            train = [j for j in range(n) if fold[j] != k and parts[j][3]]
            bias = fit_task_bias([full[j] for j in train], [y[j] for j in train], l2)
            right += sum(top(combine(parts[j], bias=bias)) == y[j] for j in range(n) if fold[j] == k)
        print(f"  per-task bias terms (L2 {l2}) fitted on four folds: out-of-fold {right / n:.3f}")

    # 3. The weights of naive Bayes and of the regression, chosen on four folds from a grid.
    grid = [(a, b) for a in (0.75, 1.0, 1.25) for b in (0.5, 0.75, 1.0, 1.5)]
    per_weight = {}
    for a, b in grid:
        correct = hits(nb=a, lin=b)
        per_weight[(a, b)] = [sum(c for c, f in zip(correct, fold, strict=True) if f == k) for k in folds]
    right = 0
    picked = []
    for k in folds:
        best = max(grid, key=lambda w: (sum(per_weight[w][m] for m in folds if m != k), -abs(w[0] - 1) - abs(w[1] - 1)))
        picked.append(best)
        right += per_weight[best][k]
    print(f"  model weights (naive Bayes, regression) chosen on four folds {picked}: out-of-fold {right / n:.3f}")

    # 4. Calibration of the confidence (the cascade's threshold reads it): as shipped, and at temperature 1.5.
    for temperature in (1.0, 1.5):
        bins: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        for scores, t in zip(full, y, strict=True):
            peak = max(scores)
            confidence = 1.0 / sum(math.exp((s - peak) / temperature) for s in scores)
            cell = bins[min(int(confidence * 10), 9)]
            cell[0] += 1
            cell[1] += top(scores) == t
            cell[2] += confidence
        ece = sum(abs(cell[1] - cell[2]) for cell in bins.values()) / n
        low = [cell for b, cell in bins.items() if b < 5]
        print(
            f"  confidence at temperature {temperature}: expected calibration error {ece:.3f}, mean "
            f"{sum(c[2] for c in bins.values()) / n:.3f} (accuracy {sum(shipped) / n:.3f}); under 0.5: "
            f"{sum(c[0] for c in low):.0f} rows, {sum(c[1] for c in low):.0f} right"
        )


if __name__ == "__main__":
    main()
