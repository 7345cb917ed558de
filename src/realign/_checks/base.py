"""The check seam: what a check is, how a list of checks judges a candidate, and the base of the built-ins.

A check is any callable ``check(item: CheckInput)`` answering True (keep the rewrite) or False
(refuse it). Its ``name`` attribute, or else its ``__name__``, becomes the rejection reason
``filter:<name>``. :class:`Guard` is the base of the built-in checks ("guards"): a named rule with
a default set of tasks it applies to, and ``tasks=`` / ``skip_tasks=`` to change that. A guard
passes rows it does not apply to and rows whose rewrite is the original unchanged (adaptive
rewriting).

Most guards look for something the *original* has and ask whether the rewrite kept it (the final
answer, the chosen option, the verdict, the code, the numbers, the language), or for something the
rewrite has and the original had not (leaked prompt scaffolding, a refusal). Comparing with the
original is what keeps them from rejecting faithful rewrites of unusual rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from .._exceptions import RealignError
from .._types import Check, CheckInput

__all__ = ["CheckError", "Guard", "check_name", "first_failure"]


class CheckError(RealignError):
    """A check raised instead of answering True/False: a bug in that check, not in the row.

    ``check`` is the check's name; the original exception is chained as ``__cause__``.
    """

    def __init__(self, check: str, exc: BaseException) -> None:
        super().__init__(f"check {check!r} raised {type(exc).__name__}: {exc}")
        self.check = check


def check_name(check: Check) -> str:
    """The name a check reports under: its ``name`` attribute, else ``__name__``, else its class name."""
    name = getattr(check, "name", None) or getattr(check, "__name__", None)
    return str(name) if name else type(check).__name__


class Guard:
    """Base of the built-in checks: a named rule that applies to some tasks.

    ``tasks`` replaces the guard's default task set; ``skip_tasks`` replaces its default list of
    tasks to leave alone (``None`` keeps a default). Subclasses implement :meth:`check`.
    """

    name: ClassVar[str] = "guard"
    #: the tasks the guard applies to when ``tasks`` is not given; ``None`` means every task
    default_tasks: ClassVar[frozenset[str] | None] = None
    #: the tasks it leaves alone when ``skip_tasks`` is not given
    default_skip_tasks: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, tasks: Iterable[str] | None = None, skip_tasks: Iterable[str] | None = None) -> None:
        self.tasks = frozenset(tasks) if tasks is not None else self.default_tasks
        self.skip_tasks = frozenset(skip_tasks) if skip_tasks is not None else self.default_skip_tasks

    def applies(self, task: str) -> bool:
        """Whether the guard looks at rows of ``task`` at all."""
        return task not in self.skip_tasks and (self.tasks is None or task in self.tasks)

    def __call__(self, item: CheckInput) -> bool:
        if item.rewrite == item.original or not self.applies(item.task):
            return True
        return self.check(item)

    def check(self, item: CheckInput) -> bool:
        """True keeps the rewrite. Only called for rows the guard applies to."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def first_failure(checks: Sequence[Check], item: CheckInput) -> str | None:
    """Run ``checks`` in order; return the name of the first that rejects ``item``, or None.

    A check that raises is a bug in that check: rather than silently rejecting (or keeping) every
    row, the exception is wrapped in :class:`CheckError` naming the check. A pipeline that must
    not stop can catch it and keep the original for that row.
    """
    for check in checks:
        try:
            ok = check(item)
        except Exception as exc:
            raise CheckError(check_name(check), exc) from exc
        if ok is False or (isinstance(ok, tuple) and ok and ok[0] is False) or not ok:
            return check_name(check)
    return None
