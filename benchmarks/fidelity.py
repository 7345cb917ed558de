"""How well the post-filter checks tell faithful rewrites from unfaithful ones.

Runs the checks over hand-written evaluation files (``benchmarks/data/fidelity_*.jsonl``), where each
row is a question, an original answer, a candidate rewrite and the verdict a careful reader would
give (``keep`` or ``reject``, and for a reject the guard expected to catch it).

    python benchmarks/fidelity.py                      # both files, default checks
    python benchmarks/fidelity.py FILE --disable numbers

Prints accuracy, answer-changing rewrites accepted (the number that must be 0), the share of good
rewrites rejected, per-guard precision/recall and every misclassified row.
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

from realign import CHECK_NAMES, Check, CheckInput, build_checks, find_failure

DATA = Path(__file__).parent / "data"
DEFAULT_FILES = (DATA / "fidelity_eval.jsonl", DATA / "fidelity_heldout.jsonl")


@dataclass
class Outcome:
    """One row and what the checks said of it."""

    row: dict[str, Any]
    reason: str | None
    #: the check's explanation of its refusal
    detail: str | None = None

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
        f"answer-changing rewrites accepted {len(report.answer_changing_accepted)}",
        f"good rewrites rejected            {report.good_rejected_share:.1%}",
        f"time per row                      {1e6 * report.seconds / max(n, 1):.0f} µs",
        "per guard ('precision' = share of its rejections that were bad rows; 'recall' = share of the rows "
        "labelled with it that were rejected by any check):",
        *_per_guard(report),
    ]
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
        ok &= report.accuracy >= 0.97 and not report.answer_changing_accepted and report.good_rejected_share <= 0.03
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
