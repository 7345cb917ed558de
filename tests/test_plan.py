"""One decision path: `Pipeline.plan` decides a row, and the run, the dry run, classify and retrieve follow it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from conftest import realign_row, write_jsonl
from realign import Evidence, Example, FakeLLM, FakeSearch, Pipeline, RowPlan, TaskPrediction
from realign._cli.main import main
from realign._jobs.job import YIELD_EVERY, annotate_file, retrieve_file
from realign._jobs.plan import plan_file
from stub_server import StubServer

Capture = pytest.CaptureFixture[str]
MATH_Q = "Tom has 3 apples and buys 4 more. How many now?"


class CountingClassifier:
    def __init__(self, task: str = "open_qa", confidence: float = 0.8) -> None:
        self.task, self.confidence, self.seen = task, confidence, 0

    async def classify(self, instruction: str) -> TaskPrediction:
        self.seen += 1
        return TaskPrediction(task=self.task, confidence=self.confidence, source="counting")

    async def aclose(self) -> None:
        pass


def plan(pipeline: Pipeline, example: Example) -> RowPlan:
    return asyncio.run(pipeline.plan(example))


def test_an_empty_row_is_not_classified() -> None:
    classifier = CountingClassifier()
    decided = plan(Pipeline(None, classifier=classifier), Example(question="What is tea?", response="  "))
    assert decided.reason == "empty_response"
    assert decided.source == "skipped"
    assert classifier.seen == 0


def test_reformatting_an_empty_row_makes_no_call_at_all() -> None:
    classifier, llm = CountingClassifier(), FakeLLM([])
    result = asyncio.run(
        Pipeline(llm, classifier=classifier).areformat_one(Example(question="What is tea?", response=""))
    )
    assert result.reason == "empty_response"
    assert classifier.seen + len(llm.requests) == 0


def test_an_empty_row_keeps_its_given_task() -> None:
    decided = plan(Pipeline(None, classifier=CountingClassifier()), Example(question="q", response="", task="open_qa"))
    assert (decided.task, decided.source, decided.rewrite) == ("open_qa", "given", False)


def test_a_task_left_alone_is_not_rewritten_and_needs_no_retrieval() -> None:
    pipeline = Pipeline(None, classifier=CountingClassifier("poem_generation"))
    decided = plan(pipeline, Example(question="Write a haiku", response="Snow"))
    assert (decided.rewrite, decided.reason, decided.retrieval) == (False, "task_not_rewritten", False)


def test_a_retrieval_task_needs_retrieval_unless_the_row_brings_evidence() -> None:
    pipeline = Pipeline(None, classifier=CountingClassifier("open_qa"))
    bare = plan(pipeline, Example(question="What is tea?", response="A drink."))
    given = plan(pipeline, Example(question="What is tea?", response="A drink.", evidence=[Evidence(text="Tea.")]))
    assert (bare.rewrite, bare.retrieval) == (True, True)
    assert given.retrieval is False


def test_the_classifier_source_is_reported() -> None:
    decided = plan(Pipeline(None, classifier=CountingClassifier()), Example(question="What is tea?", response="A."))
    assert (decided.task, decided.confidence, decided.source) == ("open_qa", 0.8, "counting")


def test_retrieve_searches_only_for_rows_the_plan_says_need_it(tmp_path: Path) -> None:
    rows = [realign_row("What is tea?", "", "open_qa"), realign_row("What is tea?", "A drink.", "open_qa")]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    search = FakeSearch({"What is tea?": [Evidence(text="Tea is a drink.")]})
    pipeline = Pipeline(None, classifier=CountingClassifier(), search=search)
    stats = asyncio.run(retrieve_file(pipeline, source, tmp_path / "out.jsonl"))
    assert stats.reasons == {"retrieval not needed": 1, "retrieval ok": 1}
    assert search.queries == ["What is tea?"]


# The dry run -------------------------------------------------------------------------------------------------


def output(tmp_path: Path, capsys: Capture, *flags: str) -> str:
    rows = [
        realign_row(MATH_Q, "3 + 4 = 7\n#### 7"),  # no category: classified
        realign_row("What is the boiling point of water?", "100 C."),  # no category: classified
        realign_row("Write a haiku about rain.", "Soft rain", "poem_generation"),  # given
        realign_row("Explain photosynthesis.", ""),  # empty: not classified
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    with StubServer() as stub:
        code = main(
            ["reformat", str(source), "--dry-run", "--model", "gpt-4o-mini", "--base-url", stub.base_url, *flags]
        )
        requests = list(stub.requests)
    assert code == 0
    assert requests == []  # not a single call, whatever the classifier
    return capsys.readouterr().out


def test_dry_run_with_the_embedded_classifier_counts_no_classify_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = output(tmp_path, capsys)
    assert "tasks (2 rows classified by the embedded classifier)" in out
    assert "classify calls" not in out


def test_dry_run_with_an_llm_classifier_counts_its_calls_and_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = output(tmp_path, capsys, "--classifier", "llm")
    assert "2 rows classified, estimated by the embedded classifier: the real run asks the llm" in out
    match = re.search(r"classify calls \(llm classifier\): (\d+), estimated ([\d,]+) prompt", out)
    assert match is not None
    assert match.group(1) == "2"
    assert int(match.group(2).replace(",", "")) > 100  # the prompt lists every task
    assert re.search(r"classify calls .*\$\d", out) is not None


def test_dry_run_with_the_cascade_counts_only_unsure_rows(tmp_path: Path, capsys: Capture) -> None:
    unsure = output(tmp_path, capsys, "--classifier", "cascade", "--cascade-threshold", "1.01")
    sure = output(tmp_path, capsys, "--classifier", "cascade", "--cascade-threshold", "0")
    assert "classify calls (cascade classifier): 2," in unsure
    assert "classify calls (cascade classifier): 0," in sure


def test_dry_run_passes_empty_rows_through(tmp_path: Path, capsys: Capture) -> None:
    out = output(tmp_path, capsys)
    assert "empty_response 1" in out


def _dry_run_completion_tokens(tmp_path: Path, capsys: Capture, *flags: str) -> int:
    """The dry run's completion-token estimate for one row whose answer is 20,000 words long."""
    source = write_jsonl(tmp_path / "long.jsonl", [realign_row(MATH_Q, "word " * 20_000 + "\n#### 7", "math_puzzles")])
    assert main(["reformat", str(source), "--dry-run", *flags]) == 0
    match = re.search(r"estimated tokens: [\d,]+ prompt, ([\d,]+) completion", capsys.readouterr().out)
    assert match is not None
    return int(match.group(1).replace(",", ""))


