"""Smol's dependencies pinned at the versions this environment runs, closed over their own.

A deployment must install what was tested, not what the registry offers on the day it is
built: every distribution ``smolcpu`` needs (transitively, on this platform and Python, no
extras) is written ``name==version`` as installed here.
"""

from __future__ import annotations

import importlib.metadata as metadata
from collections.abc import Sequence

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from smolcpu.errors import UsageError

DISTRIBUTION = "smolcpu"


def _requirements(name: str, extras: frozenset[str]) -> list[Requirement]:
    """The requirements of installed distribution ``name`` that apply here with ``extras``."""
    wanted = []
    for line in metadata.requires(name) or []:
        requirement = Requirement(line)
        if requirement.marker is None or any(
            requirement.marker.evaluate({"extra": extra}) for extra in (extras or {""})
        ):
            wanted.append(requirement)
    return wanted


def pinned_requirements(distribution: str = DISTRIBUTION, *, extras: Sequence[str] = ()) -> list[str]:
    """``name==version`` for every distribution ``distribution`` (with ``extras``, such as
    ``ray``) needs here, sorted by name.

    Raises:
        UsageError: an unknown extra, or a needed distribution that is not installed (the
            message names the install command).
    """
    known = set(metadata.metadata(distribution).get_all("Provides-Extra") or [])
    unknown = sorted(set(extras) - known)
    if unknown:
        raise UsageError(f"{distribution} has no extra {', '.join(unknown)}; it has {', '.join(sorted(known))}")
    pins: dict[str, str] = {}
    todo = [(distribution, frozenset(extras))]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for requirement in _requirements(name, extras):
            key = canonicalize_name(requirement.name)
            try:
                installed = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                wanted = f"[{','.join(extras)}]" if extras else ""
                raise UsageError(
                    f"{requirement.name} (needed by {name}) is not installed here; install it first: pip install -e '.{wanted}'"
                ) from None
            pins[key] = installed
            todo.append((requirement.name, frozenset(requirement.extras)))
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


__all__ = ["DISTRIBUTION", "pinned_requirements"]
