"""The ``realign`` command line. Thin: parses flags, builds the pipeline, runs a job, prints a summary."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .. import __version__
from .._checks.registry import build_checks
from .._classify.llm import CascadeClassifier
from .._exceptions import FatalLLMError, FatalSearchError, InputError, RealignError, TemplateError, UsageError
from .._io.files import container_of, parquet_schema
from .._jobs.classify import build_classifier, classify_command
from .._jobs.cost import Price, price_for
from .._jobs.job import RunStats, checked_rows, example_of, reformat_file, retrieve_file, rows_of, turns_of
from .._jobs.plan import ClassifierPlan, plan_file
from .._jobs.progress import LOG_INTERVAL, Progress
from .._llm.cache import CachedSearch, SQLiteCache, default_cache_path
from .._llm.defaults import DEFAULT_MODEL, DEFAULT_TIMEOUT
from .._llm.ratelimit import RateLimiter
from .._llm.retry import RetryPolicy
from .._models import LLM_ERROR, ROW_ERROR, Example
from .._pipeline import TURNS_MODES, Pipeline, corrections_on
from .._protocol import DEFAULT_CONTEXT_TOKENS
from .._search.web import parse_search_spec, search_client_from_spec
from .._tasks import GROUPS
from .._templates import Criteria
from .._types import LLM, SearchClient
from .._verify import LLMVerifier

if TYPE_CHECKING:
    from .._llm.batch import BatchReport
    from .._llm.openai_chat import OpenAIChat

__all__ = ["build_parser", "exit_code_of", "judge_price", "main"]

CLASSIFIERS = ("embedded", "llm", "completion", "cascade")

T = TypeVar("T")

#: Exit codes: a contract for pipelines and CI (README: Exit codes).
EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_ROWS_FAILED = 0, 1, 2, 3
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM

EXIT_CODES = """exit codes:
  0  every row decided (rewritten or kept for a reason)
  1  fatal error: the run stopped (bad key, endpoint unreachable or failing); no output file
  2  usage or input error (a flag, a missing or malformed file, a template); no output file
  3  output written, but some rows ended with llm_error:*; run the same command again to retry only those
  130, 143  interrupted by SIGINT (Ctrl-C) or SIGTERM; no output file (unless the message says it was
            written in full before the signal), finished requests are cached"""

_INTERRUPTED = """  130, 143  interrupted by SIGINT (Ctrl-C) or SIGTERM"""

#: The exit codes each subcommand can return, for its --help: only reformat decides rows (3), and only the commands
#: that call a model or a search backend stop a run (1). ``realign --help`` lists them all (:data:`EXIT_CODES`).
COMMAND_EXIT_CODES = {
    "reformat": EXIT_CODES,
    "classify": f"""exit codes:
  0  every row labelled
  1  fatal error: the run stopped (an LLM classifier's bad key, endpoint unreachable or failing); no output file
  2  usage or input error (a flag, a missing or malformed file, a template); no output file
{_INTERRUPTED}; no output file (unless the message says it was written in full
            before the signal)""",
    "retrieve": f"""exit codes:
  0  every row labelled, with its evidence where the task needs some
  1  fatal error: the run stopped (the search backend or an LLM classifier cannot be used); no output file
  2  usage or input error (a flag, a missing or malformed file, a missing index); no output file
{_INTERRUPTED}; no output file (unless the message says it was written in full
            before the signal)""",
    "index": f"""exit codes:
  0  index written
  2  usage or input error (a flag, a missing or malformed corpus, an index that cannot be written)
{_INTERRUPTED}; no index written""",
    "report": f"""exit codes:
  0  report written
  2  usage or input error (a flag, a missing or malformed file, a page that cannot be written)
{_INTERRUPTED}; no report written""",
    "tasks": f"""exit codes:
  0  the table printed
  2  usage error (a criteria folder that cannot be read, a template)
{_INTERRUPTED}""",
}


#: Write errors of a full disk or an exhausted quota (EDQUOT is missing on some platforms).
_DISK_FULL = frozenset(code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None)


#: The commands that make no model or search request (nothing cached), and what each writes: a stopped one says
#: that instead, and that running it again starts over.
_NO_REQUESTS = {"report": ("report", "write"), "index": ("index", "build")}


def _cached(args: argparse.Namespace | None) -> str:
    """What a stopped run leaves for the next: its answered requests, unless --no-cache kept none."""
    if args is not None and getattr(args, "no_cache", False):
        return "nothing was cached (--no-cache): a re-run pays again"
    return "finished requests are cached"


class Terminated(BaseException):
    """SIGTERM (what ``timeout`` and job schedulers send), raised like KeyboardInterrupt so every
    ``with`` block unwinds and no temporary file is left behind."""


class _Parser(argparse.ArgumentParser):
    #: the arguments being parsed (set by ``main``), for hints on argparse's own messages
    argv: Sequence[str] = ()

    def error(self, message: str) -> Any:  # argparse's own errors: one line, exit 2
        if "INPUT" in message and any(arg == "--verify" for arg in self.argv):
            # `reformat --verify data.jsonl` reads the file as the judge model: --verify takes an optional value.
            message += " (--verify takes an optional MODEL: put INPUT before --verify, or write --verify=MODEL)"
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="realign",
        description="Reformat SFT data to per-task format criteria (ReAlign).",
        epilog=_epilog(
            "realign reformat data.jsonl --dry-run",
            "realign reformat data.jsonl -o data.realigned.jsonl -m gpt-4o-mini",
            "realign report data.realigned.jsonl -o review.html",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"realign {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help: str, *examples: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help,
            description=help[0].upper() + help[1:] + ".",
            epilog=_epilog(*examples, codes=COMMAND_EXIT_CODES[name]),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    tasks = command("tasks", "print the task table", "realign tasks", "realign tasks --criteria my_criteria/")
    tasks.add_argument("--criteria", metavar="DIR", help="include the custom tasks of a criteria folder")

    run = command(
        "reformat",
        "reformat a dataset file",
        "realign reformat data.jsonl --dry-run",
        "realign reformat data.jsonl -o out.jsonl -m gpt-4o-mini",
        "realign reformat data.parquet -o out.parquet --base-url http://localhost:8000/v1 -m Qwen/Qwen2.5-7B-Instruct",
        "realign reformat data.jsonl -o out.jsonl --search wikipedia --batch",
    )
    run.add_argument("input", metavar="INPUT", help="dataset file: .jsonl, .json or .parquet, any supported shape")
    run.add_argument("-o", "--output", metavar="OUTPUT", help="output file (.jsonl, .json or .parquet)")
    run.add_argument(
        "--dry-run", action="store_true", help="no key, no server, no call: print what the run would do and cost"
    )
    _llm_flags(run)
    _search_flags(run)
    _classifier_flags(run)
    run.add_argument("--criteria", metavar="DIR", help="folder of .j2 criteria overriding/adding tasks")
    run.add_argument("--batch", action="store_true", help="use the OpenAI Batch API (half price, within 24 h)")
    run.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process (default); ray: an actor pool on a Ray cluster (pip install 'realign[ray]')",
    )
    run.add_argument(
        "--ray-address", metavar="ADDR", help="--engine ray: the cluster to join (default: start a local one)"
    )
    run.add_argument(
        "--ray-actors",
        type=_positive,
        default=2,
        metavar="N",
        help="--engine ray: workers, each with its own pipeline and --concurrency requests in flight (default: 2)",
    )
    run.add_argument(
        "--batch-retry-online",
        action="store_true",
        help="--batch: send requests the Batch API failed or expired online instead of keeping originals",
    )
    run.add_argument(
        "--batch-state",
        metavar="DIR",
        help="--batch: where batch ids are saved for resuming (default: beside the cache)",
    )
    run.add_argument("--batch-poll", type=float, default=30.0, metavar="S", help=argparse.SUPPRESS)
    run.add_argument(
        "--disable-check",
        action="append",
        default=[],
        metavar="[TASK:]NAME",
        help="switch a check off everywhere, or for one task (repeatable; see README: The checks)",
    )
    corrections = run.add_mutually_exclusive_group()
    corrections.add_argument(
        "--corrections",
        dest="corrections",
        action="store_const",
        const=True,
        default="auto",
        help="accept a rewrite that changes a name or number to what the row's evidence states, by the rules "
        "alone, and record it in realign.corrections (default: only with --verify, whose judge decides whether "
        "the evidence supports each change; without it such a rewrite is refused)",
    )
    corrections.add_argument(
        "--no-corrections",
        dest="corrections",
        action="store_false",
        default="auto",
        help="refuse a rewrite that changes a name or number even when the row's evidence supports the change, "
        "--verify or not",
    )
    run.add_argument(
        "--verify",
        nargs="?",
        const=True,
        default=None,
        metavar="MODEL",
        help="ask a model, after the checks, whether each rewrite keeps every fact and the final answer of the "
        "original (with evidence: whether each change is supported); a 'no' keeps the original as filter:verify. "
        "MODEL: another model on the same endpoint(s) (default: --model). One short call per accepted candidate; "
        "off by default",
    )
    run.add_argument(
        "--refer",
        action="store_true",
        help="with --verify: a candidate refused only by the entities, numbers or final_answer check goes to the "
        "judge with the check's concern instead; a 'yes' accepts it and records the overruled check in "
        "realign.overruled, a 'no' refuses it under the check. Off by default (it trusts the judge over the rules)",
    )
    run.add_argument("--price-in", type=float, metavar="USD", help="prompt price, dollars per 1M tokens")
    run.add_argument("--price-out", type=float, metavar="USD", help="completion price, dollars per 1M tokens")
    _limit_flags(run)
    cache = run.add_mutually_exclusive_group()
    cache.add_argument("--cache", metavar="PATH", help=f"response cache file (default: {default_cache_path()})")
    cache.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    run.add_argument("--n", type=_positive, default=1, metavar="K", help="candidates per row (default: 1)")
    run.add_argument("--temperature", type=_non_negative_float, default=0.3, metavar="T", help="default: 0.3")
    run.add_argument(
        "--top-p", type=_probability, default=1.0, metavar="P", help="more than 0, at most 1 (default: 1.0)"
    )
    run.add_argument(
        "--max-tokens",
        type=_positive,
        default=None,
        metavar="N",
        help="cap on each rewrite's tokens (default: from the row: 512 + 4x the original's tokens, at most 8192)",
    )
    run.add_argument(
        "--max-reasks",
        type=_non_negative,
        default=2,
        metavar="N",
        help="re-ask an unparsable reply up to N times (default: 2)",
    )
    run.add_argument("--reclassify", action="store_true", help="classify rows that already have a category")
    run.add_argument("--strict", action="store_true", help="an unknown category is an error, not 'default'")
    _turns_flags(run)
    run.add_argument(
        "--context-tokens",
        type=int,
        default=DEFAULT_CONTEXT_TOKENS,
        metavar="N",
        help="token budget of the earlier conversation in a turn's prompt, oldest turns trimmed first "
        f"(default: {DEFAULT_CONTEXT_TOKENS})",
    )
    run.add_argument(
        "--no-keep-rejected",
        dest="keep_rejected",
        action="store_false",
        help="write refused candidates with their reason and detail only, without their text and reasoning",
    )
    run.add_argument(
        "--from-original",
        action="store_true",
        help="rows an earlier run rewrote: reformat their realign.original, not the current response",
    )
    run.add_argument(
        "--progress-interval",
        type=_positive_float,
        default=LOG_INTERVAL,
        metavar="S",
        help="when stderr is not a terminal (CI, nohup, a log file), log a progress line every S seconds "
        f"(default: {LOG_INTERVAL:g})",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress and no summary on stderr")

    classify = command(
        "classify",
        "label each row with its task, or evaluate a classifier",
        "realign classify data.jsonl -o labelled.jsonl",
        "realign classify --eval labelled.jsonl --classifier cascade",
    )
    classify.add_argument("input", metavar="INPUT", nargs="?", help="dataset file to label (not with --eval)")
    classify.add_argument("-o", "--output", metavar="OUTPUT", help="labelled copy of INPUT (.jsonl, .json, .parquet)")
    classify.add_argument("--eval", metavar="LABELLED", help="JSONL rows {instruction, category}: print accuracy")
    _llm_flags(classify)
    _classifier_flags(classify)
    _limit_flags(classify)
    _labelling_flags(classify)

    retrieve = command(
        "retrieve",
        "classify and retrieve evidence only (inspect before paying)",
        "realign retrieve data.jsonl -o with-evidence.jsonl --search wikipedia",
        "realign retrieve data.jsonl -o with-evidence.jsonl --search local:docs.sqlite",
    )
    retrieve.add_argument("input", metavar="INPUT", help="dataset file: .jsonl, .json or .parquet")
    retrieve.add_argument(
        "-o", "--output", metavar="OUTPUT", required=True, help="INPUT with realign.evidence on each row"
    )
    _search_flags(retrieve)
    _llm_flags(retrieve)
    _classifier_flags(retrieve)
    _limit_flags(retrieve)
    _labelling_flags(retrieve)

    index = command(
        "index",
        "build a local search index from your documents",
        "realign index docs/ -o docs.sqlite",
        "realign reformat data.jsonl -o out.jsonl --search local:docs.sqlite",
    )
    index.add_argument(
        "corpus", metavar="CORPUS", help="JSONL rows with text (title, id, url optional) or a folder of .txt/.md files"
    )
    index.add_argument("-o", "--output", metavar="INDEX", required=True, help="index file to write (SQLite)")
    index.add_argument(
        "--passage-words",
        type=_positive,
        default=200,
        metavar="N",
        help="split long documents into passages of about N words (default: 200)",
    )
    index.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")

    report = command(
        "report",
        "write an HTML review of a reformat output",
        "realign report out.jsonl -o review.html",
        "realign report out.parquet -o review.html --price-in 0.2 --price-out 0.8",
    )
    report.add_argument(
        "input",
        metavar="INPUT",
        help="a file `realign reformat` wrote, or the folder of Parquet shards `--engine ray` wrote",
    )
    report.add_argument("-o", "--output", metavar="HTML", required=True, help="the page to write")
    report.add_argument("--title", help="page title")
    report.add_argument("--price-in", type=float, metavar="USD", help="prompt price, dollars per 1M tokens")
    report.add_argument("--price-out", type=float, metavar="USD", help="completion price, dollars per 1M tokens")
    report.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    return parser


README = "README.md of realign, sections 'Quickstart' and 'CLI reference'"


def _epilog(*examples: str, codes: str = EXIT_CODES) -> str:
    lines = "\n".join(f"  {example}" for example in examples)
    return f"examples:\n{lines}\n\n{codes}\n\nmore: {README}"


def build_parser() -> argparse.ArgumentParser:
    """The ``realign`` argument parser, every subcommand included (its help is tested as a contract)."""
    return _parser()


def _turns_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--turns",
        choices=TURNS_MODES,
        default="all",
        help="multi-turn conversations: rewrite every assistant turn, only the last, or none (default: all)",
    )


def _labelling_flags(parser: argparse.ArgumentParser) -> None:
    """The flags ``classify`` and ``retrieve`` share: which tasks exist, which rows to label, and quiet."""
    parser.add_argument("--criteria", metavar="DIR", help="include the custom tasks of a criteria folder")
    parser.add_argument("--reclassify", action="store_true", help="classify rows that already have a category")
    parser.add_argument("--strict", action="store_true", help="an unknown category is an error")
    _turns_flags(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")


def _search_flags(parser: argparse.ArgumentParser, default: str = "none") -> None:
    parser.add_argument(
        "--search",
        default=default,
        metavar="BACKEND",
        help=f"none|serper|tavily|brave|searxng:URL|wikipedia|exa|local:PATH (default: {default})",
    )
    parser.add_argument(
        "--retrieval-tasks",
        metavar="T1,T2",
        help="tasks that get evidence (default: how_to_generation, open_qa, fact_verification, "
        "recommendations, explain_answer)",
    )


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return number


def _non_negative_float(value: str) -> float:
    number = float(value)
    if not number >= 0 or number == float("inf"):  # NaN fails too
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def _probability(value: str) -> float:
    number = float(value)
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 1")
    return number


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def _seconds(value: str) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return number


def _llm_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-m", "--model", default=DEFAULT_MODEL, metavar="M", help=f"the model's name (default: {DEFAULT_MODEL})"
    )
    parser.add_argument(
        "--base-url",
        action="append",
        metavar="URL",
        help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (default: $OPENAI_BASE_URL or OpenAI); "
        "repeat it or separate URLs with commas for replicas of one model: requests go to the one with the "
        "fewest in flight",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up on one request after this long, then retry it (default: {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--max-retries",
        type=_non_negative,
        default=RetryPolicy().attempts - 1,
        metavar="N",
        help=f"retries of a request that failed transiently: 429, 5xx, timeout, connection "
        f"(default: {RetryPolicy().attempts - 1})",
    )


def _limit_flags(parser: argparse.ArgumentParser) -> None:
    """The run's bounds on model calls; an LLM classifier's calls count against them too."""
    parser.add_argument("--rpm", type=_positive_float, metavar="N", help="at most N requests a minute")
    parser.add_argument(
        "--tpm", type=_positive_float, metavar="N", help="at most N tokens a minute (prompt + max completion)"
    )
    parser.add_argument(
        "--concurrency", type=_positive, default=64, metavar="N", help="LLM requests in flight at once (default: 64)"
    )


def _classifier_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--classifier",
        choices=CLASSIFIERS,
        default="embedded",
        help="how rows without a category get their task (default: embedded, offline)",
    )
    parser.add_argument(
        "--classifier-model", metavar="M", help="model for the llm/completion classifier (default: --model)"
    )
    parser.add_argument(
        "--classifier-base-url", metavar="URL", help="endpoint of the classifier model (default: --base-url)"
    )
    parser.add_argument(
        "--cascade-threshold",
        type=float,
        default=0.5,
        metavar="C",
        help="cascade: rows below this embedded confidence go to the LLM (default: 0.5)",
    )


def _search_client(spec: str, cache: SQLiteCache | None = None) -> SearchClient | None:
    client = search_client_from_spec(spec)
    if client is None or cache is None:
        return client
    return CachedSearch(client, cache, spec)


def _retrieval_tasks(args: argparse.Namespace) -> list[str] | None:
    if not args.retrieval_tasks:
        return None
    return [name.strip() for name in args.retrieval_tasks.split(",") if name.strip()]


def _pipeline_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``Pipeline`` settings a reformat run takes from its flags, the same on one machine and on Ray."""
    return {
        "checks": _checks(args),
        "corrections": args.corrections,
        "n": args.n,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "max_tokens": args.max_tokens,
        "max_reasks": args.max_reasks,
        "concurrency": args.concurrency,
        "strict": args.strict,
        "retrieval_tasks": _retrieval_tasks(args),
        "turns": args.turns,
        "context_tokens": args.context_tokens,
        "refer": args.refer,
    }


def _checks(args: argparse.Namespace) -> list[Any]:
    everywhere: list[str] = []
    per_task: dict[str, list[str]] = {}
    for spec in args.disable_check:
        for part in spec.split(","):
            task, _, name = part.strip().rpartition(":")
            (per_task.setdefault(task, []) if task else everywhere).append(name)
    corrections = corrections_on(args.corrections, args.verify is not None)
    return build_checks(disable=everywhere, per_task=per_task, corrections=corrections)


def _check_flags(args: argparse.Namespace) -> None:
    if args.refer and args.verify is None:
        raise UsageError("--refer refers refusals to the --verify judge: add --verify [MODEL]")
    if args.dry_run:
        return
    if not args.output:
        raise UsageError("reformat needs -o OUTPUT (or --dry-run)")
    output = Path(args.output)
    source = Path(args.input)
    if source.is_dir() and args.engine != "ray":  # checked before anything is paid for, as the output below
        raise InputError("is a folder, not a dataset file", path=source)
    if not source.exists():
        raise InputError("file not found", path=source)
    if args.engine == "ray" and (output.is_dir() or not output.suffix):
        output.mkdir(parents=True, exist_ok=True)  # a folder of Parquet shards
        return
    if output.is_dir():
        raise UsageError(f"-o {output} is an existing folder; name a file (.jsonl, .json or .parquet)")
    container_of(output)  # an unsupported extension fails now, not after hours of --batch
    _output_not_input(args)
    if not output.resolve().parent.is_dir():
        raise UsageError(f"cannot write {output}: folder {output.parent} does not exist")


def _output_not_input(args: argparse.Namespace) -> None:
    """``-o`` naming the input file is refused (by every command that writes a copy of its input): the input
    would be lost to a run's output, or to a half-written one."""
    if args.input and args.output and Path(args.output).resolve() == Path(args.input).resolve():
        raise UsageError("-o OUTPUT must not be the input file")


async def _dry_run(args: argparse.Namespace) -> int:
    from .._classify.embedded import EmbeddedClassifier

    criteria = Criteria(args.criteria)
    # The run's own rules, with the offline classifier: an LLM classifier's calls are counted, not made.
    pipeline = Pipeline(
        None,
        classifier=EmbeddedClassifier(criteria.tasks, criteria.examples or None),
        criteria=criteria,
        turns=args.turns,
        context_tokens=args.context_tokens,
        n=args.n,
        max_tokens=args.max_tokens,
        retrieval_tasks=_retrieval_tasks(args),
        strict=args.strict,
    )
    backend = parse_search_spec(args.search)[0]  # an unknown backend fails here as in the real run
    if backend in ("local", "searxng"):  # so do a missing or broken index, a bad URL: no key, no call
        client = search_client_from_spec(args.search)
        if client is not None:
            await client.aclose()
    search = backend != "none"
    plan = await plan_file(
        args.input,
        pipeline,
        classifier=ClassifierPlan(args.classifier, args.cascade_threshold),
        search=search,
        reclassify=args.reclassify,
        from_original=args.from_original,
        verify=_verify_model(args),
        refer=args.refer,
        progress=None if args.quiet else _dry_run_progress(args.progress_interval),
    )
    price = price_for(args.model, price_in=args.price_in, price_out=args.price_out)
    classifier_price = price_for(args.classifier_model) if args.classifier_model else price
    print(
        plan.report(
            args.model, price, search=search, classifier_price=classifier_price, verify_price=judge_price(args, price)
        )
    )
    return 0


def _dry_run_progress(interval: float) -> Callable[[int], None]:
    """A line on stderr every ``interval`` seconds while the dry run reads: a big file takes minutes, in silence
    until the report otherwise."""
    started = last = time.monotonic()

    def report(rows: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= interval:
            last = now
            print(f"realign: dry run: {rows:,} rows read, {rows / (now - started):,.0f} rows/s", file=sys.stderr)

    return report


def _verify_model(args: argparse.Namespace) -> str | None:
    """The judge model of ``--verify`` (``--model`` when it names none); None without ``--verify``."""
    if args.verify is None:
        return None
    return args.model if args.verify is True else str(args.verify)


def judge_price(args: argparse.Namespace, price: Price | None) -> Price | None:
    """The judge's price: the rewrite model's when it is the same model (with --price-in/--price-out)."""
    model = _verify_model(args)
    return price if model is None or model == args.model else price_for(model)


async def _reformat(args: argparse.Namespace) -> int:
    _check_flags(args)
    _checks(args)  # a bad check name is a usage error, also in a dry run
    if args.dry_run:
        return await _dry_run(args)
    async with contextlib.AsyncExitStack() as stack:
        return await _reformat_run(args, stack)


def _reformat_on_ray(args: argparse.Namespace) -> int:
    # Outside asyncio.run: the driver blocks in Ray's iterators, where a Ctrl-C must raise at once; inside
    # a loop, asyncio's SIGINT handler only cancels the run once the whole job is done and written.
    _check_flags(args)
    _checks(args)
    from .ray_command import reformat_on_ray  # ray loads only for a Ray job

    return reformat_on_ray(args, _pipeline_options(args))


def _checked_rows(args: argparse.Namespace) -> int:
    """Read and check every row of INPUT before the first call; return how many there are. For a Parquet
    OUTPUT of rows from JSON, also that one Parquet schema holds them all (the writer then reads it from here)."""
    if container_of(args.output) != "parquet" or container_of(args.input) == "parquet":
        return sum(1 for _ in checked_rows(args.input))
    count = 0

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        nonlocal count
        for item in checked_rows(args.input):
            count += 1
            yield item.line, item.row

    parquet_schema(args.input, rows())
    return count


async def _reformat_run(args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> int:
    from .._llm.openai_chat import OpenAIChat  # imported here: it imports the openai SDK

    criteria = Criteria(args.criteria)
    parse_search_spec(args.search)  # a misspelt backend is the error to show, not a missing OpenAI key
    llm = OpenAIChat(
        args.model, base_url=args.base_url, timeout=args.timeout, max_retries=args.max_retries
    )  # a missing key fails here, before any work
    stack.push_async_callback(llm.aclose)
    # Every row is read and checked against its file's shape before the first call: a malformed row late
    # in a large file would otherwise stop the run after the rows before it were paid for (lost with
    # --no-cache). About 7 us a row: a minute of CPU for 10M rows, next to hours of calls.
    rows = _checked_rows(args)
    price = price_for(args.model, price_in=args.price_in, price_out=args.price_out)
    cache = None if args.no_cache else SQLiteCache(args.cache or default_cache_path())
    if cache is not None:
        stack.callback(cache.close)
    search = _search_client(args.search, cache)
    if search is not None:
        stack.push_async_callback(search.aclose)
    classifier = build_classifier(args, criteria, llm, stack)  # its calls use the pipeline's cache
    judge = _judge_chat(args, llm, stack)

    def make_pipeline(model: LLM, judge_llm: LLM | None = None) -> Pipeline:
        verifier = None
        if judge is not None:
            # --verify alone: the rewriting model judges, through whatever stands for it in this pass (a
            # Batch API collector, the final pass's stand-in); --verify MODEL: that model's client or stand-in.
            verifier = LLMVerifier(judge_llm if judge_llm is not None else model if judge is llm else judge)
        return Pipeline(
            model,
            classifier=classifier,
            search=search,
            criteria=criteria,
            cache=cache,
            rate_limiter=RateLimiter(args.rpm, args.tpm) if args.rpm or args.tpm else None,
            verifier=verifier,
            **_pipeline_options(args),
        )

    stats = RunStats()
    final_llm: LLM = llm
    final_judge: LLM | None = None
    batches: list[tuple[str, BatchReport]] = []
    if args.batch:
        batches, final_llm, final_judge = await _submit_batches(args, llm, judge, cache, make_pipeline)
    pipeline = make_pipeline(final_llm, final_judge)
    progress = Progress(
        None,
        price,
        mode="off" if args.quiet else "auto",
        interval=args.progress_interval,
        retries=lambda: llm.retries,
        verify_price=judge_price(args, price),
    )
    progress.total = rows
    await reformat_file(
        pipeline,
        args.input,
        args.output,
        reclassify=args.reclassify,
        keep_rejected=args.keep_rejected,
        from_original=args.from_original,
        stats=stats,
        progress=progress,
    )
    if not args.quiet:
        verify_price = judge_price(args, price)
        print(
            stats.summary(
                price,
                verify=pipeline.verified if judge else None,
                verify_price=verify_price,
                # Batch API calls are no HTTP attempts of these clients: no comparison to make there.
                attempts=None
                if args.batch
                else llm.attempts + (judge.attempts if judge is not None and judge is not llm else 0),
            ),
            file=sys.stderr,
        )
        if len(llm.base_urls) > 1:
            print("replicas: " + llm.replicas.summary(), file=sys.stderr)
        for model, batch in batches:
            at = price if model == args.model else verify_price
            cost = f" (${at.cost(batch.usage, batch=True):,.4f} at Batch API prices)" if at else ""
            label = "" if model == args.model else f" (verify, {model})"
            print(batch.summary().replace("batch:", f"batch{label}:", 1) + cost, file=sys.stderr)
        if isinstance(classifier, CascadeClassifier):
            print(f"classifier: {classifier.counts}", file=sys.stderr)
    return exit_code_of(stats)


def exit_code_of(stats: RunStats) -> int:
    """0 when every row was decided; 3, with a warning saying how many were not, when some ended with
    llm_error (their original is written and a re-run retries only those)."""
    undecided = stats.undecided()
    if undecided is None:
        return EXIT_OK
    # A Ray actor's row that raised (error:<Exception>) is named as such: it is no failed call.
    errors = sorted(reason for reason in stats.reasons if reason.startswith(ROW_ERROR))
    failed = any(reason.startswith(LLM_ERROR) for reason in (*stats.reasons, *stats.turn_reasons))
    what = " or ".join([*(["llm_error"] if failed or not errors else []), *errors])
    print(
        f"warning: {undecided} ended with {what} (kept their original); run the same command again to retry only those",
        file=sys.stderr,
    )
    too_long = stats.reasons[_TOO_LONG] + stats.turn_reasons[_TOO_LONG]
    if too_long:  # asking again sends the same prompt: it fails the same way
        print(
            f"warning: {_TOO_LONG} ({too_long}): the prompt is longer than the model's context, and a re-run "
            "fails the same way; use a model with a longer context, or a lower --max-tokens (or --context-tokens "
            "for conversations)",
            file=sys.stderr,
        )
    return EXIT_ROWS_FAILED


_TOO_LONG = "llm_error:context_length"


def _judge_chat(args: argparse.Namespace, llm: OpenAIChat, stack: contextlib.AsyncExitStack) -> OpenAIChat | None:
    """The client of the --verify judge: ``llm`` itself, or another model on the same endpoint(s)."""
    model = _verify_model(args)
    if model is None:
        return None
    if model == args.model:
        return llm
    from .._llm.openai_chat import OpenAIChat

    judge = OpenAIChat(model, base_url=args.base_url, timeout=args.timeout, max_retries=args.max_retries)
    stack.push_async_callback(judge.aclose)
    return judge


async def _submit_batches(
    args: argparse.Namespace,
    llm: OpenAIChat,
    judge: OpenAIChat | None,
    cache: SQLiteCache | None,
    make_pipeline: Callable[[LLM, LLM | None], Pipeline],
) -> tuple[list[tuple[str, BatchReport]], LLM, LLM | None]:
    """Send every request through the Batch API into the cache; return the reports (by model) and the LLMs
    of the final writing pass, the rewriter's and a --verify MODEL judge's (then served from the cache)."""
    from .._llm.batch import BatchRunner, FailedRequests, run_batch_rounds

    if cache is None:
        raise UsageError("--batch needs the response cache: drop --no-cache")
    state = Path(args.batch_state) if args.batch_state else default_cache_path().parent / "batches"

    def runner_for(chat: OpenAIChat) -> BatchRunner:
        return BatchRunner(
            chat,
            cache,
            state,
            poll_interval=args.batch_poll,
            progress=None if args.quiet else lambda line: print(line, file=sys.stderr),
        )

    runner = runner_for(llm)
    # A batch holds one model's requests: a judge of its own gets batches of its own, in the same rounds.
    judge_runner = runner_for(judge) if judge is not None and judge is not llm else None

    def examples() -> Iterator[Example]:
        for item in rows_of(args.input):
            if item.data.pass_reason is None:
                yield example_of(item, reclassify=args.reclassify, from_original=args.from_original)
            for turn in turns_of(item, args.turns, reclassify=args.reclassify, from_original=args.from_original):
                if turn.example is not None:
                    yield turn.example

    # Rounds: the rewrites; then re-asks and the verify calls of the rewrites that passed the checks;
    # with --verify, a third for the verify calls of re-asked rewrites. A round with nothing to send ends them.
    rounds = 3 if judge is not None else 2
    report = await run_batch_rounds(make_pipeline, examples, runner, rounds=rounds, judge=judge_runner)
    reports = [(args.model, report)]
    if report.judge is not None and judge is not None:
        reports.append((judge.model, report.judge))
    # Requests the Batch API could not answer: online on request, else the row keeps its original
    # with the batch's own reason for it (llm_error:batch_expired, llm_error:invalid_value...).
    final: LLM = llm if args.batch_retry_online else FailedRequests(runner)
    final_judge: LLM | None = None
    if judge_runner is not None and judge is not None:
        final_judge = judge if args.batch_retry_online else FailedRequests(judge_runner)
    return reports, final, final_judge


def _tasks(args: argparse.Namespace) -> int:
    tasks = Criteria(args.criteria).tasks
    width = max(len(name) for name in tasks)
    print(f"{'task':<{width}}  {'group':<14}  rewrite  retrieval  description")
    groups = [*GROUPS, "custom"]
    for task in sorted(tasks.values(), key=lambda t: groups.index(t.group)):
        print(
            f"{task.name:<{width}}  {task.group:<14}  {'yes' if task.rewrite else 'no':<7}  "
            f"{'yes' if task.retrieval else 'no':<9}  {task.description}"
        )
    rewritten = sum(t.rewrite for t in tasks.values())
    print(f"\n{len(tasks)} tasks, {rewritten} rewritten, {sum(t.retrieval for t in tasks.values())} with retrieval")
    return 0


async def _retrieve(args: argparse.Namespace) -> int:
    if args.search == "none":
        raise UsageError("retrieve needs --search BACKEND (e.g. local:INDEX, wikipedia, serper)")
    criteria = Criteria(args.criteria)
    async with contextlib.AsyncExitStack() as stack:
        llm = None
        if args.classifier != "embedded":
            from .._llm.openai_chat import OpenAIChat  # imported here: it imports the openai SDK

            llm = OpenAIChat(args.model, base_url=args.base_url, timeout=args.timeout, max_retries=args.max_retries)
        if llm is not None:
            stack.push_async_callback(llm.aclose)
        search = _search_client(args.search)
        if search is not None:
            stack.push_async_callback(search.aclose)
        pipeline = Pipeline(
            None,
            classifier=build_classifier(args, criteria, llm, stack),
            search=search,
            criteria=criteria,
            strict=args.strict,
            retrieval_tasks=_retrieval_tasks(args),
            turns=args.turns,
            concurrency=args.concurrency,
            rate_limiter=RateLimiter(args.rpm, args.tpm) if args.rpm or args.tpm else None,
        )
        stats = await retrieve_file(pipeline, args.input, args.output, reclassify=args.reclassify)
    if not args.quiet:
        price = price_for(args.classifier_model or args.model) if llm is not None else None
        print(stats.retrieval_summary(price), file=sys.stderr)
    return 0


def _index(args: argparse.Namespace) -> int:
    from .._search.index import build_index

    stats = build_index(Path(args.corpus), Path(args.output), passage_words=args.passage_words)
    if not args.quiet:
        print(
            f"wrote {stats.path}: {stats.documents:,} documents, {stats.passages:,} passages, "
            f"{stats.bytes / 1_000_000:,.1f} MB in {stats.seconds:,.1f} s",
            file=sys.stderr,
        )
    return 0


def _report(args: argparse.Namespace) -> int:
    from .._report.html import write_report

    summary = write_report(args.input, args.output, title=args.title, price_in=args.price_in, price_out=args.price_out)
    if not args.quiet:
        print(f"wrote {args.output}\n{summary.text()}", file=sys.stderr)
    return 0


def _classify(args: argparse.Namespace) -> int:
    return _run(classify_command(args))


def _run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` that turns SIGTERM into a cancellation of the run, as asyncio does for SIGINT,
    so every task unwinds through its ``finally`` blocks before :class:`Terminated` is raised."""
    terminated = False

    async def guarded() -> T:
        nonlocal terminated
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_sigterm() -> None:
            nonlocal terminated
            terminated = True
            task.cancel()

        installed = False
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread, Windows
            loop.add_signal_handler(signal.SIGTERM, on_sigterm)
            installed = True
        try:
            result = await main
        except asyncio.CancelledError:
            if terminated:
                raise Terminated from None
            raise
        finally:
            if installed:
                loop.remove_signal_handler(signal.SIGTERM)
        # A cancellation can be swallowed on its way (a task that catches CancelledError for its own reasons
        # while the run awaits it): the run then ends as if no signal had come. Still report the signal.
        if terminated:
            raise Terminated
        cancelling = getattr(task, "cancelling", None)  # Python 3.11+; 3.10 raises KeyboardInterrupt as is
        if cancelling is not None and cancelling():
            raise KeyboardInterrupt
        return result

    return asyncio.run(guarded())


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``realign`` console script."""
    parser = _parser()
    _Parser.argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command is None:  # `realign` alone is a usage error (exit 2, as argparse's), shown with what it can do
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _dispatch(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _file_state(path: Any) -> tuple[int, int, int] | None:
    """What identifies a file's current version (inode, modification time, size); None when there is none."""
    try:
        found = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size


def _interrupted(word: str, args: argparse.Namespace, before: tuple[int, int, int] | None) -> str:
    """The line for a run a signal stopped. The output is replaced in one rename, whole or not at all: when the
    signal came after that rename (while the summary was printed, or connections closed), the line says so."""
    output = getattr(args, "output", None)
    after = _file_state(output) if output else None
    if getattr(args, "command", None) in _NO_REQUESTS:  # `report`, `index`: no request, so nothing cached
        thing, verb = _NO_REQUESTS[args.command]
        if after is not None and after != before:
            return f"{word}; {output} was written in full before the signal"
        return f"{word}; no {thing} written; run the same command again to {verb} it"
    if after is not None and after != before:
        return f"{word}; {output} was written in full before the signal; {_cached(args)}"
    resume = "" if getattr(args, "no_cache", False) else ", run again to resume"
    return f"{word}; no output written; {_cached(args)}{resume}"


def _dispatch(args: argparse.Namespace) -> int:
    output = getattr(args, "output", None)
    before = _file_state(output) if output else None
    try:
        if args.command == "tasks":
            return _tasks(args)
        if args.command == "classify":
            _output_not_input(args)
            return _classify(args)
        if args.command == "retrieve":
            _output_not_input(args)
            return _run(_retrieve(args))
        if args.command == "index":
            return _index(args)
        if args.command == "report":
            return _report(args)
        if args.engine == "ray" and not args.dry_run:
            return _reformat_on_ray(args)
        return _run(_reformat(args))
    except (UsageError, InputError, TemplateError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (FatalLLMError, FatalSearchError) as exc:
        print(f"error: {exc} (run stopped, no output written; {_cached(args)})", file=sys.stderr)
        return EXIT_FATAL
    except RealignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FATAL
    except BrokenPipeError:  # `realign ... | head`: the reader left; not an error worth a message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file we could not read or write, named by the OS error
        if exc.errno in _DISK_FULL and not exc.filename and output:
            # A write error names no file: after hours of calls, say which one failed and what is kept.
            kept = "" if args.command in _NO_REQUESTS else f"; {_cached(args)}"  # report, index: nothing cached
            print(f"error: cannot write {output}: {exc.strerror}{kept}: free space and run again", file=sys.stderr)
            return EXIT_USAGE
        print(f"error: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(_interrupted("interrupted (SIGINT)", args, before), file=sys.stderr)
        return EXIT_SIGINT
    except Terminated:
        print(_interrupted("terminated (SIGTERM)", args, before), file=sys.stderr)
        return EXIT_SIGTERM


if __name__ == "__main__":
    raise SystemExit(main())
