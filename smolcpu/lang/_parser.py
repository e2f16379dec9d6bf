"""Source text to syntax tree: the Lark parser for ``flow.lark`` and its transformer.

Lark's errors never leave this module: an ``UnexpectedInput`` becomes a
:class:`~smolcpu.errors.FlowSyntaxError` whose message names the file, ``line:col``,
shows the line with a caret, lists what could have come there in plain words, and, for
the mistakes people make most, says how to fix it.
"""

from __future__ import annotations

import ast as python_ast
import dataclasses
import sys
from contextvars import ContextVar
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Token, Tree
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from smolcpu import config
from smolcpu.errors import FlowSyntaxError
from smolcpu.lang._ast import (
    Block,
    Case,
    Chain,
    Constraint,
    Import,
    Io,
    Jump,
    Outcome,
    Param,
    Policy,
    Program,
    Ref,
    Setting,
    Step,
    Use,
    Version,
    Worker,
)

_TERMINALS = {
    "NAME": "a name",
    "INT": "a whole number",
    "NUMBER": "a number",
    "STRING": 'a "string"',
    "VERSION": "a version like 0.1",
    "COMPARATOR": "a comparison like >=",
    "BLOCK_KIND": "switch/select/join",
    "MATCH": "match",
    "OUTCOME": "an outcome (next, continue, send, cancel, timeout)",
    "BACK": "back",
    "IN": "in",
    "OUT": "out",
    "MIME": "a MIME type",
    "$END": "the end of the file",
}

_COMMON_MISTAKES = {
    "a step is written `worker => outcome`, with `=>` (data moves with `<=`)": [
        "out <= switch <= ( a => next b -> send ) <= in",
        "out <= switch <= ( a -> next ) <= in",
        "out <= switch <= ( a = next ) <= in",
        "out <= switch <= ( a : next ) <= in",
    ],
    "a block's body goes in parentheses: `switch <= ( step => next ) <= in`": [
        "out <= switch <= a => next",
        "out <= switch <= a <= in",
        "out <= select <= [a.jump]",
    ],
    "separate alternative outcomes with `|` or `||`: `next | cancel`": [
        "out <= switch <= ( a => next, cancel ) <= in",
        "out <= switch <= ( a => next or cancel ) <= in",
    ],
    "a limit is a whole number in angle brackets: `reason<5>`, `switch[loop]<3>`": [
        "out <= switch <= ( a<x> => next ) <= in",
        "out <= switch<x> <= ( a => next ) <= in",
        "out <= switch <= ( a<-1> => next ) <= in",
    ],
    "a jump is written `[label.jump]` or `[label.step.jump]`": [
        "out <= switch <= ( a => [b] ) <= in",
        "out <= switch <= ( a => [b.c] ) <= in",
    ],
    "a step needs at least one outcome after `=>`, e.g. `a => next`": [
        "out <= switch <= ( a => ) <= in",
        "out <= switch <= ( a =>",
        "out <= switch <= ( a => b => next ) <= in",
    ],
}


RESERVED = frozenset(
    "in out switch select match join next back continue send cancel timeout use import smol with policy".split()
)
"""Words that cannot name a worker: where a step may start, they mean something else."""


class _Reserved(Exception):
    def __init__(self, name: str, line: int, column: int) -> None:
        super().__init__(name)
        self.name, self.line, self.column = name, line, column


