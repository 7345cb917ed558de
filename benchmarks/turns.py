"""Multi-turn conversations: what the context costs, and what carrying original (not rewritten) turns buys.

(a) prompt tokens per assistant-turn request with the earlier conversation as context, against the same
    request without it (``--context-tokens 0``), at the default budget and a smaller one; share of turns
    whose context was trimmed. Counted with realign's own token counter, no server needed.
(b) throughput of ``realign reformat`` on a file of multi-turn conversations against the stand-in server
    (``benchmarks/stand_in.py``, its own process, real SDK and HTTP), as a fraction of the ideal
    ``turns x latency / concurrency``; and the same conversations run the other way a turn's context could
    be built, from the *rewritten* earlier turns, which forces a row's turns to run one after another.

    python benchmarks/turns.py                 # about a minute on 2 cores
    python benchmarks/turns.py --rows 400 --latency 0.5 --concurrency 64 --json results.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from engine import SENTENCES, TOPICS, stand_in  # noqa: E402

QUESTIONS = [
    "How do I plan {topic}?",
    "What should I check first about {topic}?",
    "Can you explain the main steps for {topic}?",
    "Why does {topic} take so long?",
]
FOLLOW_UPS = [
    "And what if that does not work?",
    "Can you make it shorter?",
    "What about the second step?",
    "How long does that usually take?",
    "Is there a cheaper way?",
    "Could you give an example of step 2?",
]


def conversation(index: int, seed: int, turns: int) -> dict[str, Any]:
    """A ShareGPT row: an optional system turn, then ``turns`` user/assistant exchanges of realistic length."""
    rng = random.Random(seed * 100_003 + index)
    topic = rng.choice(TOPICS)
    items: list[dict[str, str]] = []
    if rng.random() < 0.5:
        items.append({"from": "system", "value": "You are a helpful assistant. Answer clearly and politely."})
    for turn in range(turns):
        question = rng.choice(QUESTIONS if turn == 0 else FOLLOW_UPS).format(topic=topic)
        steps = rng.randint(2, 5)
        answer = " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(3, 6)))
        answer += "".join(f"\n{i}. {rng.choice(SENTENCES)}" for i in range(1, steps + 1))
        items += [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]
    return {"id": index, "conversations": items, "category": "how_to_generation"}


def write_file(path: Path, rows: int, seed: int, turns: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            handle.write(json.dumps(conversation(i, seed, turns)) + "\n")


# ----------------------------------------------------------------------------------------- (a) tokens


def bench_tokens(path: Path) -> dict[str, Any]:
    from realign import Pipeline
    from realign._jobs.job import rows_of, turns_of
    from realign._tokens import count_tokens

    def prompt_tokens(pipeline: Pipeline, example: Any, with_context: bool) -> int:
        context = example.context if with_context else []
        messages = pipeline.prompt.messages("how_to_generation", example.question, example.response, [], context)
        return sum(count_tokens(text) + 4 for _, text in messages)

    default = Pipeline(None, classifier=_Never())
    small = Pipeline(None, classifier=_Never(), context_tokens=300)
    per_turn: dict[str, list[int]] = {"none": [], "default": [], "small": []}
    by_position: dict[int, list[tuple[int, int]]] = {}
    trimmed = 0
    for item in rows_of(path):
        for position, turn in enumerate(turns_of(item, "all")):
            assert turn.example is not None
            bare = prompt_tokens(default, turn.example, False)
            full = prompt_tokens(default, turn.example, True)
            per_turn["none"].append(bare)
            per_turn["default"].append(full)
            short = prompt_tokens(small, turn.example, True)
            per_turn["small"].append(short)
            trimmed += (
                "earlier turn(s) left out"
                in small.prompt.messages(
                    "how_to_generation", turn.example.question, turn.example.response, [], turn.example.context
                )[1][1]
            )
            by_position.setdefault(position + 1, []).append((bare, full))
    turns = len(per_turn["none"])
    return {
        "turns": turns,
        "mean_tokens_without_context": round(statistics.mean(per_turn["none"]), 1),
        "mean_tokens_with_context": round(statistics.mean(per_turn["default"]), 1),
        "ratio_with_vs_without": round(statistics.mean(per_turn["default"]) / statistics.mean(per_turn["none"]), 2),
        "mean_tokens_budget_300": round(statistics.mean(per_turn["small"]), 1),
        "share_trimmed_at_budget_300": round(trimmed / turns, 3),
        "by_turn_position": {
            str(k): {
                "without": round(statistics.mean(b for b, _ in v), 1),
                "with": round(statistics.mean(f for _, f in v), 1),
            }
            for k, v in sorted(by_position.items())
        },
    }


class _Never:
    async def classify(self, instruction: str) -> Any:
        raise AssertionError("rows carry their task")


# ----------------------------------------------------------------------------------------- (b) throughput


async def _concurrent(path: Path, out: Path, base_url: str, concurrency: int) -> float:
    """The run as realign does it (``reformat_file``): a row's turns together, contexts of original text."""
    from realign import OpenAIChat, Pipeline
    from realign._jobs.job import reformat_file

    llm = OpenAIChat("stand-in", base_url=base_url, api_key="bench")
    pipeline = Pipeline(llm, classifier=_Never(), concurrency=concurrency)
    start = time.perf_counter()
    await reformat_file(pipeline, path, out)
    wall = time.perf_counter() - start
    await pipeline.aclose()
    return wall


