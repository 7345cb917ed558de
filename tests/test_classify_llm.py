"""LLM classifiers: reading answers, the cascade's fallback, and one budget with the rewrites."""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import realign
from conftest import read_jsonl, write_jsonl
from realign import (
    CascadeClassifier,
    Choice,
    Completion,
    EmbeddedClassifier,
    Example,
    FakeLLM,
    LLMClassifier,
    Pipeline,
    TaskPrediction,
    Usage,
)
from realign._classify.llm import named_tasks, normalise_task
from realign._cli.main import main
from realign._llm.ratelimit import RateLimiter
from stub_server import Reply, StubServer, chat_reply, original_of

RAMBLING = "Question_generation, story_generation, explain_code, text_to_text_translation, ad"
UNSURE = "hmm"  # nothing the embedded classifier is sure of


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---------------------------------------------------------------------------------- reading answers


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("`Math_Puzzles`", ["math_puzzles"]),
        ("The task is open qa.", ["open_qa"]),
        ("code_to_text_translation", ["code_to_text_translation"]),
        ("It is code_to_text_translation, I think.", ["code_to_text_translation"]),
        ("open_qa\nnot closed_qa, since no passage is given", ["open_qa"]),
        ("no idea", []),
        ("", []),
    ],
)
def test_answers_name_their_tasks(answer: str, expected: list[str]) -> None:
    assert named_tasks(answer) == expected


def test_an_answer_naming_several_tasks_is_ambiguous_not_a_longest_match() -> None:
    found = named_tasks(RAMBLING)
    assert found == ["question_generation", "story_generation", "explain_code", "text_to_text_translation"]


def test_normalise_task_gives_no_task_for_an_ambiguous_answer() -> None:
    assert normalise_task(RAMBLING) is None


def test_an_ambiguous_answer_says_so_in_its_confidence() -> None:
    prediction = run(LLMClassifier(FakeLLM(["open_qa or closed_qa"])).classify("What is tax?"))
    assert prediction.task == "open_qa"
    assert prediction.alternatives == ("closed_qa",)
    assert prediction.confidence == 0.5


def test_an_answer_naming_no_task_is_default_with_no_confidence() -> None:
    prediction = run(LLMClassifier(FakeLLM(["I cannot tell"])).classify("What is tax?"))
    assert prediction.task == "default"
    assert prediction.confidence == 0.0
    assert not prediction.named


def test_token_logprobs_give_the_confidence() -> None:
    choice = Choice(" open_qa\n", logprobs=((" open", -0.1), ("_", -0.05), ("qa", -0.15), ("\n", -2.0)))
    prediction = run(LLMClassifier(FakeLLM([Completion([choice])])).classify("What is tax?"))
    assert prediction.task == "open_qa"
    assert prediction.confidence == pytest.approx(math.exp(-0.3), abs=1e-4)  # the newline is not the name


def test_the_completion_classifier_asks_for_logprobs_and_uses_them(tmp_path: Path) -> None:
    def handler(path: str, body: dict[str, Any]) -> Reply:
        logprobs = {"tokens": [" math", "_p", "uzzles"], "token_logprobs": [-0.2, -0.1, -0.0], "top_logprobs": None}
        choice = {"index": 0, "text": " math_puzzles", "finish_reason": "stop", "logprobs": logprobs}
        usage = {"prompt_tokens": 50, "completion_tokens": 3, "total_tokens": 53}
        return (
            200,
            {},
            {"id": "c", "object": "text_completion", "created": 0, "model": "m", "choices": [choice], "usage": usage},
        )

    with StubServer(handler) as stub:
        chat = realign.OpenAIChat("clf", base_url=stub.base_url)

        async def classify() -> TaskPrediction:
            try:
                return await realign.CompletionClassifier(chat).classify("Tom has 3 apples...")
            finally:
                await chat.aclose()

        prediction = run(classify())
        body = stub.requests[0][1]
    assert body["logprobs"] == 1
    assert prediction.task == "math_puzzles"
    assert prediction.confidence == pytest.approx(math.exp(-0.3), abs=1e-4)
    assert prediction.usage.prompt_tokens == 50


# ---------------------------------------------------------------------------------- the cascade


class Guess:
    """An embedded-like first classifier that is never sure."""

    async def classify(self, instruction: str) -> TaskPrediction:
        return TaskPrediction(task="open_qa", confidence=0.3, source="embedded")


@pytest.mark.parametrize("answer", ["no idea", RAMBLING, "open_qa or closed_qa"])
def test_the_cascade_keeps_the_embedded_guess_when_the_answer_is_unclear(answer: str) -> None:
    cascade = CascadeClassifier(Guess(), LLMClassifier(FakeLLM([answer])), threshold=0.5)
    prediction = run(cascade.classify("Can you explain inflation in simple terms?"))
    assert prediction.task == "open_qa"
    assert prediction.confidence == 0.3
    assert prediction.source == "embedded"
    assert prediction.usage.calls == 1  # the call was made, and is billed
    assert cascade.counts["llm_unclear"] == 1


def test_the_cascade_takes_a_clear_answer() -> None:
    cascade = CascadeClassifier(Guess(), LLMClassifier(FakeLLM(["closed_qa"])), threshold=0.5)
    prediction = run(cascade.classify("Answer from the passage: ..."))
    assert prediction.task == "closed_qa"
    assert prediction.source == "llm"


