"""Evidence-backed corrections: the facts an accepted rewrite changed to what the row's evidence states.

With evidence, the entity and number checks accept a changed name or number when the evidence states
the new value and not the old one (see ``corrections`` of :class:`~realign.Pipeline`); this module
lists those changes so that the row can record them as ``corrections: [{"from", "to", "source"}]``.
"""

from __future__ import annotations

from .._models import Correction
from .._types import CheckInput
from .entities import judge
from .facts import judge_numbers

__all__ = ["find_corrections"]


def find_corrections(item: CheckInput) -> list[Correction]:
    """The changes of names and numbers from ``item.original`` to ``item.rewrite`` that the evidence
    supports; empty without evidence."""
    if not item.evidence or item.rewrite == item.original:
        return []
    _, numbers = judge_numbers(item, corrections=True)
    return [*judge(item, corrections=True).corrections, *numbers]