class _ToAst:
    """Builds the nodes of ``_ast``; one method per grammar rule, named like it, called with
    the rule's position (``meta``) and its children already built (see :func:`_build`)."""

    def start(self, meta: _Span, children: list[Any]) -> Program:
        chain = children[-1] if children and isinstance(children[-1], Chain) else None
        declarations = tuple(children[:-1] if chain is not None else children)
        return Program(declarations=declarations, chain=chain, **_at(meta))

    def version(self, meta: _Span, children: list[Constraint]) -> Version:
        return Version(tuple(children), **_at(meta))

    def constraint(self, meta: _Span, children: list[Token]) -> Constraint:
        return Constraint(str(children[0]), str(children[1]), **_at(meta))

    def import_(self, meta: _Span, children: list[Token]) -> Import:
        return Import(_string(children[0]), **_at(meta))

    def use(self, meta: _Span, children: list[Any]) -> Use:
        name, *rest = children
        if str(name) in RESERVED:
            raise _Reserved(str(name), name.line, name.column)
        unit = []
        while rest and isinstance(rest[0], Token) and rest[0].type == "NAME":
            unit.append(str(rest.pop(0)))
        requirement = []
        while rest and isinstance(rest[0], Constraint):
            requirement.append(rest.pop(0))
        parts: list[str] = []
        while rest and isinstance(rest[0], Token):
            parts.append(_string(rest.pop(0)))
        instruction = "".join(parts) if parts else None
        return Use(str(name), ".".join(unit), instruction, tuple(rest), tuple(requirement), **_at(meta))

    def param(self, meta: _Span, children: list[Token]) -> Param:
        name, value = children
        return Param(str(name), _value(value), **_at(meta))

    def policy(self, meta: _Span, children: list[Setting]) -> Policy:
        return Policy(tuple(children), **_at(meta))

    def setting(self, meta: _Span, children: list[Any]) -> Setting:
        name, value = children
        return Setting(str(name), value if isinstance(value, tuple) else _value(value), **_at(meta))

    def values(self, meta: _Span, children: list[Token]) -> tuple[Any, ...]:
        return tuple(_value(child) for child in children)

    def chain(self, meta: _Span, children: list[Any]) -> Chain:
        return Chain(tuple(children), **_at(meta))

    def group(self, meta: _Span, children: list[Chain]) -> Chain:
        return Chain(children[0].elements, **_at(meta))

    def io(self, meta: _Span, children: list[Token]) -> Io:
        return Io(str(children[0]), **_at(meta))

    def block(self, meta: _Span, children: list[Any]) -> Block:
        kind, *rest = children
        label = rest.pop(0)[1] if rest and isinstance(rest[0], tuple) and rest[0][0] == "label" else None
        limit = rest.pop(0)[1] if rest and isinstance(rest[0], tuple) and rest[0][0] == "limit" else None
        return Block(str(kind), tuple(rest), label=label, limit=limit, **_at(meta))

    def label(self, meta: _Span, children: list[Token]) -> tuple[str, str]:
        return ("label", str(children[0]))

    def limit(self, meta: _Span, children: list[Token]) -> tuple[str, int]:
        return ("limit", int(children[0]))

    def step(self, meta: _Span, children: list[Any]) -> Step:
        worker, *rest = children
        bind = rest.pop(0) if isinstance(rest[0], Ref) else None
        return Step(worker, rest[0], bind=bind, **_at(meta))

    def worker(self, meta: _Span, children: list[Any]) -> Worker:
        if str(children[0]) in RESERVED:
            raise _Reserved(str(children[0]), meta.line, meta.column)
        limit = children[1][1] if len(children) > 1 else None
        return Worker(str(children[0]), limit, **_at(meta))

    def ref(self, meta: _Span, children: list[Token]) -> Ref:
        names = [str(c) for c in children[:-1]]
        return Ref(names[0], names[1] if len(names) > 1 else None, **_at(meta))

    def case(self, meta: _Span, children: list[Any]) -> Case:
        return Case(children[0], children[1], **_at(meta))

    def pattern(self, meta: _Span, children: list[Token]) -> str:
        token = children[0]
        return _string(token) if token.type == "STRING" else str(token)

    def outcomes(self, meta: _Span, children: list[Outcome]) -> tuple[Outcome, ...]:
        return tuple(children)

    def outcome(self, meta: _Span, children: list[Any]) -> Outcome:
        first = children[0]
        if isinstance(first, Jump):
            return Outcome("jump", jump=first, **_at(meta))
        count = int(children[1]) if len(children) > 1 else 1
        return Outcome(str(first), count, **_at(meta))

    def jump(self, meta: _Span, children: list[Token]) -> Jump:
        names = [str(c) for c in children]
        return Jump(names[0], names[1] if len(names) > 1 else None, **_at(meta))


