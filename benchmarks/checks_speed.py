"""CPU per candidate of the post-filter checks: ``find_failure(default_checks(), item)``.

realign runs every check on every candidate rewrite of every row, so on a large dataset the checks'
CPU adds up. This times them over three sets of rows:

- ``fidelity_eval`` and ``fidelity_heldout``: the hand-labelled rows of ``data/fidelity_*.jsonl``
  (short and medium answers, many tasks, about half of them rejected early by some check);
- ``long_english``: long plain-English answers (300-800 words from a fixed vocabulary, with
  numbers, a date or two and some number words), each checked against two faithful reformattings,
  the case where every check runs to the end. As in model output, half of them are typeset
  (curly apostrophes and quotes, em dashes) and some of those have an accented word (café).

    python benchmarks/checks_speed.py                  # median of 7 repeats
    python benchmarks/checks_speed.py --repeats 15 --long-rows 400 --json out.json

Each repeat starts with every ``functools.lru_cache`` of the realign modules cleared, so a cache
helps only within one pass over the rows (the candidates of one row share their original), as in a
real run, never by remembering the previous repeat. Prints microseconds per row, median over the
repeats (and the minimum), per set and for all rows together. The clock is the process's CPU time
(``time.process_time``), which other work on a shared machine disturbs far less than the wall clock;
``--wall`` times the wall clock.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import realign
from realign import default_checks, find_failure
from realign._types import Check, CheckInput

DATA = Path(__file__).parent / "data"
FIDELITY_FILES = (DATA / "fidelity_eval.jsonl", DATA / "fidelity_heldout.jsonl")

_VOCAB = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have "
    "an they you were their one all we can her has there been if more when will would who so no out up "
    "into do only could new other some time these two may then first any my now such like our over man me "
    "even most made after also did many before must through back years where much your way well down "
    "should because each just those people how too little state good very make world still own see men "
    "work long get here between both life being under never day same another know while last might us "
    "great old year off come since against go came right used take three states himself few house use "
    "during without again place american around however home small found thought went say part once "
    "general high upon school every does got united left number course war until always away something "
    "fact though water less public put think almost hand enough far took head yet government system "
    "better set told nothing night end why called didn't eyes find going look asked later knew point "
    "next program city business give group toward young days let room president side social given "
    "present several order national possible rather second per face among form important often things "
    "looked early white case john become large big need four within felt along children saw best church "
    "ever least power development light thing seemed family interest want members mind country area "
    "others done turned although open god service problem certain kind different thus began door help "
    "sense means whole matter perhaps itself york times law human line above name example action company "
    "local show whether five gave either quite economic process energy temperature pressure students "
    "research method results analysis model design network growth market history policy theory practice"
).split()
_TYPESET_VOCAB = ("it's", "don't", "isn't", "you're", "we'll", "they've", "can't")
_ACCENTED = ("café", "naïve", "résumé", "déjà vu", "Zürich", "façade")
_MONTHS = "January February March April May June July August September October November December".split()


def _sentence(rng: random.Random, style: str = "ascii") -> str:
    words = [rng.choice(_VOCAB) for _ in range(rng.randint(8, 22))]
    if style != "ascii":
        if rng.random() < 0.5:
            words.insert(rng.randrange(len(words)), rng.choice(_TYPESET_VOCAB).replace("'", "\u2019"))
        if rng.random() < 0.2:
            i = rng.randrange(len(words) - 1)
            words[i : i + 2] = [f"\u201c{words[i]} {words[i + 1]}\u201d"]
        if rng.random() < 0.15:
            words.insert(rng.randrange(len(words)), "\u2014")
        if style == "accented" and rng.random() < 0.1:
            words.insert(rng.randrange(len(words)), rng.choice(_ACCENTED))
    elif rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), rng.choice(_TYPESET_VOCAB))
    roll = rng.random()
    if roll < 0.25:
        words.insert(rng.randrange(len(words)), f"{rng.randint(2, 9999):,}")
    elif roll < 0.32:
        words.insert(rng.randrange(len(words)), f"{rng.randint(1, 99)}.{rng.randint(1, 9)}%")
    elif roll < 0.36:
        date = f"{rng.choice(_MONTHS)} {rng.randint(1, 28)}, {rng.randint(1950, 2024)}"
        words.insert(rng.randrange(len(words)), date)
    words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice(".....?!")


def _long_answer(rng: random.Random) -> tuple[str, list[list[str]]]:
    """A plain-English answer of 300-800 words, and its paragraphs as lists of sentences."""
    target = rng.randint(300, 800)
    roll = rng.random()
    style = "ascii" if roll < 0.5 else "typeset" if roll < 0.85 else "accented"
    paragraphs: list[list[str]] = []
    words = 0
    while words < target:
        para = [_sentence(rng, style) for _ in range(rng.randint(2, 6))]
        words += sum(len(s.split()) for s in para)
        paragraphs.append(para)
    return "\n\n".join(" ".join(p) for p in paragraphs), paragraphs


def _reformat_sections(rng: random.Random, paragraphs: list[list[str]]) -> str:
    # headings and bold lead sentences, every sentence kept
    out = []
    for i, para in enumerate(paragraphs):
        out.append(f"## Part {i + 1}: {' '.join(rng.choice(_VOCAB) for _ in range(3)).title()}")
        out.append(f"**{para[0]}** " + " ".join(para[1:]))
    return "\n\n".join(out)


def _reformat_bullets(paragraphs: list[list[str]]) -> str:
    # an opening paragraph, then bullets, every sentence kept
    first, *rest = paragraphs
    lines = [" ".join(first), ""]
    for para in rest:
        lines += [f"- {s}" for s in para]
        lines.append("")
    lines.append("In short, the points above answer the question.")
    return "\n".join(lines)


def long_rows(count: int, seed: int = 7) -> list[CheckInput]:
    """``count`` originals, each with two faithful reformattings (``2 * count`` rows)."""
    rng = random.Random(seed)
    tasks = ("open_qa", "explain_answer", "how_to_generation", "recommendations", "planning")
    rows = []
    for _ in range(count):
        original, paragraphs = _long_answer(rng)
        task = rng.choice(tasks)
        question = _sentence(rng).rstrip(".!") + "?"
        for rewrite in (_reformat_sections(rng, paragraphs), _reformat_bullets(paragraphs)):
            rows.append(CheckInput(task=task, question=question, original=original, rewrite=rewrite))
    return rows


def fidelity_rows(path: Path) -> list[CheckInput]:
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [
        CheckInput(
            task=r["task"],
            question=r["question"],
            original=r["original"],
            rewrite=r["rewrite"],
            finish_reason=r.get("finish_reason", "stop"),
        )
        for r in rows
    ]


def _caches() -> list[Callable[[], None]]:
    """``cache_clear`` of every lru_cache in the realign modules (none before caching is added)."""
    clears = []
    for name, module in sorted(sys.modules.items()):
        if not (name == "realign" or name.startswith("realign.")):
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", "").startswith("realign"):
                clears.append(clear)
    return clears


def time_rows(
    checks: Sequence[Check], rows: Sequence[CheckInput], repeats: int, clock: Callable[[], float] = time.process_time
) -> list[float]:
    """Seconds per row of each repeat (CPU time by default), caches cleared before each."""
    clears = _caches()
    per_row = []
    for _ in range(repeats):
        for clear in clears:
            clear()
        gc.collect()
        start = clock()
        for item in rows:
            find_failure(checks, item)
        per_row.append((clock() - start) / len(rows))
    return per_row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--long-rows", type=int, default=150, help="long originals (two candidates each)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--wall", action="store_true", help="time wall clock instead of the process's CPU time (noisy under load)"
    )
    args = parser.parse_args(argv)

    checks = default_checks()
    sets = {path.stem: fidelity_rows(path) for path in FIDELITY_FILES}
    sets["long_english"] = long_rows(args.long_rows)
    sets["all"] = [row for rows in list(sets.values()) for row in rows]
    time_rows(checks, sets["all"], 1)  # warm up: compile the regexes

    clock = "wall clock" if args.wall else "CPU time"
    version = getattr(realign, "__version__", "?")
    print(f"realign {version}, Python {sys.version.split()[0]}, {args.repeats} repeats, {clock}")
    print(f"{'set':<18} {'rows':>5} {'median µs/row':>14} {'min µs/row':>11}")
    figures: dict[str, Any] = {}
    for name, rows in sets.items():
        times = time_rows(checks, rows, args.repeats, time.perf_counter if args.wall else time.process_time)
        median, best = 1e6 * statistics.median(times), 1e6 * min(times)
        figures[name] = {"rows": len(rows), "median_us": round(median, 1), "min_us": round(best, 1)}
        print(f"{name:<18} {len(rows):>5} {median:>14.0f} {best:>11.0f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
