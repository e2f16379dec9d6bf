"""What the worker names of a program stand for: ``use``, ``import`` and ``smol`` lines.

``use NAME = UNIT [>= 1.2, < 2] ["instruction"] [with key = value, ...]`` binds a worker
name to a kind of unit from the unit registry, with the constructor parameters it takes; the
string is the worker's instruction (the system prompt of an ``llm``). The constraints require
versions of the package the kind comes from (smolcpu, or the package that declares it in the
``smolcpu.units`` entry points). ``import "other.smol"`` brings
the declarations of another file (relative to this one) into scope. ``smol >= 0.1`` states
the Smol versions the program runs on. A name with no declaration runs as the default
neural worker, the local LLM told its role by the name, and the checker says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion
from packaging.version import Version as PackageVersion

import smolcpu
from smolcpu.errors import FlowSyntaxError
from smolcpu.lang._ast import Import, Program, Use, Version
from smolcpu.lang._ast import Policy as PolicyLine
from smolcpu.lang._diagnostics import Diagnostic, did_you_mean, error, warning
from smolcpu.lang._parser import parse
from smolcpu.lang._policy import SETTINGS, Policy, PolicyValueError, read_settings

IDENTITY = "identity"
"""The trivial unit: its output is its input. The optimiser removes steps bound to it."""

DEFAULT_UNIT = "llm"
"""The unit an undeclared worker name runs on (LANGUAGE.md §5)."""

POLICY_PARAMS = {("sandbox", "network"): "network = true", ("storage", "folders"): 'folders = ["notes"]'}
"""Unit parameters a run's policy sets over any binding (see ``smolcpu.vm._policing``)."""


@dataclass(frozen=True, slots=True)
class UnitInfo:
    """What the checker needs to know of a kind of unit."""

    name: str
    deterministic: bool
    parameters: tuple[str, ...] | None = None  # None: not known, not checked
    package: str = "smolcpu"
    version: str = smolcpu.__version__


class UnitCatalog:
    """The kinds of unit a program may name; by default, the unit registry's."""

    def __init__(self, units: Iterable[UnitInfo], *, failures: Mapping[str, str] | None = None) -> None:
        self.units = {u.name: u for u in units}
        self.failures = dict(failures or {})
        """Kinds an installed package declares that failed to load, with why."""
        self.units.setdefault(IDENTITY, UnitInfo(IDENTITY, deterministic=True, parameters=()))
        self.units.setdefault(DEFAULT_UNIT, UnitInfo(DEFAULT_UNIT, deterministic=False))

    @classmethod
    def from_registry(cls) -> UnitCatalog:
        """The kinds registered in ``smolcpu.units`` (each saying whether it is deterministic, and
        where it comes from), and those another package declares that failed to load."""
        from smolcpu.units import unit_kinds, unit_load_failures

        return cls(
            (
                UnitInfo(k.name, deterministic=k.deterministic, parameters=tuple(k.parameters), package=k.package, version=k.version)
                for k in unit_kinds()
            ),
            failures={f.name: str(f) for f in unit_load_failures()},
        )

    def get(self, name: str) -> UnitInfo | None:
        return self.units.get(name)


@dataclass(frozen=True, slots=True)
class Binding:
    """A worker name bound to a unit: what the executor spawns for it."""

    name: str
    unit: str
    instruction: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    deterministic: bool = False
    declared: bool = True
    path: str = ""
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "instruction": self.instruction,
            "params": dict(self.params),
            "deterministic": self.deterministic,
            "declared": self.declared,
            "path": self.path,
            "line": self.line,
        }


@dataclass
class Scope:
    """Every declaration in reach of a program, and what was wrong with them."""

    bindings: dict[str, Binding] = field(default_factory=dict)
    requirements: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)  # declared, but the declaration is broken
    diagnostics: list[Diagnostic] = field(default_factory=list)
    policy: Policy | None = None  # the tighter of every ``policy`` line in reach; None: none

    def binding(self, worker: str) -> Binding:
        """The binding of ``worker``: its declaration, or the default neural worker."""
        found = self.bindings.get(worker)
        if found is not None:
            return found
        return Binding(worker, DEFAULT_UNIT, instruction=None, deterministic=False, declared=False)