class _Span:
    """Where a rule was written, from its first token to its last: what lark's
    ``propagate_positions`` gives (it sees punctuation too), computed in :func:`_build`."""

    __slots__ = ("column", "empty", "end_line", "line")

    def __init__(self, line: int = 0, column: int = 0, end_line: int = 0, *, empty: bool = False) -> None:
        self.line, self.column, self.end_line, self.empty = line, column, end_line, empty


_NOWHERE = _Span(empty=True)

_KEPT = frozenset(
    ("NAME", "STRING", "NUMBER", "INT", "VERSION", "COMPARATOR", "BLOCK_KIND", "MATCH", "OUTCOME", "BACK", "IN", "OUT", "MIME")
)
"""The terminals ``flow.lark`` names, which the rules are built from; the parser keeps every
token (for the positions), and :func:`_build` passes only these on, not the punctuation."""


def _at(meta: _Span) -> dict[str, Any]:
    if meta.empty:
        return {}
    return {"line": meta.line, "column": meta.column, "end_line": meta.end_line}


def _string(token: Token) -> str:
    return str(python_ast.literal_eval(str(token)))


def _value(token: Token) -> Any:
    if token.type == "STRING":
        return _string(token)
    if token.type == "NUMBER":
        return python_ast.literal_eval(str(token))
    return {"true": True, "false": False}.get(str(token), str(token))


_comments: ContextVar[list[Token]] = ContextVar("_comments")


def _tables_file() -> str | bool:
    """Where lark keeps the parse tables it analysed (most of a cold ``smol check``'s time).

    In the user's own cache rather than lark's default, a shared temporary folder, because the
    file is a pickle: someone else's could run code. lark checks the grammar's hash on load.
    """
    folder = config.cache_dir() / "lang"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    version = f"lark{lark.__version__}-py{sys.version_info[0]}{sys.version_info[1]}"
    return str(folder / f"flow-{version}.tables")


@cache
def _lark() -> Lark:
    grammar = resources.files("smolcpu.lang").joinpath("flow.lark").read_text()
    return Lark(
        grammar,
        parser="lalr",
        cache=_tables_file(),
        keep_all_tokens=True,  # the positions come from every token (see _build), not from lark's costlier pass
        lexer_callbacks={"COMMENT": lambda token: _comments.get().append(token)},
    )


def parse(source: str, *, path: str | Path = "<flow>") -> Program:
    """Parse a flow program into its syntax tree, comments kept for the printer.

    Raises:
        FlowSyntaxError: the text is not a flow program; the message points at the spot.
    """
    comments: list[Token] = []
    reset = _comments.set(comments)
    try:
        tree = _lark().parse(source)
        program = _build(tree, source, str(path))
    except UnexpectedInput as exc:
        raise FlowSyntaxError(_describe(exc, source, str(path))) from None
    except _Reserved as exc:
        raise FlowSyntaxError(_reserved(exc, source, str(path))) from None
    except (ValueError, SyntaxError) as exc:  # a literal Python cannot read, e.g. a bad escape in a string
        raise FlowSyntaxError(f"{path}: {exc}") from None
    finally:
        _comments.reset(reset)
    return dataclasses.replace(program, comments=tuple((c.line or 0, str(c)) for c in comments))


