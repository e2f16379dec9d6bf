"""The canonical printer behind ``smol fmt``: one layout for every program.

Blocks open their body on the line of their head and close it on a line of its own,
bodies are indented by four spaces, the ``=>`` of the steps of one body line up, and
alternatives are separated by ``|``. Comments stay where they were (before the item they
precede, or after the item on their line), and a blank line between two items survives.
The output parses back to the same tree (positions aside), and printing it again changes
nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from smolcpu.lang._ast import (
    Block,
    Case,
    Chain,
    Constraint,
    Import,
    Io,
    Node,
    Policy,
    Program,
    Step,
    Use,
    Version,
    Visitor,
    Worker,
)

INDENT = "    "
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[a-z]+/[a-z0-9.+*-]+")


def format_program(program: Program) -> str:
    """The canonical text of ``program``, ending with one newline."""
    printer = _Printer(program.comments, top=program.chain)
    items: list[Node] = [*program.declarations, *([program.chain] if program.chain else [])]
    lines = printer.items(items, end_line=None)
    return "\n".join(lines).strip("\n") + "\n"


class _Printer(Visitor[list[str]]):
    def __init__(self, comments: Sequence[tuple[int, str]], *, top: Chain | None) -> None:
        self.comments = sorted(comments)
        self.top = top  # the program's flow: always set apart from the declarations

    # ---- comments and layout ----------------------------------------------------------

    def take_before(self, line: int | None) -> list[tuple[int, str]]:
        """Comments written above ``line`` (all that are left when ``line`` is None)."""
        count = sum(1 for at, _ in self.comments if line is None or at < line)
        taken, self.comments = self.comments[:count], self.comments[count:]
        return taken

    def take_on(self, line: int) -> str:
        """The comment at the end of ``line``, if one is left."""
        if self.comments and self.comments[0][0] == line:
            return self.comments.pop(0)[1]
        return ""

    def items(self, nodes: Sequence[Node], *, end_line: int | None) -> list[str]:
        """Lines for a sequence of items: leading comments, blank lines, aligned steps."""
        width = max((len(_head(n)) for n in nodes if isinstance(n, (Step, Case))), default=0)
        rows: list[tuple[str, str]] = []  # (text, trailing comment)
        last_line: int | None = None
        for node in nodes:
            leading = self.take_before(_first_line(node))
            start = leading[0][0] if leading else _first_line(node)
            after_declarations = isinstance(node, Chain) and node is self.top and last_line is not None
            if last_line is not None and (start > last_line + 1 or after_declarations):
                rows.append(("", ""))
            rows.extend((text, "") for _, text in leading)
            body = self.step_text(node, width) if isinstance(node, (Step, Case)) else self.visit(node)
            rows.extend((text, "") for text in body[:-1])
            rows.append((body[-1], self.take_on(_last_line(node))))
            last_line = _last_line(node)
        closing = self.take_before(end_line)
        if closing and last_line is not None and closing[0][0] > last_line + 1:
            rows.append(("", ""))
        rows.extend((text, "") for _, text in closing)
        return _with_comments(rows)

    def step_text(self, node: Step | Case, width: int) -> list[str]:
        return [f"{_head(node).ljust(width)} => {' | '.join(str(o) for o in node.outcomes)}"]

    # ---- one method per node kind -----------------------------------------------------

    def visit_version(self, node: Version) -> list[str]:
        return ["smol " + _constraints(node.constraints)]

    def visit_import(self, node: Import) -> list[str]:
        return [f"import {_quote(node.path)}"]

    def visit_use(self, node: Use) -> list[str]:
        """One line; an instruction of several lines is written a string per line, below."""
        lines = [f"use {node.name} = {node.unit}"]
        if node.requirement:
            lines[0] += " " + _constraints(node.requirement)
        if node.instruction is not None:
            parts = [piece for line in node.instruction.splitlines(keepends=True) for piece in _pieces(line)]
            if len(parts) > 1:
                lines += [f"    {_quote(part)}" for part in parts]
            else:
                lines[0] += f" {_quote(node.instruction)}"
        if node.params:
            lines[-1] += " with " + ", ".join(f"{p.name} = {_literal(p.value)}" for p in node.params)
        return lines

    def visit_policy(self, node: Policy) -> list[str]:
        return ["policy " + ", ".join(f"{s.name} = {_setting_value(s.value)}" for s in node.settings)]

    def visit_chain(self, node: Chain) -> list[str]:
        lines: list[str] = []
        for element in node.elements:
            if isinstance(element, Chain):
                inner = self.items([element], end_line=element.end_line)
                part = ["(", *_indent(inner), ")"]
            else:
                part = self.visit(element)
            if lines:
                lines[-1] += " <= " + part[0]
                lines.extend(part[1:])
            else:
                lines.extend(part)
        return lines

    def visit_block(self, node: Block) -> list[str]:
        label = f"[{node.label}]" if node.label else ""
        head = node.kind + label + (f"<{node.limit}>" if node.limit is not None else "")
        body = self.items(node.body, end_line=node.end_line)
        return [f"{head} <= (", *_indent(body), ")"]

    def visit_io(self, node: Io) -> list[str]:
        return [node.name]

    def visit_worker(self, node: Worker) -> list[str]:
        return [_worker(node)]


def _first_line(node: Node) -> int:
    return _first_line(node.elements[0]) if isinstance(node, Chain) and node.elements else node.line


def _last_line(node: Node) -> int:
    """The line an item ends on (a group's closing parenthesis belongs to its parent)."""
    return _last_line(node.elements[-1]) if isinstance(node, Chain) and node.elements else node.end_line


def _head(node: Step | Case) -> str:
    if isinstance(node, Case):
        return node.pattern if _BARE_PATTERN.fullmatch(node.pattern) else _quote(node.pattern)
    if node.bind is not None:
        return f"[{_worker(node.worker)} <= {node.bind}]"
    return _worker(node.worker)


def _worker(node: Worker) -> str:
    return node.name + (f"<{node.limit}>" if node.limit is not None else "")


INSTRUCTION_WIDTH = 84
"""Longest piece of an instruction on one line; longer lines are cut before a space."""


def _pieces(line: str) -> list[str]:
    """``line`` cut into pieces of at most :data:`INSTRUCTION_WIDTH` characters, each cut
    made before a space (the space starts the next piece), so joined they give it back."""
    pieces = []
    while len(line) > INSTRUCTION_WIDTH:
        cut = line.rfind(" ", 1, INSTRUCTION_WIDTH)
        if cut <= 0:
            break
        pieces.append(line[:cut])
        line = line[cut:]
    return [*pieces, line]


def _constraints(constraints: tuple[Constraint, ...]) -> str:
    return ", ".join(f"{c.op} {c.version}" for c in constraints)


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "1e999" if value > 0 else "-1e999"
    if isinstance(value, (int, float)):
        return repr(value)
    return _quote(str(value))


def _setting_value(value: Any) -> str:
    """A policy setting's value; in a list, names (unit kinds) stand bare."""
    if not isinstance(value, tuple):
        return _literal(value)
    bare = [v if isinstance(v, str) and _NAME.fullmatch(v) and v not in ("true", "false") else _literal(v) for v in value]
    return "[" + ", ".join(bare) + "]"


def _indent(lines: list[str]) -> list[str]:
    return [INDENT + line if line else "" for line in lines]


def _with_comments(rows: list[tuple[str, str]]) -> list[str]:
    """Append trailing comments, lined up within each run of commented rows."""
    lines: list[str] = []
    run: list[tuple[str, str]] = []
    for text, comment in [*rows, ("", "")]:
        if comment and "\n" not in text:
            run.append((text, comment))
            continue
        width = max((len(t) for t, _ in run), default=0)
        lines.extend(f"{t.ljust(width)}  {c}" for t, c in run)
        run = []
        lines.append(text)
    return lines[:-1]


__all__ = ["format_program"]
