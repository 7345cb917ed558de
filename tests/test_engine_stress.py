"""Randomised runs of the whole async engine, to catch the deadlocks and lost counts unit tests miss.

Each run mixes what makes the engine's bookkeeping hard: replies late or at once, unparsable replies
(re-asks), truncated ones, transient and foreign errors, n > 1 on a server that honours or ignores n
(top-ups), a judge (verify calls), an LLM classifier alone or behind a cascade, identical rows (cache
hits) and multi-turn conversations, at concurrency 1, 2, 3 and 8 over fixed seeds. A deadlock fails
at its ``asyncio.wait_for`` instead of hanging the suite; every row must be decided and the calls
billed to the rows must be the calls the models answered.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import threading
import time
from pathlib import Path

import pytest

import realign
from realign import ChatRequest, Choice, Completion, Example, LLMError, Pipeline, TaskPrediction, Usage

TASKS = ["math_puzzles", "open_qa", "code", "exam", "default"]
SEEDS = range(4)
CONCURRENCY = (1, 2, 3, 8)
DEADLINE = 60  # seconds: a run takes well under one; only a deadlock gets near this


class MemoryCache:
    """A dict as the response cache; a hit costs nothing, as SQLiteCache's."""

    def __init__(self) -> None:
        self.stored: dict[str, Completion] = {}

    def get(self, key: str) -> Completion | None:
        found = self.stored.get(key)
        return None if found is None else Completion(found.choices, Usage())

    def put(self, key: str, value: Completion) -> None:
        self.stored[key] = value

    async def aclose(self) -> None:
        pass


class InFlight:
    """The requests in flight across every model of one run, and the most there ever were."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0


class RandomLLM:
    """A model that answers late or at once, sometimes badly, sometimes not at all; ``role`` decides what
    a good answer is (a rewrite, a verdict, a task name). ``answered`` counts the calls it billed."""

    def __init__(self, rng: random.Random, in_flight: InFlight, role: str, *, ignores_n: bool = False) -> None:
        self.rng, self.in_flight, self.role, self.ignores_n = rng, in_flight, role, ignores_n
        self.identity = f"random|{role}"
        self.answered = 0

    async def aclose(self) -> None:
        pass

    async def complete(self, request: ChatRequest) -> Completion:
        self.in_flight.now += 1
        self.in_flight.peak = max(self.in_flight.peak, self.in_flight.now)
        try:
            delay = self.rng.random()
            if delay < 0.3:
                await asyncio.sleep(0)  # answered on the next step of the loop
            elif delay < 0.6:
                await asyncio.sleep(self.rng.uniform(0, 0.002))  # else at once, without a step
            failure = self.rng.random()
            if failure < 0.06:
                raise LLMError("server error; retries exhausted", code="server_error")
            if failure < 0.08:
                raise ConnectionError("reset by peer")  # a custom LLM's own error
            choices = [self._choice() for _ in range(1 if self.ignores_n else request.n)]
            self.answered += 1
            return Completion(choices, Usage(prompt_tokens=10, completion_tokens=5, calls=1))
        finally:
            self.in_flight.now -= 1

    def _choice(self) -> Choice:
        roll = self.rng.random()
        if self.role == "rewrite":
            if roll < 0.55:
                return Choice(f"Reasoning: clearer.\nRevised response:\nRewritten answer {self.rng.randint(0, 2)}.")
            if roll < 0.85:
                return Choice("I would rather not use the labels.")  # unparsable: a re-ask
            if roll < 0.9:
                return Choice("Reasoning: long.\nRevised response:\nCut off", "length")
            return Choice("Reasoning: it fits.\nRevised response:\nAnswer 1.")
        if self.role == "judge":
            if roll < 0.7:
                return Choice("VERDICT: yes\nREASON: same facts.")
            return Choice("VERDICT: no\nREASON: a fact is lost." if roll < 0.9 else "no verdict here")
        if roll < 0.6:
            return Choice(self.rng.choice(TASKS))
        return Choice("math_puzzles or code" if roll < 0.8 else "no idea")  # ambiguous, or no task named


class RandomGuess:
    """A first classifier for the cascade: any task, any confidence."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    async def classify(self, instruction: str) -> TaskPrediction:
        await asyncio.sleep(0)
        return TaskPrediction(task=self.rng.choice(TASKS), confidence=self.rng.random(), source="embedded")

    async def aclose(self) -> None:
        pass


