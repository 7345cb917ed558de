from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import realign
from realign import (
    Choice,
    Completion,
    Evidence,
    Example,
    FakeLLM,
    FatalLLMError,
    LLMError,
    Pipeline,
    SQLiteCache,
    TaskPrediction,
    Usage,
    UsageError,
)

ORIGINAL = "Natalia sold 48/2 = 24 clips in May.\nShe sold 48+24 = 72 clips altogether.\n#### 72"
GOOD = (
    "Reasoning: numbered steps help.\nRevised response:\nWe need the clips sold in April and May.\n\n"
    "1. In May she sold 48 / 2 = 24 clips.\n2. Altogether she sold 48 + 24 = 72 clips.\n\n#### 72"
)


class FixedClassifier:
    def __init__(self, task: str = "math_puzzles", confidence: float = 0.9) -> None:
        self.task, self.confidence, self.seen = task, confidence, 0

    async def classify(self, instruction: str) -> TaskPrediction:
        self.seen += 1
        return TaskPrediction(task=self.task, confidence=self.confidence, source="fixed")

    async def aclose(self) -> None:
        pass


def pipe(llm: FakeLLM, **kw: object) -> Pipeline:
    kw.setdefault("classifier", FixedClassifier())
    return Pipeline(llm, **kw)  # type: ignore[arg-type]


def one(p: Pipeline, example: Example) -> realign.Result:
    return asyncio.run(p.areformat_one(example))


Q = "Natalia sold clips to 48 friends in April, and half as many in May. How many altogether?"


def test_rewrite_is_accepted_with_metadata() -> None:
    llm = FakeLLM([GOOD])
    result = one(pipe(llm), Example(question=Q, response=ORIGINAL))
    assert result.tag == "rewrite"
    assert result.reason is None
    assert result.response.startswith("We need")
    assert result.response.endswith("#### 72")
    assert result.original == ORIGINAL
    assert result.task == "math_puzzles"
    assert result.usage.calls == 1
    assert result.candidates[0].reasoning == "numbered steps help."
    assert len(llm.requests) == 1
    assert llm.requests[0].n == 1


def test_task_not_rewritten_makes_no_call() -> None:
    llm = FakeLLM([])
    result = one(pipe(llm), Example(question="Write a poem", response="Roses...", task="poem_generation"))
    assert result.tag == "original"
    assert result.reason == "task_not_rewritten"
    assert llm.requests == []


def test_given_task_skips_classifier_and_unknown_task_becomes_default() -> None:
    classifier = FixedClassifier()
    llm = FakeLLM([])
    result = one(pipe(llm, classifier=classifier), Example(question=Q, response="x", task="no_such_task"))
    assert result.task == "default"
    assert result.reason == "task_not_rewritten"
    assert classifier.seen == 0
    with pytest.raises(UsageError, match="no_such_task"):
        one(pipe(llm, strict=True), Example(question=Q, response="x", task="no_such_task"))


def test_unparsable_reply_is_reasked_then_original_kept() -> None:
    llm = FakeLLM(["Sure! Here it is.", "still no label", "nope"])
    result = one(pipe(llm, max_reasks=2), Example(question=Q, response=ORIGINAL))
    assert result.tag == "original"
    assert result.reason == "parse_error"
    assert len(llm.requests) == 3
    reask = llm.requests[1]
    assert reask.messages[-2] == ("assistant", "Sure! Here it is.")
    assert "Revised response:" in reask.messages[-1][1]


def test_reask_recovers() -> None:
    llm = FakeLLM(["no label", GOOD])
    result = one(pipe(llm), Example(question=Q, response=ORIGINAL))
    assert result.tag == "rewrite"
    assert result.usage.calls == 2


def test_a_reask_at_concurrency_one_is_sent_not_left_waiting() -> None:
    # The only sender ends as the re-ask is queued: the pool must start another, not count the ending one.
    llm = FakeLLM(["no label", GOOD])
    work = pipe(llm, concurrency=1).areformat_one(Example(question=Q, response=ORIGINAL))
    result = asyncio.run(asyncio.wait_for(work, 30))  # a deadlock fails here instead of hanging the suite
    assert result.tag == "rewrite"


def test_a_verify_call_at_concurrency_one_is_sent_not_left_waiting() -> None:
    judge = FakeLLM(["VERDICT: yes\nREASON: same facts."])
    p = pipe(FakeLLM([GOOD]), concurrency=1, verifier=realign.LLMVerifier(judge))
    result = asyncio.run(asyncio.wait_for(p.areformat_one(Example(question=Q, response=ORIGINAL)), 30))
    assert result.tag == "rewrite"


