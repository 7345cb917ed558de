"""Scale benchmarks: one process near the ideal, the lean path against the SDK path, replicas, Ray actors.

Every figure is measured against ``benchmarks/stand_in.py`` servers in their own processes on 127.0.0.1
(their CPU is never counted), each measurement in a fresh child process (``engine.py worker SPEC``):

(t) throughput as a share of the ideal ``rows x latency / concurrency`` at 2,000 rows / 1 s / concurrency 100
    and 4,000 rows / 1 s / concurrency 200 (targets 0.95 and 0.93), A/B in one sitting: realign (lean httpx2
    path), realign through a ready-made SDK client (``OpenAIChat(client=openai.AsyncOpenAI(...))``), the bare
    SDK; client CPU per row over the bare SDK's CPU per request (target <= 1.0)
(r) two replicas and a dead one: the share of calls each live one took (target 30-70%), rows out
(s) Ray Data: 1, 2 and 4 actors against 4 stand-in replicas that each serve at most 8 requests at once

    python benchmarks/scale.py                 # everything (about 6 minutes on 2 cores)
    python benchmarks/scale.py --only t --repeats 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from engine import (  # noqa: E402  (engine.py sits beside this script)
    MODEL,
    Figure,
    Server,
    child_env,
    make_row,
    print_table,
    run_worker,
    stand_in,
)


@contextlib.contextmanager
def capped_stand_ins(count: int, latency: float, cap: int) -> Iterator[list[Server]]:
    """``count`` stand-in servers, each serving at most ``cap`` requests at once (the rest queue)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(stand_in(latency=latency, max_concurrency=cap)) for _ in range(count)]


def dead_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# ------------------------------------------------------------------------------------------- (t)


def bench_throughput(rows: int, concurrency: int, repeats: int, seed: int) -> list[Figure]:
    latency = 1.0
    ideal = rows * latency / concurrency
    runs: dict[str, list[dict[str, Any]]] = {"lean": [], "via_sdk": [], "sdk": []}
    with stand_in(latency=latency) as server:
        base = {"base_url": server.base_url, "rows": rows, "seed": seed, "concurrency": concurrency, "warmup": 5}
        for _ in range(repeats):  # interleaved, so load from elsewhere falls on every contender alike
            runs["lean"].append(run_worker({**base, "kind": "pipeline", "classifier": "given"}))
            runs["via_sdk"].append(run_worker({**base, "kind": "pipeline", "classifier": "given", "via": "sdk"}))
            runs["sdk"].append(run_worker({**base, "kind": "sdk"}))

    def best(kind: str) -> dict[str, Any]:
        return min(runs[kind], key=lambda r: float(r["wall"]))

    def cpu_per_row(kind: str) -> float:
        return min(float(r["cpu"]) / int(r["rows"]) for r in runs[kind])

    lean, via, sdk = best("lean"), best("via_sdk"), best("sdk")
    target = 0.95 if concurrency <= 100 else 0.93
    fraction = ideal / lean["wall"]
    ratio = cpu_per_row("lean") / cpu_per_row("sdk")
    walls = ", ".join(f"{ideal / r['wall']:.3f}" for r in runs["lean"])
    label = f"{rows} rows, 1 s latency, concurrency {concurrency}"
    return [
        Figure(
            "t",
            f"throughput, {label}",
            f"{fraction:.3f} of ideal ({lean['wall']:.2f}s vs {ideal:.0f}s; runs: {walls}; "
            f"rewritten {lean['tags'].get('rewrite', 0)}/{lean['rows']})",
            f">= {target}",
            fraction >= target,
        ),
        Figure("t", "  realign through a ready-made SDK client", f"{ideal / via['wall']:.3f} of ideal", "", None),
        Figure("t", "  the bare openai SDK, same calls", f"{ideal / sdk['wall']:.3f} of ideal", "", None),
        Figure(
            "t",
            "  client CPU per row over the bare SDK's per request",
            f"{ratio:.2f}x ({1000 * cpu_per_row('lean'):.2f} vs {1000 * cpu_per_row('sdk'):.2f} ms; "
            f"through the SDK client {1000 * cpu_per_row('via_sdk'):.2f} ms)",
            "<= 1.0",
            ratio <= 1.0,
        ),
    ]


# ------------------------------------------------------------------------------------------- (r)


