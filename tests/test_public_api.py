from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Any

import pytest

import realign


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in dir(realign) if not name.startswith("_")}
    modules = {name for name in public if inspect.ismodule(getattr(realign, name))}
    assert set(realign.__all__) - {"__version__"} == public - modules
    assert all(not name.startswith("_") or name == "__version__" for name in realign.__all__)


def test_every_public_name_is_documented() -> None:
    for name in realign.__all__:
        obj = getattr(realign, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), name


def test_one_exception_tree() -> None:
    for name in (
        "UsageError",
        "InputError",
        "TemplateError",
        "LLMError",
        "FatalLLMError",
        "SearchError",
        "FatalSearchError",
    ):
        assert issubclass(getattr(realign, name), realign.RealignError)


def test_typed_package_ships_its_marker_and_templates() -> None:
    package = Path(realign.__file__).parent
    assert (package / "py.typed").is_file()
    from realign._templates import builtin_dir

    assert len(list(builtin_dir("criteria").glob("*.j2"))) == 35
    assert (builtin_dir("prompts") / "rewrite_system.j2").is_file()


def _classes_in(hint: object, found: set[type]) -> None:
    if isinstance(hint, type):
        found.add(hint)
    origin = typing.get_origin(hint)
    if isinstance(origin, type):
        found.add(origin)
    for arg in typing.get_args(hint):
        _classes_in(arg, found)


def _public_signatures() -> dict[str, object]:
    """Every public function, and every public method, property and constructor of a public class."""
    found: dict[str, object] = {}
    for name in realign.__all__:
        obj = getattr(realign, name)
        if inspect.isfunction(obj):
            found[name] = obj
        elif inspect.isclass(obj) and obj.__module__.startswith("realign"):
            found[name] = obj  # its fields (dataclasses, pydantic models)
            for member, value in vars(obj).items():
                if member.startswith("_") and member != "__init__":
                    continue
                function = value.fget if isinstance(value, property) else value
                if inspect.isfunction(function):
                    found[f"{name}.{member}"] = function
    return found


def test_public_signatures_use_only_public_types() -> None:
    private = set()
    for label, obj in _public_signatures().items():
        found: set[type] = set()
        for hint in typing.get_type_hints(obj).values():
            _classes_in(hint, found)
        for cls in found:
            if cls.__module__.startswith("realign") and getattr(realign, cls.__name__, None) is not cls:
                private.add(f"{label} uses {cls.__module__}.{cls.__qualname__}")
    assert sorted(private) == []


def test_the_signature_walk_sees_types_inside_unions_and_generics() -> None:
    from realign._llm.ratelimit import RateLimiter

    found: set[type] = set()
    _classes_in(list[RateLimiter | None] | dict[str, realign.Usage], found)
    assert {RateLimiter, realign.Usage} <= found


SHAREGPT_ROW = {
    "id": 1,
    "conversations": [{"from": "human", "value": "What is 2 + 2?"}, {"from": "gpt", "value": "4"}],
}


def test_a_dataset_row_passed_as_an_example_names_its_shape() -> None:
    with pytest.raises(realign.UsageError, match="row of shape sharegpt is not an example"):
        realign.reformat([SHAREGPT_ROW], llm=realign.FakeLLM(), cache=False)


def test_a_dataset_row_passed_as_an_example_says_what_takes_rows() -> None:
    with pytest.raises(realign.UsageError) as info:
        realign.reformat([SHAREGPT_ROW], llm=realign.FakeLLM(), cache=False)
    assert "datasets.Dataset.from_list(rows)" in str(info.value)


NOT_EXAMPLES = [
    ({"question": "q"}, "response: Field required"),
    ({"question": "q", "response": "r", "x": 1}, "x: Extra"),
]