Loader = Callable[[Path], str]


def declarations(
    program: Program,
    *,
    path: str | Path = "<flow>",
    catalog: UnitCatalog,
    load: Loader = Path.read_text,
) -> Scope:
    """Resolve the declarations of ``program`` and of every file it imports."""
    scope = Scope()
    _Resolver(scope, catalog, load).file(program, Path(path), chain=())
    return scope


class _Resolver:
    def __init__(self, scope: Scope, catalog: UnitCatalog, load: Loader) -> None:
        self.scope = scope
        self.catalog = catalog
        self.load = load
        self.done: set[Path] = set()
        self.depth: dict[str, int] = {}

    def file(self, program: Program, path: Path, *, chain: tuple[Path, ...]) -> None:
        self.scope.files.append(str(path))
        local: dict[str, Use] = {}
        for node in program.declarations:
            where = {"path": str(path), "line": node.line, "column": node.column}
            if isinstance(node, Version):
                self.version(node, where)
            elif isinstance(node, Import):
                self.import_(node, path, chain, where)
            elif isinstance(node, PolicyLine):
                self.policy(node, path)
            elif isinstance(node, Use):
                if node.name in local:
                    self.report(error(
                        "duplicate-use",
                        f"`{node.name}` is declared twice in this file (first on line {local[node.name].line})",
                        hint="keep one `use` line per worker name",
                        **where,
                    ))
                    continue
                local[node.name] = node
                self.use(node, path, len(chain), where)

    def version(self, node: Version, where: dict[str, Any]) -> None:
        specifier = self.specifier(f"smol {node.specifier}", node.specifier, where)
        if specifier is None:
            return
        self.scope.requirements.append(str(specifier))
        if not specifier.contains(PackageVersion(smolcpu.__version__), prereleases=True):
            self.report(error(
                "version",
                f"this program needs smol {specifier}; this is smol {smolcpu.__version__}",
                hint="upgrade Smol, or relax the `smol` line if the program does not need the newer one",
                **where,
            ))

    def specifier(self, written: str, text: str, where: dict[str, Any]) -> SpecifierSet | None:
        """``text`` as a version specifier, or ``None`` (reported) when it is not one."""
        try:
            return SpecifierSet(text)
        except InvalidSpecifier:
            self.report(error("bad-version", f"`{written}` is not a version requirement", **where))
            return None

    def unit_version(self, node: Use, unit: UnitInfo, where: dict[str, Any]) -> None:
        """Check ``use x = kind >= 1.2`` against the version of the package the kind comes from."""
        specifier = self.specifier(f"{node.unit} {node.specifier}", node.specifier, where)
        if specifier is None:
            return
        try:
            have = PackageVersion(unit.version)
        except InvalidVersion:
            have = None
        if have is None or not specifier.contains(have, prereleases=True):
            self.report(error(
                "unit-version",
                f"`{node.name}` needs {node.unit} {specifier}; it comes from {unit.package} {unit.version or '(no version)'}",
                hint=f"install a version that fits: pip install '{unit.package}{specifier}'",
                **where,
            ))

    def import_(self, node: Import, path: Path, chain: tuple[Path, ...], where: dict[str, Any]) -> None:
        target = (path.parent / node.path).resolve()
        if target in chain or target == path.resolve():
            cycle = " → ".join(p.name for p in (*chain, path.resolve(), target))
            self.report(error("import-cycle", f"import cycle: {cycle}", **where))
            return
        if target in self.done:
            return
        self.done.add(target)
        try:
            source = self.load(target)
        except OSError as exc:
            self.report(error("import", f"cannot read {node.path!r}: {exc.strerror or exc}", **where))
            return
        try:
            imported = parse(source, path=target)
        except FlowSyntaxError as exc:
            self.report(error("import", f"{node.path!r} does not parse:\n{exc}", **where))
            return
        if imported.chain is not None:
            self.report(warning(
                "import-flow",
                f"{node.path!r} has a flow of its own; an import only brings its declarations",
                **where,
            ))
        self.file(imported, target, chain=(*chain, path.resolve()))

    def use(self, node: Use, path: Path, depth: int, where: dict[str, Any]) -> None:
        unit = self.catalog.get(node.unit)
        if unit is None and node.unit in self.catalog.failures:
            self.scope.failed.add(node.name)
            self.report(error("unit-load", self.catalog.failures[node.unit], hint="reinstall or fix that package", **where))
            return
        if unit is None:
            self.scope.failed.add(node.name)
            self.report(error(
                "unknown-unit",
                f"no unit kind `{node.unit}` for `{node.name}`",
                hint=did_you_mean(node.unit, self.catalog.units) or f"known: {', '.join(sorted(self.catalog.units))}",
                **where,
            ))
            return
        if node.requirement:
            self.unit_version(node, unit, where)
        for param in node.params:
            policy_setting = POLICY_PARAMS.get((unit.name, param.name))
            if policy_setting is not None:
                self.report(warning(
                    "policy-param",
                    f"`{param.name}` of a `{unit.name}` unit is set by the run's policy, not by a `use` line;"
                    " this value is ignored",
                    hint=f"write it as a policy: `policy {policy_setting}`",
                    path=str(path),
                    line=param.line,
                    column=param.column,
                ))
            if unit.parameters is not None and param.name not in unit.parameters:
                takes = ", ".join(unit.parameters) or "no parameters"
                self.report(error(
                    "unknown-param",
                    f"unit `{unit.name}` has no parameter `{param.name}` (it takes {takes})",
                    hint=did_you_mean(param.name, unit.parameters),
                    path=str(path),
                    line=param.line,
                    column=param.column,
                ))
        previous = self.scope.bindings.get(node.name)
        if previous is not None:
            if self.depth[node.name] < depth:
                return  # a declaration nearer the program wins over an imported one
            self.report(warning(
                "shadowed",
                f"`{node.name}` is also declared in {previous.path}:{previous.line}; this declaration wins",
                **where,
            ))
        self.depth[node.name] = depth
        self.scope.bindings[node.name] = Binding(
            node.name,
            unit.name,
            instruction=node.instruction,
            params={p.name: p.value for p in node.params},
            deterministic=unit.deterministic,
            path=str(path),
            line=node.line,
        )

    def policy(self, node: PolicyLine, path: Path) -> None:
        """Read a ``policy`` line, each setting on its own (a bad one is reported where it is
        written); the program's policy is the tighter of all its lines and its imports'."""
        settings: dict[str, object] = {}
        for setting in node.settings:
            where = {"path": str(path), "line": setting.line, "column": setting.column}
            if setting.name not in SETTINGS:
                self.report(error(
                    "policy",
                    f"no policy setting `{setting.name}`",
                    hint=did_you_mean(setting.name, SETTINGS) or f"the settings are {', '.join(SETTINGS)}",
                    **where,
                ))
                continue
            if setting.name in settings:
                self.report(error("policy", f"policy setting `{setting.name}` is given twice on this line", **where))
                continue
            try:
                checked = read_settings([(setting.name, setting.value)])
            except PolicyValueError as exc:
                self.report(error("policy", str(exc), hint=SETTINGS[setting.name], **where))
                continue
            if checked.units is not None:
                for kind in sorted(checked.units):
                    if self.catalog.get(kind) is None:
                        self.report(error(
                            "policy",
                            f"policy allows unit kind `{kind}`, which does not exist",
                            hint=did_you_mean(kind, self.catalog.units) or "`smol units` lists the kinds",
                            **where,
                        ))
            settings[setting.name] = setting.value
        policy = read_settings(settings.items())
        self.scope.policy = policy.tighter(self.scope.policy)

    def report(self, diagnostic: Diagnostic) -> None:
        self.scope.diagnostics.append(diagnostic)


__all__ = ["DEFAULT_UNIT", "IDENTITY", "Binding", "Scope", "UnitCatalog", "UnitInfo", "declarations"]
