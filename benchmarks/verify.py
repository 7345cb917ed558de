"""What ``--verify`` adds to a run: verify calls and prompt tokens, on the hand-labelled fidelity sets.

Each row of ``data/fidelity_*.jsonl`` and ``data/answers_*.jsonl`` (question, original, candidate rewrite,
sometimes evidence) goes through a real :class:`~realign.Pipeline` whose rewriter is a stand-in that
answers with the row's own rewrite, and whose judge is a stand-in that answers ``VERDICT: yes`` (the
figures here are about cost and plumbing; how often a real judge catches a bad rewrite needs a real
model). Counted: verify calls (one per candidate that passed the checks and differs from the original),
prompt tokens of each verify request and of the row's rewrite request (realign's offline token
estimate, ~4 tokens of chat framing a message), and the dry run's estimate of the verify prompt beside
the real one.

    python benchmarks/verify.py [FILE ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from realign import (
    ChatRequest,
    Criteria,
    Evidence,
    Example,
    FakeLLM,
    LLMVerifier,
    Pipeline,
    Prompts,
    count_tokens,
    default_checks,
)
from realign._verify import verify_messages

DATA = Path(__file__).parent / "data"
# answers_heldout4.jsonl is the fresh held-out set that the lead alone runs, once: never read by default.
DEFAULT_FILES = sorted(
    p for p in [*DATA.glob("fidelity_*.jsonl"), *DATA.glob("answers_*.jsonl")] if p.name != "answers_heldout4.jsonl"
)
_GROWTH = 1.3  # the dry run takes a rewrite to be 1.3x its original (see _jobs/plan.py)


def _tokens(request: ChatRequest) -> int:
    return sum(count_tokens(text) + 4 for _, text in request.messages)


def _example(row: dict[str, Any]) -> Example:
    evidence = [Evidence.model_validate(e) for e in row.get("evidence") or []]
    return Example(question=row["question"], response=row["original"], task=row["task"], evidence=evidence)


async def _measure(rows: list[dict[str, Any]]) -> dict[str, Any]:
    prompts, criteria, checks = Prompts(), Criteria(), default_checks()
    judge = FakeLLM(lambda request: "VERDICT: yes\nREASON: same facts.")
    verifier = LLMVerifier(judge)
    writers, results = [], []
    for row in rows:  # one pipeline a row: several rows share an original, each with its own rewrite
        writer = FakeLLM([f"Reasoning: as written.\nRevised response:\n{row['rewrite']}"])
        pipeline = Pipeline(writer, verifier=verifier, criteria=criteria, checks=checks, cache=False)
        results.append(await pipeline.areformat_one(_example(row)))
        writers.append(writer)
    verify_tokens = [_tokens(request) for request in judge.requests]
    rewrite_tokens = [_tokens(request) for writer in writers for request in writer.requests]
    estimates, reals = [], []
    for row in rows:  # the dry run's estimate of one verify prompt against the real one
        real = verify_messages(prompts, row["question"], row["original"], row["rewrite"])
        guess = verify_messages(prompts, row["question"], row["original"], row["original"])
        reals.append(sum(count_tokens(t) + 4 for _, t in real))
        estimates.append(
            sum(count_tokens(t) + 4 for _, t in guess) + int((_GROWTH - 1) * count_tokens(row["original"]))
        )
    instructions = sum(count_tokens(t) + 4 for _, t in verify_messages(prompts, "", "", ""))
    originals = [count_tokens(row["original"]) for row in rows]
    return {
        "rows": len(rows),
        "passed_checks": sum(1 for r in results if r.tag == "rewrite"),
        "verify_calls": len(judge.requests),
        "verify_prompt_mean": round(statistics.fmean(verify_tokens), 1) if verify_tokens else 0,
        "verify_prompt_median": statistics.median(verify_tokens) if verify_tokens else 0,
        "rewrite_prompt_mean": round(statistics.fmean(rewrite_tokens), 1),
        "verify_over_rewrite_prompt_per_call": round(
            statistics.fmean(verify_tokens) / statistics.fmean(rewrite_tokens), 3
        )
        if verify_tokens
        else 0,
        "verify_over_rewrite_prompt_run": round(sum(verify_tokens) / max(1, sum(rewrite_tokens)), 3),
        "instructions_tokens": instructions,
        "original_tokens_mean": round(statistics.fmean(originals), 1),
        "dry_run_estimate_error": round(sum(estimates) / max(1, sum(reals)) - 1, 3),
        "verify_completion_tokens_cap": verifier.max_tokens,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for path in args.files for line in path.read_text(encoding="utf-8").splitlines() if line]
    figures = asyncio.run(_measure(rows))
    for key, value in figures.items():
        print(f"{key:36} {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
