"""Wall time of importing realign, and of what the openai SDK adds when an OpenAI client is first used.

``import realign`` does not import the ``openai`` SDK; ``realign.OpenAIChat`` (or the first client the
CLI builds to call a model) does. This times, each in a fresh interpreter:

- ``import realign``: what every command and ``import realign`` in a notebook pays;
- ``import realign; realign.OpenAIChat``: the same plus the SDK, as before the SDK was lazy;
- ``python -c pass``: the interpreter's own start, to subtract.

    python benchmarks/import_time.py              # median of 9 runs each
    python benchmarks/import_time.py --runs 21 --json out.json

Wall times depend on the machine's load; the medians of the three are taken in interleaved rounds so
that load hits them alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass": "pass",
    "import realign": "import realign",
    "import realign + the openai SDK": "import realign; realign.OpenAIChat",
}


def wall(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    for code in CASES.values():  # warm the file system cache and the .pyc files
        wall(code)
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):
        for name, code in CASES.items():
            times[name].append(wall(code))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name:<34} {value * 1000:7.0f} ms (median of {args.runs}, min {min(times[name]) * 1000:.0f} ms)")
    sdk = medians["import realign + the openai SDK"] - medians["import realign"]
    print(f"{'the openai SDK adds':<34} {sdk * 1000:7.0f} ms")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"median_seconds": medians, "runs": times}, handle, indent=2)


if __name__ == "__main__":
    main()
