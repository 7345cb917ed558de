"""Post-filter checks: decide, per candidate, whether the rewrite may replace the original.

What a check is and how a list of them judges a candidate: :mod:`.base`. Checks run in order
and the first failure wins, so the list is ordered cheap-first.

The built-in checks are the paper's two (``length``, ``code_presence``) and the fidelity guards,
one module per family: :mod:`.length`, :mod:`.code`, :mod:`.leaks`, :mod:`.answers`,
:mod:`.structure`, :mod:`.facts`, :mod:`.lang`. :func:`build_checks` assembles a list from them, switching guards off
globally or per task and appending the user's own checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .._exceptions import UsageError
from .._types import Check, CheckInput, CheckResult
from .answers import FinalAnswer, OptionKept, VerdictKept
from .base import Guard, check_name
from .code import CodeFidelity, CodePresence
from .entities import EntitiesKept
from .facts import NumbersKept
from .lang import LanguageConsistency
from .leaks import LeakedScaffolding, Refusal
from .length import LengthCeiling, LengthRatio, Truncation
from .structure import OrderKept, QuestionsKept

__all__ = ["CHECK_NAMES", "REFERABLE_CHECKS", "build_checks", "default_checks", "skip_tasks"]


#: The built-in checks, cheapest first: the order they run in. Each factory takes ``skip_tasks``.
_BUILTIN: Mapping[str, type[Guard]] = {
    Truncation.name: Truncation,
    LengthRatio.name: LengthRatio,
    LengthCeiling.name: LengthCeiling,
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
    EntitiesKept.name: EntitiesKept,
    LanguageConsistency.name: LanguageConsistency,
}

#: the checks that accept evidence-backed corrections (their ``corrections`` switch)
_CORRECTING: frozenset[type[Guard]] = frozenset({NumbersKept, EntitiesKept})


def correcting_check(name: str) -> Check | None:
    """The built-in check ``name`` accepting evidence-backed corrections; None for a check without the switch."""
    factory = _BUILTIN.get(name)
    return factory(corrections=True) if factory in _CORRECTING else None  # type: ignore[call-arg]


def accepts_corrections(checks: Sequence[Check]) -> bool:
    """Whether a list of checks accepts evidence-backed corrections (one of them has its switch on)."""
    return any(type(check) in _CORRECTING and getattr(check, "corrections", False) is True for check in checks)


#: names of the built-in checks, in the order they run
CHECK_NAMES: tuple[str, ...] = tuple(_BUILTIN)

#: The checks whose refusal is a judgement call that ``refer`` (``--refer``) may hand to the --verify judge:
#: whether a name, a number or a final answer written differently is still the same fact. Chosen by their
#: precision on the development sets (benchmarks/README.md: Referral): ``entities`` 0.88-0.90 and ``numbers``
#: 0.97-0.98 refuse good rewrites; ``final_answer`` reads a restated answer, the false refusal issue 15
#: names. Never referred: what protects the file (truncation, length, code, leaks, refusals, markup, order,
#: questions) and what reads a marker (option, verdict), nor ``language``: a translation keeps every fact,
#: which is the judge's question, and is still the wrong output.
REFERABLE_CHECKS: frozenset[str] = frozenset({FinalAnswer.name, NumbersKept.name, EntitiesKept.name})


class _SkipTasks:
    """A check that passes every row of some tasks and otherwise defers to the wrapped check."""

    def __init__(self, check: Check, tasks: Iterable[str]) -> None:
        self.check = check
        self.tasks = frozenset(tasks)
        self.name = check_name(check)

    def __call__(self, item: CheckInput) -> CheckResult:
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
    corrections: bool = True,
) -> list[Check]:
    """The list of checks to run, cheapest first.

    - ``disable``: names of checks to switch off everywhere.
    - ``enable_only``: if given, only these built-in checks run (``extra`` checks always run).
    - ``per_task``: ``{task: [check names]}`` switches those checks off for that task only.
    - ``extra``: the user's own checks, run after the built-ins. One named like a built-in
      replaces it in place (``extra=[LengthRatio(0.3)]`` changes the length threshold).
    - ``corrections``: with evidence, the ``entities`` and ``numbers`` checks accept a name or number
      changed to what the evidence states (and not the old value); False refuses every changed fact.

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
            skips = factory.default_skip_tasks | off.pop(name, set())
            if factory in _CORRECTING:
                chosen.append(factory(skip_tasks=skips, corrections=corrections))  # type: ignore[call-arg]
            else:
                chosen.append(factory(skip_tasks=skips))
    chosen += [c for name, c in extras.items() if name not in disabled]
    return [skip_tasks(c, off[check_name(c)]) if check_name(c) in off else c for c in chosen]


def default_checks(*, corrections: bool = True) -> list[Check]:
    """Every built-in check, on for every task it applies to, cheapest first."""
    return build_checks(corrections=corrections)
