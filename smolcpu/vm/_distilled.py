"""Distilled choosers: small models ``smol dream`` trained on the LLM's own decisions.

A :class:`DistilledModel` is softmax regression over MiniLM sentence embeddings, with a
confidence threshold calibrated so that the decisions it takes agree with the LLM's; below
it, it defers. Each version is an artifact in the store; the **pointer file**
(``SMOL_HOME/dream/choosers.json``) says which version each decision point uses.
:class:`DistilledChooser` reads the pointer again when it changes (looked at every
``POLL_S`` seconds), so a running server picks up what dreaming learnt without a restart,
and a revert takes effect the same way. A share of the decisions it takes (``audit``) still
goes to the LLM: the LLM's answer is used, and recorded beside the model's, so the next
dream measures the version's agreement in service and rolls it back if it fell.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smolcpu import config
from smolcpu.artifact import RunIndex, open_store
from smolcpu.errors import ArtifactError, SmolError
from smolcpu.units import text_for_model
from smolcpu.vm._chooser import Choice, Chooser, Decision, Embed

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("smolcpu.vm")

POLL_S = 2.0
"""How often a distilled chooser looks whether the pointer file changed."""

MODEL_ROLE = "distilled-chooser"
"""The role of a distilled model's artifact in the store."""


def pointer_path() -> Path:
    """The pointer file: which distilled version each decision point uses (``SMOL_HOME/dream``)."""
    return config.dream_dir() / "choosers.json"


def point_key(program: str, block: str) -> str:
    """A decision point's name in the pointer file: the program's file name and the block id."""
    return f"{Path(program).name or '-'}#{block}"


def read_pointer(path: Path | None = None) -> dict[str, Any]:
    """The pointer file's content (``{"points": {KEY: {"version": ID, "history": [...]}}}``)."""
    path = path or pointer_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"points": {}}
    except (OSError, ValueError) as exc:
        log.warning("cannot read the distilled choosers' pointer %s: %s", path, exc)
        return {"points": {}}
    return data if isinstance(data.get("points"), dict) else {"points": {}}


@dataclass(frozen=True)
class DistilledModel:
    """Softmax regression ``p = softmax(W x + b)`` over unit embeddings, and its threshold."""

    labels: tuple[str, ...]
    weights: np.ndarray  # (labels, dimensions)
    bias: np.ndarray  # (labels,)
    threshold: float
    point: str = ""

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Each row's probability of each label."""
        import numpy as np

        logits = np.atleast_2d(vectors) @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, vector: Sequence[float] | np.ndarray, options: Sequence[str]) -> tuple[str, float] | None:
        """The label it picks among ``options`` and its confidence, or None when it knows
        none of them or is below its threshold."""
        import numpy as np

        allowed = [i for i, label in enumerate(self.labels) if label in options]
        if not allowed:
            return None
        probs = self.probabilities(np.asarray(vector, dtype=np.float32))[0][allowed]
        probs = probs / probs.sum()
        best = int(probs.argmax())
        if probs[best] < self.threshold:
            return None
        return self.labels[allowed[best]], float(probs[best])

    def to_json(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "weights": self.weights.round(6).tolist(),
            "bias": self.bias.round(6).tolist(),
            "threshold": self.threshold,
            "point": self.point,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DistilledModel:
        import numpy as np

        return cls(
            labels=tuple(data["labels"]),
            weights=np.asarray(data["weights"], dtype=np.float32),
            bias=np.asarray(data["bias"], dtype=np.float32),
            threshold=float(data["threshold"]),
            point=str(data.get("point", "")),
        )


@functools.lru_cache(maxsize=64)
def load_model(version: str) -> DistilledModel:
    """A distilled version from the artifact store (read once: a version never changes).

    Raises:
        ArtifactError: not there, or not a distilled model.
    """
    with RunIndex() as index, open_store(index=index) as store:
        artifact = store.get(version)
    if artifact.role != MODEL_ROLE:
        raise ArtifactError(f"artifact {version} is a {artifact.role or 'plain'} artifact, not a distilled chooser")
    return DistilledModel.from_json(artifact.as_json()["model"])


class DistilledChooser(Chooser):
    """The distilled model of the decision point, when it is sure; else ``fallback`` (the LLM).

    ``program`` names the decision points (with the block id) in the pointer file. A
    decision it takes goes to the fallback instead with probability ``audit`` (by default
    ``config.dream_audit_share()``, 5%): the
    fallback's option is used and the model's is recorded beside it. An embedder that
    fails, a missing or unreadable version: the fallback decides, as before dreaming.
    """

    by = "distilled"

    def __init__(
        self,
        embed: Embed,
        fallback: Chooser,
        *,
        program: str,
        pointer: Path | None = None,
        audit: float | None = None,
        seed: int | None = None,
    ) -> None:
        self.embed = embed
        self.fallback = fallback
        self.program = program
        self.pointer = pointer or pointer_path()
        self.audit = config.dream_audit_share() if audit is None else audit
        self.random = random.Random(seed)
        self.models: dict[str, tuple[str, DistilledModel]] = {}  # point → (version, model)
        self.seen: tuple[float, float] = (-1.0, 0.0)  # (pointer mtime, when last looked)
        self.broken = False

    def __repr__(self) -> str:
        return f"<DistilledChooser {self.program} points={sorted(self.models)}>"

    def refresh(self) -> None:
        """Load the versions the pointer names, when it changed (looked at every ``POLL_S``)."""
        now = time.monotonic()
        if now - self.seen[1] < POLL_S and self.seen[0] >= 0:
            return
        try:
            mtime = self.pointer.stat().st_mtime_ns / 1e9
        except OSError:
            mtime = 0.0
        if mtime == self.seen[0]:
            self.seen = (mtime, now)
            return
        self.seen = (mtime, now)
        points = read_pointer(self.pointer)["points"]
        models: dict[str, tuple[str, DistilledModel]] = {}
        for point, entry in points.items():
            version = entry.get("version") if isinstance(entry, dict) else None
            if not version or not point.startswith(f"{Path(self.program).name or '-'}#"):
                continue
            known = self.models.get(point)
            try:
                models[point] = known if known and known[0] == version else (version, load_model(version))
            except (SmolError, KeyError, ValueError) as exc:
                log.warning("distilled chooser %s: version %s cannot be loaded (%s)", point, version, exc)
        self.models = models

    async def choose(self, choice: Choice) -> str:
        return (await self.decide(choice)).option

    async def decide(self, choice: Choice) -> Decision:
        self.refresh()
        found = self.models.get(point_key(self.program, choice.block))
        if found is None or self.broken:
            return await self.fallback.decide(choice)
        version, model = found
        try:
            vector = (await self.embed([text_for_model(choice.artifact)]))[0]
        except SmolError as exc:
            log.warning("the distilled chooser cannot embed (%s); the fallback decides", exc)
            self.broken = True
            return await self.fallback.decide(choice)
        picked = model.predict(vector, choice.options)
        if picked is None:
            return await self.fallback.decide(choice)
        if self.random.random() < self.audit:
            teacher = await self.fallback.decide(choice)
            return Decision(teacher.option, teacher.by, version=version, audit=picked[0])
        return Decision(picked[0], self.by, version=version)


__all__ = [
    "MODEL_ROLE",
    "POLL_S",
    "DistilledChooser",
    "DistilledModel",
    "load_model",
    "point_key",
    "pointer_path",
    "read_pointer",
]
