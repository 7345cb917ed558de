"""``realign.reformat()`` and ``realign.areformat()``: the one-call entry points."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

from pydantic import ValidationError

from ._exceptions import UsageError
from ._io.files import fit_row
from ._io.shapes import detect_shape
from ._jobs.distributed import is_ray_dataset, ray_reformat_dataset
from ._jobs.job import RunStats
from ._jobs.job import reformat_file as reformat_file_async
from ._models import Evidence, Example, Result
from ._pipeline import Pipeline
from ._types import LLM
from ._verify import LLMVerifier, judge_spec

log = logging.getLogger("realign")

__all__ = ["areformat", "areformat_file", "reformat", "reformat_file"]

T = TypeVar("T")
ExampleLike = Example | Mapping[str, Any]


def _example(item: ExampleLike) -> Example:
    if isinstance(item, Example):
        return item
    if isinstance(item, Mapping):
        row = dict(item)
        try:
            return Example.model_validate(row)
        except ValueError as exc:
            shape = detect_shape(row)
            if shape is not None:  # a dataset row (ShareGPT, OpenAI messages...), the way a notebook loads them
                raise UsageError(
                    f"a row of shape {shape.name} is not an example (a dict with 'question' and 'response'): "
                    "reformat whole rows with realign.reformat(datasets.Dataset.from_list(rows)) or "
                    "realign.reformat_file"
                ) from exc
            # One line, not pydantic's report of every field (with links).
            problems = exc.errors() if isinstance(exc, ValidationError) else []
            what = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in problems[:3])
            raise UsageError(
                f"not an example (a dict with 'question' and 'response'): {what or str(exc).splitlines()[0]}"
            ) from exc
    raise UsageError(f"expected an Example or a mapping, got {type(item).__name__}")


def _examples(
    first: str | ExampleLike | Sequence[ExampleLike],
    response: str | None,
    task: str | None,
    evidence: Sequence[Evidence] | None,
) -> tuple[list[Example], bool]:
    """Normalise the accepted call shapes to a list of examples, and whether one was given."""
    if isinstance(first, str):
        if response is None:
            raise UsageError("reformat(question, response): the response is missing")
        ev = list(evidence) if evidence is not None else None
        return [Example(question=first, response=response, task=task, evidence=ev)], True
    if response is not None or task is not None or evidence is not None:
        raise UsageError("response=, task= and evidence= go with reformat(question, response) only")
    if isinstance(first, (Example, Mapping)):
        return [_example(first)], True
    return [_example(item) for item in first], False


def _pipeline(pipeline: Pipeline | None, llm: LLM | None, model: str | None, options: dict[str, Any]) -> Pipeline:
    verify = options.pop("verify", None)
    if pipeline is not None:
        if llm is not None or model is not None or options or verify not in (None, False):
            raise UsageError("pass either pipeline= or the pipeline's own arguments, not both")
        return pipeline
    client_options: dict[str, Any] = {}
    if llm is None:
        from ._llm.defaults import DEFAULT_MODEL
        from ._llm.openai_chat import OpenAIChat  # imported late: it imports the openai SDK

        client_options = {
            key: options.pop(key) for key in ("base_url", "api_key", "timeout", "max_retries") if key in options
        }
        llm = OpenAIChat(model or DEFAULT_MODEL, **client_options)
    if verify not in (None, False):
        if "verifier" in options:
            raise UsageError("pass verify= or verifier=, not both")
        options["verifier"] = _verifier(verify, llm, client_options)
    try:
        return Pipeline(llm, **options)
    except TypeError as exc:  # a misspelled option
        raise UsageError(f"reformat(): {exc}".replace("Pipeline.__init__() ", "")) from exc


def _verifier(verify: Any, llm: LLM, client_options: dict[str, Any]) -> LLMVerifier:
    """``verify=True``: the rewriting model judges; ``verify="model"``: that model, on the same endpoint(s)."""
    model = judge_spec(verify, llm)
    if model is True or model is None:
        return LLMVerifier(llm)
    from ._llm.openai_chat import OpenAIChat

    options = {**client_options, "base_url": getattr(llm, "base_urls", None)}
    return LLMVerifier(OpenAIChat(model, **options))


@overload
async def areformat(first: str, response: str, **kwargs: Any) -> Result: ...
@overload
async def areformat(first: ExampleLike, response: None = None, **kwargs: Any) -> Result: ...
@overload
async def areformat(first: Sequence[ExampleLike], response: None = None, **kwargs: Any) -> list[Result]: ...


async def areformat(
    first: str | ExampleLike | Sequence[ExampleLike] | Any,
    response: str | None = None,
    *,
    task: str | None = None,
    evidence: Sequence[Evidence] | None = None,
    pipeline: Pipeline | None = None,
    llm: LLM | None = None,
    model: str | None = None,
    keep_rejected: bool = True,
    from_original: bool = False,
    **options: Any,
) -> Result | list[Result] | Any:
    """Async :func:`reformat`."""
    if is_ray_dataset(first):
        return _reformat_ray(first, response, task, evidence, pipeline, llm, model, options)
    dataset = _is_hf_dataset(first)
    if dataset and (response is not None or task is not None or evidence is not None):
        raise UsageError("response=, task= and evidence= go with reformat(question, response) only")
    if not dataset and (not keep_rejected or from_original):
        raise UsageError(
            "keep_rejected= and from_original= go with a dataset or reformat_file(); "
            "a Result keeps every candidate in .candidates"
        )
    examples, single = ([], False) if dataset else _examples(first, response, task, evidence)
    own = pipeline is None
    pipe = _pipeline(pipeline, llm, model, options)
    try:
        if dataset:
            return await _reformat_dataset(first, pipe, keep_rejected=keep_rejected, from_original=from_original)
        results = [r async for r in pipe.astream(examples)]
        if not single:
            failed = sum(1 for r in results if (r.reason or "").startswith("llm_error"))
            _warn_undecided(f"{failed} of {len(results)} rows" if failed else None, pipe)
    finally:
        if own and llm is None and pipe.llm is not None:
            # We built this client, so we close it; the user's own collaborators stay open.
            await pipe.llm.aclose()
        if own and isinstance(pipe.verifier, LLMVerifier) and pipe.verifier.llm not in (llm, pipe.llm):
            await pipe.verifier.aclose()  # built here from verify= (a judge sharing the user's llm is theirs)
    return results[0] if single else results


@overload
def reformat(first: str, response: str, **kwargs: Any) -> Result: ...
@overload
def reformat(first: ExampleLike, response: None = None, **kwargs: Any) -> Result: ...
@overload
def reformat(first: Sequence[ExampleLike], response: None = None, **kwargs: Any) -> list[Result]: ...


def reformat(
    first: str | ExampleLike | Sequence[ExampleLike] | Any,
    response: str | None = None,
    **kwargs: Any,
) -> Result | list[Result] | Any:
    """Reformat one example or a list of them.

    ``reformat(question, response, task=None, evidence=None)`` returns one :class:`Result`;
    ``reformat(example)`` (an :class:`Example` or a dict with ``question``/``response``) too;
    ``reformat([...])`` returns a list in the same order; a Hugging Face ``datasets.Dataset`` of any
    supported row shape gives back a ``Dataset`` of the same rows with a ``realign`` column.
    Pass ``pipeline=`` to reuse a configured :class:`Pipeline`, or its arguments (``llm=``,
    ``model=``, ``base_url=``, ``timeout=``, ``max_retries=``, ``classifier=``, ``search=``,
    ``criteria=``, ``checks=``, ``n=``, ...) to build one for this call. ``verify=True`` asks the same
    model, after the checks, whether each rewrite keeps every fact and the final answer of the original
    (``verify="gpt-4o-mini"``: another model on the same endpoint); a "no" keeps the original with
    ``filter:verify``. Off by default: it costs one more (short) call per accepted candidate. With it,
    ``refer=True`` refers a candidate refused only by the soft checks (:data:`~realign.REFERABLE_CHECKS`) to the
    judge instead: a yes accepts it, recording the checks it overruled in ``overruled``.

    A ``ray.data.Dataset`` gives back a lazy ``ray.data.Dataset`` of the same rows with a ``realign``
    column (JSON text), reformatted by an actor pool of ``actors=`` (default 2) workers on the Ray
    cluster, each building its own pipeline from the arguments given here (``pip install "realign[ray]"``).
    """
    if is_ray_dataset(first):
        options = dict(kwargs)
        task, evidence = options.pop("task", None), options.pop("evidence", None)
        pipeline, llm, model = options.pop("pipeline", None), options.pop("llm", None), options.pop("model", None)
        return _reformat_ray(first, response, task, evidence, pipeline, llm, model, options)
    return _run(areformat(first, response, **kwargs))  # type: ignore[arg-type]


def _reformat_ray(
    dataset: Any,
    response: str | None,
    task: str | None,
    evidence: Sequence[Evidence] | None,
    pipeline: Pipeline | None,
    llm: LLM | None,
    model: str | None,
    options: dict[str, Any],
) -> Any:
    if response is not None or task is not None or evidence is not None:
        raise UsageError("response=, task= and evidence= go with reformat(question, response) only")
    if options.get("verifier") is not None:
        raise UsageError(
            "a Ray Dataset's workers build their own verifier: pass verify=True or verify='model' instead of verifier="
        )
    if pipeline is not None:
        raise UsageError(
            "a Ray Dataset is reformatted by workers that each build their own pipeline: "
            "pass its arguments (llm=, model=, base_url=, concurrency=, ...) instead of pipeline="
        )
    return ray_reformat_dataset(dataset, llm=llm, model=model, **options)


def _is_hf_dataset(obj: Any) -> bool:
    # Duck-typed so that `datasets` stays an optional extra.
    return hasattr(obj, "column_names") and hasattr(obj, "to_list") and hasattr(type(obj), "from_list")


async def _reformat_dataset(dataset: Any, pipeline: Pipeline, *, keep_rejected: bool, from_original: bool) -> Any:
    from ._jobs.job import process_rows

    stats = RunStats()
    rows = process_rows(
        pipeline,
        enumerate(dataset.to_list(), 1),
        source="dataset",
        keep_rejected=keep_rejected,
        from_original=from_original,
        stats=stats,
    )
    done = [row async for row in rows]
    _warn_undecided(stats.undecided(), pipeline)
    try:
        out = type(dataset).from_list(done)
    except ValueError:  # pyarrow's ArrowInvalid: a rewritten list of text parts came back as a string
        schema = dataset.features.arrow_schema
        out = type(dataset).from_list([fit_row(row, schema) for row in done])
    # from_list infers each column's type from the values (an int32 column comes back int64, a ClassLabel as
    # ints): give the input's columns their features back, so the result concatenates with the input's kin.
    features = out.features.copy()
    for name, feature in dataset.features.items():
        if name != "realign" and name in features:
            features[name] = feature
    try:
        return out.cast(features)
    except (TypeError, ValueError):  # a rewritten value no longer of its column's type (text parts -> a string)
        return out


async def areformat_file(
    source: str | Path,
    output: str | Path,
    *,
    pipeline: Pipeline,
    reclassify: bool = False,
    keep_rejected: bool = True,
    from_original: bool = False,
) -> RunStats:
    """Async :func:`reformat_file`."""
    from ._jobs.progress import Progress, count_rows, in_notebook

    # A library stays quiet, except in a notebook: there a bar shows a long run (100 rows or more) moving.
    progress = Progress(count_rows(source), None) if in_notebook() else None
    stats = await reformat_file_async(
        pipeline,
        source,
        output,
        reclassify=reclassify,
        keep_rejected=keep_rejected,
        from_original=from_original,
        progress=progress,
    )
    _warn_undecided(stats.undecided(), pipeline)
    return stats


def _warn_undecided(undecided: str | None, pipeline: Pipeline) -> None:
    """The CLI exits 3 when rows ended with llm_error; a notebook gets its data back all the same, so say it
    once: those rows kept their original, and would go into training unreformatted unless asked again."""
    if undecided is None:
        return
    again = (
        "the same call again retries only those (the others come from the cache)"
        if pipeline.cache is not None
        else "with cache=False the same call sends every request again"
    )
    log.warning("%s ended with llm_error (kept their original; see realign.reason): %s", undecided, again)


def reformat_file(
    source: str | Path,
    output: str | Path,
    *,
    pipeline: Pipeline,
    reclassify: bool = False,
    keep_rejected: bool = True,
    from_original: bool = False,
) -> RunStats:
    """Reformat every row of a dataset file (JSONL, JSON or Parquet, any supported shape) into
    ``output``: same rows, order and shape, with a ``realign`` object each. Returns the run's counts.

    ``keep_rejected=False`` writes refused candidates without their text and reasoning. A row an earlier
    run rewrote keeps its first ``realign.original``; ``from_original=True`` reformats from it instead
    of from the response it now has."""
    return _run(
        areformat_file(
            source,
            output,
            pipeline=pipeline,
            reclassify=reclassify,
            keep_rejected=keep_rejected,
            from_original=from_original,
        )
    )


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    """One event loop on a daemon thread for every sync call of the process.

    HTTP clients and semaphores belong to the loop they were first used on, so a ``Pipeline``
    reused across sync calls must always run on the same loop; running it on a thread also makes
    the sync API work where a loop is already running (Jupyter).
    """
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="realign-loop", daemon=True).start()
        return _loop


#: Seconds a sync call interrupted by Ctrl-C waits for its run to stop (its output's temporary file removed).
_STOP_WAIT = 5.0


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code."""
    stopped = threading.Event()

    async def run() -> T:
        try:
            return await coro
        finally:
            stopped.set()

    future = asyncio.run_coroutine_threadsafe(run(), _background_loop())
    try:
        return future.result()
    except BaseException:
        # Ctrl-C (KeyboardInterrupt) lands here, in the caller's thread, while the run goes on in the background
        # loop: left there, it would send (and pay for) every remaining row, and a next call with the same
        # Pipeline would queue behind it. Cancel it, and let it unwind before the caller goes on.
        if future.cancel():
            stopped.wait(_STOP_WAIT)
        raise
