"""The garbage collector during a run: young collections rarer, the thresholds given back after."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from realign import Example, FakeLLM, Pipeline


@pytest.fixture(autouse=True)
def collector() -> Iterator[None]:
    """Each test starts from the default thresholds and gives them back as it found them."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def run(rows: int, seen: list[tuple[int, int, int]]) -> None:
    """Reformat ``rows`` rows, noting the collector's thresholds while each result comes out."""

    async def main() -> None:
        pipeline = Pipeline(FakeLLM(), checks=[], cache=None)
        examples = [Example(question=f"q{i}", response=f"r{i}", task="open_qa") for i in range(rows)]
        async for _ in pipeline.astream(examples):
            seen.append(gc.get_threshold())
        await pipeline.aclose()

    asyncio.run(main())


def test_a_run_collects_young_objects_less_often() -> None:
    seen: list[tuple[int, int, int]] = []
    run(3, seen)
    assert set(seen) == {(10_000, 10, 10)}


def test_the_thresholds_are_given_back_after_the_run() -> None:
    run(3, [])
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_threshold_of_the_process_is_left_alone() -> None:
    gc.set_threshold(50_000, 10, 10)
    seen: list[tuple[int, int, int]] = []
    run(2, seen)
    assert set(seen) == {(50_000, 10, 10)}


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    try:
        run(2, [])
        enabled = gc.isenabled()
    finally:
        gc.enable()
    assert not enabled
