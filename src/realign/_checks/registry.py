"""Post-filter checks: decide, per candidate, whether the rewrite may replace the original.

A check is any callable ``check(item: CheckInput) -> bool`` (True keeps the rewrite). Its ``name``
attribute, or else its ``__name__``, becomes the rejection reason ``filter:<name>``. Checks run in
order and the first failure wins, so the list is ordered cheap-first.

The built-in checks are the paper's two (``length``, ``code_presence``) and the fidelity guards
of :mod:`realign._guards`. :func:`build_checks` assembles a list from them, switching guards off
globally or per task and appending the user's own checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .._exceptions import RealignError, UsageError
from .._types import Check, CheckInput
from .guards import (
    CodeFidelity,
    CodePresence,
    FinalAnswer,
    Guard,
    LanguageConsistency,
    LeakedScaffolding,
    LengthRatio,
    NumbersKept,
    OptionKept,
    OrderKept,
    QuestionsKept,
    Refusal,
    Truncation,
    VerdictKept,
)

__all__ = [
    "CHECK_NAMES",
    "CheckError",
    "CodePresence",
    "LengthRatio",
    "build_checks",
    "check_name",
    "default_checks",
    "first_failure",
    "skip_tasks",
]


class CheckError(RealignError):
    """A check raised instead of answering True/False: a bug in that check, not in the row.

    ``check`` is the check's name; the original exception is chained as ``__cause__``.
    """

    def __init__(self, check: str, exc: BaseException) -> None:
        super().__init__(f"check {check!r} raised {type(exc).__name__}: {exc}")
        self.check = check


#: The built-in checks, cheapest first: the order they run in. Each factory takes ``skip_tasks``.
_BUILTIN: Mapping[str, type[Guard]] = {
    Truncation.name: Truncation,
    LengthRatio.name: LengthRatio,
    CodePresence.name: CodePresence,
    LeakedScaffolding.name: LeakedScaffolding,
    Refusal.name: Refusal,
    FinalAnswer.name: FinalAnswer,
    OptionKept.name: OptionKept,
    OrderKept.name: OrderKept,
    VerdictKept.name: VerdictKept,
    CodeFidelity.name: CodeFidelity,
    QuestionsKept.name: QuestionsKept,
    NumbersKept.name: NumbersKept,
    LanguageConsistency.name: LanguageConsistency,
}

#: names of the built-in checks, in the order they run
CHECK_NAMES: tuple[str, ...] = tuple(_BUILTIN)


def check_name(check: Check) -> str:
    """The name a check reports under: its ``name`` attribute, else ``__name__``, else its class name."""
    name = getattr(check, "name", None) or getattr(check, "__name__", None)
    return str(name) if name else type(check).__name__


class _SkipTasks:
    """A check that passes every row of some tasks and otherwise defers to the wrapped check."""

    def __init__(self, check: Check, tasks: Iterable[str]) -> None:
        self.check = check
        self.tasks = frozenset(tasks)
        self.name = check_name(check)

    def __call__(self, item: CheckInput) -> bool:
        return item.task in self.tasks or self.check(item)

    def __repr__(self) -> str:
        return f"skip_tasks({self.check!r}, {sorted(self.tasks)!r})"


def skip_tasks(check: Check, tasks: Iterable[str]) -> Check:
    """``check`` switched off for ``tasks`` (it passes their rows); keeps the check's name."""
    return _SkipTasks(check, tasks)


def _validate(names: Iterable[str], valid: Sequence[str], what: str) -> None:
    unknown = sorted(set(names) - set(valid))
    if unknown:
        raise UsageError(f"unknown check name(s) in {what}: {', '.join(unknown)}; valid names: {', '.join(valid)}")


def _switched_off(per_task: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """``{task: checks}`` turned into ``{check: tasks}``."""
    off: dict[str, set[str]] = {}
    for task, names in per_task.items():
        if isinstance(names, str):
            names = (names,)  # one name given bare: do not split it into letters
        for name in names:
            off.setdefault(name, set()).add(task)
    return off


def build_checks(
    disable: Iterable[str] = (),
    enable_only: Iterable[str] | None = None,
    per_task: Mapping[str, Iterable[str]] | None = None,
    extra: Sequence[Check] = (),
) -> list[Check]:
    """The list of checks to run, cheapest first.

    - ``disable``: names of checks to switch off everywhere.
    - ``enable_only``: if given, only these built-in checks run (``extra`` checks always run).
    - ``per_task``: ``{task: [check names]}`` switches those checks off for that task only.
    - ``extra``: the user's own checks, run after the built-ins. One named like a built-in
      replaces it in place (``extra=[LengthRatio(0.3)]`` changes the length threshold).

    Names are those of :data:`CHECK_NAMES` plus the names of ``extra`` checks; any other name
    raises :class:`~realign.UsageError` listing the valid ones.
    """
    extras = {check_name(c): c for c in extra}
    valid = [*CHECK_NAMES, *(n for n in extras if n not in _BUILTIN)]
    disabled = set(disable)
    off = _switched_off(per_task or {})
    _validate(disabled, valid, "disable")
    _validate(off, valid, "per_task")
    only = None if enable_only is None else set(enable_only)
    if only is not None:
        _validate(only, CHECK_NAMES, "enable_only")

    chosen: list[Check] = []
    for name, factory in _BUILTIN.items():
        if name in disabled or (only is not None and name not in only and name not in extras):
            continue
        if name in extras:
            chosen.append(extras.pop(name))
        else:
            # Per-task switches add to the guard's own default skips rather than replace them.
            chosen.append(factory(skip_tasks=factory.default_skip_tasks | off.pop(name, set())))
    chosen += [c for name, c in extras.items() if name not in disabled]
    return [skip_tasks(c, off[check_name(c)]) if check_name(c) in off else c for c in chosen]


def default_checks() -> list[Check]:
    """Every built-in check, on for every task it applies to, cheapest first."""
    return build_checks()


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
        if not ok:
            return check_name(check)
    return None