class Run:
    """One randomised pipeline and the models behind it."""

    def __init__(self, seed: int, concurrency: int) -> None:
        rng = random.Random(seed * 100 + concurrency)
        self.in_flight = InFlight()
        self.rewriter = RandomLLM(rng, self.in_flight, "rewrite", ignores_n=rng.random() < 0.5)
        self.judge = RandomLLM(rng, self.in_flight, "judge")
        self.labeller = RandomLLM(rng, self.in_flight, "classify")
        classifier = realign.LLMClassifier(self.labeller)
        self.pipeline = Pipeline(
            self.rewriter,
            classifier=realign.CascadeClassifier(RandomGuess(rng), classifier) if rng.random() < 0.5 else classifier,
            checks=[],  # the checks are plain functions: nothing here for them to race
            cache=MemoryCache() if rng.random() < 0.6 else None,
            n=rng.choice([1, 2, 3]),
            concurrency=concurrency,
            verifier=realign.LLMVerifier(self.judge) if rng.random() < 0.6 else None,
        )

    @property
    def answered(self) -> int:
        return self.rewriter.answered + self.judge.answered + self.labeller.answered


def examples(count: int) -> list[Example]:
    # Seven distinct rows repeated: identical requests, served from the cache once one is answered.
    return [
        Example(question=f"Question {i % 7}?", response=f"Answer {i % 7}.", task=TASKS[i % 3] if i % 5 == 0 else None)
        for i in range(count)
    ]


def conversation(i: int) -> dict[str, object]:
    turns: list[dict[str, str]] = []
    for turn in range(1 + i % 3):
        turns.append({"role": "user", "content": f"Question {i % 4}.{turn}?"})
        turns.append({"role": "assistant", "content": f"Answer {i % 4}.{turn}."})
    return {"messages": turns}


def decided(result: realign.Result) -> bool:
    """A row is decided when it is rewritten, or kept with a reason."""
    return result.tag == "rewrite" or (result.tag == "original" and bool(result.reason))


@pytest.mark.parametrize("concurrency", CONCURRENCY)
@pytest.mark.parametrize("seed", SEEDS)
def test_a_stream_of_rows_is_decided_and_billed_for_what_was_answered(seed: int, concurrency: int) -> None:
    run = Run(seed, concurrency)

    async def reformat() -> list[realign.Result]:
        return [result async for result in run.pipeline.astream(examples(40))]

    results = asyncio.run(asyncio.wait_for(reformat(), DEADLINE))
    assert len(results) == 40
    assert all(decided(r) for r in results)
    assert sum(r.usage.calls for r in results) == run.answered
    assert run.pipeline.verified.usage.calls == run.judge.answered
    assert run.in_flight.peak <= concurrency


@pytest.mark.parametrize("concurrency", CONCURRENCY)
@pytest.mark.parametrize("seed", SEEDS)
def test_a_file_of_conversations_is_decided_turn_by_turn(seed: int, concurrency: int, tmp_path: Path) -> None:
    run = Run(seed, concurrency)
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(conversation(i)) + "\n" for i in range(24)), encoding="utf-8")
    work = realign.areformat_file(source, output, pipeline=run.pipeline)
    stats = asyncio.run(asyncio.wait_for(work, DEADLINE))
    records = [json.loads(line)["realign"] for line in output.read_text(encoding="utf-8").splitlines()]
    # A row of one exchange is not a conversation: its record is its one turn's.
    turns = [turn for record in records for turn in record.get("turns", [record])]
    assert len(records) == 24
    assert len(turns) == sum(1 + i % 3 for i in range(24))
    assert all(turn["tag"] == "rewrite" or turn["reason"] for turn in turns)
    assert stats.usage.calls == run.answered
    assert run.in_flight.peak <= concurrency


