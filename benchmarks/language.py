"""The language reader on short answers: realign's own (``_checks/lang.py``) against lingua.

Reads ``data/lang_short.jsonl``: the same eight short answers (3 to 12 words) written in each of 27
languages. Measures, for each reader:

- identification: the share of texts given their language, given another one, or left undecided;
- the language check's job, on pairs: an answer and its English translation (and the reverse) must be
  refused, an answer and another answer in its own language kept;
- time per text, time to load, peak memory, and size on disk.

    python benchmarks/language.py            # realign's reader, and lingua when installed
    python benchmarks/language.py --no-lingua

lingua (``pip install lingua-language-detector``) is not a dependency of realign; this script only
measures it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realign import CheckInput
from realign._checks.lang import LanguageConsistency, detect_language

DATA = Path(__file__).parent / "data" / "lang_short.jsonl"
#: lingua's answer counts when its best language is at least this many times as likely as the next
LINGUA_MARGIN = 2.0


@dataclass
class Figures:
    name: str
    right: int = 0
    wrong: int = 0
    undecided: int = 0
    caught: int = 0
    missed: int = 0
    kept: int = 0
    refused: int = 0
    seconds_per_text: float = 0.0
    load_seconds: float = 0.0
    rss_mb: float = 0.0
    disk_mb: float = 0.0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pairs(rows: Sequence[dict[str, Any]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(translated pairs that must be refused, same-language pairs that must be kept)."""
    by_lang: dict[str, list[str]] = {}
    for row in rows:
        by_lang.setdefault(row["lang"], []).append(row["text"])
    english = by_lang["en"]
    translated, same = [], []
    for lang, texts in by_lang.items():
        for i, text in enumerate(texts):
            same.append((text, texts[(i + 1) % len(texts)]))
            if lang != "en":
                translated += [(text, english[i]), (english[i], text)]
    return translated, same


def measure(
    name: str,
    identify: Callable[[str], str | None],
    refuses: Callable[[str, str], bool],
    rows: Sequence[dict[str, Any]],
) -> Figures:
    figures = Figures(name)
    start = time.perf_counter()
    for row in rows:
        got = identify(row["text"])
        if got is None:
            figures.undecided += 1
        elif got == row["lang"]:
            figures.right += 1
        else:
            figures.wrong += 1
    figures.seconds_per_text = (time.perf_counter() - start) / len(rows)
    translated, same = _pairs(rows)
    for original, rewrite in translated:
        if refuses(original, rewrite):
            figures.caught += 1
        else:
            figures.missed += 1
    for original, rewrite in same:
        if refuses(original, rewrite):
            figures.refused += 1
        else:
            figures.kept += 1
    return figures


def realign_reader(rows: Sequence[dict[str, Any]]) -> Figures:
    check = LanguageConsistency()

    def identify(text: str) -> str | None:
        guess = detect_language(text)
        return None if guess.lang == "und" else guess.lang

    def refuses(original: str, rewrite: str) -> bool:
        answer = check(CheckInput("open_qa", "", original, rewrite))
        return answer is False or (isinstance(answer, tuple) and not answer[0])

    figures = measure("realign (lang.py)", identify, refuses, rows)
    figures.disk_mb = Path(sys.modules["realign._checks.lang"].__file__ or "").stat().st_size / 1e6
    figures.load_seconds = 0.0  # nothing to load: the word lists are in the module
    return figures


def lingua_reader(rows: Sequence[dict[str, Any]], *, low_accuracy: bool) -> Figures:
    before = _rss_mb()
    start = time.perf_counter()
    from lingua import LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models()
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    detector = builder.build()
    load = time.perf_counter() - start

    def best(text: str) -> str | None:
        values = detector.compute_language_confidence_values(text)
        if not values or (len(values) > 1 and values[0].value < LINGUA_MARGIN * values[1].value):
            return None
        return str(values[0].language.iso_code_639_1.name.lower())

    def refuses(original: str, rewrite: str) -> bool:
        a, b = best(original), best(rewrite)
        return a is not None and b is not None and a != b

    def identify(text: str) -> str | None:
        found = best(text)
        return "da" if found == "nb" else found  # realign's reader reads Danish and Norwegian as one

    figures = measure("lingua" + (" (low accuracy)" if low_accuracy else ""), identify, refuses, rows)
    figures.load_seconds = load
    figures.rss_mb = _rss_mb() - before
    spec = importlib.util.find_spec("lingua")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations)))
        figures.disk_mb = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6
    return figures


def render(all_figures: Sequence[Figures], n: int) -> str:
    head = (
        f"{'reader':<24} {'right':>6} {'wrong':>6} {'undecided':>9} {'caught':>7} {'missed':>7} "
        f"{'kept':>5} {'refused':>8} {'ms/text':>8} {'load s':>7} {'RSS MB':>7} {'disk MB':>8}"
    )
    lines = [f"{n} short answers in 27 languages; pairs: translations (to refuse), same language (to keep)", head]
    for f in all_figures:
        lines.append(
            f"{f.name:<24} {f.right / n:>6.1%} {f.wrong / n:>6.1%} {f.undecided / n:>9.1%} "
            f"{f.caught / max(f.caught + f.missed, 1):>7.1%} {f.missed / max(f.caught + f.missed, 1):>7.1%} "
            f"{f.kept / max(f.kept + f.refused, 1):>5.1%} {f.refused / max(f.kept + f.refused, 1):>8.1%} "
            f"{1e3 * f.seconds_per_text:>8.3f} {f.load_seconds:>7.1f} {f.rss_mb:>7.0f} {f.disk_mb:>8.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--no-lingua", action="store_true", help="measure realign's reader only")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    with DATA.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    figures = [realign_reader(rows)]
    if not args.no_lingua and importlib.util.find_spec("lingua") is not None:
        figures.append(lingua_reader(rows, low_accuracy=True))
        figures.append(lingua_reader(rows, low_accuracy=False))
    print(render(figures, len(rows)))
    if args.json:
        args.json.write_text(json.dumps([f.__dict__ for f in figures], indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
