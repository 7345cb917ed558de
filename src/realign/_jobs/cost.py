"""Token prices and cost estimates.

Prices are US dollars per 1M tokens as published by OpenAI (list prices, late 2026; check yours and
override with ``--price-in``/``--price-out``). The Batch API bills half of both.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._models import Usage

__all__ = ["PRICES", "Price", "price_for", "split_cost"]


@dataclass(frozen=True)
class Price:
    """Dollars per 1M tokens: prompt (``input``), prompt served from the provider's cache, completion."""

    input: float
    output: float
    cached_input: float | None = None

    def cost(self, usage: Usage, *, batch: bool = False) -> float:
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        cached_rate = self.cached_input if self.cached_input is not None else self.input
        dollars = (
            (usage.prompt_tokens - cached) * self.input + cached * cached_rate + usage.completion_tokens * self.output
        ) / 1_000_000
        return dollars / 2 if batch else dollars


PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "gpt-3.5-turbo-1106": Price(1.00, 2.00),
}


def price_for(model: str, *, price_in: float | None = None, price_out: float | None = None) -> Price | None:
    """The price of ``model`` (dated snapshots such as ``gpt-4o-2024-08-06`` match their family),
    with either side overridden; None when unknown and not overridden."""
    known = PRICES.get(model)
    if known is None:
        family = max((name for name in PRICES if model.startswith(name + "-")), key=len, default=None)
        known = PRICES.get(family) if family else None
    if known is None and (price_in is None or price_out is None):
        return None
    base = known or Price(0.0, 0.0)
    return Price(
        price_in if price_in is not None else base.input,
        price_out if price_out is not None else base.output,
        base.cached_input if price_in is None else None,
    )


def split_cost(
    usage: Usage, judged: Usage, price: Price | None, judge_price: Price | None, *, batch: bool = False
) -> float | None:
    """Dollars for ``usage`` of which ``judged`` is a --verify judge's share: the rest at ``price``, the
    judge's at ``judge_price``; None when a price is missing for tokens that need it."""
    if price is None or (judged.calls and judge_price is None):
        return None
    rest = Usage(
        prompt_tokens=usage.prompt_tokens - judged.prompt_tokens,
        completion_tokens=usage.completion_tokens - judged.completion_tokens,
        cached_tokens=usage.cached_tokens - judged.cached_tokens,
        calls=usage.calls - judged.calls,
    )
    return price.cost(rest, batch=batch) + (judge_price.cost(judged, batch=batch) if judge_price else 0.0)
