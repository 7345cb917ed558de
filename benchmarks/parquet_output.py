"""Parquet output of JSON rows: the time and peak memory of the schema scan and of the writer.

A Parquet file has one schema; realign reads it from every row of a JSON or JSONL input before any call
(``realign._io.files.parquet_schema``), then streams the rows into it. Each step runs in a fresh child
process, for its own peak RSS (``getrusage``), on a generated JSONL file of OpenAI-messages rows (an id, a
nested ``meta`` object, two turns of about 300 characters):

(read)  every row read (JSON parsing alone: what the input check costs anyway)
(scan)  the rows' Parquet schema (``parquet_schema``)
(write) scan + every row written with a realign record (``AtomicWriter(out, like=input)``): a run's I/O, no calls
(join)  the writer with no input to scan and a field first seen in the last row: the rows are written in two
        parts, joined in the widest schema at the end (the path of rows that leave the schema read before)

    python benchmarks/parquet_output.py                       # 200,000 rows, about 2 minutes
    python benchmarks/parquet_output.py --rows 1000000 --steps scan,write

Peak RSS that stays the same from 20,000 to 200,000 rows is what shows the memory flat (nothing holds the rows).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STEPS = ("read", "scan", "write", "join")
RECORD = {"tag": "rewrite", "task": "open_qa", "confidence": 0.9, "classifier": "embedded", "model": "m"}


def make_input(path: Path, rows: int) -> None:
    text = "Step one, then step two; the reason is given in the answer below. " * 4
    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            row: dict[str, Any] = {
                "id": i,
                "meta": {"source": "web", "score": i % 7 / 7, "tags": ["a", "b"]},
                "messages": [
                    {"role": "user", "content": f"Question {i}: how do I do it?"},
                    {"role": "assistant", "content": f"{text}{i}"},
                ],
            }
            if i == rows - 1:
                row["late"] = {"added": True}  # a field first seen in the last row
            handle.write(json.dumps(row) + "\n")


def child(step: str, source: Path, out: Path) -> dict[str, Any]:
    from realign._io.files import AtomicWriter, parquet_schema, read_rows

    start = time.perf_counter()
    rows = 0
    if step == "read":
        rows = sum(1 for _ in read_rows(source))
    elif step == "scan":
        rows = len(parquet_schema(source).names)
    else:
        with AtomicWriter(out, like=source if step == "write" else None) as writer:
            for _, row in read_rows(source):
                writer.write({**row, "realign": RECORD})
                rows += 1
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"step": step, "wall": wall, "peak_mib": peak, "out_mib": out.stat().st_size / 2**20 if out.exists() else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--child", nargs=3, metavar=("STEP", "SOURCE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, source, out = args.child
        print(json.dumps(child(step, Path(source), Path(out))))
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as folder:
        source = Path(folder) / "in.jsonl"
        make_input(source, args.rows)
        size = source.stat().st_size / 2**20
        print(f"{args.rows:,} rows, {size:,.0f} MiB of JSONL")
        print(f"{'step':<6} {'wall s':>8} {'us/row':>8} {'peak RSS MiB':>13} {'output MiB':>11}")
        for step in args.steps.split(","):
            out = Path(folder) / f"out-{step}.parquet"
            command = [sys.executable, __file__, "--child", step, str(source), str(out)]
            result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            per_row = result["wall"] / args.rows * 1e6
            wall, peak, size = result["wall"], result["peak_mib"], result["out_mib"]
            print(f"{step:<6} {wall:>8.1f} {per_row:>8.1f} {peak:>13.0f} {size:>11.0f}")
            out.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
