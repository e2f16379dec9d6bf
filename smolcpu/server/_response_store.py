"""Stored Responses (``store: true``), kept in the artifact store so they outlive the server.

A stored Response is one JSON artifact (origin ``api``, role ``response``) holding the
Response as it was answered, the key that asked for it, and its conversation so far: every
earlier input and output item and its own. ``previous_response_id`` continues from that
history in one read; the artifact's parent is the previous Response's, so the store's
lineage links a conversation's turns. The Response id is the artifact's uuid
(``resp_<hex>``), so finding one is the run index's lookup by id, and deleting one removes
its artifact for good. A Response is seen only by the key that made it (404 for another).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

from smolcpu import config
from smolcpu.artifact import CALLER_ATTRIBUTE, Artifact, open_store
from smolcpu.errors import ArtifactNotFound
from smolcpu.server._responses import Item

PREFIX = "resp_"


def new_response_id() -> str:
    return PREFIX + uuid.uuid4().hex


def _artifact_id(response_id: str) -> str:
    """The id of the artifact that keeps ``response_id``.

    Raises:
        ArtifactNotFound: not a Response id this server makes.
    """
    try:
        if response_id.startswith(PREFIX):
            return str(uuid.UUID(hex=response_id.removeprefix(PREFIX)))
    except ValueError:
        pass
    raise ArtifactNotFound(f"no response {response_id!r}")


@dataclasses.dataclass(frozen=True)
class Stored:
    """A stored Response and its conversation (its input and output after the earlier items)."""

    response: dict[str, Any]
    history: list[Item]

    @property
    def inputs(self) -> list[Item]:
        """What the Response answered: its conversation up to its own output (the earlier
        Responses' input and output items, then its own input), oldest first."""
        return self.history[: len(self.history) - len(self.response.get("output", []))]


class ResponseStore:
    """Responses kept as artifacts in the store of ``config.store_url()``; blocking work runs in a thread."""

    async def get(self, response_id: str, key: str) -> Stored:
        """The Response ``response_id`` that ``key`` stored.

        Raises:
            ArtifactNotFound: no such Response (or another key's).
        """
        missing = ArtifactNotFound(f"no response {response_id!r}")
        try:
            artifact = await asyncio.to_thread(_use_store, "get", _artifact_id(response_id))
        except ArtifactNotFound:
            raise missing from None
        value = artifact.as_json()
        if artifact.role != "response" or value.get("key") != key:
            raise missing
        return Stored(value["response"], value["history"])

    async def put(self, response: dict[str, Any], history: list[Item], key: str) -> None:
        """Keep ``response`` (made by ``key``) with its conversation so far."""
        previous = response.get("previous_response_id")
        artifact = Artifact.json(
            {"response": response, "history": history, "key": key},
            origin="api",
            role="response",
            attributes={CALLER_ATTRIBUTE: key},
            parents=[_artifact_id(previous)] if previous else [],
        )
        await asyncio.to_thread(_use_store, "put", dataclasses.replace(artifact, id=_artifact_id(response["id"])))

    async def delete(self, response_id: str, key: str) -> None:
        """Forget the Response ``response_id`` for good.

        Raises:
            ArtifactNotFound: no such Response (or another key's).
        """
        await self.get(response_id, key)
        await asyncio.to_thread(_use_store, "delete", _artifact_id(response_id))


def _use_store(method: str, argument: Any) -> Any:
    store = open_store(config.store_url())
    try:
        return getattr(store, method)(argument)
    finally:
        store.close()


__all__ = ["ResponseStore", "Stored", "new_response_id"]
