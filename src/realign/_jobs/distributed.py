"""Ray Data: the same row-by-row reformat, spread over an actor pool of a Ray cluster.

Built on Ray Data's own machinery: :meth:`ray.data.Dataset.map_batches` with an actor pool of async
callable classes (:class:`RayReformatter`). Each actor builds its own :class:`~realign.Pipeline` from a
picklable recipe (the pipeline's arguments) and runs every batch it gets through it, with the
pipeline's own concurrency; the embedded classifier and the checks run inside the actors. A row that
fails (a shape realign cannot read, an exception of a custom backend) is written with the reason and
never fails the job; in a file job, a template that fails for a row (a criteria variable that row lacks) stops
it, as a local run stops: the criteria are the user's to fix, and other rows of that task may fail the same way.
Answers go to the response cache as they arrive, so a crashed job started again
pays only for the requests that were in flight (every actor of a local cluster shares the default
cache file; on a cluster, point ``cache`` at a shared path).

``ray`` is an optional extra (``pip install "realign[ray]"``): it is imported only here, and only
when a Ray job is asked for.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import pickle
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .._exceptions import FatalLLMError, FatalSearchError, InputError, TemplateError, UsageError
from .._io.files import AtomicWriter, input_schema, read_rows, table_of
from .._llm.cache import CachedSearch, SQLiteCache
from .._llm.defaults import DEFAULT_MODEL
from .._models import ROW_ERROR, Usage
from .._pipeline import Pipeline, VerifyCounts, gather_all
from .._record import Record
from .._search.web import search_client_from_spec
from .._verify import LLMVerifier, judge_spec
from .job import RunStats, checked_rows, process_rows, shaped_rows

__all__ = [
    "DEFAULT_ACTORS",
    "RayReformatter",
    "is_ray_dataset",
    "ray_reformat_dataset",
    "ray_reformat_file",
    "start_ray",
]

log = logging.getLogger("realign")

DEFAULT_ACTORS = 2
#: CPU each actor reserves: its work is mostly waiting on the server, so four fit on two cores.
ACTOR_CPUS = 0.25
#: Blocks an actor works on at once (Ray's default for an actor is one, plus one queued).
TASKS_PER_ACTOR = 4
#: The column that carries each row, pickled, between the driver and the actors of a file job, so rows reach
#: the writer exactly as read: Arrow would add nulls for keys a row lacks, and JSON has no dates, decimals or
#: bytes (a Parquet input's), nor int32 or float32 (which the writer gives back from the input's schema).
ROW_COLUMN = "__realign_row__"
#: The model calls each row made (re-asks, top-ups, verify calls), for the summary's call count.
CALLS_COLUMN = "__realign_calls__"
#: A fatal error of a file job's actor (a bad key, an early stop, a template that failed for a row), as JSON text,
#: for the driver to raise: raised in the actor, it would reach the driver as Ray's own exception with a worker's
#: traceback, not realign's one line.
FATAL_COLUMN = "__realign_fatal__"
#: What the actor has done so far, on the first row of each block of a file job (JSON text): its id, the requests
#: its clients sent (``attempts``: retries and hedges included) and what its --verify judge did (its
#: :class:`VerifyCounts`, or null without a judge). The driver keeps each actor's latest for the summary's
#: ``LLM calls: N (M attempts)`` and ``verify:`` lines, as a local run prints them.
ACTOR_COLUMN = "__realign_actor__"


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise UsageError('Ray is not installed: pip install "realign[ray]"') from exc
    return ray


def is_ray_dataset(obj: Any) -> bool:
    """Whether ``obj`` is a ``ray.data.Dataset`` (without importing ray when it is not loaded)."""
    return type(obj).__module__.startswith("ray.data") and hasattr(obj, "map_batches")


def start_ray(address: str | None = None, *, quiet: bool = False) -> None:
    """Connect to the cluster at ``address``, or start a local one, unless already connected. ``quiet``
    (``-q``): Ray's own lines on the driver are silenced too, but for errors."""
    ray = _ray()
    if quiet:
        # Ray Data logs its plan and progress through its own logger, whatever ray.init's logging_level says.
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ray.data.DataContext.get_current().enable_progress_bars = False
    if ray.is_initialized():
        return
    level = logging.ERROR if quiet else logging.INFO  # INFO: ray.init's default
    if address:
        ray.init(address=address, log_to_driver=False, logging_level=level)
    else:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=level)


