"""The syntax tree of a flow program: one class per rule of ``flow.lark``.

Nodes are frozen dataclasses and carry where they were written (``line``, ``column``,
``end_line``), so every later pass can point at the source. Equality ignores positions:
two programs are the same tree when they say the same thing, which is what the printer's
round trip promises. Passes dispatch on :attr:`Node.kind` through :class:`Visitor`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """Where a node was written; not part of its identity."""

    line: int = field(default=0, compare=False, repr=False)
    column: int = field(default=0, compare=False, repr=False)
    end_line: int = field(default=0, compare=False, repr=False)

    @property
    def rule(self) -> str:
        """The grammar rule this node came from."""
        return type(self).__name__.lower()


@dataclass(frozen=True, slots=True)
class Constraint(Node):
    """``>= 0.1``: one clause of a version requirement."""

    op: str
    version: str


def specifier(constraints: tuple[Constraint, ...]) -> str:
    """Constraints as a PEP 440 specifier, e.g. ``>=0.1,<1``."""
    return ",".join(f"{c.op}{c.version}" for c in constraints)


@dataclass(frozen=True, slots=True)
class Version(Node):
    """``smol >= 0.1, < 1``: the Smol versions a program runs on."""

    constraints: tuple[Constraint, ...]

    @property
    def specifier(self) -> str:
        """The requirement as a PEP 440 specifier, e.g. ``>=0.1,<1``."""
        return specifier(self.constraints)


@dataclass(frozen=True, slots=True)
class Import(Node):
    """``import "lib.smol"``: bring another file's declarations into scope."""

    path: str


@dataclass(frozen=True, slots=True)
class Param(Node):
    """``temperature = 0.2``: one parameter of a unit binding."""

    name: str
    value: Any


@dataclass(frozen=True, slots=True)
class Use(Node):
    """``use reason = llm "instruction" with k = v``: bind a worker name to a unit.

    ``use n = textstats.count >= 1.2, < 2`` also requires versions of the package the unit
    kind comes from (``requirement``).
    """

    name: str
    unit: str
    instruction: str | None = None
    params: tuple[Param, ...] = ()
    requirement: tuple[Constraint, ...] = ()

    @property
    def specifier(self) -> str:
        """The version requirement on the unit's package as a PEP 440 specifier ('' for none)."""
        return specifier(self.requirement)


@dataclass(frozen=True, slots=True)
class Setting(Param):
    """``tokens = 4000`` or ``units = [math, sandbox]``: one setting of a ``policy`` line (a
    list value is a tuple)."""


@dataclass(frozen=True, slots=True)
class Policy(Node):
    """``policy wall_s = 60, tokens = 4000``: what a run of the program may spend and touch."""

    settings: tuple[Setting, ...]


@dataclass(frozen=True, slots=True)
class Io(Node):
    """``in`` or ``out`` at the ends of a chain."""

    name: str


@dataclass(frozen=True, slots=True)
class Worker(Node):
    """A worker name with an optional run limit: ``reason<5>``."""

    name: str
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Ref(Node):
    """``label.step.out`` (or ``label.out``): the latest output of a step or block."""

    label: str
    step: str | None = None

    def __str__(self) -> str:
        return ".".join(p for p in (self.label, self.step, "out") if p)


@dataclass(frozen=True, slots=True)
class Jump(Node):
    """``[label.jump]`` or ``[label.step.jump]``."""

    label: str
    step: str | None = None

    def __str__(self) -> str:
        return "[" + ".".join(p for p in (self.label, self.step, "jump") if p) + "]"


@dataclass(frozen=True, slots=True)
class Outcome(Node):
    """One alternative of a step: ``next``, ``back * 2``, ``[label.jump]``..."""

    name: str
    count: int = 1
    jump: Jump | None = None

    def __str__(self) -> str:
        if self.jump is not None:
            return str(self.jump)
        return f"back * {self.count}" if self.name == "back" and self.count != 1 else self.name


@dataclass(frozen=True, slots=True)
class Step(Node):
    """``worker => outcome | outcome``, optionally ``[worker <= ref] => ...``."""

    worker: Worker
    outcomes: tuple[Outcome, ...]
    bind: Ref | None = None


@dataclass(frozen=True, slots=True)
class Case(Node):
    """``pattern => outcome`` inside a ``match``."""

    pattern: str
    outcomes: tuple[Outcome, ...]


@dataclass(frozen=True, slots=True)
class Block(Node):
    """``KIND[label]<limit> <= ( BODY )``; a match's body holds cases, the others steps and chains."""

    kind: str
    body: tuple[Step | Chain | Case, ...]
    label: str | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Chain(Node):
    """``a <= b <= c`` as written, left to right; data moves right to left."""

    elements: tuple[Block | Chain | Io | Worker, ...]


@dataclass(frozen=True, slots=True)
class Program(Node):
    """A whole file: declarations, then at most one chain (a library file has none)."""

    declarations: tuple[Version | Import | Use | Policy, ...] = ()
    chain: Chain | None = None
    comments: tuple[tuple[int, str], ...] = field(default=(), compare=False, repr=False)


class Visitor(Generic[T]):
    """One dispatch over node kinds: ``visit(node)`` calls ``visit_<rule>(node)``."""

    def visit(self, node: Node) -> T:
        return getattr(self, f"visit_{node.rule}")(node)


__all__ = [
    "Block",
    "Case",
    "Chain",
    "Constraint",
    "Import",
    "Io",
    "Jump",
    "Node",
    "Outcome",
    "Param",
    "Policy",
    "Program",
    "Ref",
    "Setting",
    "Step",
    "Use",
    "Version",
    "Visitor",
    "Worker",
]