async def _sequential(path: Path, base_url: str, concurrency: int) -> tuple[float, int, int]:
    """Each row's turns one after another, each turn's context holding the earlier turns' rewrites."""
    from realign import Example, Message, OpenAIChat, Pipeline
    from realign._jobs.job import rows_of
    from realign._pipeline import ordered_map

    llm = OpenAIChat("stand-in", base_url=base_url, api_key="bench")
    pipeline = Pipeline(llm, classifier=_Never(), concurrency=concurrency)
    rewritten = 0
    context_tokens = 0
    from realign._tokens import count_tokens

    async def row(item: Any) -> int:
        nonlocal context_tokens
        done = 0
        history: list[Message] = []
        for turn in item.data.turns:
            if turn.role != "assistant":
                if turn.text:
                    history.append(Message(role=turn.role, content=turn.text))
                continue
            asked = history.pop()  # the user turn just before: the question
            example = Example(
                question=asked.content, response=turn.text or "", task="how_to_generation", context=list(history)
            )
            context_tokens += sum(count_tokens(m.content) for m in history)
            result = await pipeline.areformat_one(example)
            done += result.tag == "rewrite"
            history += [asked, Message(role="assistant", content=result.response)]
        return done

    async def rows() -> AsyncIterator[Any]:
        for item in rows_of(path):
            yield item

    start = time.perf_counter()
    async for _, count in ordered_map(row, rows(), pipeline.window):
        rewritten += count
    wall = time.perf_counter() - start
    await pipeline.aclose()
    return wall, rewritten, context_tokens


def original_context_tokens(path: Path) -> int:
    from realign._jobs.job import rows_of, turns_of
    from realign._tokens import count_tokens

    total = 0
    for item in rows_of(path):
        for turn in turns_of(item, "all"):
            assert turn.example is not None
            total += sum(count_tokens(m.content) for m in turn.example.context)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--turns", type=int, default=3, help="exchanges per conversation")
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()

    results: dict[str, Any] = {"rows": args.rows, "turns_per_row": args.turns}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "conversations.jsonl"
        write_file(path, args.rows, args.seed, args.turns)
        results["tokens"] = bench_tokens(path)
        print("(a) prompt tokens per turn:", json.dumps(results["tokens"], indent=1), file=sys.stderr)

        requests = args.rows * args.turns
        ideal = requests * args.latency / args.concurrency
        with stand_in(latency=args.latency) as server:
            out = Path(tmp) / "out.jsonl"
            asyncio.run(_concurrent(path, out, server.base_url, args.concurrency))  # warm-up: imports, connections
            wall = asyncio.run(_concurrent(path, out, server.base_url, args.concurrency))
            rows = [json.loads(line) for line in out.read_text().splitlines()]
            turns_rewritten = sum(t["tag"] == "rewrite" for r in rows for t in r["realign"]["turns"])
            seq_wall, seq_rewritten, seq_context = asyncio.run(_sequential(path, server.base_url, args.concurrency))
            # A small file: fewer requests than the concurrency, so a row's turns in order cost their sum.
            small = Path(tmp) / "small.jsonl"
            write_file(small, 8, args.seed, 6)
            small_wall = asyncio.run(_concurrent(small, Path(tmp) / "small-out.jsonl", server.base_url, 64))
            small_seq, _, _ = asyncio.run(_sequential(small, server.base_url, 64))
        results["small_file"] = {
            "rows": 8,
            "turns_per_row": 6,
            "concurrency": 64,
            "original_context_s": round(small_wall, 2),
            "rewritten_context_sequential_s": round(small_seq, 2),
        }
        print("(b) small file:", json.dumps(results["small_file"], indent=1), file=sys.stderr)
        results["throughput"] = {
            "latency_s": args.latency,
            "concurrency": args.concurrency,
            "requests": requests,
            "ideal_s": round(ideal, 2),
            "original_context": {
                "wall_s": round(wall, 2),
                "of_ideal": round(ideal / wall, 3),
                "turns_rewritten": turns_rewritten,
                "turns_per_s": round(requests / wall, 1),
                "context_tokens": original_context_tokens(path),
                "note": "in-process reformat_file: a row's turns together (realign's way)",
            },
            "rewritten_context_sequential": {
                "wall_s": round(seq_wall, 2),
                "of_ideal": round(ideal / seq_wall, 3),
                "turns_rewritten": seq_rewritten,
                "turns_per_s": round(requests / seq_wall, 1),
                "context_tokens": seq_context,
                "note": "in-process: each row's turns in order, every turn waits for the one before",
            },
            "one_conversation": {
                "original_context_s": round(args.latency, 2),
                "rewritten_context_s": round(args.turns * args.latency, 2),
                "note": "a row's latency: its turns together, or one after another (ideal)",
            },
        }
        print("(b) throughput:", json.dumps(results["throughput"], indent=1), file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
