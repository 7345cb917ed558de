"""How well the post-filter checks tell faithful rewrites from unfaithful ones.

Runs the checks over hand-written evaluation files, where each row is a question, an original answer,
a candidate rewrite (and, for some, search evidence) and the verdict a careful reader would give
(``keep`` or ``reject``, and for a reject the check expected to catch it):

- ``fidelity_eval.jsonl``, ``fidelity_heldout.jsonl``: every task family;
- ``answers_tune.jsonl`` (tuned on), ``answers_dev.jsonl`` (looked at while building),
  ``answers_heldout.jsonl`` (held out: written apart from the checks' code before its first run, never
  tuned on), ``answers_heldout2.jsonl`` and ``answers_heldout3.jsonl`` (each held out for its first run,
  development set since: their misses were studied to fix classes of errors): answer preservation in open
  questions: names swapped, evidence-backed corrections with and without support, final answers restated in
  another form, lists with count words, titles with numbers, short non-English answers (``heldout2`` and
  ``heldout3`` also: math, multiple choice, rankings, how-to answers and 25-30 languages).
- ``answers_heldout4.jsonl``: a fresh held-out set for the final measure (written apart from the checks'
  code and the other sets, run once by the lead, not in the default files: pass it by name).
- ``answers_heldout5.jsonl``: another fresh held-out set, written the same way (not in the default files).
- ``answers_heldout6.jsonl``: a third fresh held-out set, written the same way (not in the default files).
- ``answers_heldout7.jsonl``: a fourth fresh held-out set, written the same way (not in the default files).
- ``answers_heldout8.jsonl``: a fifth fresh held-out set, written the same way (not in the default files).
- ``answers_heldout9.jsonl``: a sixth fresh held-out set, written the same way, with 70 evidence rows (not in
  the default files).
- ``answers_heldout10.jsonl``: a seventh fresh held-out set, written the same way: 50 evidence-backed
  corrections (not in the default files).
- ``answers_heldout11.jsonl``: an eighth fresh held-out set, written the same way: 100 evidence rows (45
  supported corrections, 30 unsupported changes, 25 faithful rewrites; not in the default files).
- ``verdicts_multilingual.jsonl``: true/false verdicts restated and flipped in 15 languages and verdicts given as
  a multiple-choice option ("B) False"), each faithful rewrite beside its flips (written with the checks4 change
  to the verdict check, by its author: a development set measuring both sides, not a held-out one).

    python benchmarks/fidelity.py                      # every file, default checks
    python benchmarks/fidelity.py FILE --disable numbers

Prints accuracy, answer-changing rewrites accepted, the share of good rewrites rejected, per check
the rows it let through that it should have caught ("accepted wrongly", counted for the check the row
names) and the good rows it refused ("refused wrongly"), for the answer sets the same per kind of
rewrite and the evidence-backed corrections recorded (as expected; wrong pairs and empty records, listed), and
every misclassified row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realign import CHECK_NAMES, Check, CheckInput, Evidence, build_checks, find_failure
from realign._checks.corrections import find_corrections

DATA = Path(__file__).parent / "data"
DEFAULT_FILES = (
    DATA / "fidelity_eval.jsonl",
    DATA / "fidelity_heldout.jsonl",
    DATA / "answers_tune.jsonl",
    DATA / "answers_dev.jsonl",
    DATA / "answers_heldout.jsonl",
    DATA / "answers_heldout2.jsonl",
    DATA / "answers_heldout3.jsonl",
    DATA / "verdicts_multilingual.jsonl",
)
#: at most this share of answer-changing rewrites accepted, and of faithful ones refused (answer sets)
TARGET = 0.03


@dataclass
class Outcome:
    """One row and what the checks said of it."""

    row: dict[str, Any]
    reason: str | None
    #: the check's explanation of its refusal
    detail: str | None = None
    #: the corrections the run recorded (from, to), when it ran the pipeline (with a judge, the judge's); None:
    #: the report reads them itself, as the checks alone record them
    recorded: list[tuple[str, str]] | None = None

    @property
    def rejected(self) -> bool:
        return self.reason is not None

    @property
    def correct(self) -> bool:
        return self.rejected == (str(self.row["expected"]) == "reject")


@dataclass
class Report:
    """The figures for one evaluation file."""

    name: str
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        return sum(o.correct for o in self.outcomes) / len(self.outcomes)

    @property
    def answer_changing_accepted(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.row["answer_changing"] and not o.rejected]

    @property
    def good(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.row["expected"] == "keep"]

    @property
    def good_rejected_share(self) -> float:
        good = self.good
        return sum(o.rejected for o in good) / len(good) if good else 0.0

    @property
    def bad(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.row["expected"] == "reject"]

    @property
    def answer_changing_accepted_share(self) -> float:
        changing = [o for o in self.outcomes if o.row["answer_changing"]]
        return len(self.answer_changing_accepted) / len(changing) if changing else 0.0

    @property
    def misclassified(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.correct]


def load(path: Path) -> list[dict[str, Any]]:
    """The rows of one evaluation file."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def evaluate(path: Path, checks: Sequence[Check]) -> Report:
    """Run ``checks`` over every row of ``path``."""
    report = Report(path.name)
    rows = load(path)
    start = time.perf_counter()
    for row in rows:
        item = CheckInput(
            task=row["task"],
            question=row["question"],
            original=row["original"],
            rewrite=row["rewrite"],
            finish_reason=row.get("finish_reason", "stop"),
            evidence=tuple(Evidence.model_validate(e) for e in row.get("evidence", ())),
        )
        failed = find_failure(checks, item)
        report.outcomes.append(Outcome(row, None) if failed is None else Outcome(row, failed.check, failed.detail))
    report.seconds = time.perf_counter() - start
    return report


