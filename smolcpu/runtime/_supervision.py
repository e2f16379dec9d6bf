"""Supervision: what happens to a unit whose handler raised or whose worker process died.

A decider maps each failure to a :class:`Directive`; :class:`OneForOne` applies it to the
failing unit alone and caps restarts at ``max_restarts`` within ``window_s`` seconds, after
which the failure is escalated to the unit's parent (or, at the top, the unit is stopped and
the failure kept in ``ActorSystem.failures``).
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections import deque
from collections.abc import Callable

from smolcpu import config
from smolcpu.artifact import Artifact


class Directive(enum.Enum):
    """What a supervisor does with a failed unit."""

    RESUME = "resume"
    """Keep the unit as it is and go on with the next artifact."""
    RESTART = "restart"
    """Make a fresh unit from the factory, run ``init``, go on with the next artifact."""
    STOP = "stop"
    """Stop the unit; queued requests get error artifacts."""
    ESCALATE = "escalate"
    """Stop the unit and let its parent's supervisor decide about the parent."""


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    """One failure of one unit: the error, and the artifact it was handling (if any)."""

    unit: str
    error: BaseException
    artifact: Artifact | None = None


Decider = Callable[[Failure], Directive]


def restart_always(failure: Failure) -> Directive:
    """The default decider: any failure restarts the unit (within the restart cap)."""
    return Directive.RESTART


class OneForOne:
    """Apply the decider's directive to the failing unit only; escalate past the restart cap."""

    def __init__(
        self,
        *,
        decider: Decider = restart_always,
        max_restarts: int = config.MAX_RESTARTS,
        window_s: float = config.RESTART_WINDOW_S,
    ) -> None:
        self.decider = decider
        self.max_restarts = max_restarts
        self.window_s = window_s
        self._restarts: dict[str, deque[float]] = {}

    def decide(self, failure: Failure) -> Directive:
        """The directive for ``failure``, with restarts past the cap turned into ESCALATE."""
        directive = self.decider(failure)
        if directive is not Directive.RESTART:
            return directive
        now = time.monotonic()
        history = self._restarts.setdefault(failure.unit, deque())
        while history and now - history[0] > self.window_s:
            history.popleft()
        if len(history) >= self.max_restarts:
            return Directive.ESCALATE
        history.append(now)
        return Directive.RESTART

    def __repr__(self) -> str:
        return f"<OneForOne max_restarts={self.max_restarts} window_s={self.window_s}>"


__all__ = ["Decider", "Directive", "Failure", "OneForOne", "restart_always"]
