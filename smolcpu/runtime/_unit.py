"""The surface a user writes a new unit against (concept/000, in Python).

A unit is an object with two coroutines: ``init(ctx)``, called once when it starts (and
again after a restart), and ``handle(ctx, sender, artifact)``, called for each artifact in
its mailbox, one at a time. What ``handle`` returns is the reply to a request (ignored for
a plain send); what it raises goes to its supervisor and comes back to a requester as an
error artifact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from smolcpu.artifact import Artifact


class Unit:
    """Base class of every unit; override :meth:`handle`, and :meth:`init` if it needs setup."""

    deterministic: ClassVar[bool] = False
    """True when the reply depends on nothing but the input artifact, so a program may reuse
    an earlier reply to the same input. Off by default: reads of state (storage, registers,
    memory) and anything with side effects must not be memoised."""

    async def init(self, ctx: Any) -> None:
        """Called once the unit is spawned (and after each restart), before any message."""

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact | None:
        """Handle one artifact; the returned artifact is the reply to a request."""
        raise NotImplementedError(f"{type(self).__name__} does not handle artifacts")


__all__ = ["Unit"]
