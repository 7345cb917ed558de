"""Engine benchmarks: throughput, client CPU, memory, resume after kill -9, and faults, against a stand-in server.

Every figure is measured against ``benchmarks/stand_in.py`` running in its own process on 127.0.0.1 (so
its CPU is never counted), with the real ``openai`` SDK and real HTTP:

(a) throughput: rows/s as a fraction of the ideal ``rows x latency / concurrency``   (target >= 0.95)
(b) client CPU per row of ``Pipeline`` / the bare SDK's CPU per request, zero latency  (target <= 1.5)
    no cache, cold SQLite cache, and the embedded classifier on (rows without a task)
(c) peak RSS of ``realign reformat`` on a 200k-row JSONL, --no-cache and with a cache   (target < 300 MB)
(d) calls paid twice when a cached CLI run is killed (SIGKILL) half-way and run again   (target <= concurrency)
(e) 20% of calls answered 429/500: every row out, >= 99% rewritten; retries, wall time
(f) a dead endpoint (and one answering every request 429/500): how fast the run stops    (target < 30 s)

Each measurement runs in a fresh child process (``engine.py worker SPEC``) so runs do not share state.

    python benchmarks/engine.py            # full sizes (about 10 minutes on 2 cores)
    python benchmarks/engine.py --quick    # small sizes (about 2 minutes)
    python benchmarks/engine.py --only a,b --json results.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
try:
    import realign  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(SRC))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))

MODEL = "stand-in"

# ------------------------------------------------------------------------------------------- synthetic rows

SENTENCES = [
    "The first step is to read the question carefully and note what is given.",
    "Most people find that a short plan saves time later on.",
    "This works because the two quantities grow at the same rate.",
    "In practice the difference is small, but it matters for large inputs.",
    "A common mistake is to forget the units when writing the result.",
    "The method was described in detail in several textbooks.",
    "You can check the answer by working backwards from the end.",
    "Keep the tone polite and get to the point in the first paragraph.",
    "Each item on the list should be short and start with a verb.",
    "The evidence for this claim comes from long-term measurements.",
    "It is usually better to test the simplest case first.",
    "Water boils at a lower temperature at high altitude because the air pressure is lower.",
    "The library is open every day except on public holidays.",
    "Remember to save your work often and keep a backup copy.",
    "Both options have advantages, so the choice depends on your budget.",
]
TOPICS = [
    "the heating",
    "a late delivery",
    "the team meeting",
    "a refund",
    "the project deadline",
    "the garden fence",
    "a new laptop",
    "the train timetable",
    "a birthday party",
    "the budget review",
]


def _filler(rng: random.Random, sentences: int) -> str:
    return " ".join(rng.choice(SENTENCES) for _ in range(sentences))


def make_row(index: int, seed: int, *, task: str | None = None, category: bool = True) -> dict[str, Any]:
    """One deterministic ReAlign-shape row of a rewritten task (math, QA, email, code, how-to)."""
    rng = random.Random(seed * 1_000_003 + index)
    kind = task or ("math_puzzles", "open_qa", "email_generation", "code_correction", "how_to_generation")[index % 5]
    if kind == "math_puzzles":
        a, b = rng.randint(10, 99), rng.randint(2, 30)
        question = (
            f"A shop sold {a} pencils on Monday and {b} more on Tuesday than on Monday. "
            f"How many pencils did it sell on the two days? (row {index})"
        )
        response = (
            f"On Tuesday the shop sold {a} + {b} = {a + b} pencils.\n{_filler(rng, 3)}\n"
            f"Altogether it sold {a} + {a + b} = {2 * a + b} pencils.\n#### {2 * a + b}"
        )
    elif kind == "open_qa":
        question = f"Why does water boil at a lower temperature in the mountains? Explain briefly (row {index})."
        response = _filler(rng, rng.randint(4, 8))
    elif kind == "email_generation":
        topic = rng.choice(TOPICS)
        question = f"Write a short email to my landlord about {topic} (row {index})."
        body = _filler(rng, rng.randint(3, 6))
        response = f"Dear Mr. Smith,\n\nI am writing about {topic}. {body}\n\nBest regards,\nAnna"
    elif kind == "code_correction":
        question = (
            f"Fix the bug in this function, it should return the largest number (row {index}):\n\n"
            "def largest(xs):\n    best = 0\n    for x in xs:\n        if x > best:\n            best = x\n"
            "    return best"
        )
        response = (
            "The function fails for lists of negative numbers because best starts at 0. "
            f"{_filler(rng, 2)}\n\n```python\ndef largest(xs):\n    best = xs[0]\n    for x in xs[1:]:\n"
            "        if x > best:\n            best = x\n    return best\n```"
        )
    elif kind == "how_to_generation":
        question = f"How do I repot a houseplant without hurting it? (row {index})"
        response = "\n".join(f"{i}. {rng.choice(SENTENCES)}" for i in range(1, rng.randint(4, 7)))
    else:  # a task realign does not rewrite: the row passes through without a call
        question = f"Write a poem about {rng.choice(TOPICS)} (row {index})."
        response = "\n".join(rng.choice(SENTENCES) for _ in range(4))
    human: dict[str, Any] = {"from": "human", "value": question}
    if category:
        human["category"] = kind
    return {"id": index, "items": [human, {"from": "gpt", "value": response}]}


def write_rows(path: Path, rows: int, seed: int, *, call_share: float = 1.0) -> int:
    """Write a JSONL file; a ``call_share`` of the rows (spread evenly) need a call, the rest are poems."""
    every = max(1, round(1 / call_share)) if call_share > 0 else 0
    calls = 0
    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            needs_call = every and i % every == 0
            calls += bool(needs_call)
            row = make_row(i, seed, task=None if needs_call else "poem_generation")
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return calls


# ------------------------------------------------------------------------------------------- the stand-in


@dataclass
class Server:
    proc: subprocess.Popen[str]
    base_url: str

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.root + "/stats", timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def reset(self) -> None:
        request = urllib.request.Request(self.root + "/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


@contextlib.contextmanager
def stand_in(
    latency: float = 0.0,
    fault_rate: float = 0.0,
    seed: int = 7,
    jitter: float = 0.0,
    max_concurrency: int = 0,
    silent: bool = False,
) -> Iterator[Server]:
    """Start ``stand_in.py`` in its own process, yield it, stop it (by its pid)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "stand_in.py"),
            "--port",
            "0",
            "--latency",
            str(latency),
            "--fault-rate",
            str(fault_rate),
            "--seed",
            str(seed),
            "--retry-after-ms",
            "50",
            "--jitter",
            str(jitter),
            "--max-concurrency",
            str(max_concurrency),
            *(["--silent"] if silent else []),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"stand-in server did not start: {line!r}")
        yield Server(proc, line.removeprefix("listening on "))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------------------- child workers