def _per_guard(report: Report) -> list[str]:
    lines = [f"  {'guard':<14} {'fired':>5} {'on bad':>6} {'on good':>7} {'precision':>9} {'recall':>7}"]
    for name in dict.fromkeys([*CHECK_NAMES, *(o.reason for o in report.outcomes if o.reason)]):
        fired = [o for o in report.outcomes if o.reason == name]
        on_bad = sum(o.row["expected"] == "reject" for o in fired)
        own = [o for o in report.outcomes if o.row.get("guard") == name]
        caught = sum(o.rejected for o in own)
        precision = f"{on_bad / len(fired):.2f}" if fired else "-"
        recall = f"{caught / len(own):.2f}" if own else "-"
        lines.append(f"  {name:<14} {len(fired):>5} {on_bad:>6} {len(fired) - on_bad:>7} {precision:>9} {recall:>7}")
    return lines


def _wrongly(outcomes: Sequence[Outcome], key: str) -> list[str]:
    """Per check (``key="check"``) or kind of rewrite (``key="kind"``): bad rows accepted and good
    rows refused, with their shares."""
    names: dict[str, list[int]] = {}
    for o in outcomes:
        bad = o.row["expected"] == "reject"
        by_check = (o.row.get("guard") or "?") if bad else (o.reason or "")
        name = by_check if key == "check" else (o.row.get("kind") or "-")
        counts = names.setdefault(name, [0, 0, 0, 0])  # bad, accepted wrongly, good, refused wrongly
        counts[0 if bad else 2] += 1
        if bad and not o.rejected:
            counts[1] += 1
        if not bad and o.rejected:
            counts[3] += 1
    if key == "check":
        good = sum(o.row["expected"] == "keep" for o in outcomes)
        for counts in names.values():
            counts[2] = good  # a check's wrong refusals are counted among all the good rows
    lines = [f"  {key:<14} {'accepted wrongly':>17} {'refused wrongly':>16}"]
    for name, (bad, accepted, good, refused) in sorted(names.items()):
        if not name or (key == "check" and not bad and not refused):
            continue
        a = f"{accepted}/{bad} ({accepted / bad:.0%})" if bad else "-"
        r = f"{refused}/{good} ({refused / good:.0%})" if good else "-"
        lines.append(f"  {name:<14} {a:>17} {r:>16}")
    return lines


