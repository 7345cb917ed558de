"""What the --verify judge adds to the checks, measured on an answers set with the judge's replies replayed.

Runs every row of an answers set (``benchmarks/data/answers_*.jsonl``, read by ``fidelity.load``) through the
real code path: a :class:`~realign.Pipeline` with the default checks and an :class:`~realign.LLMVerifier`,
the rewriter scripted to return the row's rewrite. The judge's LLM is a replay seam:

- ``--dump FILE`` writes every judge request the runs would send, as JSONL ``{"key", "system", "user"}``
  (``key``: a stable hash of the messages; one line per distinct request, shuffled with a fixed seed, no
  labels and no row ids), for a judge (a person or a strong model) to answer blind;
- ``--answers FILE`` reads the replies, JSONL ``{"key", "reply"}``, and prints what each configuration
  decides (``CONFIGS``): the checks alone (with the rules' corrections, ``--corrections``, and without any, the
  default without a judge), the checks then ``--verify``, and the checks then ``--verify --refer``
  (answer-changing rewrites accepted and faithful ones refused, then ``fidelity.py``'s report for each: per
  check, per kind of rewrite, every misclassified row; ``--brief``: the first table only). A request without a
  reply is an error naming its key (exit 2), or with ``--unanswered yes|no`` is given that verdict (the keys are
  printed: take those requests from a ``--dump`` for a blind judge): the two bounds of what a judge decides
  on candidates a change of the checks newly lets through or refers.

    python benchmarks/judge_replay.py benchmarks/data/answers_dev.jsonl --dump requests.jsonl
    python benchmarks/judge_replay.py benchmarks/data/answers_dev.jsonl --answers replies.jsonl

Replies answer the prompts they were written for: after a change of the judge's templates, ``--prompts DIR`` (a
prompts folder as it was, e.g. ``git archive COMMIT prompts | tar -x``) replays them against those.

The replies must come from a judge that saw only the dumped prompts: figures from replies written while
looking at the labels, or a prompt tuned on a held-out set's replies, measure nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fidelity import TARGET, Outcome, Report, load, render
from realign import (
    ChatRequest,
    Choice,
    Completion,
    Evidence,
    Example,
    FakeLLM,
    LLMVerifier,
    Pipeline,
    Prompts,
    RealignError,
    Result,
    Usage,
    count_tokens,
)

#: The shuffle of the dumped requests: fixed, so a dump is the same file every time.
SEED = 15
#: What each configuration runs: a judge?, referrals?, corrections (see ``Pipeline``). "checks only" measures the
#: rules' corrections (``--corrections``); "checks, no corrections" is the default without a judge, which refuses
#: every changed fact (the same as "checks only" on rows without evidence).
CONFIGS: dict[str, tuple[bool, bool, bool | Literal["auto"]]] = {
    "checks only": (False, False, True),
    "checks, no corrections": (False, False, "auto"),
    "checks + verify": (True, False, "auto"),
    "checks + verify + refer": (True, True, "auto"),
}


def request_key(request: ChatRequest) -> str:
    """A stable name for a judge request: the hash of its messages (roles and texts)."""
    text = json.dumps([list(message) for message in request.messages], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


class MissingReply(RealignError):
    """The replies file has no answer for a request the run sends."""


@dataclass
class ReplayJudge:
    """The judge's LLM: records every request (``--dump``) and answers from ``replies`` when given."""

    replies: dict[str, str] | None = None
    requests: dict[str, ChatRequest] = field(default_factory=dict)
    identity: str = "replay|judge"
    #: the verdict given to a request the replies do not answer ("yes"/"no"); None: an error
    unanswered: str | None = None
    #: the keys of the requests answered with ``unanswered``
    missing: set[str] = field(default_factory=set)

    async def complete(self, request: ChatRequest) -> Completion:
        key = request_key(request)
        self.requests.setdefault(key, request)
        if self.replies is None:  # a dump: any well-formed answer lets the run go on
            return Completion([Choice("VERDICT: no\nREASON: dump run.", "stop")], Usage(calls=1))
        if key not in self.replies:
            if self.unanswered is None:
                raise MissingReply(f"no reply for judge request {key} in the answers file")
            self.missing.add(key)
            reply = f"VERDICT: {self.unanswered}\nREASON: no reply in the answers file (--unanswered)."
            return Completion([Choice(reply, "stop")], Usage(calls=1))
        return Completion([Choice(self.replies[key], "stop")], Usage(calls=1))

    async def aclose(self) -> None:
        pass


