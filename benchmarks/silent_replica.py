"""A fleet with one replica that accepts connections and never answers: hedged requests.

Output is written in row order, so a request held by a silent replica holds back every row after it
until ``--timeout`` ends it (and its retry may land there again); its timeouts also halved the
fleet-wide in-flight bound. This script writes the same rows through ``reformat_file`` with
``--replicas`` healthy stand-ins (``stand_in.py``, each in its own process) three ways:

- ``healthy``: the healthy replicas alone (the reference);
- ``before``: plus one ``stand_in.py --silent`` replica, hedging off (``OpenAIChat(hedging=False)``:
  realign as it was before hedged requests);
- ``after``: the same fleet, realign as shipped (a request unanswered well past the fleet's latency is
  sent to another replica too; the silent one leaves the rotation).

It prints wall time, LLM calls (answered, billed), the client's attempts, the requests the servers
received (which must equal the attempts), rows rewritten, and the silent replica's share.

    python benchmarks/silent_replica.py [--rows 1000] [--replicas 3] [--latency 0.25] [--timeout 10] 2>/dev/null

(stderr carries the run's warnings.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from engine import stand_in  # noqa: E402  (engine.py sits beside this script)
from realign import OpenAIChat, Pipeline, areformat_file  # noqa: E402


def write_rows(path: Path, count: int) -> Path:
    with path.open("w") as out:
        for i in range(count):
            row = {"instruction": f"What is {i} plus {i}?", "output": f"{i} + {i} = {2 * i}.", "task": "open_qa"}
            out.write(json.dumps(row) + "\n")
    return path


async def run(urls: list[str], source: Path, timeout: float, concurrency: int, hedging: bool) -> dict[str, Any]:
    llm = OpenAIChat("stand-in", base_url=urls, timeout=timeout, hedging=hedging)
    pipeline = Pipeline(llm, concurrency=concurrency, cache=False)
    started = time.monotonic()
    try:
        stats = await areformat_file(source, source.with_name("out.jsonl"), pipeline=pipeline)
    finally:
        await pipeline.aclose()
    return {
        "wall": time.monotonic() - started,
        "calls": stats.usage.calls,
        "attempts": llm.attempts,
        "rewritten": stats.tags.get("rewrite", 0),
        "hedges": sum(replica.hedges for replica in llm.replicas.replicas),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--replicas", type=int, default=3, help="healthy replicas")
    parser.add_argument("--latency", type=float, default=0.25, help="seconds a healthy replica takes per request")
    parser.add_argument("--timeout", type=float, default=10.0, help="the client's --timeout")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    print(
        f"{args.rows} rows; {args.replicas} healthy replicas at {args.latency:g} s; timeout {args.timeout:g} s; "
        f"concurrency {args.concurrency}"
    )
    header = f"{'run':<9}{'wall s':>8}{'calls':>7}{'attempts':>10}{'received':>10}{'to silent':>11}{'hedges':>8}"
    print(header + f"{'rewritten':>11}")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        source = write_rows(Path(tmp) / "in.jsonl", args.rows)
        healthy = [stack.enter_context(stand_in(latency=args.latency)) for _ in range(args.replicas)]
        # A short run first, not shown: imports and first connections are not counted against the first run.
        warm = write_rows(Path(tmp) / "warm.jsonl", 20)
        asyncio.run(run([server.base_url for server in healthy], warm, args.timeout, args.concurrency, True))
        for name, with_silent, hedging in (("healthy", False, True), ("before", True, False), ("after", True, True)):
            with contextlib.ExitStack() as fleet:
                servers = [*healthy]
                silent = fleet.enter_context(stand_in(silent=True)) if with_silent else None
                if silent is not None:
                    servers.insert(len(servers) // 2, silent)
                for server in healthy:
                    server.reset()
                urls = [server.base_url for server in servers]
                figures = asyncio.run(run(urls, source, args.timeout, args.concurrency, hedging))
                received = sum(server.stats()["chat"] for server in servers)
                to_silent = silent.stats()["chat"] if silent is not None else 0
            print(
                f"{name:<9}{figures['wall']:>8.1f}{figures['calls']:>7}{figures['attempts']:>10}{received:>10}"
                f"{to_silent:>11}{figures['hedges']:>8}{figures['rewritten']:>11}"
            )


if __name__ == "__main__":
    main()
