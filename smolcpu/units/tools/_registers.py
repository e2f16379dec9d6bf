"""Registers: ephemeral key-value pairs through which the units of a run cooperate.

There are two scopes. A **run** register belongs to one run (the ``run`` attribute of the
artifacts that name it) and is dropped with :meth:`Registers.clear_run` when the run ends;
a **global** register is seen from every run. Reading looks in the run first, then in
global, so a run can shadow a global default. Values are JSON data or whole artifacts.

Registers live in memory, one :func:`shared_registers` per process, shared by every unit
in it (the tools and the executor live in the main process): they are scratch space, not
storage. What must outlive the process goes to the storage or memory tools.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Literal

from smolcpu.artifact import JSON, Artifact
from smolcpu.errors import ArtifactError, UsageError
from smolcpu.units._registry import register
from smolcpu.units._tool import Tool

Scope = Literal["run", "global"]
SCOPES: tuple[Scope, ...] = ("run", "global")

MAX_VALUE_BYTES = 1_000_000
"""Largest value (JSON text or artifact payload) one register may hold."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_UNSET: Any = object()


class Registers:
    """The registers of one process, global and per run; safe to use from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._global: dict[str, str | Artifact] = {}
        self._runs: dict[str, dict[str, str | Artifact]] = {}

    def set(self, name: str, value: Any, *, run: str | None = None, scope: Scope | None = None) -> Scope:
        """Set register ``name`` to JSON data or an artifact; returns the scope it went to.

        The scope is the run's when ``run`` is given, global otherwise, unless ``scope`` says.

        Raises:
            UsageError: a bad name, a value that is not JSON or is too large, or scope
                ``run`` without a run.
        """
        _check_name(name)
        scope = _default_scope(run, scope)
        stored = value if isinstance(value, Artifact) else _encode(name, value)
        size = len(stored.payload) if isinstance(stored, Artifact) else len(stored)
        if size > MAX_VALUE_BYTES:
            raise UsageError(
                f"register {name!r}: value is {size} bytes, over the {MAX_VALUE_BYTES}-byte limit;"
                " put large data in storage and keep its path in the register"
            )
        with self._lock:
            self._table(run, scope, create=True)[name] = stored
        return scope

    def get(self, name: str, *, run: str | None = None, scope: Scope | None = None) -> Any:
        """The value of register ``name``: the run's if it has one, else the global one.

        Raises:
            UsageError: no such register in the scopes looked at; the message lists those there are.
        """
        _check_name(name)
        if scope is not None:
            _default_scope(run, scope)
        order = ("run", "global") if scope is None else (scope,)
        with self._lock:
            for each in order:
                table = self._table(run, each) if each == "global" or run is not None else {}
                if name in table:
                    return _decode(table[name])
            visible = self._visible(run, scope)
        where = "global" if scope == "global" or run is None else f"run {run}"
        if scope is None and run is not None:
            where += " or global"
        listing = f"registers there: {', '.join(sorted(visible))}" if visible else "there are none"
        raise UsageError(f"no register {name!r} in {where}; {listing}. Set it first")

    def delete(self, name: str, *, run: str | None = None, scope: Scope | None = None) -> bool:
        """Remove register ``name`` from its scope (chosen as for :meth:`set`); whether it was there."""
        _check_name(name)
        scope = _default_scope(run, scope)
        with self._lock:
            return self._table(run, scope).pop(name, None) is not None

    def items(self, *, run: str | None = None, scope: Scope | None = None) -> dict[str, Any]:
        """The registers visible from ``run`` (global overlaid by the run's), or one scope's."""
        if scope is not None:
            _default_scope(run, scope)
        with self._lock:
            return {name: _decode(value) for name, value in sorted(self._visible(run, scope).items())}

    def clear_run(self, run: str) -> None:
        """Drop every register of ``run`` (when the run ends)."""
        with self._lock:
            self._runs.pop(run, None)

    def _visible(self, run: str | None, scope: Scope | None) -> dict[str, str | Artifact]:
        merged: dict[str, str | Artifact] = {}
        if scope in (None, "global"):
            merged.update(self._global)
        if scope in (None, "run") and run is not None:
            merged.update(self._runs.get(run, {}))
        return merged

    def _table(self, run: str | None, scope: Scope, *, create: bool = False) -> dict[str, str | Artifact]:
        if scope == "global" or run is None:
            return self._global
        if create:
            return self._runs.setdefault(run, {})
        return self._runs.get(run, {})

    def __repr__(self) -> str:
        with self._lock:
            return f"<Registers global={len(self._global)} runs={len(self._runs)}>"


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(
            f"bad register name {name!r}: use letters, digits and _ (not first), at most 128 characters"
        )


def _default_scope(run: str | None, scope: str | None) -> Scope:
    if scope is None:
        return "run" if run is not None else "global"
    if scope not in SCOPES:
        raise UsageError(f"bad register scope {scope!r}: use 'run' or 'global'")
    if scope == "run" and run is None:
        raise UsageError("scope 'run' needs a run: the artifact carries no 'run' attribute")
    return scope


def _encode(name: str, value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"register {name!r}: a value must be JSON data or an artifact ({exc})") from exc


def _decode(stored: str | Artifact) -> Any:
    return stored if isinstance(stored, Artifact) else json.loads(stored)


_shared = Registers()


def shared_registers() -> Registers:
    """The registers of this process, which every unit in it sees."""
    return _shared


@register
class RegistersTool(Tool):
    """The registers as a unit: one operation per artifact, in the scope of the artifact's run."""

    name = "registers"
    description = "Ephemeral key-value registers of a run and global ones: get, set, delete, list."
    inputs = {
        "op": {"type": "string", "description": "get, set, delete or list"},
        "name": {"type": "string", "description": "the register (not for list)", "nullable": True},
        "value": {"type": "any", "description": "JSON value to set", "nullable": True},
        "artifact": {
            "type": "object",
            "description": "an artifact in its JSON form, to set instead of a value",
            "nullable": True,
        },
        "scope": {
            "type": "string",
            "description": "run or global; default: get looks in the run then global, others use the run's",
            "nullable": True,
        },
    }
    output = JSON

    def __init__(self, *, registers: Registers | None = None) -> None:
        self.registers = registers if registers is not None else shared_registers()

    def invoke(self, artifact: Artifact, arguments: dict[str, Any]) -> Any:
        return self.forward(**arguments, run=artifact.attr("run"))

    def forward(
        self,
        op: str,
        name: str | None = None,
        value: Any = _UNSET,
        artifact: dict[str, Any] | None = None,
        scope: Scope | None = None,
        run: str | None = None,
    ) -> Any:
        """Do ``op``: get returns the value itself; set, delete and list return a JSON summary."""
        if op == "list":
            visible = self.registers.items(run=run, scope=scope)
            return {key: _summary(held) for key, held in visible.items()}
        if op not in ("get", "set", "delete"):
            raise UsageError(f"unknown registers op {op!r}: use get, set, delete or list")
        if name is None:
            raise UsageError(f"registers {op} needs a 'name'")
        if op == "get":
            return self.registers.get(name, run=run, scope=scope)
        if op == "delete":
            return {"deleted": self.registers.delete(name, run=run, scope=scope), "name": name}
        if (value is _UNSET) == (artifact is None):
            raise UsageError("registers set needs exactly one of 'value' (JSON) or 'artifact'")
        if artifact is not None:
            try:
                value = Artifact.from_dict(artifact)
            except ArtifactError as exc:
                raise UsageError(f"registers set: 'artifact' is not an artifact's JSON form: {exc}") from exc
        stored_in = self.registers.set(name, value, run=run, scope=scope)
        return {"set": name, "scope": stored_in}


def _summary(value: Any) -> Any:
    if isinstance(value, Artifact):
        return {"artifact": value.id, "type": value.type, "bytes": len(value.payload)}
    return value


__all__ = ["MAX_VALUE_BYTES", "SCOPES", "Registers", "RegistersTool", "Scope", "shared_registers"]
