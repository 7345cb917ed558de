"""A server that answers one request at a time, behind a run that sends many: the adaptive in-flight bound.

Local servers (llama.cpp, Ollama, one vLLM on a small GPU) queue what they cannot answer at once, and
keep working on requests whose client gave up. With more requests in flight than the server answers
within ``--timeout``, the queued ones time out, are sent again and wait behind abandoned work. This
script runs the same rows against ``stand_in.py --max-concurrency 1`` (one at a time, abandoned
requests still served) three ways, each in this process with a fresh stand-in:

- ``adaptive``: realign as shipped, ``--concurrency`` 32 (the in-flight bound halves on timeouts);
- ``fixed``: the same with the adaptive bound switched off (``OpenAIChat(adaptive_concurrency=False)``);
- ``right``: the bound switched off and concurrency 1, what a user who knew the server would set.

It prints wall time, the requests the server received (every attempt, abandoned ones included),
rows rewritten and rows that ran out of retries.

    python benchmarks/slow_server.py [--rows 40] [--latency 0.25] [--timeout 1.5] 2>/dev/null

(stderr carries the run's warnings and the stand-in's notes on abandoned connections.)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from engine import stand_in  # noqa: E402  (engine.py sits beside this script)
from realign import FatalLLMError, OpenAIChat, Pipeline, areformat  # noqa: E402


def rows(count: int) -> list[dict[str, Any]]:
    return [
        {"question": f"What is {i} plus {i}?", "response": f"{i} + {i} = {2 * i}.", "task": "open_qa"}
        for i in range(count)
    ]


async def run(base_url: str, count: int, timeout: float, concurrency: int, adaptive: bool) -> dict[str, Any]:
    llm = OpenAIChat("stand-in", base_url=base_url, timeout=timeout, adaptive_concurrency=adaptive)
    pipeline = Pipeline(llm, concurrency=concurrency)
    started = time.monotonic()
    try:
        results = await areformat(rows(count), pipeline=pipeline)
    except FatalLLMError:  # the early stop: the run ends with no rows out
        return {"wall": time.monotonic() - started, "rewritten": 0, "out_of_retries": "run stopped"}
    finally:
        await pipeline.aclose()
    reasons = [result.reason or "rewritten" for result in results]
    return {
        "wall": time.monotonic() - started,
        "rewritten": reasons.count("rewritten"),
        "out_of_retries": sum(1 for reason in reasons if reason.startswith("llm_error")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.25, help="seconds the server takes per request")
    parser.add_argument("--timeout", type=float, default=1.5, help="the client's --timeout")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    ideal = args.rows * args.latency
    print(f"{args.rows} rows; server: one at a time, {args.latency:g} s each (ideal {ideal:.1f} s)", end="")
    print(f"; timeout {args.timeout:g} s")
    print(f"{'run':<10}{'concurrency':>12}{'wall s':>9}{'requests':>10}{'rewritten':>11}{'out of retries':>16}")
    for name, concurrency, adaptive in (
        ("adaptive", args.concurrency, True),
        ("fixed", args.concurrency, False),
        ("right", 1, False),
    ):
        with stand_in(latency=args.latency, max_concurrency=1) as server:
            figures = asyncio.run(run(server.base_url, args.rows, args.timeout, concurrency, adaptive))
            received = server.stats()["chat"]
        print(
            f"{name:<10}{concurrency:>12}{figures['wall']:>9.1f}{received:>10}"
            f"{figures['rewritten']:>11}{figures['out_of_retries']:>16}"
        )


if __name__ == "__main__":
    main()