@dataclass
class Row:
    """One row of an answers set and the rewrite the scripted rewriter returns for it."""

    data: dict[str, Any]

    @property
    def example(self) -> Example:
        evidence = [Evidence.model_validate(e) for e in self.data.get("evidence", ())] or None
        return Example(
            question=self.data["question"], response=self.data["original"], task=self.data["task"], evidence=evidence
        )

    @property
    def reply(self) -> str:
        return f"Reasoning: replayed.\nRevised response:\n{self.data['rewrite']}"


async def run(
    rows: Sequence[Row],
    judge: ReplayJudge | None,
    *,
    refer: bool,
    prompts: Prompts | None = None,
    corrections: bool | Literal["auto"] = "auto",
) -> list[Result]:
    """Every row through one pipeline (the default checks; with ``judge``, an LLMVerifier asking it, with the
    judge templates of ``prompts``, default the built-in ones; ``corrections`` as ``Pipeline`` takes it). Rows go
    one at a time: the scripted rewriter answers for the row in hand."""
    current = [""]
    writer = FakeLLM(lambda request: current[0])
    verifier = LLMVerifier(judge, prompts=prompts) if judge is not None else None
    pipeline = Pipeline(
        writer, cache=False, verifier=verifier, refer=refer, max_reasks=0, concurrency=1, corrections=corrections
    )
    results = []
    for row in rows:
        current[0] = row.reply
        results.append(await pipeline.areformat_one(row.example))
    await pipeline.aclose()
    return results


def outcome(row: Row, result: Result) -> Outcome:
    """A result as ``fidelity.py`` counts it: the check (or ``verify``) that refused it, else None."""
    if result.tag == "rewrite":
        return Outcome(row.data, None, recorded=[(c.before, c.after) for c in result.corrections])
    refused = next((c for c in result.candidates if c.rejected), None)
    reason = (result.reason or "?").removeprefix("filter:")
    return Outcome(row.data, reason, refused.detail if refused else None)


def figures(name: str, rows: Sequence[Row], results: Sequence[Result]) -> Report:
    report = Report(name)
    report.outcomes = [outcome(row, result) for row, result in zip(rows, results, strict=True)]
    return report


def dump(path: Path, judge: ReplayJudge) -> int:
    requests = sorted(judge.requests.items())
    random.Random(SEED).shuffle(requests)
    with path.open("w", encoding="utf-8") as f:
        for key, request in requests:
            messages = dict(request.messages)
            line = {"key": key, "system": messages["system"], "user": messages["user"]}
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    return len(requests)


def prompt_sizes(judge: ReplayJudge) -> str:
    """Mean prompt tokens of plain verify requests and of referrals (realign's offline estimate, ~4 tokens
    of chat framing a message, as verify.py counts them): what a referral costs over a plain judge call."""
    sizes: dict[bool, list[int]] = {False: [], True: []}
    for request in judge.requests.values():
        # row text is neutralised, so only the referral's own block can open a line with this tag
        referral = any("\n<flagged>\n" in f"\n{text}" for _, text in request.messages)
        sizes[referral].append(sum(count_tokens(text) + 4 for _, text in request.messages))
    plain, referred = sizes[False], sizes[True]
    return (
        f"prompt tokens a request: plain verify {sum(plain) / max(len(plain), 1):.0f} ({len(plain)} requests), "
        f"referral {sum(referred) / max(len(referred), 1):.0f} ({len(referred)} requests)"
    )