def test_a_row_whose_reask_fails_is_billed_for_the_reply_it_got() -> None:
    llm = FakeLLM(["no label", LLMError("server error", code="server_error")])
    result = one(pipe(llm), Example(question=Q, response=ORIGINAL))
    assert result.reason == "llm_error:server_error"
    assert result.usage.calls == 1  # the first reply was answered (and paid for) before the re-ask failed


def test_a_row_kept_with_llm_error_names_the_rewrite_call_and_its_error() -> None:
    llm = FakeLLM([LLMError("server error 502; retries exhausted", code="server_error")])
    result = one(pipe(llm), Example(question=Q, response=ORIGINAL))
    assert result.error == "rewrite: server error 502; retries exhausted"


def test_a_row_whose_llm_classifier_fails_names_the_classify_call() -> None:
    classifier = realign.LLMClassifier(FakeLLM([LLMError("request timed out; retries exhausted", code="timeout")]))
    result = one(pipe(FakeLLM([GOOD]), classifier=classifier), Example(question=Q, response=ORIGINAL))
    assert (result.reason, result.error) == ("llm_error:timeout", "classify: request timed out; retries exhausted")


def test_a_long_error_is_kept_to_one_short_line() -> None:
    llm = FakeLLM([LLMError("bad reply:\n" + "x" * 1000, code="invalid_response")])
    result = one(pipe(llm), Example(question=Q, response=ORIGINAL))
    assert (len(result.error or ""), "\n" in (result.error or "")) == (300, False)


def test_a_row_whose_topup_fails_is_billed_for_the_reply_it_got() -> None:
    # A server that ignores n answers one choice; the top-up call for the second fails.
    llm = FakeLLM([Completion([Choice(GOOD)], Usage(calls=1)), LLMError("server error", code="server_error")])
    result = one(pipe(llm, n=2), Example(question=Q, response=ORIGINAL))
    assert result.reason == "llm_error:server_error"
    assert result.usage.calls == 1


def test_a_row_whose_second_judgement_fails_is_billed_for_both_answered_calls() -> None:
    llm = FakeLLM([Completion([Choice(GOOD), Choice(GOOD + " Done.")], Usage(calls=1))])
    judge = FakeLLM(["VERDICT: yes\nREASON: same facts.", LLMError("server error", code="server_error")])
    p = pipe(llm, n=2, verifier=realign.LLMVerifier(judge))
    result = one(p, Example(question=Q, response=ORIGINAL))
    assert result.reason == "llm_error:server_error"
    assert result.usage.calls == 2  # the rewrite and the judgement that came back


def test_a_judgement_that_came_back_is_counted_when_another_fails() -> None:
    llm = FakeLLM([Completion([Choice(GOOD), Choice(GOOD + " Done.")], Usage(calls=1))])
    judge = FakeLLM(["VERDICT: yes\nREASON: same facts.", LLMError("server error", code="server_error")])
    p = pipe(llm, n=2, verifier=realign.LLMVerifier(judge))
    one(p, Example(question=Q, response=ORIGINAL))
    assert p.verified.judged == 1


def test_an_llm_raising_a_cancellation_of_its_own_does_not_leave_rows_waiting() -> None:
    # The only sender ends with the first request's CancelledError: the first row is cancelled with it,
    # and the second row's request, queued behind it, still needs a sender.
    llm = FakeLLM([asyncio.CancelledError(), GOOD])
    p = pipe(llm, concurrency=1)

    async def both() -> list[realign.Result | BaseException]:
        rows = (Example(question=Q, response=ORIGINAL), Example(question=Q + " Twice?", response=ORIGINAL))
        return await asyncio.gather(*(p.areformat_one(row) for row in rows), return_exceptions=True)

    first, second = asyncio.run(asyncio.wait_for(both(), 30))  # a deadlock fails here instead of hanging
    assert isinstance(first, asyncio.CancelledError)
    assert isinstance(second, realign.Result)
    assert second.tag == "rewrite"


def test_truncated_reply_is_a_failed_candidate() -> None:
    llm = FakeLLM([Choice(GOOD, "length")])
    result = one(pipe(llm), Example(question=Q, response=ORIGINAL))
    assert result.tag == "original"
    assert result.reason == "truncated"
    assert len(llm.requests) == 1


def test_a_parse_error_says_what_the_parser_found_in_the_last_reply() -> None:
    llm = FakeLLM(["Sure! Here it is.", "Reasoning: r\nRevised response:\n   "])
    result = one(pipe(llm, max_reasks=1), Example(question=Q, response=ORIGINAL))
    assert result.candidates[0].detail == "empty revised response"


