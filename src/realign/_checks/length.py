"""The length checks: the rewrite lost too much (the paper's ratio), or was cut off."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from .._text import has_open_fence
from .._tokens import count_tokens
from .._types import CheckInput
from .base import Guard, Verdict, refuse
from .markup import CACHE_SIZE

__all__ = ["LengthRatio", "Truncation"]


#: count_tokens remembering the last texts: an original is counted again for every candidate
_count_tokens_cached = functools.lru_cache(maxsize=CACHE_SIZE)(count_tokens)


class LengthRatio(Guard):
    """Reject a rewrite that lost too much: at most ``min_ratio`` times the original's tokens.

    Token counts are the offline estimate of :func:`realign._tokens.count_tokens`.
    """

    name = "length"

    def __init__(
        self, min_ratio: float = 0.5, *, tasks: Iterable[str] | None = None, skip_tasks: Iterable[str] | None = None
    ) -> None:
        super().__init__(tasks=tasks, skip_tasks=skip_tasks)
        self.min_ratio = min_ratio

    def check(self, item: CheckInput) -> bool | Verdict:
        original = _count_tokens_cached(item.original)
        limit = self.min_ratio * original
        # Every whitespace-separated chunk holds at least one token: when the chunks alone pass,
        # counting is not needed.
        if len(item.rewrite.split()) > limit:
            return True
        tokens = count_tokens(item.rewrite)
        if tokens > limit:
            return True
        ratio = f"{tokens / original:.2f}x" if original else "for"
        return refuse(f"rewrite {tokens} tokens, {ratio} the original's {original}")

    def __repr__(self) -> str:
        return f"LengthRatio(min_ratio={self.min_ratio})"


class Truncation(Guard):
    """Reject a rewrite the model did not finish: cut at the token limit, or a code fence left open.

    An open fence counts only when the original's fences were balanced.
    """

    name = "truncation"

    def check(self, item: CheckInput) -> bool | Verdict:
        if item.finish_reason == "length":
            return refuse("cut at the token limit (finish_reason 'length')")
        if has_open_fence(item.rewrite) and not has_open_fence(item.original):
            return refuse("a code block left open")
        return True
