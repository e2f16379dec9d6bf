"""Where units run past one machine: the cluster to use, and how each unit kind is placed on it.

A placement is plain data, read from a TOML file (``--placement FILE`` or
``SMOL_PLACEMENT``), one table per unit kind::

    [units.math]
    replicas = 2            # actors serving this kind; each request goes to the least busy
    cpus = 0.5              # Ray CPUs each actor reserves
    labels = { zone = "a" } # only nodes with these labels (ray start --labels zone=a)
    retries = 1             # a request whose actor was lost is sent again this many times
    max_restarts = 3        # Ray restarts a lost actor this many times, then gives up on it

Kinds not listed run where they always do (in this process, or a worker process of it). The
default placement puts the heavy stateless kinds on the cluster: they keep nothing between
requests, so any replica on any node may answer, and their steps take long enough (a model,
a fresh sandbox process) that the few milliseconds a Ray call adds do not matter. Math stays
with the executor (a step of a fraction of a millisecond would pay ten times that to cross);
registers, storage and the memory vault keep state in the process or on the disk of the
machine they run on, so they stay too, unless a placement says otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smolcpu import config
from smolcpu.errors import UsageError

PLACED_BY_DEFAULT = ("sandbox", "llm", "classify", "detect", "embed")
"""Unit kinds a cluster runs when no placement file is given: stateless, and slow enough per step to gain."""

LOCAL = "local"
"""The cluster address that starts a Ray of its own in this process, to try the backend on one machine."""

LOCAL_OBJECT_STORE_BYTES = 100 * 1024**2
"""Object store of a local Ray: artifacts are small, and Ray's default (30% of RAM) would eat the budget."""


@dataclasses.dataclass(frozen=True, slots=True)
class KindPlacement:
    """How the units of one kind are placed on the cluster."""

    replicas: int = 1
    cpus: float = 0.25
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    retries: int = 1
    max_restarts: int = config.MAX_RESTARTS

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise UsageError(f"a placement needs at least 1 replica, not {self.replicas}")
        if self.cpus < 0 or self.retries < 0 or self.max_restarts < 0:
            raise UsageError("cpus, retries and max_restarts of a placement cannot be negative")


@dataclasses.dataclass(frozen=True, slots=True)
class Placement:
    """The cluster's address and the placement of each unit kind it runs."""

    address: str
    kinds: Mapping[str, KindPlacement]

    def of(self, kind: str | None) -> KindPlacement | None:
        """How ``kind`` is placed, or None when it runs off the cluster."""
        return None if kind is None else self.kinds.get(kind)

    @property
    def is_local(self) -> bool:
        """Whether this process starts the Ray it uses (``--cluster local``)."""
        return self.address == LOCAL


def check_address(address: str) -> str:
    """``address`` if it names a Ray cluster: ``ray://HOST:PORT``, ``HOST:PORT``, ``auto`` or ``local``.

    Raises:
        UsageError: it names none.
    """
    if address in (LOCAL, "auto"):
        return address
    parsed = urllib.parse.urlsplit(address if "://" in address else f"ray://{address}")
    if parsed.scheme != "ray" or not parsed.hostname or parsed.port is None or parsed.path not in ("", "/"):
        raise UsageError(
            f"cluster {address!r} is not a Ray address: give ray://HOST:PORT (Ray client), HOST:PORT"
            " (a node of the cluster), auto, or local (a Ray of its own on this machine)"
        )
    return address


def _kind(name: str, table: Any) -> KindPlacement:
    if not isinstance(table, dict):
        raise UsageError(f"placement of unit kind {name!r} must be a table ([units.{name}])")
    fields = {field.name for field in dataclasses.fields(KindPlacement)}
    unknown = sorted(set(table) - fields)
    if unknown:
        raise UsageError(
            f"placement of unit kind {name!r}: unknown key {', '.join(unknown)}; known: {', '.join(sorted(fields))}"
        )
    labels = table.get("labels", {})
    if not isinstance(labels, dict):
        raise UsageError(f"placement of unit kind {name!r}: labels must be a table of strings")
    try:
        return KindPlacement(**{**table, "labels": {str(k): str(v) for k, v in labels.items()}})
    except TypeError as exc:
        raise UsageError(f"placement of unit kind {name!r}: {exc}") from exc


def read_placement(address: str, path: Path | str | None = None) -> Placement:
    """The placement on the cluster at ``address``: from the TOML file ``path``, else the default.

    Raises:
        UsageError: a bad address, or a file that cannot be read or says something unknown.
    """
    address = check_address(address)
    if path is None:
        return Placement(address, {kind: KindPlacement() for kind in PLACED_BY_DEFAULT})
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read placement file {str(path)!r}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"placement file {str(path)!r} is not valid TOML: {exc}") from exc
    units = data.get("units", {})
    if set(data) - {"units"} or not isinstance(units, dict):
        raise UsageError(f"placement file {str(path)!r} holds only [units.KIND] tables")
    return Placement(address, {name: _kind(name, table) for name, table in units.items()})


def configured_placement() -> Placement | None:
    """The placement ``SMOL_CLUSTER`` and ``SMOL_PLACEMENT`` ask for; None without a cluster."""
    address = os.environ.get("SMOL_CLUSTER")
    if not address:
        return None
    return read_placement(address, os.environ.get("SMOL_PLACEMENT") or None)


__all__ = [
    "LOCAL",
    "LOCAL_OBJECT_STORE_BYTES",
    "PLACED_BY_DEFAULT",
    "KindPlacement",
    "Placement",
    "check_address",
    "configured_placement",
    "read_placement",
]