def test_dry_run_estimates_no_more_completion_than_the_requests_max_tokens(tmp_path: Path, capsys: Capture) -> None:
    assert _dry_run_completion_tokens(tmp_path, capsys) == 8192  # the default max_tokens' ceiling


def test_dry_run_estimates_completion_within_the_max_tokens_flag(tmp_path: Path, capsys: Capture) -> None:
    assert _dry_run_completion_tokens(tmp_path, capsys, "--max-tokens", "300") == 300


# Ctrl-C and SIGTERM arrive as a cancellation of the run's task (asyncio's own handling of SIGINT) --------------

ROWS_TO_CANCEL = 2000


class CancellingClassifier(CountingClassifier):
    """Cancels the task it runs in at its 10th row, as asyncio does on Ctrl-C; never waits, as the embedded one."""

    async def classify(self, instruction: str) -> TaskPrediction:
        if self.seen == 9:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
        return await super().classify(instruction)


def _cancelled_dry_run(tmp_path: Path) -> int:
    rows = [realign_row(f"What is {i} + {i}?", f"It is {2 * i}.") for i in range(ROWS_TO_CANCEL)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    classifier = CancellingClassifier()
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(plan_file(source, Pipeline(None, classifier=classifier)))
    return classifier.seen


def test_a_cancelled_dry_run_stops_within_a_few_hundred_rows(tmp_path: Path) -> None:
    assert _cancelled_dry_run(tmp_path) <= 10 + YIELD_EVERY


def _cancelled_annotation(tmp_path: Path) -> tuple[int, Path]:
    rows = [realign_row(f"What is {i} + {i}?", f"It is {2 * i}.") for i in range(ROWS_TO_CANCEL)]
    source, out = write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"
    seen = 0

    async def annotate(item: object) -> dict[str, object]:
        nonlocal seen
        seen += 1
        if seen == 10:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
        return {}

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(annotate_file(source, out, annotate, window=1))
    return seen, out


def test_a_cancelled_classify_stops_within_a_few_hundred_rows(tmp_path: Path) -> None:
    seen, _ = _cancelled_annotation(tmp_path)
    assert seen <= 10 + YIELD_EVERY


def test_a_cancelled_classify_writes_no_output(tmp_path: Path) -> None:
    _, out = _cancelled_annotation(tmp_path)
    assert not out.exists()
