"""``realign reformat IN -o OUT --engine ray``: the same job on a Ray cluster (see ``_jobs/distributed.py``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._exceptions import UsageError
from .._jobs.cost import price_for
from .._jobs.distributed import ray_reformat_file
from .._llm.cache import SQLiteCache, default_cache_path
from .._llm.ratelimit import RateLimiter
from .._pipeline import VerifyCounts
from .main import exit_code_of, judge_price

__all__ = ["reformat_on_ray"]


def reformat_on_ray(args: argparse.Namespace, options: dict[str, Any]) -> int:
    """Run ``reformat`` with an actor pool of ``--ray-actors`` workers; print the usual summary."""
    if args.batch:
        raise UsageError("--batch and --engine ray do not go together: the Batch API needs no workers")
    if args.classifier != "embedded":
        raise UsageError("--engine ray classifies rows with the embedded classifier (drop --classifier)")
    actors = args.ray_actors
    # The ceilings are the run's: each actor keeps its share.
    limiter = RateLimiter(args.rpm / actors if args.rpm else None, args.tpm / actors if args.tpm else None)
    cache = None if args.no_cache else SQLiteCache(args.cache or default_cache_path())
    verified = VerifyCounts(refer=args.refer) if args.verify is not None else None  # the actors' judges, summed
    stats = ray_reformat_file(
        args.input,
        args.output,
        model=args.model,
        base_url=args.base_url,
        actors=actors,
        search_spec=None if args.search == "none" else args.search,
        criteria=args.criteria,
        cache=cache,
        rate_limiter=limiter if args.rpm or args.tpm else None,
        verify=args.verify,
        verified=verified,
        timeout=args.timeout,
        max_retries=args.max_retries,
        address=args.ray_address,
        quiet=args.quiet,
        **options,
    )
    if cache is not None:
        cache.close()
    if not args.quiet:
        price = price_for(args.model, price_in=args.price_in, price_out=args.price_out)
        # The rows record the judge's share of their usage: a separate --verify model is priced at its own price.
        print(stats.summary(price, verify=verified, verify_price=judge_price(args, price)), file=sys.stderr)
    return exit_code_of(stats)
