"""The unit registry: which kinds of unit exist, so a program can name one and get one.

A flow program binds a worker name to a unit *kind* (``math``, ``storage``, ``llm``...)
with parameters; ``smol units`` lists the kinds. Registering a unit is one line, in the
module that defines it, anywhere under ``smolcpu/units/`` (every module there is imported
the first time the registry is read)::

    @register
    class Math(Tool): ...                         # a Tool: name, description, inputs from it

    @register(name="llm", description="Answers with the local language model.")
    class Llm(Unit): ...                          # any Unit: say its name (and description)

    register(make_classifier, name="classify")    # a factory function works the same way

The kind is made by calling what was registered with the program's parameters as keyword
arguments (``create_unit("storage", root="/data")``), so a unit's options are its
constructor's keyword-only arguments. Keep module imports light: a registered unit loads
models in ``init``/``setup``, never at import.

Any installed Python package can add kinds through the entry-point group ``smolcpu.units``:
the entry point's name is the kind's name (dotted names like ``textstats.count`` keep
packages apart) and its object is what ``register`` would take::

    [project.entry-points."smolcpu.units"]
    "textstats.count" = "smol_textstats:WordCount"

Each kind records the package it comes from and that package's version, so ``smol units``
can show them and a program can require a version (``use n = textstats.count >= 1.2``). A
package whose unit fails to load is reported (:func:`unit_load_failures`), never fatal: the
other kinds work, and only a program naming that kind gets the error.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import importlib.metadata
import inspect
import pkgutil
import re
from collections.abc import Callable
from typing import Any, TypeVar, overload

import smolcpu
from smolcpu.artifact import JSON
from smolcpu.errors import UsageError
from smolcpu.runtime._unit import Unit
from smolcpu.units._tool import Tool

UnitFactory = Callable[..., Unit]
F = TypeVar("F", bound=UnitFactory)

_ROOT = "smolcpu.units"

ENTRY_POINTS = "smolcpu.units"
"""The entry-point group through which other installed packages add unit kinds."""

KIND_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
"""What a program can write after ``use x =``: a name, or dotted names."""


@dataclasses.dataclass(frozen=True, slots=True)
class UnitKind:
    """One registered kind of unit: how to make it and what it takes and gives."""

    name: str
    factory: UnitFactory
    description: str
    inputs: dict[str, dict[str, Any]]
    output: str
    package: str = "smolcpu"
    """The distribution the kind comes from (``smolcpu`` for the built-in ones)."""
    version: str = smolcpu.__version__
    """That distribution's version; empty where it cannot be told (a module outside any package)."""

    @property
    def parameters(self) -> list[str]:
        """The keyword options a program may give when it binds a worker to this kind."""
        signature = inspect.signature(self.factory)
        return [
            p.name
            for p in signature.parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]

    @property
    def deterministic(self) -> bool:
        """Whether a program may reuse this kind's earlier reply to the same input."""
        return bool(getattr(self.factory, "deterministic", False))

    def create(self, **parameters: Any) -> Unit:
        """A new unit of this kind, configured with ``parameters``."""
        try:
            inspect.signature(self.factory).bind(**parameters)
        except TypeError as exc:
            takes = ", ".join(self.parameters) or "no parameters"
            raise UsageError(f"unit {self.name!r} takes {takes}; got {sorted(parameters)} ({exc})") from exc
        return self.factory(**parameters)


@dataclasses.dataclass(frozen=True, slots=True)
class LoadFailure:
    """A unit kind that an installed package declares but that could not be loaded, and why."""

    name: str
    package: str
    version: str
    error: str

    def __str__(self) -> str:
        return f"unit kind {self.name!r} from {self.package} {self.version} failed to load: {self.error}"


_kinds: dict[str, UnitKind] = {}
_failures: dict[str, LoadFailure] = {}
_discovered = False


@overload
def register(factory: F, /, *, name: str | None = None, description: str | None = None) -> F: ...
@overload
def register(
    factory: None = None, /, *, name: str | None = None, description: str | None = None
) -> Callable[[F], F]: ...


