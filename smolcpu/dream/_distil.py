"""Distilling a decision point: softmax regression over sentence embeddings of the LLM's choices.

For each decision point (a program's ``select`` or word ``match``) with enough of the LLM's
decisions, :func:`distil` fits a :class:`~smolcpu.vm.DistilledModel` in numpy (seconds on a
CPU, nothing but a matrix at run time) and calibrates its deferral threshold on held-out
decisions: every decision is predicted by a model fitted on the other folds, and the
threshold is the lowest confidence at which the decisions it would take still agree with
the LLM at ``TARGET_AGREEMENT`` — as a Wilson lower bound at 95%, not a point estimate, so
a few lucky decisions do not pass. Coverage is the share of held-out decisions it takes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smolcpu.dream._mining import Decided
from smolcpu.vm import DistilledModel

if TYPE_CHECKING:
    import numpy as np

Embedder = Callable[[list[str]], "np.ndarray"]
"""Texts in, unit vectors out (MiniLM's ``embed_many``, or a stand-in in tests)."""

TEACHERS = ("llm",)
"""Whose decisions a distilled chooser learns (its own or a classifier's would teach it nothing new)."""

MIN_DECISIONS = 30
"""A decision point with fewer of the teacher's decisions is not distilled yet."""

TARGET_AGREEMENT = 0.98
"""The agreement with the teacher the decisions it takes must keep (Wilson lower bound)."""

FOLDS = 5
"""Cross-fitting folds: every decision is held out once for calibration."""

Z = 1.96
"""Normal quantile of the Wilson bound (95%)."""


def wilson_lower(agreed: int, total: int, z: float = Z) -> float:
    """The Wilson score interval's lower bound of a proportion ``agreed / total``."""
    if total == 0:
        return 0.0
    p = agreed / total
    centre = p + z * z / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return (centre - spread) / (1 + z * z / total)


def fit(vectors: np.ndarray, labels: np.ndarray, classes: int, *, l2: float = 1e-3, steps: int = 300) -> tuple:
    """Softmax regression by full-batch gradient descent with Adam; ``(weights, bias)``."""
    import numpy as np

    n, dims = vectors.shape
    weights = np.zeros((classes, dims), dtype=np.float32)
    bias = np.zeros(classes, dtype=np.float32)
    target = np.eye(classes, dtype=np.float32)[labels]
    moments = [np.zeros_like(weights), np.zeros_like(bias)]
    squares = [np.zeros_like(weights), np.zeros_like(bias)]
    rate, beta1, beta2 = 0.1, 0.9, 0.999
    for step in range(1, steps + 1):
        logits = vectors @ weights.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        error = (probs - target) / n
        grads = [error.T @ vectors + l2 * weights, error.sum(axis=0)]
        for i, (param, grad) in enumerate(zip((weights, bias), grads, strict=True)):
            moments[i] = beta1 * moments[i] + (1 - beta1) * grad
            squares[i] = beta2 * squares[i] + (1 - beta2) * grad * grad
            corrected = moments[i] / (1 - beta1**step)
            param -= rate * corrected / (np.sqrt(squares[i] / (1 - beta2**step)) + 1e-8)
    return weights, bias


@dataclass(frozen=True)
class Distilled:
    """A decision point's distillation: the model (None when it cannot keep the target) and
    how it did on held-out decisions at its threshold."""

    point: str
    model: DistilledModel | None
    decisions: int
    agreement: float
    lower: float
    coverage: float
    reason: str = ""

    def summary(self) -> dict[str, object]:
        return {
            "point": self.point,
            "decisions": self.decisions,
            "agreement": round(self.agreement, 4),
            "lower": round(self.lower, 4),
            "coverage": round(self.coverage, 4),
            "threshold": None if self.model is None else round(self.model.threshold, 4),
            "reason": self.reason,
        }


def calibrate(confidence: Sequence[float], correct: Sequence[bool], target: float) -> tuple[float, int, int] | None:
    """The lowest threshold whose taken decisions keep a Wilson lower bound ≥ ``target``:
    ``(threshold, taken, agreed)``, or None when no threshold does."""
    order = sorted(range(len(confidence)), key=lambda i: -confidence[i])
    best = None
    agreed = 0
    for rank, i in enumerate(order, start=1):
        agreed += bool(correct[i])
        tied = rank < len(order) and confidence[order[rank]] == confidence[i]
        if not tied and wilson_lower(agreed, rank) >= target:
            best = (float(confidence[i]), rank, agreed)
    return best


def distil(
    point: str, decisions: Sequence[Decided], embed: Embedder, *, target: float = TARGET_AGREEMENT, seed: int = 0
) -> Distilled:
    """Fit and calibrate a distilled chooser for one decision point from the teacher's decisions."""
    import numpy as np

    taught = [d for d in decisions if d.by in TEACHERS]
    classes = sorted({d.option for d in taught})
    if len(taught) < MIN_DECISIONS or len(classes) < 2:
        why = f"{len(taught)} decisions by the LLM among {len(classes)} options; needs {MIN_DECISIONS} among 2 or more"
        return Distilled(point, None, len(taught), 0.0, 0.0, 0.0, why)
    vectors = np.asarray(embed([d.input for d in taught]), dtype=np.float32)
    labels = np.asarray([classes.index(d.option) for d in taught])
    offered = [d.options for d in taught]
    folds = np.random.default_rng(seed).permutation(len(taught)) % FOLDS
    confidence = np.zeros(len(taught))
    correct = np.zeros(len(taught), dtype=bool)
    for fold in range(FOLDS):
        held = folds == fold
        weights, bias = fit(vectors[~held], labels[~held], len(classes))
        trial = DistilledModel(tuple(classes), weights, bias, threshold=0.0)
        for i in np.flatnonzero(held):
            picked = trial.predict(vectors[i], offered[i])
            if picked is not None:
                confidence[i], correct[i] = picked[1], picked[0] == taught[i].option
    found = calibrate(confidence.tolist(), correct.tolist(), target)
    if found is None:
        agreement = float(correct.mean())
        why = f"held-out agreement never keeps a lower bound of {target:.0%} (all taken: {agreement:.1%})"
        return Distilled(point, None, len(taught), agreement, wilson_lower(int(correct.sum()), len(taught)), 0.0, why)
    threshold, taken, agreed = found
    weights, bias = fit(vectors, labels, len(classes))
    model = DistilledModel(tuple(classes), weights, bias, threshold=threshold, point=point)
    return Distilled(point, model, len(taught), agreed / taken, wilson_lower(agreed, taken), taken / len(taught))


__all__ = [
    "FOLDS",
    "MIN_DECISIONS",
    "TARGET_AGREEMENT",
    "TEACHERS",
    "Distilled",
    "Embedder",
    "calibrate",
    "distil",
    "fit",
    "wilson_lower",
]