@pytest.mark.parametrize("reply", ["", "  \n "])
def test_an_empty_reply_is_said_to_be_empty_not_to_lack_the_label(reply: str) -> None:
    llm = FakeLLM([reply])
    result = one(pipe(llm, max_reasks=0), Example(question=Q, response=ORIGINAL))
    assert result.candidates[0].detail == "empty reply"


def test_a_truncated_reply_says_it_hit_the_token_limit() -> None:
    llm = FakeLLM([Choice(GOOD, "length")])
    result = one(pipe(llm, max_tokens=700), Example(question=Q, response=ORIGINAL))
    assert result.candidates[0].detail == "cut off at the token limit (max_tokens 700)"


def test_length_filter_keeps_original() -> None:
    llm = FakeLLM(["Reasoning: r\nRevised response:\n#### 72"])
    result = one(pipe(llm), Example(question=Q, response=ORIGINAL * 3))
    assert result.tag == "original"
    assert result.reason == "filter:length"


def test_code_presence_filter_keeps_original() -> None:
    original = "Use this:\n```python\ndef add(a, b):\n    return a + b\n```\nIt adds two numbers together for you."
    llm = FakeLLM(
        [
            "Reasoning: r\nRevised response:\nDefine a function add that returns the sum of a and b, "
            "which adds two numbers together for you."
        ]
    )
    result = one(
        pipe(llm, classifier=FixedClassifier("text_to_code_translation")),
        Example(question="Write add in Python", response=original),
    )
    assert result.reason == "filter:code_presence"


def test_n_candidates_longest_passing_wins_and_ollama_is_topped_up() -> None:
    short = "Reasoning: r\nRevised response:\n" + ORIGINAL
    llm = FakeLLM(lambda req: Completion([Choice(short if len(llm.requests) == 1 else GOOD)]))
    result = one(pipe(llm, n=3), Example(question=Q, response=ORIGINAL))
    assert [r.n for r in llm.requests] == [3, 2, 1]  # the server ignored n: topped up, bounded
    assert len(result.candidates) == 3
    assert result.response.startswith("We need")


def test_model_returning_the_original_is_kept_as_unchanged() -> None:
    same = "Reasoning: it already fits.\nRevised response:\n" + ORIGINAL
    result = one(pipe(FakeLLM([same])), Example(question=Q, response=ORIGINAL))
    assert result.tag == "original"
    assert result.reason == "unchanged"


def test_llm_error_keeps_original_and_fatal_stops() -> None:
    result = one(pipe(FakeLLM([LLMError("x", code="server_error")])), Example(question=Q, response=ORIGINAL))
    assert result.reason == "llm_error:server_error"
    with pytest.raises(FatalLLMError):
        one(pipe(FakeLLM([FatalLLMError("bad key", code="auth")])), Example(question=Q, response=ORIGINAL))


def test_empty_response_is_kept_with_reason() -> None:
    llm = FakeLLM([])
    assert one(pipe(llm), Example(question=Q, response="  \n")).reason == "empty_response"
    assert llm.requests == []


def test_given_evidence_reaches_the_prompt() -> None:
    llm = FakeLLM([GOOD])
    ev = [Evidence(text="Paris has been the capital since 508.", title="Paris", url="https://w.org/Paris")]
    result = one(
        pipe(llm, classifier=FixedClassifier("open_qa")),
        Example(question="Capital of France?", response="Paris.", evidence=ev),
    )
    assert "Paris has been the capital since 508." in llm.requests[0].messages[1][1]
    assert result.evidence == ev
    assert result.retrieval == "given"


def test_user_check_rejects() -> None:
    def no_hashes(item: realign.CheckInput) -> bool:
        return "####" not in item.rewrite

    result = one(pipe(FakeLLM([GOOD]), checks=[no_hashes]), Example(question=Q, response=ORIGINAL))
    assert result.reason == "filter:no_hashes"
    assert result.candidates[0].rejected == "filter:no_hashes"


def test_cache_makes_a_rerun_free(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "c.sqlite")
    first = FakeLLM([GOOD])
    one(pipe(first, cache=cache), Example(question=Q, response=ORIGINAL))
    second = FakeLLM([])
    result = one(pipe(second, cache=cache), Example(question=Q, response=ORIGINAL))
    assert result.tag == "rewrite"
    assert second.requests == []
    assert result.usage.calls == 0
    other_model = FakeLLM([GOOD], identity="fake|other")
    one(pipe(other_model, cache=cache), Example(question=Q, response=ORIGINAL))
    assert len(other_model.requests) == 1  # the model is part of the key