def _corrections(report: Report) -> list[str]:
    """Evidence-backed corrections the accepted rows record, against the ones the rows expect: rows
    recorded as expected, rows with an empty record, and every recorded pair that is wrong (it matches
    no expected pair, or repeats one already matched), listed."""
    expected = [o for o in report.outcomes if o.row.get("corrections")]
    if not expected:
        return []
    right = loose = 0
    empty: list[str] = []
    wrong: list[str] = []
    for o in expected:
        if o.rejected:
            continue
        item = CheckInput(
            o.row["task"],
            o.row["question"],
            o.row["original"],
            o.row["rewrite"],
            evidence=tuple(Evidence.model_validate(e) for e in o.row.get("evidence", ())),
        )
        found = o.recorded if o.recorded is not None else [(c.before, c.after) for c in find_corrections(item)]
        want = [(c["from"], c["to"]) for c in o.row["corrections"]]
        if not found:
            empty.append(f"  {o.row['id']}: expected {want}")
            continue
        # A date or a name may be recorded with its surrounding words ("November 9, 1988" for "1988").
        matched: set[int] = set()
        bad = []
        for fb, ta in found:
            hits = [i for i, (f, t) in enumerate(want) if f in fb and t in ta and i not in matched]
            if hits:
                matched.add(hits[0])
            else:
                bad.append((fb, ta))
        wrong += [f"  {o.row['id']}: recorded {p}, expected {want}" for p in bad]
        right += len(matched) == len(want) and not bad
        loose += _loosely(found, want)
    accepted = sum(not o.rejected for o in expected)
    return [
        f"corrections recorded as expected  {right}/{len(expected)} ({accepted} of those rows accepted)",
        f"  the same, either span inside the other ('1,820' for '1,820 m', '1638' for '10 augusti 1638'): "
        f"{loose}/{len(expected)}",
        f"corrections wrong pairs           {len(wrong)}",
        *wrong,
        f"corrections empty records         {len(empty)}",
        *empty,
    ]


def _loosely(found: list[tuple[str, str]], want: list[tuple[str, str]]) -> bool:
    """Every expected pair recorded and nothing else, a value counting as recorded when either span holds the
    other: the record names the right change, if not with the writer's exact words."""

    def near(a: str, b: str) -> bool:
        return a in b or b in a

    matched: set[int] = set()
    for before, after in found:
        hits = [i for i, (f, t) in enumerate(want) if near(f, before) and near(t, after) and i not in matched]
        if not hits:
            return False
        matched.add(hits[0])
    return len(matched) == len(want)


def _describe(o: Outcome) -> str:
    row = o.row
    got = f"reject ({o.reason}: {o.detail})" if o.rejected else "keep"
    want = f"reject ({row['guard']})" if row["expected"] == "reject" else "keep"
    return f"  {row['id']} [{row['task']}] expected {want}, got {got}: {row['note']}"


def render(report: Report) -> str:
    """A plain-text report."""
    n = len(report.outcomes)
    bad = n - len(report.good)
    lines = [
        f"== {report.name}: {n} rows ({len(report.good)} good, {bad} bad)",
        f"accuracy                          {report.accuracy:.1%}",
        f"answer-changing rewrites accepted {len(report.answer_changing_accepted)} "
        f"({report.answer_changing_accepted_share:.1%})",
        f"good rewrites rejected            {report.good_rejected_share:.1%}",
        f"time per row                      {1e6 * report.seconds / max(n, 1):.0f} µs",
        "per guard ('precision' = share of its rejections that were bad rows; 'recall' = share of the rows "
        "labelled with it that were rejected by any check):",
        *_per_guard(report),
        "per check ('accepted wrongly': bad rows naming the check that were accepted; 'refused wrongly': "
        "good rows it refused):",
        *_wrongly(report.outcomes, "check"),
    ]
    if any(o.row.get("kind") for o in report.outcomes):
        lines += ["per kind of rewrite:", *_wrongly(report.outcomes, "kind"), *_corrections(report)]
    wrong = report.misclassified
    lines.append(f"misclassified ({len(wrong)}):" if wrong else "misclassified: none")
    lines += [_describe(o) for o in wrong]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("files", nargs="*", type=Path, default=list(DEFAULT_FILES))
    parser.add_argument("--disable", action="append", default=[], metavar="CHECK", help="switch a check off")
    args = parser.parse_args(argv)
    checks = build_checks(disable=args.disable)
    ok = True
    for path in args.files:
        report = evaluate(path, checks)
        print(render(report), end="\n\n")
        if path.name.startswith("answers_"):
            ok &= report.answer_changing_accepted_share <= TARGET and report.good_rejected_share <= TARGET
        else:
            ok &= report.accuracy >= 0.97 and not report.answer_changing_accepted and report.good_rejected_share <= 0.03
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