def child_env() -> dict[str, str]:
    """The environment of child processes: no real keys or endpoints, a throwaway default cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SERPER_", "TAVILY_", "BRAVE_", "EXA_"))}
    env.setdefault("REALIGN_CACHE", str(Path(tempfile.gettempdir()) / "realign-bench-default-cache.sqlite"))
    return env


def run_worker(spec: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
    """Run ``engine.py worker SPEC`` in a fresh process; its last stdout line is the JSON result."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker {spec['kind']} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@contextlib.contextmanager
def measured(spec: dict[str, Any]) -> Iterator[list[float]]:
    """Wall and CPU seconds of the block (CPU of this process only), under cProfile if ``spec["profile"]``."""
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    took: list[float] = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    yield took
    took += [time.perf_counter() - wall0, time.process_time() - cpu0]
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(spec["profile"])


class _GivenOnly:
    """Rows carry their task: a classifier that must never be asked."""

    async def classify(self, instruction: str) -> Any:
        raise AssertionError("the benchmark rows carry their task; the classifier must not run")

    async def aclose(self) -> None:
        pass


def _examples(count: int, seed: int, with_task: bool) -> list[Any]:
    from realign import Example

    out = []
    for i in range(count):
        row = make_row(i, seed)
        human, gpt = row["items"]
        out.append(
            Example(question=human["value"], response=gpt["value"], task=human["category"] if with_task else None, id=i)
        )
    return out