def _build(tree: Tree[Token], source: str, path: str) -> Program:
    """The syntax tree of a parse tree, children before parents, without recursion: one
    call of the :class:`_ToAst` method named like each rule, with where the rule was written
    and its children built, punctuation left out (a lark ``Transformer`` with lark's
    positions does the same recursively, and several times slower).

    On the way down it refuses, at the place it happens, nesting deeper than the later
    passes can follow.

    Raises:
        FlowSyntaxError: a block or group stands more than ``config.MAX_NESTING`` levels deep.
    """
    builder = _ToAst()
    built: list[Any] = []
    spans: list[_Span] = []  # where each of ``built`` was written
    todo: list[tuple[Tree[Token] | Token, int]] = [(tree, 0)]  # depth, or -1: children built
    while todo:
        node, depth = todo.pop()
        if isinstance(node, Token):
            built.append(node)
            spans.append(_Span(node.line or 0, node.column or 0, node.end_line or 0))
        elif depth < 0:
            start = len(built) - len(node.children)
            children = [c for c in built[start:] if not isinstance(c, Token) or c.type in _KEPT]
            placed = [span for span in spans[start:] if not span.empty]
            del built[start:], spans[start:]
            span = _Span(placed[0].line, placed[0].column, placed[-1].end_line) if placed else _NOWHERE
            built.append(getattr(builder, node.data)(span, children))
            spans.append(span)
        else:
            if node.data in ("block", "group"):
                depth += 1
                if depth > config.MAX_NESTING:
                    raise FlowSyntaxError(_too_deep(node, source, path))
            todo.append((node, -1))
            todo += [(child, depth) for child in reversed(node.children)]
    return built[0]


def _too_deep(node: Tree[Token], source: str, path: str) -> str:
    first: Tree[Token] | Token = node
    while isinstance(first, Tree):
        first = first.children[0]
    line, column = first.line or 1, first.column or 1
    return (
        f"{path}:{line}:{column}: error: blocks and groups nest more than {config.MAX_NESTING} levels deep here\n"
        f"{source.splitlines()[line - 1]}\n{' ' * (column - 1)}^\n"
        "hint: flatten it: a group is plain sequencing, and a deep block can become a labelled block of its own"
        " that a jump enters"
    )


def _describe(exc: UnexpectedInput, source: str, path: str) -> str:
    """The one message a person needs: where, what was found, what would fit, how to fix."""
    if isinstance(exc, UnexpectedCharacters):
        found = f"unexpected character {source[exc.pos_in_stream or 0]!r}"
        expected = exc.allowed
    elif isinstance(exc, UnexpectedEOF):
        found = "the file ends too early"
        expected = set(exc.expected)
    else:
        assert isinstance(exc, UnexpectedToken)
        found = "the file ends too early" if exc.token.type == "$END" else f"unexpected {str(exc.token)!r}"
        expected = exc.accepts or exc.expected
    line, column = max(exc.line, 1), max(exc.column, 1)
    lines = [f"{path}:{line}:{column}: syntax error: {found}", exc.get_context(source).rstrip("\n")]
    words = sorted({_friendly(name) for name in expected})
    if words:
        lines.append("expected " + _or(words))
    hint = _hint(exc)
    if hint:
        lines.append(f"hint: {hint}")
    return "\n".join(lines)


def _reserved(exc: _Reserved, source: str, path: str) -> str:
    text = source.splitlines()[exc.line - 1]
    return (
        f"{path}:{exc.line}:{exc.column}: syntax error: `{exc.name}` is a reserved word, not a worker name\n"
        f"{text}\n{' ' * (exc.column - 1)}^\n"
        f"hint: call the worker something else, e.g. `{exc.name}_step`"
    )


def _friendly(terminal: str) -> str:
    if terminal in _TERMINALS:
        return _TERMINALS[terminal]
    try:
        pattern = _lark().get_terminal(terminal).pattern
    except KeyError:
        return terminal
    return f"'{pattern.value}'"


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _hint(exc: UnexpectedInput) -> str | None:
    """The fix for a common mistake this error looks like, or None.

    A hint is a nicety, so nothing lark raises while looking for one may escape: besides its
    own errors, lark's ``match_examples`` can raise a TypeError from a log line of its own
    (``%d`` given a ParserState, when the same state accepts different tokens).
    """
    try:
        return exc.match_examples(_lark().parse, _COMMON_MISTAKES, use_accepts=True)
    except (UnexpectedInput, AssertionError, TypeError):
        return None
