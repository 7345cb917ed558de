"""The seams hold: collaborators are checked when a pipeline is built, and their own errors fail a row, not a run."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

import realign
from realign import (
    ChatRequest,
    Completion,
    Evidence,
    FakeLLM,
    FakeSearch,
    Pipeline,
    RealignError,
    SQLiteCache,
    TaskPrediction,
    UsageError,
)

ORIGINAL = "Natalia sold 48/2 = 24 clips in May.\nShe sold 48+24 = 72 clips altogether.\n#### 72"
GOOD = (
    "Reasoning: numbered steps help.\nRevised response:\nWe need the clips sold in April and May.\n\n"
    "1. In May she sold 48 / 2 = 24 clips.\n2. Altogether she sold 48 + 24 = 72 clips.\n\n#### 72"
)


class Given:
    """A classifier that answers one task and counts closings."""

    def __init__(self, task: str = "math_puzzles") -> None:
        self.task, self.closed = task, 0

    async def classify(self, instruction: str) -> TaskPrediction:
        return TaskPrediction(task=self.task, confidence=1.0, source="given")

    async def aclose(self) -> None:
        self.closed += 1


class Minimal:
    """A custom LLM with only the two methods of the seam: no identity."""

    def __init__(self, fail_on: str = "", error: Exception | None = None) -> None:
        self.fail_on, self.error, self.closed = fail_on, error or ConnectionError("reset by peer"), 0

    async def complete(self, request: ChatRequest) -> Completion:
        if self.fail_on and self.fail_on in request.messages[-1][1]:
            raise self.error
        return Completion([realign.Choice(GOOD)])

    async def aclose(self) -> None:
        self.closed += 1


def rows(*questions: str) -> list[dict[str, str]]:
    return [{"question": q, "response": ORIGINAL} for q in questions]


# --- errors of custom collaborators fail their row ----------------------------------------------


def test_a_custom_llm_raising_connection_error_fails_only_that_row() -> None:
    pipeline = Pipeline(Minimal(fail_on="second"), classifier=Given())
    results = realign.reformat(rows("first clips?", "second clips?", "third clips?"), pipeline=pipeline)
    assert [r.reason for r in results] == [None, "llm_error:ConnectionError", None]


def test_the_failing_row_keeps_its_original() -> None:
    pipeline = Pipeline(Minimal(fail_on="second"), classifier=Given())
    result = realign.reformat(rows("second clips?"), pipeline=pipeline)[0]
    assert result.response == ORIGINAL


def test_a_custom_llm_error_is_logged_once_per_kind(caplog: pytest.LogCaptureFixture) -> None:
    pipeline = Pipeline(Minimal(fail_on="bad"), classifier=Given())
    with caplog.at_level(logging.WARNING, logger="realign"):
        realign.reformat(rows("bad 1", "bad 2", "bad 3"), pipeline=pipeline)
    assert caplog.text.count("raised ConnectionError") == 1


def test_a_custom_llm_error_message_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    pipeline = Pipeline(Minimal(fail_on="bad", error=RuntimeError("key sk-secret rejected")), classifier=Given())
    with caplog.at_level(logging.WARNING, logger="realign"):
        result = realign.reformat(rows("bad"), pipeline=pipeline)[0]
    assert result.reason == "llm_error:RuntimeError"
    assert "sk-secret" not in caplog.text


def test_a_custom_classifier_error_fails_only_that_row() -> None:
    class Flaky(Given):
        async def classify(self, instruction: str) -> TaskPrediction:
            if "bad" in instruction:
                raise TimeoutError("classifier down")
            return await super().classify(instruction)

    results = realign.reformat(rows("bad", "fine"), pipeline=Pipeline(FakeLLM([GOOD]), classifier=Flaky()))
    assert [r.reason for r in results] == ["llm_error:TimeoutError", None]


def test_a_custom_search_error_goes_on_without_evidence() -> None:
    def broken(query: str) -> list[Evidence]:
        raise OSError("no route to host")

    pipeline = Pipeline(FakeLLM([GOOD]), classifier=Given("open_qa"), search=FakeSearch(broken))
    result = realign.reformat("Who?", "Him, the one who did it.", pipeline=pipeline)
    assert (result.retrieval, result.evidence) == ("failed", [])


def test_a_realign_error_from_a_custom_llm_still_stops_the_run() -> None:
    pipeline = Pipeline(Minimal(fail_on="bad", error=realign.FatalLLMError("bad key", code="auth")), classifier=Given())
    with pytest.raises(realign.FatalLLMError):
        realign.reformat(rows("fine", "bad"), pipeline=pipeline)


# --- collaborators are checked when the pipeline is built ----------------------------------------


def test_a_search_spec_string_is_refused_when_the_pipeline_is_built() -> None:
    with pytest.raises(RealignError, match=r"search_client_from_spec\('wikipedia'\)"):
        Pipeline(FakeLLM(), search="wikipedia")  # type: ignore[arg-type]


def test_a_search_spec_string_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        Pipeline(FakeLLM(), search="wikipedia")  # type: ignore[arg-type]


def test_reformat_with_a_search_spec_string_says_what_to_use() -> None:
    with pytest.raises(UsageError, match=r"search_client_from_spec\('wikipedia'\) or a client object"):
        realign.reformat("Who?", "Him.", llm=FakeLLM(), search="wikipedia")


def test_a_model_name_given_as_llm_says_what_to_use() -> None:
    with pytest.raises(UsageError, match=r"model='gpt-4o-mini'"):
        Pipeline("gpt-4o-mini")  # type: ignore[arg-type]


def test_a_collaborator_without_aclose_is_named() -> None:
    class NoClose:
        async def complete(self, request: ChatRequest) -> Completion:
            return Completion([])

    with pytest.raises(UsageError, match="NoClose has no aclose"):
        Pipeline(NoClose())  # type: ignore[arg-type]


def test_a_classifier_without_classify_is_named() -> None:
    class Wrong:
        async def predict(self, instruction: str) -> TaskPrediction:
            raise AssertionError

        async def aclose(self) -> None:
            pass

    with pytest.raises(UsageError, match="Wrong has no classify"):
        Pipeline(FakeLLM(), classifier=Wrong())  # type: ignore[arg-type]


def test_a_check_that_is_not_callable_is_refused() -> None:
    with pytest.raises(UsageError, match=r"checks\[1\]"):
        Pipeline(FakeLLM(), classifier=Given(), checks=[lambda item: True, "length_ratio"])  # type: ignore[list-item]


# --- identity ------------------------------------------------------------------------------------


def test_an_llm_without_identity_works_without_a_cache() -> None:
    result = realign.reformat("q?", ORIGINAL, llm=Minimal(), classifier=Given())
    assert result.tag == "rewrite"


def test_an_llm_without_identity_and_a_cache_is_a_clear_usage_error(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "cache.sqlite")
    with pytest.raises(UsageError, match="Minimal has none: give it an `identity` property"):
        Pipeline(Minimal(), classifier=Given(), cache=cache)
    cache.close()


def test_an_llm_classifier_without_identity_and_a_cache_is_a_clear_usage_error(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "cache.sqlite")
    with pytest.raises(UsageError, match="identity"):
        realign.LLMClassifier(Minimal(), cache=cache)
    cache.close()


# --- closing -------------------------------------------------------------------------------------


def test_pipeline_aclose_closes_llm_classifier_and_search() -> None:
    llm, classifier = Minimal(), Given()

    class Search(FakeSearch):
        closed = 0

        async def aclose(self) -> None:
            self.closed += 1

    search = Search()
    asyncio.run(Pipeline(llm, classifier=classifier, search=search).aclose())
    assert (llm.closed, classifier.closed, search.closed) == (1, 1, 1)


def test_cached_search_closes_the_client_it_wraps(tmp_path: Path) -> None:
    from realign import CachedSearch

    class Search(FakeSearch):
        closed = 0

        async def aclose(self) -> None:
            self.closed += 1

    inner = Search()
    cache = SQLiteCache(tmp_path / "cache.sqlite")
    asyncio.run(CachedSearch(inner, cache, "fake").aclose())
    cache.close()
    assert inner.closed == 1


# --- the fakes and the classifier seams ----------------------------------------------------------


def test_fake_llm_default_reply_does_not_read_the_prompt() -> None:
    request = ChatRequest((("user", "any prompt at all, no tags"),))
    completion = asyncio.run(FakeLLM().complete(request))
    assert completion.choices[0].text == FakeLLM.DEFAULT_REPLY


def test_fake_llm_default_reply_parses_with_custom_prompts(tmp_path: Path) -> None:
    from realign._templates import builtin_dir

    for template in builtin_dir("prompts").glob("*.j2"):  # the built-in prompts, the user prompt replaced
        (tmp_path / template.name).write_text(template.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "rewrite_user.j2").write_text("Q: {{ question }}\nA: {{ response }}\n", encoding="utf-8")
    pipeline = Pipeline(FakeLLM(), classifier=Given(), prompts=realign.Prompts(tmp_path), checks=[])
    result = realign.reformat("q?", ORIGINAL, pipeline=pipeline)
    assert result.response == FakeLLM.DEFAULT_REWRITE


def test_completion_classifier_takes_any_text_model() -> None:
    class TextModel:
        identity = "local|tiny"

        async def complete_text(self, prompt: str, *, max_tokens: int, logprobs: int | None = None) -> Completion:
            return Completion([realign.Choice("math_puzzles")])

        async def aclose(self) -> None:
            pass

    prediction = asyncio.run(realign.CompletionClassifier(TextModel()).classify("How many clips?"))
    assert prediction.task == "math_puzzles"


# --- the deferred seam (the Batch API plugs in through it) --------------------------------------


class Deferring(Minimal):
    """A DeferredLLM: answers only from the cache, noting each request and the key it was handed."""

    identity = "deferring|model"

    def __init__(self) -> None:
        super().__init__()
        self.handed: list[tuple[ChatRequest, str]] = []

    async def complete(self, request: ChatRequest) -> Completion:
        raise AssertionError("a deferred LLM is handed keys, not called")

    async def complete_keyed(self, request: ChatRequest, key: str) -> Completion:
        self.handed.append((request, key))
        raise realign.LLMError("answered later", code="deferred")


def test_a_deferred_llm_is_handed_the_cache_key_instead_of_called(tmp_path: Path) -> None:
    from realign._llm.cache import request_key

    llm, cache = Deferring(), SQLiteCache(tmp_path / "cache.sqlite")
    result = realign.reformat("q?", ORIGINAL, pipeline=Pipeline(llm, classifier=Given(), cache=cache))
    cache.close()
    assert result.reason == "llm_error:deferred"
    assert [key for _, key in llm.handed] == [request_key(llm.identity, request, "") for request, _ in llm.handed]


def test_a_deferred_llm_without_a_cache_is_refused_when_the_pipeline_is_built() -> None:
    with pytest.raises(UsageError, match="Deferring answers through the response cache"):
        Pipeline(Deferring(), classifier=Given(), cache=False)


def test_closing_a_pipeline_twice_that_shares_one_client_is_safe() -> None:
    chat = realign.OpenAIChat("m", base_url="http://127.0.0.1:9/v1")  # never called
    pipeline = Pipeline(chat, classifier=realign.LLMClassifier(chat))

    async def close_twice() -> None:
        await pipeline.aclose()  # the classifier closes the same client again
        await pipeline.aclose()

    asyncio.run(close_twice())
    assert pipeline.llm is chat
