"""The garbage collector during a run: old objects frozen and young collections rarer, restored after."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from realign import Example, FakeLLM, Pipeline


@pytest.fixture(autouse=True)
def collector() -> Iterator[None]:
    """Each test starts from the default collector and gives it back as it found it."""
    before = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def run(rows: int, seen: list[tuple[int, tuple[int, int, int]]]) -> None:
    """Reformat ``rows`` rows, noting the freeze count and the thresholds while each result comes out."""

    async def main() -> None:
        pipeline = Pipeline(FakeLLM(), checks=[], cache=None)
        examples = [Example(question=f"q{i}", response=f"r{i}", task="open_qa") for i in range(rows)]
        async for _ in pipeline.astream(examples):
            seen.append((gc.get_freeze_count(), gc.get_threshold()))
        await pipeline.aclose()

    asyncio.run(main())


def test_a_run_freezes_the_objects_it_found() -> None:
    seen: list[tuple[int, tuple[int, int, int]]] = []
    run(3, seen)
    assert all(count > 0 for count, _ in seen)


def test_a_run_collects_young_objects_less_often() -> None:
    seen: list[tuple[int, tuple[int, int, int]]] = []
    run(3, seen)
    assert {threshold for _, threshold in seen} == {(5000, 10, 10)}


def test_the_collector_is_given_back_after_the_run() -> None:
    run(3, [])
    assert (gc.get_freeze_count(), gc.get_threshold()) == (0, (700, 10, 10))


def test_a_process_that_froze_objects_itself_is_left_alone() -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    seen: list[tuple[int, tuple[int, int, int]]] = []
    run(2, seen)
    assert {threshold for _, threshold in seen} == {(700, 10, 10)}
    assert gc.get_freeze_count() == frozen


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    try:
        run(2, [])
        enabled = gc.isenabled()
    finally:
        gc.enable()
    assert not enabled