async def _pipeline_worker(spec: dict[str, Any]) -> dict[str, Any]:
    from realign import OpenAIChat, Pipeline, SQLiteCache

    base_url = spec["base_url"]  # one URL, or a list of replicas (the first is asked for stats)
    server = Server(None, base_url if isinstance(base_url, str) else base_url[0])  # type: ignore[arg-type]
    with_task = spec["classifier"] == "given"
    if spec.get("via") == "sdk":  # every request through a ready-made openai SDK client
        import openai

        sdk = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=300.0)
        llm = OpenAIChat(MODEL, client=sdk)
    else:
        llm = OpenAIChat(MODEL, base_url=base_url, api_key="bench")
    cache = SQLiteCache(spec["cache"]) if spec.get("cache") else None
    pipeline = Pipeline(
        llm,
        classifier=_GivenOnly() if with_task else None,
        cache=cache,
        concurrency=spec["concurrency"],
        checks=[] if spec.get("no_checks") else None,
    )
    warm = _examples(spec["warmup"], spec["seed"] + 1, with_task)
    async for _ in pipeline.astream(warm):  # connections, lazy imports, the classifier's training
        pass
    rows = _examples(spec["rows"], spec["seed"], with_task)
    before = server.stats()
    tags: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    ids = []
    with measured(spec) as took:
        async for result in pipeline.astream(rows):
            tags[result.tag] += 1
            reasons[result.reason or "rewritten"] += 1
            ids.append(result.id)
    wall, cpu = took
    after = server.stats()
    await pipeline.aclose()
    return {
        "rows": len(ids),
        "in_order": ids == list(range(spec["rows"])),
        "wall": wall,
        "cpu": cpu,
        "tags": dict(tags),
        "reasons": dict(reasons),
        "server": {k: after[k] - before[k] for k in ("chat", "ok", "429", "500")},
        "peak_in_flight": after["peak_in_flight"],
        "replicas": llm.replicas.summary(),
    }


async def _sdk_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """The bare SDK: the same prompts realign sends, the same number of calls, the same concurrency."""
    import openai

    from realign._protocol import RewritePrompt
    from realign._templates import Criteria, Prompts

    client = openai.AsyncOpenAI(base_url=spec["base_url"], api_key="bench", max_retries=0, timeout=300.0)
    prompt = RewritePrompt(Prompts(), Criteria(None))

    def messages(examples: list[Any]) -> list[list[dict[str, str]]]:
        return [
            [
                {"role": role, "content": content}
                for role, content in prompt.messages(e.task, e.question, e.response, [])
            ]
            for e in examples
        ]

    texts: list[str] = []

    async def worker(queue: Iterator[list[dict[str, str]]]) -> None:
        for msgs in queue:
            reply = await client.chat.completions.create(
                model=MODEL,
                messages=msgs,  # type: ignore[arg-type]
                temperature=0.3,
                top_p=1.0,
            )
            texts.append(reply.choices[0].message.content or "")

    async def run(batch: list[list[dict[str, str]]]) -> None:
        queue = iter(batch)
        await asyncio.gather(*(worker(queue) for _ in range(spec["concurrency"])))

    await run(messages(_examples(spec["warmup"], spec["seed"] + 1, True)))
    batch = messages(_examples(spec["rows"], spec["seed"], True))
    texts.clear()
    with measured(spec) as took:
        await run(batch)
    wall, cpu = took
    await client.close()
    return {"rows": len(texts), "wall": wall, "cpu": cpu}


async def _raw_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """A minimal keep-alive HTTP/1.1 client (no SDK): what the stand-in allows, the ceiling of (a)."""
    from urllib.parse import urlsplit

    url = urlsplit(spec["base_url"])
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "<response>\nhi\n</response>"}]})
    request = (
        f"POST {url.path}/chat/completions HTTP/1.1\r\nhost: {url.netloc}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n{body}"
    ).encode()

    async def worker(queue: Iterator[int]) -> None:
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        for _ in queue:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
        writer.close()

    with measured(spec) as took:
        queue = iter(range(spec["rows"]))
        await asyncio.gather(*(worker(queue) for _ in range(spec["concurrency"])))
    return {"rows": spec["rows"], "wall": took[0], "cpu": took[1]}


def worker_main(spec: dict[str, Any]) -> None:
    func = {"pipeline": _pipeline_worker, "sdk": _sdk_worker, "raw": _raw_worker}[spec["kind"]]
    result = asyncio.run(func(spec))
    print(json.dumps(result))


# ------------------------------------------------------------------------------------------- the CLI


def cli_command(source: Path, output: Path, base_url: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "realign._cli.main",
        "reformat",
        str(source),
        "-o",
        str(output),
        "--base-url",
        base_url,
        "--model",
        MODEL,
        "-q",
        *extra,
    ]


