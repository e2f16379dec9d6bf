"""The Artifact: every input and output of every unit is one.

An artifact is immutable. Its payload is bytes with a MIME ``type``; its header says who
made it (origin, role, scope), when, from which parents, and carries a sha256 checksum of
the payload and, optionally, an Ed25519 signature over header and payload together.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import capnp

from smolcpu.errors import ArtifactError, ChecksumMismatch

capnp.remove_import_hook()
_schema = capnp.load(str(Path(__file__).with_name("artifact.capnp")))
CapnpArtifact = _schema.Artifact
"""The pycapnp struct type behind :class:`Artifact` (for interop and tests)."""

SCHEMA_PATH = Path(__file__).with_name("artifact.capnp")
DEFAULT_VERSION = "v0.0.1"

TEXT = "text/plain"
JSON = "application/json"
BYTES = "application/octet-stream"
ERROR = "application/vnd.smol.error+json"


def is_textual(kind: str) -> bool:
    """Whether artifacts of type ``kind`` carry text a person can read: ``text/*`` and JSON
    (``application/json`` and every ``+json`` type)."""
    return kind.startswith("text/") or kind == JSON or kind.endswith("+json")

TRAVERSAL_WORDS_PER_WORD = 4
"""Words a decode may read per word of the message (a decode reads each about once)."""

TRAVERSAL_SLACK_WORDS = 1024
"""Words a decode may read beyond that (the defaults of absent fields, tiny messages)."""


def traversal_limit(size: int) -> int:
    """Words a decode of a ``size``-byte message may read: proportional to its size, so a
    small message cannot claim a huge list (zero-size structs, which Cap'n Proto charges a
    word each for, cost nothing on the wire)."""
    return TRAVERSAL_WORDS_PER_WORD * (size // 8 + 1) + TRAVERSAL_SLACK_WORDS


def load_json(data: str | bytes) -> Any:
    """Parse JSON from outside, with nesting bounded by Python's recursion limit.

    Raises:
        ArtifactError: it does not parse, or it nests too deeply.
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise ArtifactError(
            f"JSON nested too deeply: more than about {sys.getrecursionlimit()} levels of [ and {{"
        ) from None
    except ValueError as exc:
        raise ArtifactError(f"JSON does not parse: {exc}") from exc


Attributes = tuple[tuple[str, str], ...]


def _attributes(given: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> Attributes:
    if given is None:
        return ()
    pairs = given.items() if isinstance(given, Mapping) else given
    return tuple((str(key), str(value)) for key, value in pairs)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, field: str) -> bytes:
    if not isinstance(text, str):
        raise ArtifactError(f"artifact JSON field {field!r} must be base64 text, not {type(text).__name__}")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise ArtifactError(f"artifact JSON field {field!r} is not valid base64") from exc


def _timestamp(value: Any) -> int:
    """Unix nanoseconds from the JSON form (a number, or digits as concept/002 writes it)."""
    try:
        timestamp = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else -1
    except ValueError:
        timestamp = -1
    if not 0 <= timestamp < 2**64:
        raise ArtifactError(f"artifact JSON field 'timestamp' must be unix nanoseconds (0..2**64-1), not {value!r}")
    return timestamp


@dataclasses.dataclass(frozen=True, slots=True)
class Artifact:
    """One immutable message. Make new ones with :meth:`create` or the typed shortcuts."""

    id: str
    checksum: bytes
    version: str
    type: str
    timestamp: int
    origin: str = ""
    role: str = ""
    scope: str = ""
    attributes: Attributes = ()
    payload: bytes = b""
    parents: tuple[str, ...] = ()
    pubkey: bytes = b""
    signature: bytes = b""

    @classmethod
    def create(
        cls,
        payload: bytes,
        *,
        type: str = BYTES,
        origin: str = "",
        role: str = "",
        scope: str = "",
        attributes: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        parents: Sequence[str | Artifact] = (),
        version: str = DEFAULT_VERSION,
    ) -> Artifact:
        """A new artifact with a fresh uuid, the current time and the payload's checksum."""
        payload = bytes(payload)
        return cls(
            id=str(uuid.uuid4()),
            checksum=hashlib.sha256(payload).digest(),
            version=version,
            type=type,
            timestamp=time.time_ns(),
            origin=origin,
            role=role,
            scope=scope,
            attributes=_attributes(attributes),
            payload=payload,
            parents=tuple(p.id if isinstance(p, Artifact) else p for p in parents),
        )

    @classmethod
    def text(cls, text: str, **meta: Any) -> Artifact:
        """A ``text/plain`` artifact (or another text type given as ``type``)."""
        meta.setdefault("type", TEXT)
        return cls.create(text.encode("utf-8"), **meta)

    @classmethod
    def json(cls, value: Any, **meta: Any) -> Artifact:
        """An ``application/json`` artifact holding ``value`` (or another JSON type given as ``type``)."""
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        meta.setdefault("type", JSON)
        return cls.create(data, **meta)

    @classmethod
    def error(cls, message: str, *, kind: str = "error", details: dict[str, Any] | None = None, **meta: Any) -> Artifact:
        """An error artifact: what went wrong, said for a person (and a model) to act on;
        ``details`` (JSON-able) rides along, e.g. a failed snippet's ``result``."""
        attributes = dict(_attributes(meta.pop("attributes", None)))
        attributes.setdefault("status", "error")
        body = {**(details or {}), "error": kind, "message": message}
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        return cls.create(data, type=ERROR, attributes=attributes, **meta)

    @property
    def is_error(self) -> bool:
        """Whether this artifact reports a failure."""
        return self.type == ERROR

    @property
    def error_message(self) -> str:
        """The message of an error artifact ('' for any other; the raw text if it is malformed)."""
        if not self.is_error:
            return ""
        try:
            value = load_json(self.payload)
        except ArtifactError:
            return self.as_text()
        return str(value.get("message", "")) if isinstance(value, dict) else self.as_text()

    def as_text(self) -> str:
        """The payload as text (UTF-8; undecodable bytes are replaced)."""
        return self.payload.decode("utf-8", errors="replace")

    def as_json(self) -> Any:
        """The payload parsed as JSON."""
        try:
            return load_json(self.payload)
        except ArtifactError as exc:
            raise ArtifactError(f"artifact {self.id} ({self.type}) does not hold usable JSON: {exc}") from exc

    def attr(self, key: str, default: str | None = None) -> str | None:
        """The value of attribute ``key`` (the last one, if repeated)."""
        found = default
        for name, value in self.attributes:
            if name == key:
                found = value
        return found

    @property
    def attrs(self) -> dict[str, str]:
        """The attributes as a dict (a repeated key keeps its last value)."""
        return dict(self.attributes)

    def derive(self, payload: bytes, **changes: Any) -> Artifact:
        """A new artifact made from this one: fresh id, time and checksum; this one as parent.

        Fields not given keep this artifact's values (attributes included); the signature is
        not carried over.
        """
        meta: dict[str, Any] = {
            "type": self.type,
            "origin": self.origin,
            "role": self.role,
            "scope": self.scope,
            "attributes": self.attributes,
            "version": self.version,
            "parents": (self.id,),
        }
        meta.update(changes)
        return Artifact.create(payload, **meta)

    def replace(self, **changes: Any) -> Artifact:
        """A copy with fields changed as given (no checksum or id is recomputed)."""
        return dataclasses.replace(self, **changes)

    def verify_checksum(self) -> None:
        """Raise :class:`ChecksumMismatch` unless the payload matches its checksum."""
        if hashlib.sha256(self.payload).digest() != self.checksum:
            raise ChecksumMismatch(
                f"artifact {self.id}: payload does not match its checksum (corrupted or altered)"
            )

    def to_capnp(self) -> Any:
        """The pycapnp builder for this artifact."""
        message = CapnpArtifact.new_message()
        message.id = self.id
        message.checksum = self.checksum
        message.pubkey = self.pubkey
        message.version = self.version
        message.type = self.type
        message.timestamp = self.timestamp
        message.origin = self.origin
        message.role = self.role
        message.scope = self.scope
        entries = message.init("attributes", len(self.attributes))
        for entry, (key, value) in zip(entries, self.attributes, strict=True):
            entry.key = key
            entry.value = value
        message.payload = self.payload
        parents = message.init("parents", len(self.parents))
        for index, parent in enumerate(self.parents):
            parents[index] = parent
        message.signature = self.signature
        return message

    def to_bytes(self) -> bytes:
        """Cap'n Proto bytes (unpacked, single segment-table message)."""
        try:
            return self.to_capnp().to_bytes()
        except UnicodeEncodeError as exc:
            raise ArtifactError(f"artifact {self.id!r} has a text field that is not valid Unicode: {exc}") from exc

    @classmethod
    def from_bytes(cls, data: bytes) -> Artifact:
        """Decode Cap'n Proto bytes written by :meth:`to_bytes` (or any Cap'n Proto writer)."""
        try:
            with CapnpArtifact.from_bytes(
                data, traversal_limit_in_words=traversal_limit(len(data))
            ) as message:
                return cls(
                    id=message.id,
                    checksum=bytes(message.checksum),
                    pubkey=bytes(message.pubkey),
                    version=message.version,
                    type=message.type,
                    timestamp=message.timestamp,
                    origin=message.origin,
                    role=message.role,
                    scope=message.scope,
                    attributes=tuple((a.key, a.value) for a in message.attributes),
                    payload=bytes(message.payload),
                    parents=tuple(message.parents),
                    signature=bytes(message.signature),
                )
        except capnp.KjException as exc:
            reason = str(exc).splitlines()[0]
            raise ArtifactError(f"not a valid Cap'n Proto artifact ({len(data)} bytes): {reason}") from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise ArtifactError(f"not a valid Cap'n Proto artifact ({len(data)} bytes): {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of concept/002 (bytes fields in base64)."""
        return {
            "id": self.id,
            "checksum": _b64(self.checksum),
            "pubkey": _b64(self.pubkey),
            "version": self.version,
            "type": self.type,
            "origin": self.origin,
            "role": self.role,
            "scope": self.scope,
            "timestamp": self.timestamp,
            "attributes": [{"key": key, "value": value} for key, value in self.attributes],
            "payload": _b64(self.payload),
            "parents": list(self.parents),
            "signature": _b64(self.signature),
        }

    def to_json(self) -> str:
        """The JSON form as text."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Artifact:
        """Read the JSON form back; fields other than id, type and payload may be missing."""
        try:
            return cls(
                id=str(data["id"]),
                checksum=_unb64(data.get("checksum", ""), "checksum"),
                pubkey=_unb64(data.get("pubkey", ""), "pubkey"),
                version=str(data.get("version", DEFAULT_VERSION)),
                type=str(data["type"]),
                timestamp=_timestamp(data.get("timestamp", 0)),
                origin=str(data.get("origin", "")),
                role=str(data.get("role", "")),
                scope=str(data.get("scope", "")),
                attributes=tuple(
                    (str(entry["key"]), str(entry["value"])) for entry in data.get("attributes", ())
                ),
                payload=_unb64(data["payload"], "payload"),
                parents=tuple(str(p) for p in data.get("parents", ())),
                signature=_unb64(data.get("signature", ""), "signature"),
            )
        except (KeyError, TypeError) as exc:
            raise ArtifactError(f"artifact JSON is missing or has a malformed field: {exc}") from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> Artifact:
        """Parse the JSON form."""
        try:
            data = load_json(text)
        except ArtifactError as exc:
            raise ArtifactError(f"artifact JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ArtifactError("artifact JSON must be an object")
        return cls.from_dict(data)

    def signing_bytes(self) -> bytes:
        """What a signature covers: every field but the signature, in a canonical encoding."""
        fields = self.to_dict()
        del fields["signature"]
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    def __repr__(self) -> str:
        size = len(self.payload)
        return (
            f"<Artifact {self.id[:8]} {self.type} {size}B origin={self.origin!r}"
            f" role={self.role!r} parents={len(self.parents)}>"
        )


__all__ = [
    "Artifact",
    "BYTES",
    "CapnpArtifact",
    "ERROR",
    "JSON",
    "SCHEMA_PATH",
    "TEXT",
    "TRAVERSAL_SLACK_WORDS",
    "TRAVERSAL_WORDS_PER_WORD",
    "load_json",
    "traversal_limit",
]
