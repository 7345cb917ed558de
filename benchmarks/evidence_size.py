"""One huge search snippet: what cleaning it costs (``clean_evidence``, which every search client runs).

A backend may return a whole page as one result's "snippet". This script cleans one search's results,
four ordinary items and one of ``--mb`` MB (HTML paragraphs with entities and an emoji each, so the text is
stored 4 bytes per character, as much non-English text is), in a fresh child process per measurement:
peak memory allocated while cleaning (tracemalloc) and the process's peak RSS growth, and wall time per
search (best of ``--repeats``).

    python benchmarks/evidence_size.py [--mb 7] [--repeats 3]

To compare with an earlier version of realign, run it with that version's ``src`` first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc


def snippet(megabytes: float) -> str:
    paragraph = "<p>The Eiffel Tower is 330 metres tall &amp; was finished in 1889 \N{GRINNING FACE}.</p>\n"
    return paragraph * int(megabytes * 1_000_000 / len(paragraph))


def child(megabytes: float, repeats: int) -> dict[str, float]:
    import realign
    from realign import Evidence
    from realign._search.evidence import clean_evidence

    items = [
        Evidence(text=f"Result {i}: the tower was built for the 1889 World's Fair.", url=f"https://e/{i}")
        for i in range(4)
    ]
    items.insert(1, Evidence(text=snippet(megabytes), url="https://e/huge"))
    # Peak RSS growth first, untraced: the snippet is already allocated, the cleaning is what grows it.
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clean_evidence(items)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    walls = []
    for _ in range(repeats):
        started = time.perf_counter()
        kept = clean_evidence(items)
        walls.append(time.perf_counter() - started)
    tracemalloc.start()
    clean_evidence(items)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "realign": realign.__file__,
        "wall": min(walls),
        "peak_mb": peak / 1e6,
        "rss_growth_mb": grown / 1024,
        "kept": len(kept),
        "chars": sum(len(e.text) for e in kept),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=7.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.mb, args.repeats)))
        return
    argv = [sys.executable, __file__, "--child", "--mb", str(args.mb), "--repeats", str(args.repeats)]
    figures = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
    print(f"realign: {figures['realign']}")
    print(f"one search, a {args.mb:g} MB snippet among 4 ordinary results:")
    print(f"  wall per search (best of {args.repeats}): {figures['wall'] * 1000:.1f} ms")
    print(f"  peak memory allocated while cleaning (tracemalloc): {figures['peak_mb']:.1f} MB")
    print(f"  peak RSS growth of the process: {figures['rss_growth_mb']:.1f} MB")
    print(f"  evidence kept: {figures['kept']} items, {figures['chars']} characters")


if __name__ == "__main__":
    main()