def chat_classifier_handler(answer: str, *, delay: float = 0.0) -> tuple[Any, dict[str, int]]:
    """Classify prompts get ``answer``, rewrite prompts a good rewrite; ``seen`` counts calls in flight."""
    seen = {"now": 0, "max": 0}
    lock = threading.Lock()

    def handler(path: str, body: dict[str, Any]) -> Reply:
        with lock:
            seen["now"] += 1
            seen["max"] = max(seen["max"], seen["now"])
        try:
            time.sleep(delay)
            prompt = body["messages"][-1]["content"]
            if prompt.rstrip().endswith("Task name:"):
                usage = {"prompt_tokens": 700, "completion_tokens": 3, "total_tokens": 703}
                return 200, {}, chat_reply(answer, usage=usage)
            text = f"Reasoning: a heading.\nRevised response:\n**Answer**\n\n{original_of(body)}"
            return 200, {}, chat_reply(text)
        finally:
            with lock:
                seen["now"] -= 1

    return handler, seen


def test_reformat_cascade_keeps_the_guess_and_records_where_tasks_came_from(tmp_path: Path) -> None:
    rows = [
        {"instruction": UNSURE, "output": "Hmm indeed."},
        {"instruction": "Write a haiku about rain.", "output": "Rain.", "category": "poem_generation"},
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    guess = EmbeddedClassifier().predict(UNSURE)
    handler, _ = chat_classifier_handler(RAMBLING)
    with StubServer(handler) as stub:
        args = ["reformat", str(source), "-o", str(out), "--base-url", stub.base_url, "--no-cache", "-q"]
        assert main([*args, "--classifier", "cascade", "--cascade-threshold", "1.01"]) == 0
    unsure, given = (row["realign"] for row in read_jsonl(out))
    assert unsure["task"] == guess.task
    assert unsure["confidence"] == guess.confidence
    assert unsure["classifier"] == "embedded"
    assert given["classifier"] == "given"


# ---------------------------------------------------------------------------------- one budget


QUESTIONS = [f"What is the capital of country number {i}?" for i in range(12)]


def test_classifier_calls_share_the_concurrency_and_the_bill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"instruction": q, "output": "Paris, I think."} for q in QUESTIONS])
    out = tmp_path / "out.jsonl"
    handler, seen = chat_classifier_handler("open_qa", delay=0.02)
    with StubServer(handler) as stub:
        args = ["reformat", str(source), "-o", str(out), "--base-url", stub.base_url, "--no-cache"]
        assert main([*args, "--classifier", "llm", "--concurrency", "2"]) == 0
        received = len(stub.requests)
    err = capsys.readouterr().err
    calls = int(re.search(r"LLM calls: (\d+)", err).group(1))  # type: ignore[union-attr]
    prompt_tokens = int(re.search(r"tokens: (\d+) in", err).group(1))  # type: ignore[union-attr]
    assert received == 2 * len(QUESTIONS)  # one classify and one rewrite call a row
    assert calls == received
    assert prompt_tokens == len(QUESTIONS) * (700 + 100)
    assert seen["max"] <= 2
    assert {row["realign"]["classifier"] for row in read_jsonl(out)} == {"llm"}


def test_classify_command_counts_its_calls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"instruction": q} for q in QUESTIONS[:5]])
    handler, _ = chat_classifier_handler("open_qa")
    with StubServer(handler) as stub:
        args = ["classify", str(source), "-o", str(tmp_path / "out.jsonl"), "--base-url", stub.base_url]
        assert main([*args, "--classifier", "llm"]) == 0
        received = len(stub.requests)
    calls = int(re.search(r"LLM calls: (\d+)", capsys.readouterr().err).group(1))  # type: ignore[union-attr]
    assert calls == received


class CountingLimiter(RateLimiter):
    def __init__(self) -> None:
        super().__init__(rpm=None, tpm=None)
        self.acquired = 0

    async def acquire(self, tokens: int) -> None:
        self.acquired += 1


def test_classifier_calls_pass_the_rate_limiter_and_the_cache(tmp_path: Path) -> None:
    def reply(request: realign.ChatRequest) -> str:
        prompt = request.messages[-1][1]
        if prompt.rstrip().endswith("Task name:"):
            return "open_qa"
        return "Reasoning: fine.\nRevised response:\n**Answer**\n\nParis is the capital."

    llm = FakeLLM(reply)
    limiter = CountingLimiter()
    cache = realign.SQLiteCache(tmp_path / "cache.sqlite")
    example = Example(question="What is the capital of France?", response="Paris is the capital.")

    def once() -> realign.Result:
        pipeline = Pipeline(llm, classifier=LLMClassifier(llm), cache=cache, rate_limiter=limiter)
        return run(pipeline.areformat_one(example))

    first = once()
    assert limiter.acquired == 2  # the classify call and the rewrite
    assert first.usage.calls == 2
    second = once()
    assert limiter.acquired == 2  # both answers came from the cache
    assert second.usage == Usage()
    assert second.classifier == "llm"
    cache.close()


def test_classify_command_honours_the_concurrency_flag(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"instruction": q} for q in QUESTIONS])
    handler, seen = chat_classifier_handler("open_qa", delay=0.02)
    with StubServer(handler) as stub:
        args = ["classify", str(source), "-o", str(tmp_path / "out.jsonl"), "--base-url", stub.base_url]
        assert main([*args, "--classifier", "llm", "--concurrency", "2", "-q"]) == 0
        received = len(stub.requests)
    assert received == len(QUESTIONS)
    assert seen["max"] <= 2