@pytest.mark.parametrize("concurrency", (1, 3))
def test_a_run_cancelled_midway_leaves_the_pipeline_usable(concurrency: int) -> None:
    # A notebook user interrupts a long run and starts another with the same pipeline.
    run = Run(7, concurrency)
    pipeline = run.pipeline

    async def interrupted_then_again() -> list[realign.Result]:
        first = asyncio.create_task(collect(pipeline, examples(400)))
        while run.answered < 30:
            await asyncio.sleep(0.001)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        stopped_at = run.rewriter.answered + run.judge.answered + run.labeller.answered
        await asyncio.sleep(0.05)
        # The requests in flight when it was cancelled may still be answered; nothing after them is sent.
        assert run.answered <= stopped_at + concurrency
        return await collect(pipeline, examples(30))

    results = asyncio.run(asyncio.wait_for(interrupted_then_again(), DEADLINE))
    assert len(results) == 30
    assert all(decided(r) for r in results)


async def collect(pipeline: Pipeline, rows: list[Example]) -> list[realign.Result]:
    return [result async for result in pipeline.astream(rows)]


class Interrupting:
    """A slow model that sends the process a SIGINT (Ctrl-C) on its ``at``-th call."""

    identity = "interrupting"

    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0

    async def complete(self, request: ChatRequest) -> Completion:
        self.calls += 1
        if self.calls == self.at:
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        await asyncio.sleep(0.002)
        return Completion([Choice("Reasoning: clearer.\nRevised response:\nRewritten.")], Usage(calls=1))

    async def aclose(self) -> None:
        pass


def test_ctrl_c_stops_a_sync_run_and_the_pipeline_runs_again() -> None:
    # reformat() runs on a background loop: a Ctrl-C reaches the caller's thread, not the run.
    llm = Interrupting(at=20)
    pipeline = Pipeline(llm, classifier=RandomGuess(random.Random(0)), checks=[], cache=None, concurrency=2)
    rows = [Example(question=f"Question {i}?", response=f"Answer {i}.", task="open_qa") for i in range(400)]
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # whatever the test runner set
    try:
        with pytest.raises(KeyboardInterrupt):
            realign.reformat(rows, pipeline=pipeline)
    finally:
        signal.signal(signal.SIGINT, previous)
    stopped_at = llm.calls
    time.sleep(0.1)
    assert llm.calls == stopped_at  # nothing sent once the call returned: the run was stopped, not left going
    again = realign.reformat(rows[:5], pipeline=pipeline)
    assert [r.tag for r in again] == ["rewrite"] * 5


class Sure:
    """A classifier sure of one task."""

    def __init__(self, task: str) -> None:
        self.task = task

    async def classify(self, instruction: str) -> TaskPrediction:
        return TaskPrediction(task=self.task, confidence=1.0, source="fixed")

    async def aclose(self) -> None:
        pass


class FatalFirst:
    """A slow model whose first answer is a fatal error (a revoked key); it counts the requests it receives."""

    identity = "fatal-first"

    def __init__(self) -> None:
        self.received = 0

    async def complete(self, request: ChatRequest) -> Completion:
        self.received += 1
        await asyncio.sleep(0.01)
        if self.received == 1:
            raise realign.FatalLLMError("authentication failed (401)", code="auth")
        return Completion([Choice("Reasoning: clearer.\nRevised response:\nRewritten.")], Usage(calls=1))

    async def aclose(self) -> None:
        pass


def test_a_fatal_error_in_one_turn_stops_the_other_turns_of_its_conversation(tmp_path: Path) -> None:
    llm = FatalFirst()
    pipeline = Pipeline(llm, classifier=Sure("open_qa"), checks=[], cache=None, concurrency=1)
    source = tmp_path / "in.jsonl"
    turns = [{"role": role, "content": f"Turn {i}."} for i in range(6) for role in ("user", "assistant")]
    source.write_text(json.dumps({"messages": turns}) + "\n", encoding="utf-8")  # six assistant turns

    async def run() -> None:
        with pytest.raises(realign.FatalLLMError):
            await realign.areformat_file(source, tmp_path / "out.jsonl", pipeline=pipeline)
        await asyncio.sleep(0.1)  # time for the other turns' requests to be sent, were they still running

    asyncio.run(asyncio.wait_for(run(), DEADLINE))
    # The failing request, and the one the sender had already taken; the other turns were cancelled with them.
    assert llm.received == 2