@dataclass
class CliRun:
    returncode: int
    wall: float
    maxrss_mb: float
    stderr: str
    rss_samples: list[tuple[float, float]] = field(default_factory=list)


def run_cli(command: list[str], *, kill_when: Any = None, sample_rss: bool = False) -> CliRun:
    """Run the CLI as a child; its own peak RSS comes from ``wait4``. ``kill_when()`` True: SIGKILL it."""
    errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed below)
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, env=child_env())
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sampler() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while not done.is_set():
            with contextlib.suppress(OSError, ValueError):
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        samples.append((time.perf_counter() - started, int(line.split()[1]) / 1024))
            done.wait(0.25)

    watcher = None
    if sample_rss:
        watcher = threading.Thread(target=sampler, daemon=True)
        watcher.start()
    if kill_when is not None:
        while proc.poll() is None:
            if kill_when():
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    if watcher is not None:
        watcher.join()
    errors.seek(0)
    stderr = errors.read()
    errors.close()
    return CliRun(proc.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024, stderr, samples)


def read_output(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


# ------------------------------------------------------------------------------------------- the benchmarks


@dataclass
class Figure:
    part: str
    name: str
    value: str
    target: str
    passed: bool | None  # None: informative, no target


@dataclass
class Sizes:
    a_rows: int = 1000
    a_latency: float = 1.0
    a_concurrency: int = 100
    b_rows: int = 2000
    b_repeats: int = 2
    c_rows: int = 200_000
    c_call_share: float = 0.1
    d_rows: int = 2000
    e_rows: int = 1000
    f_rows: int = 1000


QUICK = Sizes(a_rows=500, a_latency=1.0, b_rows=500, b_repeats=1, c_rows=20_000, d_rows=500, e_rows=300)


def bench_throughput(s: Sizes, seed: int) -> list[Figure]:
    with stand_in(latency=s.a_latency) as server:
        # warm-up: 5 rows, so one-time lazy imports and model building in the SDK are not counted
        base = {
            "base_url": server.base_url,
            "rows": s.a_rows,
            "seed": seed,
            "concurrency": s.a_concurrency,
            "warmup": 5,
        }
        raw = run_worker({**base, "kind": "raw"})
        sdk = run_worker({**base, "kind": "sdk"})
        server.reset()
        r = run_worker({**base, "kind": "pipeline", "classifier": "given"})
    ideal = s.a_rows * s.a_latency / s.a_concurrency
    fraction = ideal / r["wall"]
    rewritten = r["tags"].get("rewrite", 0)
    ratio = (r["cpu"] / r["rows"]) / (sdk["cpu"] / sdk["rows"])
    return [
        Figure(
            "a",
            f"throughput, {s.a_rows} rows, {s.a_latency:g}s latency, concurrency {s.a_concurrency}",
            f"{fraction:.3f} of ideal ({r['wall']:.2f}s vs {ideal:.2f}s; {r['rows'] / r['wall']:.1f} rows/s)",
            ">= 0.95",
            fraction >= 0.95,
        ),
        Figure(
            "a",
            "  reference: the bare SDK, same calls",
            f"{ideal / sdk['wall']:.3f} of ideal ({sdk['wall']:.2f}s)",
            "",
            None,
        ),
        Figure(
            "a",
            "  reference: a minimal asyncio HTTP client (server ceiling)",
            f"{ideal / raw['wall']:.3f} of ideal ({raw['wall']:.2f}s)",
            "",
            None,
        ),
        Figure(
            "a",
            "  rows rewritten / server peak in flight / CPU per row vs SDK",
            f"{rewritten}/{r['rows']} / {r['peak_in_flight']} / {ratio:.2f}x "
            f"({1000 * r['cpu'] / r['rows']:.2f} vs {1000 * sdk['cpu'] / sdk['rows']:.2f} ms)",
            "",
            None,
        ),
    ]


def bench_cpu(s: Sizes, seed: int, tmp: Path, profile_dir: Path | None) -> list[Figure]:
    concurrency = 100
    results: dict[str, list[dict[str, Any]]] = {}
    with stand_in() as server:
        base = {
            "base_url": server.base_url,
            "rows": s.b_rows,
            "seed": seed,
            "concurrency": concurrency,
            "warmup": min(200, s.b_rows),
        }
        modes: dict[str, dict[str, Any]] = {
            "sdk": {"kind": "sdk"},
            "nocache": {"kind": "pipeline", "classifier": "given"},
            "cache": {"kind": "pipeline", "classifier": "given"},
            "embedded": {"kind": "pipeline", "classifier": "embedded"},
        }
        for repeat in range(s.b_repeats):
            for mode, extra in modes.items():
                spec = {**base, **extra}
                if mode == "cache":
                    spec["cache"] = str(tmp / f"cpu-cache-{repeat}.sqlite")
                try:
                    results.setdefault(mode, []).append(run_worker(spec))
                except RuntimeError as exc:
                    if mode != "embedded":
                        raise
                    results["embedded_error"] = [{"error": str(exc).splitlines()[-1]}]
        if profile_dir is not None:  # separate runs: the profiler's overhead must not reach the figures
            for mode, extra in modes.items():
                spec = {**base, **extra, "profile": str(profile_dir / f"cpu-{mode}.prof")}
                if mode == "cache":
                    spec["cache"] = str(tmp / "cpu-cache-profile.sqlite")
                with contextlib.suppress(RuntimeError):
                    run_worker(spec)

    def per_row(mode: str) -> float:
        return min(float(r["cpu"]) / int(r["rows"]) for r in results[mode])  # the least-disturbed repeat

    sdk = per_row("sdk")
    figures = [
        Figure(
            "b",
            f"bare SDK CPU per request ({s.b_rows} calls, concurrency {concurrency}, 0 latency)",
            f"{sdk * 1000:.2f} ms",
            "",
            None,
        )
    ]
    labels = {
        "nocache": "Pipeline, task given, no cache",
        "cache": "Pipeline, task given, SQLite cache (cold)",
        "embedded": "Pipeline, embedded classifier, no cache",
    }
    for mode, label in labels.items():
        if mode not in results:
            error = results.get("embedded_error", [{"error": "not run"}])[0]["error"]
            figures.append(Figure("b", f"CPU ratio: {label}", f"not run ({error})", "<= 1.5", False))
            continue
        ours = per_row(mode)
        last = results[mode][-1]
        calls = last["server"]["chat"]
        note = "" if calls == last["rows"] else f", {calls} calls"
        figures.append(
            Figure(
                "b",
                f"CPU ratio: {label}",
                f"{ours / sdk:.2f}x ({ours * 1000:.2f} ms/row{note}; "
                f"rewritten {last['tags'].get('rewrite', 0)}/{last['rows']})",
                "<= 1.5",
                ours / sdk <= 1.5,
            )
        )
    return figures


def bench_memory(s: Sizes, seed: int, tmp: Path) -> list[Figure]:
    source = tmp / "rss-input.jsonl"
    calls = write_rows(source, s.c_rows, seed, call_share=s.c_call_share)
    size_mb = source.stat().st_size / 1e6
    figures = []
    with stand_in() as server:
        for label, flags in (("--no-cache", ["--no-cache"]), ("--cache", ["--cache", str(tmp / "rss-cache.sqlite")])):
            output = tmp / f"rss-output{label}.jsonl"
            server.reset()
            run = run_cli(cli_command(source, output, server.base_url, *flags, "--concurrency", "64"), sample_rss=True)
            if run.returncode != 0:
                figures.append(
                    Figure(
                        "c",
                        f"peak RSS, {s.c_rows:,} rows, {label}",
                        f"CLI failed: {run.stderr.strip().splitlines()[-1:]}",
                        "< 300 MB",
                        False,
                    )
                )
                continue
            with output.open(encoding="utf-8") as written:
                lines = sum(1 for _ in written)
            served = server.stats()["chat"]
            early = [mb for t, mb in run.rss_samples if t >= run.wall * 0.2]
            growth = f"; RSS at 20% of the run {early[0]:.0f} MB" if early else ""
            ok = run.maxrss_mb < 300 and lines == s.c_rows
            figures.append(
                Figure(
                    "c",
                    f"peak RSS, CLI, {s.c_rows:,} rows ({size_mb:.0f} MB, {calls:,} need a call), {label}",
                    f"{run.maxrss_mb:.0f} MB{growth}; {lines:,} rows out, {served:,} calls, {run.wall:.0f}s",
                    "< 300 MB",
                    ok,
                )
            )
    return figures


def bench_resume(s: Sizes, seed: int, tmp: Path) -> list[Figure]:
    rows, concurrency = s.d_rows, 50
    source, output, cache = tmp / "resume-input.jsonl", tmp / "resume-output.jsonl", tmp / "resume-cache.sqlite"
    write_rows(source, rows, seed)
    command = cli_command(source, output, "", "--cache", str(cache), "--concurrency", str(concurrency))
    with stand_in(latency=0.2) as server:
        command[command.index("--base-url") + 1] = server.base_url
        first = run_cli(command, kill_when=lambda: server.stats()["chat"] >= rows // 2)
        at_kill = server.stats()["chat"]
        time.sleep(0.5)  # let the server finish the requests of the dead client
        second = run_cli(command)
        leftovers = [p.name for p in tmp.iterdir() if output.name in p.name and p != output]
        total = server.stats()["chat"]
    out = read_output(output) if output.exists() else []
    complete = [r["id"] for r in out] == list(range(rows))
    rewritten = sum(r["realign"]["tag"] == "rewrite" for r in out)
    twice = total - rows
    figures = [
        Figure(
            "d",
            f"calls paid twice after SIGKILL ({rows} rows, 0.2s latency, concurrency {concurrency})",
            f"{twice} (killed at {at_kill} calls, exit {first.returncode}; {total} calls in all)",
            f"<= {concurrency}",
            0 <= twice <= concurrency,
        ),
        Figure(
            "d",
            "  every row out after the resumed run",
            f"{len(out)}/{rows} rows, in order: {complete}, rewritten {rewritten}, exit {second.returncode}",
            "all rows",
            complete and second.returncode == 0,
        ),
    ]
    if leftovers:
        figures.append(
            Figure(
                "d", "  temporary files of the killed run left beside the output", ", ".join(leftovers[:3]), "", None
            )
        )
    return figures


def bench_faults(s: Sizes, seed: int) -> list[Figure]:
    with stand_in(latency=0.2, fault_rate=0.2, seed=seed) as server:
        r = run_worker(
            {
                "kind": "pipeline",
                "base_url": server.base_url,
                "rows": s.e_rows,
                "seed": seed,
                "concurrency": 100,
                "classifier": "given",
                "warmup": 0,
            }
        )
    rewritten = r["tags"].get("rewrite", 0)
    share = rewritten / s.e_rows
    faults = r["server"]["429"] + r["server"]["500"]
    given_up = {k: v for k, v in r["reasons"].items() if k.startswith("llm_error")}
    failed_rows = sum(given_up.values())
    why = f" ({', '.join(f'{k} {v}' for k, v in given_up.items())})" if given_up else ""
    return [
        Figure(
            "e",
            f"20% faults (429 retry-after-ms 50 / 500), {s.e_rows} rows, 0.2s latency",
            f"{share:.1%} rewritten; {r['rows']}/{s.e_rows} rows out in order: {r['in_order']}",
            ">= 99%, all rows",
            share >= 0.99 and r["rows"] == s.e_rows and r["in_order"],
        ),
        Figure(
            "e",
            "  retries / faults (429, 500) / rows given up / wall time",
            f"{faults - failed_rows} / {faults} ({r['server']['429']}, {r['server']['500']}) / {failed_rows}{why} / "
            f"{r['wall']:.1f}s (no-fault ideal {s.e_rows * 0.2 / 100:.1f}s)",
            "",
            None,
        ),
    ]


def bench_stop(s: Sizes, seed: int, tmp: Path) -> list[Figure]:
    """How fast a run against an endpoint that cannot work stops: non-zero, no output file."""
    source = tmp / "stop.jsonl"
    write_rows(source, s.f_rows, seed)
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    figures = []
    for label, extra in (("64 in flight (default)", ()), ("1 in flight", ("--concurrency", "1"))):
        output = tmp / "stop-out.jsonl"
        run = run_cli(cli_command(source, output, dead, "--no-cache", *extra))
        ok = run.returncode == 1 and not output.exists() and run.wall < 30
        figures.append(
            Figure(
                "f",
                f"dead endpoint (connection refused), {s.f_rows} rows, {label}",
                f"stopped in {run.wall:.1f}s, exit {run.returncode}, output file: {output.exists()}",
                "< 30 s, non-zero",
                ok,
            )
        )
    with stand_in(fault_rate=1.0, seed=seed) as server:
        output = tmp / "stop-out.jsonl"
        run = run_cli(cli_command(source, output, server.base_url, "--no-cache"))
        sent = server.stats()["requests"]
    figures.append(
        Figure(
            "f",
            f"every request answered 429/500, {s.f_rows} rows (6 attempts each without the stop)",
            f"stopped in {run.wall:.1f}s after {sent} requests, exit {run.returncode}, output file: {output.exists()}",
            "non-zero",
            run.returncode == 1 and not output.exists(),
        )
    )
    return figures


def embedded_ready(wait: float) -> bool:
    """The CLI needs ``realign._classify.embedded``; wait up to ``wait`` seconds for it to appear."""
    deadline = time.monotonic() + wait
    while True:
        probe = subprocess.run(
            [sys.executable, "-c", "import realign._classify.embedded"], capture_output=True, env=child_env()
        )
        if probe.returncode == 0:
            return True
        if time.monotonic() >= deadline:
            return False
        print("waiting for realign._classify.embedded ...", file=sys.stderr)
        time.sleep(min(60.0, max(1.0, deadline - time.monotonic())))


def print_table(figures: list[Figure]) -> None:
    width = max(len(f.name) for f in figures)
    value_width = max(len(f.value) for f in figures)
    print(f"{'':2} {'benchmark':<{width}}  {'figure':<{value_width}}  {'target':<16}  result")
    for f in figures:
        verdict = "" if f.passed is None else ("PASS" if f.passed else "FAIL")
        print(f"{f.part:2} {f.name:<{width}}  {f.value:<{value_width}}  {f.target:<16}  {verdict}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        worker_main(json.loads(argv[1]))
        return 0
    parser = argparse.ArgumentParser(description="Engine benchmarks against a stand-in OpenAI-compatible server.")
    parser.add_argument("--quick", action="store_true", help="small sizes (about 2 minutes)")
    parser.add_argument("--only", default="a,b,c,d,e,f", help="comma-separated parts to run (default: all)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rss-rows", type=int, help="rows of the memory benchmark (default: 200000; quick 20000)")
    parser.add_argument(
        "--rss-call-share",
        type=float,
        help="share of those rows that need an LLM call (default: 0.1; the rest pass through)",
    )
    parser.add_argument(
        "--wait-embedded",
        type=float,
        default=0,
        metavar="S",
        help="wait up to S seconds for realign._classify.embedded (the CLI needs it)",
    )
    parser.add_argument("--profile", metavar="DIR", help="write cProfile stats of the (b) runs into DIR")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    if args.rss_rows:
        sizes.c_rows = args.rss_rows
    if args.rss_call_share is not None:
        sizes.c_call_share = args.rss_call_share
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    profile_dir = Path(args.profile) if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="realign-bench-") as tmpdir:
        tmp = Path(tmpdir)
        cli_ok = not parts & {"c", "d"} or embedded_ready(args.wait_embedded)
        steps: list[tuple[str, Callable[[], list[Figure]]]] = [
            ("a", lambda: bench_throughput(sizes, args.seed)),
            ("b", lambda: bench_cpu(sizes, args.seed, tmp, profile_dir)),
            ("e", lambda: bench_faults(sizes, args.seed)),
            ("f", lambda: bench_stop(sizes, args.seed, tmp)),
            ("d", lambda: bench_resume(sizes, args.seed, tmp)),
            ("c", lambda: bench_memory(sizes, args.seed, tmp)),
        ]
        for part, step in steps:
            if part not in parts:
                continue
            if part in "cd" and not cli_ok:
                figures.append(
                    Figure(part, "CLI benchmark", "not run: realign._classify.embedded is missing", "", False)
                )
                continue
            t0 = time.perf_counter()
            print(f"running ({part}); load average {os.getloadavg()[0]:.2f} ...", file=sys.stderr, flush=True)
            figures.extend(step())
            print(
                f"  ({part}) took {time.perf_counter() - t0:.0f}s; load average {os.getloadavg()[0]:.2f}",
                file=sys.stderr,
                flush=True,
            )
    figures.sort(key=lambda f: f.part)
    print_table(figures)
    print(
        f"\ntotal time {time.perf_counter() - started:.0f}s; "
        f"{sum(f.passed is True for f in figures)} pass, {sum(f.passed is False for f in figures)} fail"
    )
    if args.json:
        Path(args.json).write_text(json.dumps([f.__dict__ for f in figures], indent=2) + "\n", encoding="utf-8")
    return 0 if all(f.passed is not False for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
