"""The length checks: the rewrite lost too much (the paper's ratio), grew far too long, or was cut off."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from .._text import has_open_fence
from .._tokens import count_tokens
from .._types import CheckInput
from .base import Guard, Verdict, refuse
from .markup import CACHE_SIZE

__all__ = ["LengthCeiling", "LengthRatio", "Truncation"]


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


class LengthCeiling(Guard):
    """Reject a rewrite far longer than the original: over ``max_ratio`` times its tokens plus ``slack``.

    A format rewrite adds headings, steps and a closing line, not pages: a reply many times the
    original's length is a runaway generation, a model answering something else, or a server that
    ignored ``max_tokens`` (one reply of 25 MB was seen). ``slack`` leaves room for the structure a
    very short answer gains.
    """

    name = "max_length"

    def __init__(
        self,
        max_ratio: float = 4.0,
        slack: int = 400,
        *,
        tasks: Iterable[str] | None = None,
        skip_tasks: Iterable[str] | None = None,
    ) -> None:
        super().__init__(tasks=tasks, skip_tasks=skip_tasks)
        self.max_ratio, self.slack = max_ratio, slack

    def check(self, item: CheckInput) -> bool | Verdict:
        original = _count_tokens_cached(item.original)
        limit = self.max_ratio * original + self.slack
        size = len(item.rewrite)
        if size <= limit:  # every token holds at least one character: no count needed
            return True
        if size > 64 * limit:  # no token is that long: refuse without counting a huge text
            return refuse(f"rewrite of {size:,} characters, far over {limit:.0f} tokens")
        tokens = count_tokens(item.rewrite)
        if tokens <= limit:
            return True
        return refuse(f"rewrite {tokens} tokens, over {self.max_ratio:g}x the original's {original} + {self.slack}")

    def __repr__(self) -> str:
        return f"LengthCeiling(max_ratio={self.max_ratio}, slack={self.slack})"


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
