"""What a run gives back: its output, how it ended, and the path it took."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from smolcpu.artifact import Artifact


class Status(str, enum.Enum):
    """How a run ended."""

    OK = "ok"
    CANCELLED = "cancelled"  # a `cancel` outcome, or cancelled from outside
    TIMEOUT = "timeout"  # its output is a timeout-status artifact
    ERROR = "error"  # a failure with no alternative left, or an error artifact as output
    BUDGET = "budget"  # the global step budget ran out (a BudgetError)
    LIMIT = "limit"  # it went past a limit of its resource policy (the reason names it)


@dataclass(frozen=True, slots=True)
class Visit:
    """One place the run passed: a step (or match case, or skipped block) and the outcome it took.

    ``failed``: the step failed and this is the alternative it fell back to (shown as ``!``).
    """

    node: str
    outcome: str
    failed: bool = False

    def __str__(self) -> str:
        return f"{self.node}:{self.outcome}" + "!" * self.failed


@dataclass(frozen=True, slots=True)
class StepEvent:
    """What an executor's observer hears while a run goes on.

    ``kind`` is ``start`` (a step's unit is asked), ``end`` (the step took ``outcome``;
    ``output`` is what it gave, ``seconds`` how long it took), ``choose`` (a chooser
    picked ``outcome`` at block ``node``) or ``token`` (``output`` is the next piece of an
    LLM step's answer; only for an executor made with ``tokens=True``). ``unit`` is the
    unit kind a step runs on.
    """

    kind: str
    run_id: str
    node: str
    worker: str = ""
    unit: str = ""
    outcome: str = ""
    seconds: float = 0.0
    output: Artifact | None = None


@dataclass
class RunResult:
    """The end of one run."""

    run_id: str
    status: Status
    output: Artifact
    path: list[Visit] = field(default_factory=list)
    steps: int = 0
    reason: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    """What it spent against its policy (``policy``, ``spent``), as the run index keeps it."""

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def nodes(self) -> list[str]:
        """The node ids of the path, in order."""
        return [visit.node for visit in self.path]

    def path_text(self) -> str:
        return " → ".join(str(visit) for visit in self.path)

    def __repr__(self) -> str:
        return f"<RunResult {self.run_id} {self.status.value} steps={self.steps}>"


__all__ = ["RunResult", "Status", "StepEvent", "Visit"]
