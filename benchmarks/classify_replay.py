"""How well the LLM classifier (``--classifier llm`` and ``cascade``) labels real instructions, its replies replayed.

No model able to classify runs here, so the classifier's requests are answered blind and replayed through the
real code path (an :class:`~realign.LLMClassifier`, and a :class:`~realign.CascadeClassifier` over the
:class:`~realign.EmbeddedClassifier`, both asking a replay stand-in in place of the model; no network):

- ``--dump FILE`` writes the exact chat request the classifier sends for each labelled instruction, as JSONL
  ``{"key", "messages": [{"role", "content"}]}`` (``key``: a hash of the messages; one line per distinct request,
  shuffled with a fixed seed, no labels, no row ids), for strong-model sessions to answer blind; and, in a
  ``labels`` folder beside it (``--labels DIR`` to choose it), ``FILE``'s name with ``.labels.jsonl``: the
  ``{"key", "label"}`` map that those sessions must never see;
- ``--answers FILE`` reads the replies, JSONL ``{"key", "reply"}``, and prints top-1 accuracy of the LLM alone,
  of the cascade at its shipped threshold (the embedded classifier first, the LLM for the rows it is unsure of)
  and of the embedded classifier alone; how many replies named no task or several (ambiguous); per-task recall
  and the weakest tasks (``--errors``: every row the LLM got wrong). A request without a reply is an error naming
  its key (exit 2).

``--labelled FILE`` is a ReAlign JSON list ``[{"instruction", "category"}]`` or our JSONL with the same fields;
``--per-task N`` takes N rows of each task (``--seed S``), the same rows for ``--dump`` and ``--answers``:

    python benchmarks/classify_replay.py --labelled dev.json --per-task 5 --seed 1 --dump requests.jsonl
    python benchmarks/classify_replay.py --labelled dev.json --per-task 5 --seed 1 --answers replies.jsonl

Replies answer the prompt they were written for: after a change of ``prompts/classify_chat.j2``, ``--prompts DIR``
(a prompts folder as it was, e.g. ``git archive COMMIT prompts | tar -x``) dumps and replays with that one.
Figures mean something only from replies written without the labels, on rows the prompt was not tuned on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from classifier import load_any
from judge_replay import MissingReply, ReplayJudge, read_replies, request_key
from realign import (
    CascadeClassifier,
    ChatRequest,
    Completion,
    EmbeddedClassifier,
    LLMClassifier,
    Prompts,
    TaskPrediction,
    count_tokens,
)

#: The shuffle of the dumped requests: fixed, so a dump is the same file every time.
SEED = 16
#: ``--cascade-threshold``'s default: rows the embedded classifier is less sure of go to the LLM.
THRESHOLD = 0.5


def sample(rows: Sequence[tuple[str, str]], per_task: int | None, seed: int) -> list[tuple[str, str]]:
    """``per_task`` rows of each task (all of a task with fewer), drawn with ``seed``; every row without it."""
    if per_task is None:
        return list(rows)
    by_task: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        by_task[row[1]].append(row)
    rng = random.Random(seed)
    return [row for task in sorted(by_task) for row in rng.sample(by_task[task], min(per_task, len(by_task[task])))]


@dataclass
class Run:
    """What one classifier decided for each row."""

    name: str
    predictions: list[TaskPrediction]


async def classify(
    rows: Sequence[tuple[str, str]], classifier: LLMClassifier | CascadeClassifier | EmbeddedClassifier
) -> list[TaskPrediction]:
    return [await classifier.classify(text) for text, _ in rows]


@dataclass
class ReplayModel(ReplayJudge):
    """The classifier's model: the judge replay's stand-in, remembering the key of the last request it saw."""

    identity: str = "replay|classifier"
    last: str = ""

    async def complete(self, request: ChatRequest) -> Completion:
        self.last = request_key(request)
        if self.replies is not None and self.last not in self.replies:
            raise MissingReply(f"no reply for classifier request {self.last} in the answers file")
        return await super().complete(request)


def requests_for(rows: Sequence[tuple[str, str]], prompts: Prompts | None) -> tuple[ReplayModel, list[str]]:
    """Every row's request through the real LLMClassifier (recorded, not answered) and each row's key."""
    model = ReplayModel()
    classifier = LLMClassifier(model, prompts=prompts)
    keys = []
    for text, _ in rows:
        asyncio.run(classifier.classify(text))
        keys.append(model.last)
    return model, keys


def dump(path: Path, labels: Path, model: ReplayModel, rows: Sequence[tuple[str, str]], keys: Sequence[str]) -> int:
    requests = sorted(model.requests.items())
    random.Random(SEED).shuffle(requests)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for key, request in requests:
            messages = [{"role": role, "content": content} for role, content in request.messages]
            f.write(json.dumps({"key": key, "messages": messages}, ensure_ascii=False) + "\n")
    labels.parent.mkdir(parents=True, exist_ok=True)
    with labels.open("w", encoding="utf-8") as f:
        for key, (_, label) in sorted(zip(keys, rows, strict=True)):
            f.write(json.dumps({"key": key, "label": label}) + "\n")
    return len(requests)


def prompt_tokens(model: ReplayModel) -> str:
    """Mean prompt tokens a request (realign's offline estimate, ~4 tokens of chat framing a message) and the
    static part shared by every request (the prefix a server's prompt cache can reuse)."""
    texts = [request.messages[0][1] for request in model.requests.values()]
    mean = sum(count_tokens(t) + 4 for t in texts) / max(len(texts), 1)
    shared = texts[0] if texts else ""
    for text in texts[1:]:
        while not text.startswith(shared):
            shared = shared[: len(shared) - 1]
    return f"prompt tokens a request: {mean:.0f} on average, {count_tokens(shared)} of them a prefix every row shares"


def errors(rows: Sequence[tuple[str, str]], run: Run, replies: Sequence[str]) -> str:
    """Every row the LLM got wrong: its task, the reply and the instruction's start."""
    return "\n".join(
        f"  {task} <- {reply.strip()[:40]!r}: {text[:70]!r}"
        for (text, task), prediction, reply in zip(rows, run.predictions, replies, strict=True)
        if prediction.task != task
    )


def report(rows: Sequence[tuple[str, str]], runs: Sequence[Run], counts: dict[str, int], weakest: int = 12) -> str:
    gold = [task for _, task in rows]
    lines = [f"{'classifier':<34} {'top-1':>14}"]
    for run in runs:
        hits = sum(p.task == g for p, g in zip(run.predictions, gold, strict=True))
        lines.append(f"{run.name:<34} {f'{hits}/{len(rows)} ({hits / len(rows):.3f})':>14}")
    llm = runs[0].predictions
    unnamed = sum(not p.named for p in llm)
    several = sum(bool(p.alternatives) for p in llm)
    lines.append(f"\nLLM replies naming no task: {unnamed}, several (ambiguous): {several}, of {len(llm)}")
    lines.append(
        f"cascade: {counts['embedded']} rows kept the embedded guess (sure enough), {counts['llm']} the LLM's, "
        f"{counts['llm_unclear']} the embedded guess after an unclear reply"
    )
    for run in runs[:2]:
        recall: dict[str, list[bool]] = defaultdict(list)
        for prediction, task in zip(run.predictions, gold, strict=True):
            recall[task].append(prediction.task == task)
        worst = sorted(recall.items(), key=lambda item: (sum(item[1]) / len(item[1]), item[0]))[:weakest]
        lines.append(
            f"\nper-task recall, {run.name}, weakest: " + ", ".join(f"{t} {sum(h)}/{len(h)}" for t, h in worst)
        )
        confusions = Counter((g, p.task) for p, g in zip(run.predictions, gold, strict=True) if g != p.task)
        lines.append(
            "  most frequent confusions: " + ", ".join(f"{g} -> {p} {n}" for (g, p), n in confusions.most_common(8))
        )
    return "\n".join(lines)


async def replay(
    rows: Sequence[tuple[str, str]], replies: dict[str, str], prompts: Prompts | None
) -> tuple[list[Run], dict[str, int]]:
    llm = Run("llm", await classify(rows, LLMClassifier(ReplayModel(replies), prompts=prompts)))
    cascade = CascadeClassifier(
        EmbeddedClassifier(),
        LLMClassifier(ReplayModel(replies), prompts=prompts),
        threshold=THRESHOLD,
    )
    both = Run(f"cascade (threshold {THRESHOLD})", await classify(rows, cascade))
    alone = Run("embedded", await classify(rows, EmbeddedClassifier()))
    return [llm, both, alone], cascade.counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--labelled", type=Path, required=True, metavar="FILE", help="labelled instructions")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dump", type=Path, metavar="FILE", help="write the classifier's requests (JSONL) and stop")
    mode.add_argument("--answers", type=Path, metavar="FILE", help="replay these replies (JSONL {key, reply})")
    parser.add_argument("--per-task", type=int, metavar="N", help="N rows of each task (default: every row)")
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="the draw of --per-task (default: 1)")
    parser.add_argument(
        "--labels", type=Path, metavar="DIR", help="--dump: the label map's folder (default: labels/ beside FILE)"
    )
    parser.add_argument("--errors", action="store_true", help="--answers: list the rows the LLM got wrong")
    parser.add_argument(
        "--prompts", type=Path, metavar="DIR", help="the classifier's template from this prompts folder"
    )
    args = parser.parse_args(argv)
    rows = sample(load_any(args.labelled), args.per_task, args.seed)
    prompts = Prompts(args.prompts) if args.prompts else None
    model, keys = requests_for(rows, prompts)
    if args.dump:
        folder = args.labels or args.dump.parent / "labels"
        labels = folder / (args.dump.name.removesuffix(".jsonl") + ".labels.jsonl")
        count = dump(args.dump, labels, model, rows, keys)
        print(f"{count} classifier requests for {len(rows)} rows written to {args.dump}; labels in {labels}")
        print(prompt_tokens(model))
        return 0
    replies = read_replies(args.answers)
    try:
        runs, counts = asyncio.run(replay(rows, replies, prompts))
    except MissingReply as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"== {args.labelled.name}: {len(rows)} rows, {len(set(keys))} requests, {len(replies)} replies")
    print(report(rows, runs, counts))
    if args.errors:
        print("\nrows the LLM got wrong (task <- reply: instruction):")
        print(errors(rows, runs[0], [replies[key] for key in keys]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