def _recipe(llm: Any, model: str | None, options: Mapping[str, Any]) -> dict[str, Any]:
    """What each actor builds its pipeline from. The API key never travels in it."""
    options = dict(options)
    base_url = options.pop("base_url", None)
    options.pop("api_key", None)
    search = options.pop("search_spec", None)
    # The client's own settings, as reformat() on one machine takes them.
    client = {key: value for key in ("timeout", "max_retries") if (value := options.pop(key, None)) is not None}
    verify = options.pop("verify", None)
    if isinstance(verify, str) and llm is not None and not _is_chat_client(llm):
        # judge_spec's advice (verifier=...) is what a Ray Dataset refuses: the workers build their own judge.
        raise UsageError(
            f"verify={verify!r} asks another model on the LLM's endpoint, and {type(llm).__qualname__} names none: "
            "on a Ray Dataset pass verify=True (your LLM judges too) or llm=realign.OpenAIChat(...) with that endpoint"
        )
    verify = judge_spec(verify, llm)
    # A misspelled option would reach the actors lazily and kill each of them at start, the user's typo lost in
    # Ray's tracebacks as an ActorDiedError: said here, as reformat() on one machine says it.
    unknown = sorted(set(options) - set(inspect.signature(Pipeline).parameters))
    if unknown:
        raise UsageError(f"reformat(): got an unexpected keyword argument {unknown[0]!r}")
    if options.get("refer") and verify is None:  # said here, before any actor starts
        raise UsageError("refer=True refers refusals to the verify judge: pass verify=True or verify='model' too")
    return {
        "llm": llm,
        "model": model or DEFAULT_MODEL,
        "base_url": base_url,
        "search": search,
        "client": client,
        "verify": verify,
        "options": options,
    }


def _is_chat_client(llm: Any) -> bool:
    from .._llm.openai_chat import OpenAIChat  # imported late: it imports the openai SDK

    return isinstance(llm, OpenAIChat)


def _judge(recipe: Mapping[str, Any], llm: Any) -> LLMVerifier | None:
    """The --verify judge an actor builds: its own LLM (``verify=True``) or another model on its endpoint(s)."""
    verify = recipe["verify"]
    if verify is None or verify is True:
        return None if verify is None else LLMVerifier(llm)
    from .._llm.openai_chat import OpenAIChat  # the openai SDK loads in the workers only

    return LLMVerifier(OpenAIChat(verify, base_url=getattr(llm, "base_urls", recipe["base_url"]), **recipe["client"]))


