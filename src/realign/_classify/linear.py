"""A small multinomial logistic regression, trained offline and shipped as weights.

Naive Bayes counts how often each word goes with each task; a discriminative model instead learns how
much each word *tells apart* the tasks (a word every task uses gets no weight, one that separates two
close tasks gets a large one). On real instructions phrased unlike our examples it generalises better
(measured in ``benchmarks/README.md``). Training takes seconds of pure Python, too long for the first
prediction, so the weights are fitted once from the shipped examples only (never from third-party
data) by ``python -m realign._classify.fit`` and shipped in
``_data/classifier_linear.json``; the classifier adds them to its naive Bayes table, so they cost
nothing per prediction.

Training is plain stochastic gradient descent on the cross-entropy with an L2 penalty on the rows an
example touches and a learning rate falling linearly to zero, three times with fixed shuffles, averaged:
the same examples give the same weights on every machine.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Mapping, Sequence

__all__ = ["LinearWeights", "fit_softmax"]

#: Per feature, the (class, weight) pairs kept after pruning; and the per-class bias.
LinearWeights = tuple[Mapping[str, Sequence[Sequence[float]]], Sequence[float]]


def fit_softmax(
    rows: Sequence[tuple[Sequence[str], int]],
    n_classes: int,
    *,
    epochs: int = 10,
    learning_rate: float = 0.3,
    l2: float = 1e-3,
    prune: float = 0.2,
    runs: int = 3,
) -> LinearWeights:
    """Fit softmax regression on binary features; weights below ``prune`` in size are dropped.

    ``rows`` are ``(features, class index)`` pairs (each feature counted once per row). The weights are
    the mean of ``runs`` fits with different shuffles (seeds 0, 1, ...): one fit's figures moved by up
    to two points with its shuffle, their mean does not. Pruning at 0.2 rather than 0.1 keeps 41,000
    weights instead of 70,000 (a faster first prediction) and scored as well or better (one row of one
    of our sets lost).
    """
    table: dict[str, list[float]] = {}
    bias = [0.0] * n_classes
    for seed in range(runs):
        one, intercept = _fit_once(rows, n_classes, epochs, learning_rate, l2, seed)
        for feature, weights in one.items():
            total = table.setdefault(feature, [0.0] * n_classes)
            total[:] = [t + w / runs for t, w in zip(total, weights, strict=True)]
        bias = [b + w / runs for b, w in zip(bias, intercept, strict=True)]
    pruned: dict[str, Sequence[Sequence[float]]] = {
        feature: [(cls, round(w, 3)) for cls, w in enumerate(weights) if abs(w) >= prune]
        for feature, weights in table.items()
    }
    return {feature: kept for feature, kept in pruned.items() if kept}, [round(b, 3) for b in bias]


def _fit_once(
    rows: Sequence[tuple[Sequence[str], int]], n_classes: int, epochs: int, learning_rate: float, l2: float, seed: int
) -> tuple[dict[str, list[float]], list[float]]:
    table: dict[str, list[float]] = {}
    bias = [0.0] * n_classes
    order = list(range(len(rows)))
    shuffle = random.Random(seed).shuffle
    steps = max(1, epochs * len(rows))
    step = 0
    for _ in range(epochs):
        shuffle(order)
        for i in order:
            features, label = rows[i]
            rate = learning_rate * (1.0 - step / steps) + 1e-3
            step += 1
            touched = [table.setdefault(feature, [0.0] * n_classes) for feature in dict.fromkeys(features)]
            logits = list(bias)
            for weights in touched:
                logits = list(map(operator.add, logits, weights))
            top = max(logits)
            exps = [math.exp(value - top) for value in logits]
            total = sum(exps)
            gradient = [rate * value / total for value in exps]
            gradient[label] -= rate
            decay = 1.0 - rate * l2
            for weights in touched:
                weights[:] = [w * decay - g for w, g in zip(weights, gradient, strict=True)]
            bias = [b - g for b, g in zip(bias, gradient, strict=True)]
    return table, bias
