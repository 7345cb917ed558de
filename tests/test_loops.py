"""A pipeline, a rate limiter, a classifier run again under a second ``asyncio.run`` (a script that runs one
batch after another): what binds to an event loop is made again for the new one."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from pathlib import Path

import httpx
import pytest
import respx

import realign
from realign import ChatRequest, Choice, Completion, Example, FakeLLM, Pipeline, RateLimiter, TaskPrediction, Usage
from stub_server import StubServer

LAVA = "A volcano is a rupture in the crust of a planet where lava and ash escape from below."


class OpenQA:
    async def classify(self, instruction: str) -> TaskPrediction:
        return TaskPrediction(task="open_qa", confidence=1.0, source="fixed")

    async def aclose(self) -> None:
        pass


# The first run's connections are left open when its loop closes (nothing closed the client in between):
# collected here, they warn of unclosed sockets, as they would without a second run.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_pipeline_with_an_openai_client_runs_under_a_second_asyncio_run() -> None:
    rows = [Example(question=f"Question {i}?", response=f"Answer {i}.") for i in range(4)]
    with StubServer() as stub:
        llm = realign.OpenAIChat("stub", base_url=stub.base_url)
        pipeline = Pipeline(llm, classifier=OpenQA(), checks=[], cache=None, concurrency=2)

        async def run() -> list[str]:
            return [r.reason or r.tag async for r in pipeline.astream(rows)]

        asyncio.run(run())
        # Its connections were opened on the first run's loop, closed with it: every row failed with RuntimeError.
        second = asyncio.run(run())
        asyncio.run(llm.aclose())
        gc.collect()
    assert second == ["rewrite"] * 4


def test_a_rate_limiter_waits_under_a_second_asyncio_run() -> None:
    limiter = RateLimiter(rpm=600)  # 600 at once, then one every 0.1 s

    async def acquire(count: int) -> None:
        await asyncio.gather(*(limiter.acquire(1) for _ in range(count)))

    asyncio.run(acquire(602))  # the last ones wait for one another on its lock
    # Empty the bucket again: on a busy machine it may have refilled since, and the second run must wait.
    assert limiter._requests is not None
    limiter._requests.level, limiter._requests.stamp = 0.0, time.monotonic()
    started = time.monotonic()
    asyncio.run(acquire(2))  # waiting there again raised RuntimeError (a lock bound to the first loop)
    assert time.monotonic() - started >= 0.1


def test_a_classifier_with_its_own_budget_runs_under_a_second_asyncio_run() -> None:
    async def slow(request: ChatRequest) -> Completion:
        await asyncio.sleep(0.005)
        return Completion([Choice("open_qa")], Usage(calls=1))

    llm = FakeLLM(lambda request: "open_qa")
    llm.complete = slow  # type: ignore[method-assign]
    classifier = realign.LLMClassifier(llm, concurrency=1)

    async def classify() -> list[str]:
        found = await asyncio.gather(*(classifier.classify(f"Question {i}?") for i in range(3)))
        return [prediction.task for prediction in found]

    asyncio.run(classify())  # the second and third wait on its semaphore
    assert asyncio.run(classify()) == ["open_qa"] * 3


def test_a_local_index_searches_under_a_second_asyncio_run(tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"title": "Volcano", "text": "A volcano is where lava and ash escape."}) + "\n")
    realign.build_index(docs, tmp_path / "index.sqlite")
    index = realign.LocalIndex(tmp_path / "index.sqlite", concurrency=1)

    async def search() -> list[int]:
        found = await asyncio.gather(*(index.search("volcano lava") for _ in range(3)))
        return [len(evidence) for evidence in found]

    asyncio.run(search())  # the second and third wait on its semaphore
    assert asyncio.run(search()) == [1, 1, 1]


def test_a_web_search_client_searches_under_a_second_asyncio_run() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.005)  # so the searches wait for one another
        return httpx.Response(
            200, json={"organic": [{"title": "Volcano", "link": "https://v.example", "snippet": LAVA}]}
        )

    with respx.mock() as router:
        router.post("https://google.serper.dev/search").mock(side_effect=slow)
        client = realign.SerperSearch(api_key="sk-test-key-123", concurrency=1)

        async def search() -> list[int]:
            found = await asyncio.gather(*(client.search("volcano lava") for _ in range(3)))
            return [len(evidence) for evidence in found]

        asyncio.run(search())
        second = asyncio.run(search())
        asyncio.run(client.aclose())  # from a third loop: no error
    assert second == [1, 1, 1]