class RayReformatter:
    """One actor of the pool: holds a pipeline, reformats the batches Ray hands it.

    ``mode="rows"``: batches are the user's own columns, and the output is the rows with their ``realign``
    object as JSON text; ``mode="json"`` (file jobs): a column of pickled rows (:data:`ROW_COLUMN`), in and out.
    """

    def __init__(self, recipe: dict[str, Any], mode: str, source: str) -> None:
        llm = recipe["llm"]
        if llm is None:
            from .._llm.openai_chat import OpenAIChat  # the openai SDK loads in the workers only

            llm = OpenAIChat(recipe["model"], base_url=recipe["base_url"], **recipe["client"])
        options = dict(recipe["options"])
        options["verifier"] = _judge(recipe, llm)
        if recipe["search"]:  # a search client holds connections: built here, from its spec
            client = search_client_from_spec(recipe["search"])
            cache = options.get("cache")
            if client is not None and isinstance(cache, SQLiteCache):
                client = CachedSearch(client, cache, recipe["search"])
            options["search"] = client
        self.pipeline = Pipeline(llm, **options)
        self.mode, self.source = mode, source
        self.actor = uuid.uuid4().hex

    async def __call__(self, batch: Any) -> Any:

        import pyarrow as pa

        if self.mode == "json":
            lines = batch.column("line").to_pylist()
            rows = [pickle.loads(data) for data in batch.column(ROW_COLUMN).to_pylist()]
        else:
            rows = batch.to_pylist()
            lines = list(range(1, len(rows) + 1))
        try:
            done = await gather_all(*(self._one(line, row) for line, row in zip(lines, rows, strict=True)))
        except (FatalLLMError, FatalSearchError, TemplateError) as exc:
            if self.mode != "json":
                raise
            fatal = json.dumps({"kind": type(exc).__name__, "message": str(exc), "code": getattr(exc, "code", None)})
            return pa.table(
                {
                    "line": lines[:1],
                    ROW_COLUMN: pa.array([b""], pa.binary()),
                    CALLS_COLUMN: [0],
                    FATAL_COLUMN: [fatal],
                    ACTOR_COLUMN: pa.array([None], pa.string()),
                }
            )
        if self.mode == "json":
            texts = pa.array([pickle.dumps(row, protocol=pickle.HIGHEST_PROTOCOL) for row, _ in done], pa.binary())
            calls = [calls for _, calls in done]
            done_so_far: list[str | None] = [None] * len(lines)
            if lines:
                done_so_far[0] = self._done_so_far()
            return pa.table(
                {
                    "line": lines,
                    ROW_COLUMN: texts,
                    CALLS_COLUMN: calls,
                    FATAL_COLUMN: pa.nulls(len(lines), pa.string()),
                    ACTOR_COLUMN: pa.array(done_so_far, pa.string()),
                }
            )
        return pa.Table.from_pylist([_flat(row) for row, _ in done])

    def _done_so_far(self) -> str:
        """This actor's requests sent and judge counts so far: they only grow, so the driver keeps the largest it
        sees (see :data:`ACTOR_COLUMN`). The requests are counted as a local run counts them: the rewriting
        client's, plus the judge's when it has a client of its own."""
        llm = self.pipeline.llm
        judge = getattr(self.pipeline.verifier, "llm", None)
        attempts = getattr(llm, "attempts", 0) + (getattr(judge, "attempts", 0) if judge is not llm else 0)
        verify = self.pipeline.verified.to_json() if self.pipeline.verifier is not None else None
        return json.dumps({"actor": self.actor, "attempts": attempts, "verify": verify})

    async def _one(self, line: int, row: Any) -> tuple[dict[str, Any], int]:
        """The row with its ``realign`` object, and the model calls it made (the record leaves them out)."""
        stats = RunStats()
        try:
            async for out in process_rows(self.pipeline, [(line, row)], source=self.source, stats=stats):
                return out, stats.usage.calls
        except (FatalLLMError, FatalSearchError):
            raise  # a bad key or a dead endpoint: every row would fail the same way
        except TemplateError as exc:
            if self.mode == "json":
                # A file job: the user's criteria need a fix, so the job stops with exit 2 and no output, as a
                # local run does, not with this row written as undecided (exit 3).
                raise
            # A Ray Dataset: raised here, it would reach the caller wrapped in Ray's exceptions.
            log.warning("%s line %s: %s", self.source, line, exc)
            return _failed(row, f"{ROW_ERROR}{type(exc).__name__}"), 0
        except InputError as exc:
            log.warning("%s", exc)
            return _failed(row, "invalid_row"), 0
        except Exception as exc:  # one row's failure never fails the job
            log.warning("%s line %s: %s: %s", self.source, line, type(exc).__name__, exc)
            return _failed(row, f"{ROW_ERROR}{type(exc).__name__}"), 0
        return _failed(row, "invalid_row"), 0


def _failed(row: Any, reason: str) -> dict[str, Any]:
    record = Record(tag="original", reason=reason)
    base = dict(row) if isinstance(row, dict) else {"row": row}
    return {**base, "realign": record.to_json()}


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    # The realign object's fields vary from row to row; as JSON text it fits one Arrow column (as in
    # realign's own Parquet files).
    return {**row, "realign": json.dumps(row["realign"], ensure_ascii=False)}


