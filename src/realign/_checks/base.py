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

from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar, NamedTuple

from .._exceptions import RealignError
from .._types import Check, CheckInput, CheckResult

__all__ = ["CheckError", "Failure", "Guard", "Verdict", "check_name", "find_failure", "find_failures", "verdict_of"]


class CheckError(RealignError):
    """A check raised instead of answering: a bug in that check, not in the row.

    ``check`` is the check's name; the original exception is chained as ``__cause__``.
    """

    def __init__(self, check: str, exc: BaseException) -> None:
        super().__init__(f"check {check!r} raised {type(exc).__name__}: {exc}")
        self.check = check


class Verdict(NamedTuple):
    """A check's answer with its explanation: ``Verdict(False, "missing: 1791, 15")``.

    It is the ``(ok, detail)`` pair a check may return, and it is true exactly when ``ok`` is, so
    ``if guard(item):`` reads a guard's answer as it would a plain bool.
    """

    ok: bool
    detail: str | None = None

    def __bool__(self) -> bool:
        return self.ok


def verdict_of(answer: CheckResult) -> Verdict:
    """What a check returned (``True``, ``False``, ``(False, "why")``...) as a :class:`Verdict`."""
    if isinstance(answer, Verdict):
        return answer
    if isinstance(answer, tuple):
        ok, detail = answer
        return Verdict(bool(ok), None if detail is None else str(detail))
    return Verdict(bool(answer))


def refuse(detail: str) -> Verdict:
    """A refusal explained by ``detail``, kept to one line of at most 200 characters."""
    return Verdict(False, one_line(detail, 200))


def one_line(text: str, size: int = 60) -> str:
    """``text`` on one line (runs of white space as one space), cut to ``size`` characters with "..."."""
    flat = " ".join(text.split())
    return flat if len(flat) <= size else flat[: size - 3].rstrip() + "..."


class Failure(NamedTuple):
    """The first check that refused a candidate: its name and its explanation, if it gave one."""

    check: str
    detail: str | None


def check_name(check: Check) -> str:
    """The name a check reports under: its ``name`` attribute, else ``__name__``, else its class name."""
    name = getattr(check, "name", None) or getattr(check, "__name__", None)
    return str(name) if name else type(check).__name__


class Guard:
    """Base of the built-in checks: a named rule that applies to some tasks.

    ``tasks`` replaces the guard's default task set; ``skip_tasks`` replaces its default list of
    tasks to leave alone (``None`` keeps a default). Subclasses implement :meth:`check`, which may
    answer ``True``/``False`` or ``(False, "why")``; calling the guard answers ``True`` or a
    :class:`Verdict`, which is false when the rewrite is refused.
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

    def __call__(self, item: CheckInput) -> bool | Verdict:
        if item.rewrite == item.original or not self.applies(item.task):
            return True
        answer = self.check(item)
        # A plain tuple is always true: turn it into a Verdict so that ``not guard(item)`` means refused.
        return verdict_of(answer) if isinstance(answer, tuple) else answer

    def check(self, item: CheckInput) -> CheckResult:
        """True keeps the rewrite; False or ``(False, "why")`` refuses it. Only called for rows the guard applies to."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def find_failure(checks: Sequence[Check], item: CheckInput) -> Failure | None:
    """Run ``checks`` in order; return the first that refuses ``item`` (name and explanation), or None.

    A check refuses by returning a false value, or ``(False, "why")``; ``(True, ...)`` keeps.
    A check that raises is a bug in that check: rather than silently rejecting (or keeping) every
    row, the exception is wrapped in :class:`CheckError` naming the check. A pipeline that must
    not stop can catch it and keep the original for that row.
    """
    failures = find_failures(checks, item, last=_always)
    return failures[0] if failures else None


def _always(failure: Failure) -> bool:
    return True


def find_failures(checks: Sequence[Check], item: CheckInput, *, last: Callable[[Failure], bool]) -> list[Failure]:
    """Run ``checks`` in order and return their refusals of ``item``, up to the first for which ``last`` is true
    (then the later checks do not run). The first refusal is :func:`find_failure`'s. Used by referral
    (``refer``): a candidate goes to the judge only when every check that refused it is a soft one, so the
    checks after a soft refusal still run, until a hard one refuses."""
    failures: list[Failure] = []
    for check in checks:
        try:
            answer = check(item)
        except Exception as exc:
            raise CheckError(check_name(check), exc) from exc
        if answer is True:
            continue
        ok, detail = verdict_of(answer)
        if not ok:
            failures.append(Failure(check_name(check), detail))
            if last(failures[-1]):
                break
    return failures
