"""Resuming a run: what an interrupted run finished is taken as recorded, not done again.

A :class:`Replay` is read back from what a run recorded: its input, each step's outputs in
the order they were made, and each decision at a ``select`` or word ``match``. A new run
given it takes, at each step and each decision, the next recorded one while there is one,
and asks the units and the chooser again from the first step the old run never finished
(the recorder stores a batch every few milliseconds, so a step that ended just before a
crash may be run again; none is ever skipped). The control flow is the executor's own:
the same outputs and the same decisions lead it along the same path, whatever the program.

The resumed run is a new run (its own id, its input marked ``resumes``); each replayed
output is a new artifact, marked ``replayed`` with the id of the one it repeats, so the old
run's record stays as it was.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from smolcpu.artifact import Artifact, ArtifactStore
from smolcpu.errors import UsageError

RUN_NODES = ("in", "out")
"""Nodes of a run's own input and output, which no step repeats."""


@dataclass
class Replay:
    """What run ``run_id`` recorded, handed out in order: ``output`` per step, ``choice`` per block."""

    run_id: str
    given: Artifact
    outputs: dict[str, deque[Artifact]] = field(default_factory=dict)
    choices: dict[str, deque[str]] = field(default_factory=dict)
    replayed: int = 0

    @classmethod
    def load(cls, run_id: str, store: ArtifactStore) -> Replay:
        """Read run ``run_id`` (a unique prefix will do) back from ``store`` and its index.

        Raises:
            UsageError: no such run, or it recorded no input.
            ArtifactError: one of its artifacts does not verify.
        """
        run = store.index.resolve(run_id)
        given: Artifact | None = None
        outputs: dict[str, deque[Artifact]] = {}
        choices: dict[str, deque[str]] = {}
        for record in store.index.artifacts(run.id):
            artifact = store.load(record.key)
            node = artifact.attr("node") or ""
            if node == "in" and given is None:
                given = Artifact.create(
                    artifact.payload, type=artifact.type, origin="resume", role="input", attributes={"resumes": run.id}
                )
            elif artifact.role == "choice":
                choices.setdefault(node, deque()).append(str(artifact.as_json().get("option", "")))
            elif node not in RUN_NODES and artifact.attr("outcome") is not None:
                outputs.setdefault(node, deque()).append(artifact)
        if given is None:
            raise UsageError(f"run {run.id} recorded no input, so it cannot be resumed; run the program afresh")
        return cls(run.id, given, outputs, choices)

    def output(self, step: str, source: Artifact) -> Artifact | None:
        """The next recorded output of ``step``, as a new artifact made from ``source``; None when
        the old run got no further."""
        queue = self.outputs.get(step)
        if not queue:
            return None
        recorded = queue.popleft()
        self.replayed += 1
        attributes = {k: v for k, v in recorded.attributes if k not in ("run", "node")}
        return source.derive(
            recorded.payload, type=recorded.type, role=recorded.role, attributes={**attributes, "replayed": recorded.id}
        )

    def choice(self, block: str) -> str | None:
        """The next recorded decision at ``block``, or None."""
        queue = self.choices.get(block)
        return queue.popleft() if queue else None

    def __repr__(self) -> str:
        left = sum(map(len, self.outputs.values()))
        return f"<Replay of {self.run_id} replayed={self.replayed} left={left}>"


__all__ = ["Replay"]