def _map(dataset: Any, recipe: dict[str, Any], mode: str, source: str, actors: int, batch_size: int) -> Any:
    ray = _ray()
    env = {"OPENAI_API_KEY": os.environ["OPENAI_API_KEY"]} if os.environ.get("OPENAI_API_KEY") else {}
    # Several blocks at once on the actor's event loop: one block's slow rows do not idle the pipeline. Recent
    # Ray (2.60 measured) takes that as the pool's max_concurrent_calls_per_actor and deprecates max_concurrency
    # among its remote arguments; older releases (pyproject allows 2.40) know only the latter.
    strategy = ray.data.ActorPoolStrategy
    if "max_concurrent_calls_per_actor" in inspect.signature(strategy).parameters:
        compute, concurrency = strategy(size=actors, max_concurrent_calls_per_actor=TASKS_PER_ACTOR), {}
    else:
        compute, concurrency = strategy(size=actors), {"max_concurrency": TASKS_PER_ACTOR}
    return dataset.map_batches(
        RayReformatter,
        fn_constructor_kwargs={"recipe": recipe, "mode": mode, "source": source},
        compute=compute,
        batch_size=batch_size,
        batch_format="pyarrow",
        num_cpus=ACTOR_CPUS,
        runtime_env={"env_vars": env} if env else None,
        **concurrency,
    )


def _batch_size(options: Mapping[str, Any]) -> int:
    # With TASKS_PER_ACTOR blocks at once, batches of this size keep the pipeline at its concurrency.
    return int(options.get("concurrency") or 64)


def ray_reformat_dataset(
    dataset: Any, *, llm: Any = None, model: str | None = None, actors: int = DEFAULT_ACTORS, **options: Any
) -> Any:
    """``realign.reformat(ray_dataset, ...)``: a lazy ``ray.data.Dataset`` of the rows with a ``realign`` column."""
    if actors < 1:
        raise UsageError("actors must be at least 1")
    recipe = _recipe(llm, model, options)
    return _map(dataset, recipe, "rows", "ray dataset", actors, _batch_size(options))


def _checked_rows(source: str | Path) -> int:
    """Read and check every row of ``source`` against its file's shape, as a local run checks it, keeping none:
    a bad row stops the job with its file and line before any worker starts or any call is paid for."""
    return sum(1 for _ in checked_rows(source))


def _blocks(source: str | Path, rows_per_block: int) -> Iterator[Any]:
    """The rows of ``source`` as Arrow tables of ``rows_per_block`` rows (line, pickled row), read one block at a
    time: the driver holds one block, never the file (10M rows would not fit beside their copy in the object
    store)."""
    import pyarrow as pa

    lines: list[int] = []
    rows: list[bytes] = []
    made = False
    for item in shaped_rows(read_rows(source), source):
        lines.append(item.line)
        rows.append(pickle.dumps(item.row, protocol=pickle.HIGHEST_PROTOCOL))
        if len(rows) == rows_per_block:
            yield _block(pa, lines, rows)
            lines, rows, made = [], [], True
    if rows or not made:
        yield _block(pa, lines, rows)  # an empty input still makes a dataset (of no row)


def _block(pa: Any, lines: list[int], rows: list[bytes]) -> Any:
    # large_binary: one block's rows may pass the 2 GiB that plain binary's 32-bit offsets allow.
    return pa.table({"line": pa.array(lines, pa.int64()), ROW_COLUMN: pa.array(rows, pa.large_binary())})