def bench_replicas(seed: int) -> list[Figure]:
    rows, latency, concurrency = 2000, 0.2, 64
    with stand_in(latency=latency) as first, stand_in(latency=latency) as second:
        urls = [first.base_url, dead_url(), second.base_url]
        result = run_worker(
            {
                "kind": "pipeline",
                "base_url": urls,
                "rows": rows,
                "seed": seed,
                "concurrency": concurrency,
                "classifier": "given",
                "warmup": 0,
            }
        )
        served = [first.stats()["chat"], second.stats()["chat"]]
    shares = [count / sum(served) for count in served]
    ideal = rows * latency / concurrency
    ok = all(0.3 <= share <= 0.7 for share in shares) and result["tags"].get("rewrite", 0) == rows
    return [
        Figure(
            "r",
            f"two replicas and a dead one, {rows} rows, {latency:g} s latency, concurrency {concurrency}",
            f"shares {shares[0]:.0%} / {shares[1]:.0%}; rewritten {result['tags'].get('rewrite', 0)}/{rows}; "
            f"{ideal / result['wall']:.2f} of ideal",
            "30-70% each, all rows",
            ok,
        ),
        Figure("r", "  calls and errors per replica (client's count)", result.get("replicas", "-"), "", None),
    ]


# ------------------------------------------------------------------------------------------- (s)


def ray_worker(spec: dict[str, Any]) -> dict[str, Any]:
    import ray

    import realign

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = [make_row(i, spec["seed"]) for i in range(spec["rows"])]
    results = []
    for actors in spec["actors"]:
        dataset = ray.data.from_items(rows)
        start = time.perf_counter()
        out = realign.reformat(
            dataset, model=MODEL, base_url=spec["base_urls"], actors=actors, concurrency=spec["concurrency"]
        ).materialize()
        wall = time.perf_counter() - start
        tags = [json.loads(row)["tag"] for row in out.to_pandas()["realign"]]
        results.append({"actors": actors, "wall": wall, "rewritten": tags.count("rewrite"), "rows": len(tags)})
    ray.shutdown()
    return {"runs": results}


def bench_ray(seed: int) -> list[Figure]:
    rows, latency, cap, replicas, concurrency = 1600, 0.1, 8, 4, 8
    with capped_stand_ins(replicas, latency, cap) as servers:
        spec = {
            "rows": rows,
            "seed": seed,
            "base_urls": [s.base_url for s in servers],
            "concurrency": concurrency,
            "actors": [1, 2, 4],
        }
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "ray-worker", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=1200,
            env=child_env(),
        )
    if proc.returncode != 0:
        return [Figure("s", "Ray Data scaling", f"failed: {proc.stderr.strip().splitlines()[-1:]}", "", False)]
    runs = json.loads(proc.stdout.strip().splitlines()[-1])["runs"]
    figures = []
    for run in runs:
        in_flight = min(run["actors"] * concurrency, replicas * cap)
        ideal = rows * latency / in_flight
        figures.append(
            Figure(
                "s",
                f"Ray Data, {run['actors']} actor(s) x concurrency {concurrency}, {replicas} replicas capped at {cap}",
                f"{rows / run['wall']:.0f} rows/s ({run['wall']:.1f}s incl. actor start-up; ideal {ideal:.1f}s); "
                f"rewritten {run['rewritten']}/{run['rows']}",
                "",
                None,
            )
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ray-worker"]:
        print(json.dumps(ray_worker(json.loads(argv[1]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", default="t,r,s", help="parts to run: t (throughput), r (replicas), s (Ray)")
    parser.add_argument("--repeats", type=int, default=2, help="A/B rounds of each throughput setting")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    parts = {p.strip() for p in args.only.split(",")}
    figures: list[Figure] = []
    started = time.perf_counter()
    steps = [
        ("t", lambda: bench_throughput(2000, 100, args.repeats, args.seed)),
        ("t", lambda: bench_throughput(4000, 200, args.repeats, args.seed)),
        ("r", lambda: bench_replicas(args.seed)),
        ("s", lambda: bench_ray(args.seed)),
    ]
    for part, step in steps:
        if part in parts:
            print(f"running ({part}); load average {os.getloadavg()[0]:.2f} ...", file=sys.stderr, flush=True)
            figures.extend(step())
    print_table(figures)
    print(f"\ntotal time {time.perf_counter() - started:.0f}s; load average {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps([f.__dict__ for f in figures], indent=2) + "\n", encoding="utf-8")
    return 0 if all(f.passed is not False for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