class GatedLLM(FakeLLM):
    """Holds every request until ``release`` is set, so that identical rows are all in flight at once."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.release = asyncio.Event()

    async def complete(self, request: realign.ChatRequest) -> Completion:
        self.requests.append(request)
        await self.release.wait()
        self.requests.pop()  # FakeLLM's own complete records it again
        return await super().complete(request)


def identical_rows_at_once(llm: GatedLLM, cache: SQLiteCache, copies: int) -> list[realign.Result]:
    p = pipe(llm, cache=cache)

    async def run() -> list[realign.Result]:
        rows = asyncio.gather(*(p.areformat_one(Example(question=Q, response=ORIGINAL)) for _ in range(copies)))
        for _ in range(20):  # every row reaches its request
            await asyncio.sleep(0)
        llm.release.set()
        return list(await rows)

    return asyncio.run(run())


def test_identical_rows_in_flight_at_once_send_one_request(tmp_path: Path) -> None:
    llm = GatedLLM(lambda request: GOOD)
    results = identical_rows_at_once(llm, SQLiteCache(tmp_path / "c.sqlite"), 3)
    assert len(llm.requests) == 1
    assert [r.tag for r in results] == ["rewrite"] * 3


def test_a_row_that_waited_for_an_identical_rows_answer_counts_it_as_a_cache_hit(tmp_path: Path) -> None:
    llm = GatedLLM(lambda request: GOOD)
    results = identical_rows_at_once(llm, SQLiteCache(tmp_path / "c.sqlite"), 3)
    assert [r.usage.calls for r in results] == [1, 0, 0]


def test_identical_rows_share_a_failure_of_their_one_request(tmp_path: Path) -> None:
    llm = GatedLLM([LLMError("server error 500; retries exhausted", code="server_error")] * 3)
    results = identical_rows_at_once(llm, SQLiteCache(tmp_path / "c.sqlite"), 2)
    assert [r.reason for r in results] == ["llm_error:server_error"] * 2


def test_stream_keeps_order_and_bounds_concurrency() -> None:
    in_flight = peak = 0

    class SlowLLM(FakeLLM):
        async def complete(self, request: realign.ChatRequest) -> Completion:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.001 * (len(request.messages[1][1]) % 5))
            in_flight -= 1
            return await super().complete(request)

    def reply(req: realign.ChatRequest) -> str:
        answer = req.messages[1][1].split("<response>\n")[1].split("\n</response>")[0]
        return f"Reasoning: r\nRevised response:\n**{answer}** is the answer to this question."

    p = pipe(SlowLLM(reply), concurrency=3)
    examples = [Example(question=f"q{i}", response=f"a{i}") for i in range(40)]

    async def collect() -> list[realign.Result]:
        return [r async for r in p.astream(examples)]

    results = asyncio.run(collect())
    assert [r.original for r in results] == [f"a{i}" for i in range(40)]
    assert peak == 3  # bounded, and really concurrent


def test_reformat_api_single_and_list() -> None:
    llm = FakeLLM([GOOD, GOOD])
    r = realign.reformat(Q, ORIGINAL, task="math_puzzles", llm=llm, classifier=FixedClassifier())
    assert isinstance(r, realign.Result)
    assert r.tag == "rewrite"
    rs = realign.reformat(
        [
            {"question": Q, "response": ORIGINAL, "task": "math_puzzles"},
            Example(question="hi", response="hello", task="roleplay"),
        ],
        llm=llm,
        classifier=FixedClassifier(),
    )
    assert [x.tag for x in rs] == ["rewrite", "original"]


def test_reformat_works_inside_a_running_loop() -> None:
    async def notebook_cell() -> realign.Result:
        return realign.reformat(Q, ORIGINAL, task="math_puzzles", llm=FakeLLM([GOOD]), classifier=FixedClassifier())

    assert asyncio.run(notebook_cell()).tag == "rewrite"


def test_areformat_and_bad_arguments() -> None:
    r = asyncio.run(
        realign.areformat(Q, ORIGINAL, task="math_puzzles", llm=FakeLLM([GOOD]), classifier=FixedClassifier())
    )
    assert r.tag == "rewrite"
    with pytest.raises(UsageError):
        realign.reformat(Q)  # type: ignore[call-overload]
    with pytest.raises(UsageError):
        realign.reformat([{"question": "q"}], llm=FakeLLM())


def test_search_results_are_cached_with_the_llm_cache(tmp_path: Path) -> None:
    from realign import FakeSearch
    from realign._llm.cache import CachedSearch

    fake = FakeSearch({"Capital of France?": [Evidence(text="Paris is the capital.", title="Paris")]})
    cache = SQLiteCache(tmp_path / "c.sqlite")
    cached = CachedSearch(fake, cache, "fake")
    p = pipe(FakeLLM([GOOD, GOOD]), classifier=FixedClassifier("open_qa"), search=cached)
    first = one(p, Example(question="Capital of France?", response="Paris."))
    second = one(p, Example(question="Capital of France?", response="Paris."))
    assert first.evidence == second.evidence == [Evidence(text="Paris is the capital.", title="Paris")]
    assert fake.queries == ["Capital of France?"]
    assert first.retrieval == "ok"


def test_search_failure_goes_on_without_evidence_and_fatal_stops() -> None:
    from realign import FakeSearch, FatalSearchError, SearchError

    def failing(query: str) -> list[Evidence]:
        raise SearchError("timeout after 4 attempts")

    p = pipe(FakeLLM([GOOD]), classifier=FixedClassifier("open_qa"), search=FakeSearch(failing))
    result = one(p, Example(question="Who?", response="Him, the one who did it."))
    assert result.retrieval == "failed"
    assert result.evidence == []

    def bad_key(query: str) -> list[Evidence]:
        raise FatalSearchError("serper: bad key")

    with pytest.raises(FatalSearchError):
        one(
            pipe(FakeLLM([GOOD]), classifier=FixedClassifier("open_qa"), search=FakeSearch(bad_key)),
            Example(question="Who?", response="Him."),
        )


def test_only_retrieval_tasks_search() -> None:
    from realign import FakeSearch

    fake = FakeSearch({})
    one(pipe(FakeLLM([GOOD]), search=fake), Example(question=Q, response=ORIGINAL))  # math_puzzles
    assert fake.queries == []
    one(pipe(FakeLLM([GOOD]), search=fake, retrieval_tasks=["math_puzzles"]), Example(question=Q, response=ORIGINAL))
    assert fake.queries == [Q]


def test_a_pipeline_is_reusable_across_sync_calls() -> None:
    p = pipe(FakeLLM([GOOD, GOOD]))
    for _ in range(2):
        assert realign.reformat(Q, ORIGINAL, task="math_puzzles", pipeline=p).tag == "rewrite"


def test_a_failing_classifier_keeps_the_row_and_the_run_goes_on() -> None:
    class Flaky:
        async def classify(self, instruction: str) -> TaskPrediction:
            if instruction == "bad":
                raise LLMError("server down", code="server_error")
            return TaskPrediction(task="math_puzzles", confidence=1.0, source="t")

        async def aclose(self) -> None:
            pass

    p = pipe(FakeLLM([GOOD]), classifier=Flaky())
    results = realign.reformat(
        [{"question": "bad", "response": "x"}, {"question": Q, "response": ORIGINAL}], pipeline=p
    )
    assert [r.reason for r in results] == ["llm_error:server_error", None]


def test_misspelled_option_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="temprature"):
        realign.reformat(Q, ORIGINAL, llm=FakeLLM([GOOD]), temprature=0.2)


def test_an_unknown_task_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    p = pipe(FakeLLM([]))
    for _ in range(3):
        assert one(p, Example(question=Q, response="x", task="no_such_task")).task == "default"
    assert caplog.text.count("unknown task 'no_such_task'") == 1


CACHED_REPLY = "Reasoning: r\nRevised response:\n2 + 2 = 4, so the answer is **4**."


def test_a_pipeline_caches_in_the_user_cache_folder_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import realign

    folder = tmp_path / "user-cache"
    monkeypatch.setenv("REALIGN_CACHE", str(folder / "cache.sqlite"))
    first = realign.FakeLLM([CACHED_REPLY])
    realign.reformat("What is 2 + 2?", "4", task="open_qa", llm=first)
    again = realign.FakeLLM([CACHED_REPLY])
    result = realign.reformat("What is 2 + 2?", "4", task="open_qa", llm=again)
    assert (folder / "cache.sqlite").exists()
    assert again.requests == []  # served from the cache: a re-run notebook cell pays nothing
    assert result.tag == "rewrite"


def test_cache_false_disables_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import realign

    monkeypatch.setenv("REALIGN_CACHE", str(tmp_path / "c.sqlite"))
    realign.reformat("What is 2 + 2?", "4", task="open_qa", llm=realign.FakeLLM([CACHED_REPLY]), cache=False)
    again = realign.FakeLLM([CACHED_REPLY])
    realign.reformat("What is 2 + 2?", "4", task="open_qa", llm=again, cache=False)
    assert len(again.requests) == 1
    assert not (tmp_path / "c.sqlite").exists()