@pytest.mark.parametrize(("example", "said"), NOT_EXAMPLES)
def test_a_dict_that_is_not_an_example_says_what_is_wrong(example: dict[str, Any], said: str) -> None:
    with pytest.raises(realign.UsageError, match=said):
        realign.reformat([example], llm=realign.FakeLLM(), cache=False)


@pytest.mark.parametrize(("example", "said"), NOT_EXAMPLES)
def test_a_dict_that_is_not_an_example_is_a_one_line_error(example: dict[str, Any], said: str) -> None:
    with pytest.raises(realign.UsageError) as info:
        realign.reformat([example], llm=realign.FakeLLM(), cache=False)
    assert len(str(info.value).splitlines()) == 1


# A notebook gets its data back even when some rows failed: it is told so, once ---------------------------------

GOOD_REPLY = "Reasoning: a heading.\nRevised response:\n**Answer**\n\nWater boils at 100 degrees Celsius."


def _failing_llm() -> realign.FakeLLM:
    def reply(request: realign.ChatRequest) -> str:
        if "Faust" in request.messages[-1][1]:
            raise ConnectionError("replica went away")
        return GOOD_REPLY

    return realign.FakeLLM(reply)


FAILING_ROWS = [
    {"question": "Who wrote Faust?", "response": "Goethe wrote Faust.", "task": "open_qa"},
    {"question": "When does water boil?", "response": "Water boils at 100 degrees Celsius.", "task": "open_qa"},
]


def test_a_list_with_failed_rows_warns_how_many(caplog: pytest.LogCaptureFixture) -> None:
    results = realign.reformat(FAILING_ROWS, llm=_failing_llm(), cache=False)
    assert [r.reason for r in results] == ["llm_error:ConnectionError", None]
    assert "1 of 2 rows ended with llm_error" in caplog.text


def test_a_list_without_failed_rows_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    realign.reformat(FAILING_ROWS[1:], llm=_failing_llm(), cache=False)
    assert "llm_error" not in caplog.text


def test_a_file_with_failed_rows_warns_how_many(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(
            f'{{"instruction": "{r["question"]}", "input": "", "output": "{r["response"]}", "category": "open_qa"}}\n'
            for r in FAILING_ROWS
        ),
        encoding="utf-8",
    )
    pipeline = realign.Pipeline(_failing_llm(), cache=False)
    stats = realign.reformat_file(source, tmp_path / "out.jsonl", pipeline=pipeline)
    assert stats.undecided() == "1 of 2 rows"
    assert "1 of 2 rows ended with llm_error" in caplog.text


def test_a_dataset_with_failed_rows_warns_how_many(caplog: pytest.LogCaptureFixture) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [{"instruction": r["question"], "output": r["response"], "category": "open_qa"} for r in FAILING_ROWS]
    out = realign.reformat(datasets.Dataset.from_list(rows), llm=_failing_llm(), cache=False)
    assert out[0]["realign"]["reason"] == "llm_error:ConnectionError"
    assert "1 of 2 rows ended with llm_error" in caplog.text


def test_a_failed_turn_of_a_conversation_is_counted_as_a_turn_not_as_zero_rows() -> None:
    stats = realign.RunStats()
    failed = realign.TurnOutcome(turn=1, task="open_qa", tag="original", reason="llm_error:server_error")
    done = realign.TurnOutcome(turn=3, task="open_qa", tag="rewrite")
    stats.add(realign.Record(task="open_qa", tag="rewrite", turns=[failed, done]), realign.Usage())
    stats.add(realign.Record(task="open_qa", tag="rewrite"), realign.Usage())
    assert stats.undecided() == "1 turn of conversations"


def test_a_misspelled_option_is_one_clean_line() -> None:
    with pytest.raises(realign.UsageError) as refused:
        realign.reformat([], llm=realign.FakeLLM([]), cache=False, temprature=0.2)
    # (newer Pythons add "Did you mean ...?" after it)
    assert str(refused.value).startswith("reformat(): got an unexpected keyword argument 'temprature'")