def register(
    factory: F | None = None, /, *, name: str | None = None, description: str | None = None
) -> F | Callable[[F], F]:
    """Register a Tool class, Unit class or factory as a kind of unit; usable as a decorator.

    Args:
        factory: what makes the unit; called with the program's parameters.
        name: the kind's name; a Tool's own ``name`` by default.
        description: one line for ``smol units``; a Tool's ``description`` or the docstring.

    Raises:
        UsageError: the name is taken by another unit, or none can be found.
    """

    def add(target: F) -> F:
        is_tool = isinstance(target, type) and issubclass(target, Tool)
        kind_name = name or (target.name if is_tool else None)
        if not kind_name:
            raise UsageError(f"register({target.__name__}) needs name=: only a Tool carries its own")
        doc = description or (
            target.description if is_tool else inspect.cleandoc(target.__doc__ or "").split("\n")[0]
        )
        package, version = _origin(target)
        kind = UnitKind(
            name=kind_name,
            factory=target,
            description=doc,
            inputs=dict(target.inputs) if is_tool else {},
            output=target.output if is_tool else JSON,
            package=package,
            version=version,
        )
        existing = _kinds.get(kind_name)
        if existing is not None and _qualname(existing.factory) != _qualname(target):
            raise UsageError(
                f"unit kind {kind_name!r} is already registered by {_qualname(existing.factory)}"
            )
        _kinds[kind_name] = kind
        return target

    return add if factory is None else add(factory)


def _qualname(factory: UnitFactory) -> str:
    return f"{factory.__module__}.{factory.__qualname__}"


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _origin(factory: UnitFactory) -> tuple[str, str]:
    """The distribution that holds ``factory``'s module, and its version."""
    top = factory.__module__.split(".")[0]
    if top == "smolcpu":
        return "smolcpu", smolcpu.__version__
    for distribution in _distributions().get(top, []):
        return distribution, importlib.metadata.version(distribution)
    return top, ""


def _discover() -> None:
    """Import every module under ``smolcpu.units`` once, so their ``register`` lines run, then
    load the kinds other packages declare in the ``smolcpu.units`` entry-point group."""
    global _discovered
    if _discovered:
        return
    package = importlib.import_module(_ROOT)
    for module in pkgutil.walk_packages(package.__path__, prefix=f"{_ROOT}."):
        if not module.name.endswith(".__main__"):
            importlib.import_module(module.name)
    _discovered = True
    for entry in importlib.metadata.entry_points(group=ENTRY_POINTS):
        _load(entry)


def _load(entry: importlib.metadata.EntryPoint) -> None:
    """Register the kind of one entry point; a failure is recorded for ``smol units``, not raised."""
    distribution = entry.dist
    package, version = (distribution.name, distribution.version) if distribution else ("?", "")
    try:
        if not KIND_NAME.fullmatch(entry.name):
            raise UsageError(f"{entry.name!r} is not a name a program can write (letters, digits, _ and dots)")
        target = entry.load()
        register(target, name=entry.name)
    except Exception as exc:  # noqa: BLE001  (another package's bug must not stop Smol: it is reported)
        _failures[entry.name] = LoadFailure(entry.name, package, version, f"{type(exc).__name__}: {exc}")
        return
    _kinds[entry.name] = dataclasses.replace(_kinds[entry.name], package=package, version=version)


def unit_load_failures() -> list[LoadFailure]:
    """The kinds other packages declare that could not be loaded, by name."""
    _discover()
    return [_failures[name] for name in sorted(_failures)]


def unit_kinds() -> list[UnitKind]:
    """Every registered kind, by name."""
    _discover()
    return [_kinds[name] for name in sorted(_kinds)]


def unit_kind(name: str) -> UnitKind:
    """The kind called ``name``.

    Raises:
        UsageError: there is none; the message lists the closest names.
    """
    _discover()
    kind = _kinds.get(name)
    if kind is None and name in _failures:
        raise UsageError(f"{_failures[name]}; reinstall or fix that package (smol units lists what loaded)")
    if kind is None:
        close = difflib.get_close_matches(name, _kinds, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(sorted(_kinds))}"
        raise UsageError(f"no unit kind {name!r}; {hint} (smol units lists them)")
    return kind


def create_unit(name: str, **parameters: Any) -> Unit:
    """A new unit of kind ``name`` configured with ``parameters`` (see :meth:`UnitKind.create`)."""
    return unit_kind(name).create(**parameters)


__all__ = [
    "ENTRY_POINTS",
    "LoadFailure",
    "UnitFactory",
    "UnitKind",
    "create_unit",
    "register",
    "unit_kind",
    "unit_kinds",
    "unit_load_failures",
]
