"""A run's resource policy: what it may spend and touch, from its program, a server key, a flag.

``policy wall_s = 60, tokens = 4000, units = [math, sandbox], folders = ["notes"]`` in a
program, ``KEY tokens=2000 network=false`` in a server's key file and ``smol run --policy
cpu_s=5`` all say the same settings (:data:`SETTINGS`), read by :func:`read_settings`. The
policy a run gets is the program's under every ceiling that applies (:meth:`Policy.under`):
the least of each figure, the units all allow, the folders that lie inside a folder of
each, and the network only when the program turns it on and no ceiling keeps it off (a
ceiling caps; it never turns the network on for a program that did not ask). Nothing said
means no limit, except the sandbox's network, which is off unless the program's policy
turns it on, and storage, which stays in its root either way.
The vm enforces it; a run over a limit ends with status ``limit`` naming it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smolcpu import config

SETTINGS: dict[str, str] = {
    "wall_s": "seconds the whole run may take (wall clock)",
    "cpu_s": "CPU seconds Smol's processes may spend while the run goes",
    "tokens": "LLM tokens the run's steps may read and write in all",
    "memory_mb": "MB one unit of the run may hold (a model worker, a sandbox snippet)",
    "units": "the unit kinds the program may use, e.g. [math, sandbox]",
    "network": "whether the sandbox may reach the network (default: false)",
    "folders": 'the folders storage may touch, e.g. ["notes"] (relative: to the storage root)',
}
"""Every policy setting and what it limits (diagnostics and docs list them)."""

FIGURES = ("wall_s", "cpu_s", "tokens", "memory_mb")
"""The settings that are amounts: the run's spending is shown against them."""

_WHOLE = ("tokens", "memory_mb")


class PolicyValueError(ValueError):
    """A setting with a value it cannot take; the message says what it takes."""


@dataclass(frozen=True, slots=True)
class Policy:
    """What one run may spend and touch; ``None``: not limited."""

    wall_s: float | None = None
    cpu_s: float | None = None
    tokens: int | None = None
    memory_mb: int | None = None
    units: frozenset[str] | None = None
    network: bool | None = None  # None: not said (off, unless another policy of the program says true)
    folders: tuple[str, ...] | None = None

    @property
    def networked(self) -> bool:
        """Whether the sandbox may reach the network under this policy."""
        return self.network is True

    def tighter(self, other: Policy | None) -> Policy:
        """What both allow: the least of each figure, the common units and folders; the network
        off if either says so, else on if either says so (two lines of one program, two ceilings)."""
        if other is None:
            return self
        figures = {name: _least(getattr(self, name), getattr(other, name)) for name in FIGURES}
        units = self.units if other.units is None else other.units if self.units is None else self.units & other.units
        said = {self.network, other.network} - {None}
        return Policy(
            **figures,
            units=units,
            network=min(said) if said else None,
            folders=_common_folders(self.folders, other.folders),
        )

    def under(self, ceiling: Policy | None) -> Policy:
        """This policy (a program's) held under ``ceiling``: :meth:`tighter`, with the network on
        only when this policy turns it on and the ceiling does not keep it off."""
        both = self.tighter(ceiling)
        return dataclasses.replace(both, network=self.networked and both.network is not False)

    def allowed_folders(self) -> tuple[Path, ...] | None:
        """The folders storage may touch, resolved (symlinks and ``..`` taken out)."""
        if self.folders is None:
            return None
        return tuple(_real(folder) for folder in self.folders)

    def to_dict(self) -> dict[str, Any]:
        """The settings that limit something, as JSON (what the run index keeps); the network
        only when it is on (off is the default)."""
        found: dict[str, Any] = {name: getattr(self, name) for name in FIGURES if getattr(self, name) is not None}
        if self.units is not None:
            found["units"] = sorted(self.units)
        if self.networked:
            found["network"] = True
        if self.folders is not None:
            found["folders"] = list(self.folders)
        return found

    @classmethod
    def from_dict(cls, settings: Mapping[str, Any]) -> Policy:
        """The policy :meth:`to_dict` (or the settings of a ``policy`` line) describes.

        Raises:
            PolicyValueError: an unknown setting or a value it cannot take.
        """
        return read_settings(settings.items())

    def __str__(self) -> str:
        shown = ", ".join(f"{name} = {_shown(value)}" for name, value in self.to_dict().items())
        return shown or "no limits"


def read_settings(settings: Iterable[tuple[str, Any]]) -> Policy:
    """The policy of ``(name, value)`` settings; values as the language has them (numbers,
    ``true``/``false``, strings, lists), or text as a flag or key file gives them.

    Raises:
        PolicyValueError: an unknown setting, one given twice, or a value it cannot take.
    """
    found: dict[str, Any] = {}
    for name, value in settings:
        if name not in SETTINGS:
            raise PolicyValueError(f"no policy setting `{name}` (there are {', '.join(SETTINGS)})")
        if name in found:
            raise PolicyValueError(f"policy setting `{name}` is given twice")
        found[name] = _checked(name, value)
    return Policy(**found)


def parse_settings(text: str) -> Policy:
    """The policy of ``name=value`` words, as ``--policy`` and a key file's lines give them:
    ``tokens=2000 units=math,sandbox network=false``.

    Raises:
        PolicyValueError: a word without ``=``, an unknown setting, a bad value.
    """
    pairs = []
    for word in text.replace(";", " ").split():
        name, equals, value = word.partition("=")
        if not equals or not name:
            raise PolicyValueError(f"{word!r} is not a policy setting: write name=value, e.g. tokens=2000")
        pairs.append((name.strip(), value.strip()))
    return read_settings(pairs)


def _checked(name: str, value: Any) -> Any:
    if name in FIGURES:
        return _figure(name, value)
    if name == "network":
        return _flag(value)
    items = _items(value)
    return frozenset(items) if name == "units" else items


def _figure(name: str, value: Any) -> float | int:
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number) or number <= 0:
        raise PolicyValueError(f"policy setting `{name}` takes a number above 0, not {value!r}")
    if name in _WHOLE:
        if number != int(number):
            raise PolicyValueError(f"policy setting `{name}` takes a whole number, not {value!r}")
        return int(number)
    return float(number)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise PolicyValueError(f"policy setting `network` takes true or false, not {value!r}")


def _items(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):  # from a flag or key file: comma-separated
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise PolicyValueError(f"this policy setting takes a list of names, e.g. [math, sandbox], not {value!r}")


def _least(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _real(folder: str) -> Path:
    """A folder of a policy as an absolute path with symlinks resolved (relative: to the storage root)."""
    path = Path(folder).expanduser()
    return Path(os.path.realpath(path if path.is_absolute() else config.storage_root() / path))


def inside(path: Path, folders: Iterable[Path]) -> bool:
    """Whether ``path`` (resolved) is one of ``folders`` or lies under one."""
    return any(path == folder or folder in path.parents for folder in folders)


def _common_folders(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The folders both allow: each folder of one that lies inside a folder of the other."""
    if a is None or b is None:
        return b if a is None else a
    real_a, real_b = [_real(f) for f in a], [_real(f) for f in b]
    kept = [str(r) for r in real_a if inside(r, real_b)] + [str(r) for r in real_b if inside(r, real_a)]
    return tuple(dict.fromkeys(kept))


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


__all__ = ["FIGURES", "SETTINGS", "Policy", "PolicyValueError", "inside", "parse_settings", "read_settings"]
