"""Benchmark of the embedded search index (``realign._search.index``): build speed, size, query latency.

Builds an index of synthetic passages (deterministic pseudo-text drawn from a Zipf-distributed
vocabulary, no downloads), then times instruction-like queries through ``LocalIndex.search``, one
at a time (latency) and ten at a time (throughput, the default search concurrency).

    python benchmarks/search_index.py [--passages 100000] [--queries 1000] [--seed 7]
                                      [--common-fraction 1.0 to rank every match, no pruning]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

try:
    from realign._search.index import COMMON_FRACTION, LocalIndex, build_index
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from realign._search.index import COMMON_FRACTION, LocalIndex, build_index

SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
TEMPLATES = [
    "Explain how {} affects {} in {}.",
    "What is the difference between {} and {}? Give examples of {}.",
    "Who first described {} and why does {} matter for {}?",
    "How do I {} a {} without {}",
    "Is it true that {} causes {} (and {})?",
]


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))))
    return sorted(words)


class TextGenerator:
    """Words drawn with Zipf-like frequencies (rank r has weight 1/r), as in natural text."""

    def __init__(self, seed: int, size: int = 30_000) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary(self.rng, size)
        self.rng.shuffle(self.words)
        self.cum_weights = list(itertools.accumulate(1.0 / rank for rank in range(1, size + 1)))

    def sample(self, n: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cum_weights, k=n)

    def passage(self, index: int) -> dict[str, str]:
        sentences = []
        for _ in range(self.rng.randint(5, 10)):
            words = self.sample(self.rng.randint(8, 20))
            sentences.append(" ".join(words).capitalize() + ".")
        title = " ".join(self.sample(self.rng.randint(1, 3))).title()
        return {"id": f"p{index}", "title": title, "text": " ".join(sentences)}

    def query(self) -> str:
        template = self.rng.choice(TEMPLATES)
        slots = [" ".join(self.sample(self.rng.randint(1, 3))) for _ in range(template.count("{}"))]
        return template.format(*slots)


def write_corpus(path: Path, generator: TextGenerator, passages: int) -> int:
    words = 0
    with path.open("w", encoding="utf-8") as out:
        for i in range(passages):
            row = generator.passage(i)
            words += len(row["text"].split())
            out.write(json.dumps(row) + "\n")
    return words


async def sequential(index: LocalIndex, queries: Sequence[str]) -> tuple[list[float], int]:
    latencies, hits = [], 0
    for query in queries:
        start = time.perf_counter()
        found = await index.search(query)
        latencies.append(time.perf_counter() - start)
        hits += bool(found)
    return latencies, hits


async def concurrent(index: LocalIndex, queries: Sequence[str], width: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(queries), width):
        await asyncio.gather(*(index.search(q) for q in queries[i : i + width]))
    return time.perf_counter() - start


def percentile(values: Sequence[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--common-fraction", type=float, default=COMMON_FRACTION)
    args = parser.parse_args(argv)

    generator = TextGenerator(args.seed)
    with tempfile.TemporaryDirectory(prefix="realign-bench-") as tmp:
        corpus, output = Path(tmp) / "corpus.jsonl", Path(tmp) / "index.sqlite"
        start = time.perf_counter()
        words = write_corpus(corpus, generator, args.passages)
        generated = time.perf_counter() - start
        corpus_bytes = corpus.stat().st_size
        stats = build_index(corpus, output)
        queries = [generator.query() for _ in range(args.queries)]
        with LocalIndex(output, k=5, common_fraction=args.common_fraction) as index:
            latencies, hits = asyncio.run(sequential(index, queries))
            wall = asyncio.run(concurrent(index, queries, width=10))

    ms = [s * 1000 for s in latencies]
    print(f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}")
    print(f"corpus: {args.passages:,} passages, {words:,} words, {corpus_bytes / 1e6:.0f} MB of JSONL")
    print(f"  generated in {generated:.1f} s (not part of the build)")
    print(
        f"build: {stats.seconds:.1f} s, {stats.passages / stats.seconds:,.0f} passages/s, "
        f"{words / stats.seconds / 1e6:.2f} M words/s"
    )
    print(f"index size: {stats.bytes / 1e6:.1f} MB ({stats.bytes / stats.passages:,.0f} bytes/passage)")
    print(f"queries: {len(queries):,} (common_fraction {args.common_fraction}), {hits / len(queries):.0%} with a hit")
    print(
        f"  one at a time: p50 {percentile(ms, 50):.2f} ms, p95 {percentile(ms, 95):.2f} ms, "
        f"max {max(ms):.2f} ms, {len(ms) / (sum(ms) / 1000):,.0f} queries/s"
    )
    print(f"  ten at a time: {len(queries) / wall:,.0f} queries/s")


if __name__ == "__main__":
    main()