def ray_reformat_file(
    source: str | Path,
    output: str | Path,
    *,
    model: str,
    base_url: Any,
    actors: int = DEFAULT_ACTORS,
    stats: RunStats | None = None,
    verified: VerifyCounts | None = None,
    address: str | None = None,
    quiet: bool = False,
    **options: Any,
) -> RunStats:
    """Reformat a file on the Ray cluster at ``address`` (see :func:`start_ray`; one ``ray.init``
    connected to already is used as it is; ``quiet`` silences Ray's own lines). With ``verify``, ``verified``
    (when given) receives what the actors' judges did, summed over the actors.

    ``output`` is a file (``.jsonl``, ``.json``, ``.parquet``: rows in input order) or a folder, which
    receives Parquet shards (``realign`` as JSON text, as in realign's Parquet files). A Parquet output
    takes the input's schema, as a local run's does (see :class:`~realign._io.files.AtomicWriter`).
    """
    ray = _ray()
    stats = stats or RunStats()
    count = _checked_rows(source)  # a bad row stops the job before Ray starts
    target = Path(output)
    # A Parquet output's schema, read now: a value no Parquet column holds stops the job before Ray starts.
    schema = input_schema(source) if _is_folder(target) or target.suffix.lower() == ".parquet" else None
    start_ray(address, quiet=quiet)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    # Blocks of a few batches each: enough blocks to spread over the actors, not so many that Ray's
    # per-block work dominates.
    blocks = max(1, min(1000, count // (2 * _batch_size(options))))
    # Read a second time, a block at a time, each block put in the object store (which spills to disk) as it is
    # made: the check above keeps nothing, so the driver's memory does not grow with the file.
    refs = [ray.put(block) for block in _blocks(source, -(-count // blocks))]
    dataset = ray.data.from_arrow_refs(refs)
    recipe = _recipe(None, model, {**options, "base_url": base_url})
    mapped = _map(dataset, recipe, "json", str(source), actors, _batch_size(options))
    actors_done: dict[str, dict[str, Any]] = {}
    if _is_folder(target):
        done = mapped.materialize()  # one pass of the actors serves both the shards and the counts
        for item in done.iter_rows():  # counted first: a fatal error stops the job before any shard is written
            _raise_fatal(item)
            _count(stats, pickle.loads(item[ROW_COLUMN]), item[CALLS_COLUMN])
            _keep_latest(actors_done, item)
        shards = done.map_batches(_shard, batch_format="pyarrow", fn_kwargs={"schema": schema})
        shards.write_parquet(str(target))
    else:
        with AtomicWriter(target, like=source) as writer:
            for item in mapped.iter_rows():
                _raise_fatal(item)
                row = pickle.loads(item[ROW_COLUMN])
                _count(stats, row, item[CALLS_COLUMN])
                _keep_latest(actors_done, item)
                writer.write(row)
    stats.attempts = sum(int(done["attempts"]) for done in actors_done.values())
    if verified is not None:
        for done in actors_done.values():
            if done.get("verify") is not None:
                verified.merge(VerifyCounts.from_json(done["verify"]))
    return stats


def _keep_latest(actors_done: dict[str, dict[str, Any]], item: Mapping[str, Any]) -> None:
    """Keep each actor's latest counts (see :data:`ACTOR_COLUMN`): blocks of one actor arrive in input order, not
    the order they finished in, and the one that finished last holds all of that actor's work. Its counts are the
    largest: requests sent and candidates judged only grow (a judgement from the cache sends nothing)."""
    if not item.get(ACTOR_COLUMN):
        return
    seen = json.loads(item[ACTOR_COLUMN])
    kept = actors_done.get(seen["actor"])
    if kept is None or _progress(seen) > _progress(kept):
        actors_done[seen["actor"]] = seen


def _progress(done: Mapping[str, Any]) -> tuple[int, int]:
    return int(done["attempts"]), int((done.get("verify") or {}).get("judged", 0))


def _raise_fatal(item: Mapping[str, Any]) -> None:
    """Raise, on the driver, the fatal error an actor met (see :data:`FATAL_COLUMN`): one line and exit 1 (2 for a
    template that failed for a row), as a local run stops."""
    if not item.get(FATAL_COLUMN):
        return
    fatal = json.loads(item[FATAL_COLUMN])
    if fatal["kind"] == "TemplateError":
        raise TemplateError(fatal["message"])
    if fatal["kind"] == "FatalSearchError":
        raise FatalSearchError(fatal["message"])
    raise FatalLLMError(fatal["message"], code=fatal["code"] or "error")


def _is_folder(path: Path) -> bool:
    return path.is_dir() or not path.suffix


def _shard(batch: Any, schema: Any) -> Any:
    """A block of a file job's rows as a table of the output's ``schema`` (see
    :func:`~realign._io.files.input_schema`)."""
    return table_of([_flat(pickle.loads(data)) for data in batch.column(ROW_COLUMN).to_pylist()], schema)


def _count(stats: RunStats, row: dict[str, Any], calls: int) -> None:
    record = Record.of(row) or Record()
    usage = record.usage.model_copy(update={"calls": calls}) if record.usage else Usage()
    stats.add(record, usage)