def read_replies(path: Path) -> dict[str, str]:
    replies: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                item = json.loads(line)
                replies[str(item["key"])] = str(item["reply"])
    return replies


def agreed(rows: Sequence[Row], path: Path) -> tuple[list[Row], list[str]]:
    """The rows whose label a second reader, who saw neither the labels nor the checks, agrees with, and the
    ids of the others. A disputed row is evidence of neither a wrong accept nor a wrong refusal, so it counts
    in neither figure; every row must have a second label."""
    with path.open(encoding="utf-8") as f:
        second = {str(item["id"]): str(item["label"]) for item in map(json.loads, filter(str.strip, f))}
    kept = [row for row in rows if second[row.data["id"]] == row.data["expected"]]
    return kept, [row.data["id"] for row in rows if second[row.data["id"]] != row.data["expected"]]


def summary(reports: Sequence[Report]) -> str:
    lines = [f"{'configuration':<26} {'answer-changing accepted':>25} {'good refused':>16}"]
    for report in reports:
        changing = [o for o in report.outcomes if o.row["answer_changing"]]
        accepted = len(report.answer_changing_accepted)
        good = report.good
        refused = sum(o.rejected for o in good)
        lines.append(
            f"{report.name:<26} {f'{accepted}/{len(changing)} ({accepted / max(len(changing), 1):.1%})':>25} "
            f"{f'{refused}/{len(good)} ({refused / max(len(good), 1):.1%})':>16}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("file", type=Path, help="an answers set (benchmarks/data/answers_*.jsonl)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dump", type=Path, metavar="FILE", help="write the judge requests (JSONL) and stop")
    mode.add_argument("--answers", type=Path, metavar="FILE", help="replay these judge replies (JSONL)")
    parser.add_argument("--prompts", type=Path, metavar="DIR", help="the judge's templates from this prompts folder")
    parser.add_argument("--brief", action="store_true", help="only the table of the configurations")
    parser.add_argument(
        "--unanswered",
        choices=("yes", "no"),
        help="answer requests the replies lack with this verdict (their keys are printed) instead of stopping: "
        "a bound on what a judge would decide, after a change of the checks sends it new candidates",
    )
    parser.add_argument(
        "--second-reader",
        type=Path,
        metavar="FILE",
        help="labels of a second, blind reader (JSONL id, label, why): rows the two readers disagree on are left out",
    )
    args = parser.parse_args(argv)
    rows = [Row(data) for data in load(args.file)]
    if args.second_reader:
        rows, disputed = agreed(rows, args.second_reader)
        print(f"left out, the second reader disagreeing with the label: {len(disputed)} ({', '.join(disputed)})")
    prompts = Prompts(args.prompts) if args.prompts else None
    if args.dump:
        judge = ReplayJudge()
        asyncio.run(
            run(rows, judge, refer=True, prompts=prompts)
        )  # a referral run sends every request a plain one does, and more
        count = dump(args.dump, judge)
        print(f"{count} judge requests for {len(rows)} rows written to {args.dump}")
        print(prompt_sizes(judge))
        return 0
    replies = read_replies(args.answers)
    reports = []
    missing: set[str] = set()
    try:
        for name, (judged, refer, corrections) in CONFIGS.items():
            judge = ReplayJudge(replies, unanswered=args.unanswered) if judged else None
            results = asyncio.run(run(rows, judge, refer=refer, prompts=prompts, corrections=corrections))
            reports.append(figures(name, rows, results))
            missing |= judge.missing if judge is not None else set()
    except MissingReply as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"== {args.file.name}: {len(rows)} rows, {len(replies)} replies")
    if missing:
        print(f"{len(missing)} requests without a reply answered {args.unanswered!r}: {', '.join(sorted(missing))}")
    print(summary(reports))
    for report in reports if not args.brief else ():
        print(f"\n-- {report.name}\n" + render(report))
    last = reports[-1]
    return 0 if last.answer_changing_accepted_share <= TARGET and last.good_rejected_share <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
