"""The Ray driver's memory on a file job: ``realign reformat FILE --engine ray`` against a stand-in server.

The driver reads and checks the file, hands its rows to the actors and writes their results in order. Its peak
private memory (``RssAnon``, read from ``/proc`` while it runs) is what limits the size of a file one machine can
start a Ray job on; the rows themselves live in Ray's object store, which spills to disk.

    python benchmarks/ray_driver.py                  # 20,000 rows of ~4 KB (an 80 MB file)
    python benchmarks/ray_driver.py --rows 50000 --kb 8
    PYTHONPATH=/other/checkout/src python benchmarks/ray_driver.py   # the same on other code

Linux only (``/proc``); needs the ``ray`` extra.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from engine import child_env, stand_in  # engine.py sits beside this script


def write_rows(path: Path, rows: int, kb: int) -> None:
    words = "the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing".split()
    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            body = " ".join(words[(i + j) % len(words)] for j in range(kb * 1024 // 6))
            row = {"instruction": f"Explain item {i} of the list in plain words.", "output": f"Item {i}: {body}."}
            handle.write(json.dumps(row) + "\n")


def watch(pid: int, stop: threading.Event, seen: dict[str, int]) -> None:
    """Keep the largest private memory (``RssAnon``: the driver's own heap) and resident total (``VmHWM``, which
    also counts the object store's shared pages the driver wrote into) until the process ends."""
    status = Path(f"/proc/{pid}/status")
    while not stop.is_set():
        try:
            for line in status.read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("RssAnon", "VmHWM"):
                    seen[key] = max(seen.get(key, 0), int(value.split()[0]))
        except OSError:
            return
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--kb", type=int, default=4, help="size of each row's answer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, stand_in() as server:
        source, output = Path(folder) / "rows.jsonl", Path(folder) / "out.jsonl"
        write_rows(source, args.rows, args.kb)
        command = [sys.executable, "-c", "import sys; from realign._cli.main import main; sys.exit(main())"]
        argv = ["reformat", str(source), "-o", str(output), "--engine", "ray", "--no-cache", "-q"]
        argv += ["--base-url", server.base_url, "--model", "stand-in", "--classifier", "embedded"]
        env = {**child_env(), "OPENAI_API_KEY": "sk-bench"}
        start = time.perf_counter()
        proc = subprocess.Popen([*command, *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stop, seen = threading.Event(), {"RssAnon": 0, "VmHWM": 0}
        watcher = threading.Thread(target=watch, args=(proc.pid, stop, seen), daemon=True)
        watcher.start()
        _, err = proc.communicate()
        stop.set()
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(f"failed (exit {proc.returncode}): {err.decode(errors='replace').strip()[-400:]}")
            return 1
        written = sum(1 for _ in output.open(encoding="utf-8"))
        size = source.stat().st_size / 2**20
    print(
        f"{args.rows:,} rows, {size:.0f} MiB file: driver peak private memory {seen['RssAnon'] / 1024:.0f} MiB "
        f"(resident with shared pages {seen['VmHWM'] / 1024:.0f} MiB), "
        f"{written:,} rows written, {wall:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
