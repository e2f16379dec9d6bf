"""Who may read what a server recorded: each API key reads back only the runs it asked for
and their artifacts; an admin key, and every caller of a server without keys, reads all.

A run is claimed for its caller by the ``caller`` attribute (the key's id, never the key) on
the input the server gives it (:data:`~smolcpu.artifact.CALLER_ATTRIBUTE`; the run index
keeps the first claim). An artifact belongs to the caller of its run; one outside any run (a
stored Response) to the caller its own ``caller`` attribute names. What a reader may not see
is answered exactly as what is not there (404, the same message), so that guessing ids
confirms nothing. A run the index does not know the caller of (recorded before runs were
claimed, or by ``smol run``) is an admin's alone.
"""

from __future__ import annotations

import dataclasses

from smolcpu.artifact import CALLER_ATTRIBUTE, RUN_ATTRIBUTE, Artifact, ArtifactStore, RunIndex, RunInfo
from smolcpu.errors import ArtifactError, ArtifactNotFound, UsageError


@dataclasses.dataclass(frozen=True, slots=True)
class Reader:
    """Who is reading: a key id (what the runs they start are claimed for; '' for the web
    interface of a server without keys), and whether that key reads everyone's runs."""

    key: str
    sees_all: bool = False

    def owns(self, index: RunIndex | None, run_id: str) -> bool:
        """Whether this reader may read run ``run_id`` (and so its artifacts)."""
        if self.sees_all:
            return True
        return bool(self.key) and index is not None and index.caller_of(run_id) == self.key

    def may_read(self, artifact: Artifact, index: RunIndex | None) -> bool:
        """Whether this reader may read ``artifact``: it is of one of its runs, or, outside
        any run, it names this reader as its caller."""
        run = artifact.attr(RUN_ATTRIBUTE)
        if run is not None:
            return self.owns(index, run)
        return self.sees_all or (bool(self.key) and artifact.attr(CALLER_ATTRIBUTE) == self.key)

    def runs(self, index: RunIndex, *, limit: int) -> list[RunInfo]:
        """The runs this reader may read, newest first."""
        return index.runs(limit=limit, caller=None if self.sees_all else self.key)

    def run(self, index: RunIndex, run_id: str) -> RunInfo:
        """The run ``run_id`` means (a whole id or a unique prefix), if this reader may read it.

        Raises:
            ArtifactNotFound: no such run, or another key's (the same message for both).
        """
        try:
            found = index.resolve(run_id)
        except UsageError as exc:
            raise ArtifactNotFound(str(exc) if self.sees_all else f"no run {run_id!r}") from None
        if not self.owns(index, found.id):
            raise ArtifactNotFound(f"no run {run_id!r}")
        return found

    def artifact(self, store: ArtifactStore, artifact_id: str, index: RunIndex | None) -> Artifact:
        """The artifact ``artifact_id`` from ``store``, if this reader may read it.

        Raises:
            ArtifactNotFound: no such artifact, or one this reader may not read (the same
                message for both, and for one that is there but corrupt).
            ArtifactError: (an admin only) it is there but corrupt.
        """
        missing = ArtifactNotFound(f"no artifact {artifact_id!r}")
        try:
            found = store.get(artifact_id, search=self.sees_all)  # a guesser makes no store-wide search
        except ArtifactError:
            if self.sees_all:
                raise
            raise missing from None
        if not self.may_read(found, index):
            raise missing
        return found


__all__ = ["Reader"]
