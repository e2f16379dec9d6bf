"""The flow language as a GBNF grammar, so llama.cpp can only write programs that parse.

Generated from ``flow.lark`` (the spec), so the two cannot drift: Lark compiles the grammar
to plain BNF and every rule and terminal is written out in GBNF. GBNF has no lexer, so what
Lark's lexer does is written into the grammar:

- whitespace and comments (``%ignore``) may come before any token, and must come between two
  tokens that would otherwise run together into one word (``use x``, never ``usex``). Each
  rule is split by the kind of token before it and the kind it ends with (a word character
  or not), so the separator is required exactly there;
- a worker name (rule ``_worker_name``) is any NAME but a reserved word, as the parser says;
- Lark's ``x*`` rules are left-recursive, which llama.cpp refuses: they become right-recursive.

Where the two still differ, GBNF is the stricter one except for one corner: a number must be
followed by a space before a word (Lark reads ``smol >= 0.1use`` as two tokens), and a string
may not use ``\\N{name}`` escapes (``parse`` reads them as Python does; other bad escapes both
refuse); but ``[x.jump.jump]`` and ``[w <= x.out.out]`` (a step called ``jump`` or ``out``)
pass GBNF and not Lark's lexer.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]

from lark.lexer import PatternStr

from smolcpu.errors import FlowError
from smolcpu.lang._parser import RESERVED, _lark
from smolcpu.units.neural import gbnf_literal

P, W = "p", "w"
"""What the last token written ended with: punctuation (or nothing yet), or a word character."""

_SPACE = r"[ \t\x0C\r\n]"
_HEX = "[0-9a-fA-F]"
_FIXED = {
    # Lark's ESCAPED_STRING needs a look-behind; this is the same language, with the
    # escapes Python's literal_eval (which the parser runs on strings) accepts
    "STRING": (
        '"\\"" ( [^"\\\\\\n] | "\\\\" ( [^\\nxuUN] | "x" hex hex | "u" hex hex hex hex'
        ' | "U" hex hex hex hex hex hex hex hex ) )* "\\""'
    ),
}
_FIXED_RULES = {"hex": _HEX}
_FREE_SPACE = (
    f"ws ::= ({_SPACE} | comment)*",
    f"sep ::= ({_SPACE} | comment)+",
    'comment ::= ";" [^\\n]* "\\n"',
    'end ::= ws (";" [^\\n]*)?',
)
_COMPACT_SPACE = (
    # no comments, at most one blank line and a bounded indent: a model cannot loop on layout
    'ws ::= [ ]{0,16} ("\\n" [ ]{0,16}){0,2}',
    'sep ::= [ ]{1,16} ("\\n" [ ]{0,16}){0,2} | ("\\n" [ ]{0,16}){1,2}',
    'end ::= ("\\n")?',
)


@dataclass(frozen=True, slots=True)
class _Token:
    """A terminal as GBNF: its text, and whether it can start or end with a word character."""

    body: str
    starts_word: bool
    ends_word: bool


def _is_word(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


def _class_char(code: int) -> str:
    char = chr(code)
    if char in "\\]-^[":
        return "\\" + char
    return char if 0x20 <= code < 0x7F or code > 0xFF else f"\\x{code:02X}"


_CATEGORIES = {sre.CATEGORY_DIGIT: "0-9", sre.CATEGORY_WORD: "A-Za-z0-9_", sre.CATEGORY_SPACE: " \\t\\n\\r\\x0B\\x0C"}


def _regex(name: str, items: Iterable[tuple]) -> str:
    """A parsed Python regex as a GBNF expression (the subset terminals use)."""
    parts: list[str] = []
    text = ""  # consecutive literal characters, written as one string
    for op, arg in items:
        if op is sre.LITERAL:
            text += chr(arg)
            continue
        if text:
            parts.append(gbnf_literal(text))
            text = ""
        if op is sre.NOT_LITERAL:
            parts.append(f"[^{_class_char(arg)}]")
        elif op is sre.ANY:
            parts.append("[^\\n]")
        elif op is sre.IN:
            parts.append(_char_class(name, arg))
        elif op is sre.SUBPATTERN:
            parts.append(f"({_regex(name, arg[3])})")
        elif op is sre.BRANCH:
            parts.append("(" + " | ".join(_regex(name, branch) for branch in arg[1]) + ")")
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):  # laziness does not change the language
            low, high, inner = arg
            suffix = {(0, sre.MAXREPEAT): "*", (1, sre.MAXREPEAT): "+", (0, 1): "?"}.get((low, high))
            if suffix is None:
                suffix = "{%d,%s}" % (low, "" if high is sre.MAXREPEAT else high)
            parts.append(f"({_regex(name, inner)}){suffix}")
        elif op is sre.AT and arg is sre.AT_BOUNDARY:
            continue  # a word boundary: the separators between tokens take care of it
        else:
            raise FlowError(f"terminal {name} uses {op} in its regex, which GBNF cannot say; add it to _FIXED")
    if text:
        parts.append(gbnf_literal(text))
    return " ".join(parts) or '""'


def _char_class(name: str, items: Sequence[tuple]) -> str:
    negate = bool(items) and items[0][0] is sre.NEGATE
    chars = []
    for op, arg in items[negate:]:
        if op is sre.LITERAL:
            chars.append(_class_char(arg))
        elif op is sre.RANGE:
            chars.append(f"{_class_char(arg[0])}-{_class_char(arg[1])}")
        elif op is sre.CATEGORY and arg in _CATEGORIES:
            chars.append(_CATEGORIES[arg])
        else:
            raise FlowError(f"terminal {name} uses {op} {arg} in a character class, which GBNF cannot say")
    return "[" + "^" * negate + "".join(chars) + "]"


def _edge(items: Sequence[tuple], *, last: bool) -> tuple[set[bool], bool]:
    """Whether the regex's first (last) character can be a word character or not, and whether it can be empty."""
    kinds: set[bool] = set()
    for op, arg in reversed(items) if last else items:
        found, nullable = _edge_of(op, arg, last=last)
        kinds |= found
        if not nullable:
            return kinds, False
    return kinds, True


def _edge_of(op: object, arg: object, *, last: bool) -> tuple[set[bool], bool]:
    if op is sre.LITERAL:
        return {_is_word(chr(arg))}, False  # type: ignore[arg-type]
    if op in (sre.NOT_LITERAL, sre.ANY, sre.IN):
        return _class_edge(op, arg), False
    if op is sre.SUBPATTERN:
        return _edge(arg[3], last=last)  # type: ignore[index]
    if op is sre.BRANCH:
        found = [_edge(branch, last=last) for branch in arg[1]]  # type: ignore[index]
        return set().union(*(kinds for kinds, _ in found)), any(nullable for _, nullable in found)
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        kinds, nullable = _edge(arg[2], last=last)  # type: ignore[index]
        return kinds, nullable or arg[0] == 0  # type: ignore[index]
    return set(), True  # assertions and anchors match no character


def _class_edge(op: object, arg: object) -> set[bool]:
    if op is not sre.IN or any(item[0] in (sre.NEGATE, sre.CATEGORY) for item in arg):  # type: ignore[union-attr]
        return {True, False}
    kinds: set[bool] = set()
    for item, value in arg:  # type: ignore[union-attr]
        low, high = (value, value) if item is sre.LITERAL else value
        span = "".join(chr(code) for code in range(low, min(high, 0x7F) + 1))
        kinds |= {_is_word(char) for char in span} | ({False} if high > 0x7F else set())
    return kinds


def _terminal(name: str, pattern: object) -> _Token:
    if isinstance(pattern, PatternStr):
        text = pattern.value
        return _Token(gbnf_literal(text), _is_word(text[0]), _is_word(text[-1]))
    items = sre_parser.parse(pattern.value)  # type: ignore[attr-defined]
    first, _ = _edge(items, last=False)
    final, _ = _edge(items, last=True)
    body = _FIXED.get(name) or _regex(name, items)
    return _Token(body, True in first, True in final)


_WORD_START = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
_WORD = _WORD_START + "0123456789"


def _excluding(words: Iterable[str]) -> str:
    """A GBNF expression for NAME (``[A-Za-z_][A-Za-z0-9_]*``) that matches none of ``words``.

    It walks the trie of ``words``: a character that leaves the trie frees the rest of the
    name; a name may end anywhere in the trie except on one of ``words``.
    """
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def walk(node: dict, allowed: str, *, may_end: bool) -> str:
        children = sorted(char for char in node if char)
        branches = [f"{gbnf_literal(char)} {walk(node[char], _WORD, may_end='' not in node[char])}" for char in children]
        free = "".join(_class_char(ord(char)) for char in allowed if char not in children)
        branches.append(f"[{free}] [A-Za-z0-9_]*")
        alternatives = "(" + " | ".join(branches) + ")"
        return alternatives + "?" if may_end else alternatives

    return walk(trie, _WORD_START, may_end=False)


def _rule_name(name: str) -> str:
    return re.sub(r"_+", "-", name.strip("_")).lower()


class _Writer:
    """Writes the product of the BNF rules with the two states P/W (see the module docstring)."""

    def __init__(self, rules: dict[str, list[list[str]]], tokens: dict[str, _Token], *, compact: bool) -> None:
        self.compact = compact
        self.rules = rules
        self.tokens = tokens
        self.live = self._productive()

    def _sequences(self, expansion: list[str], state: str, out: str, live: set) -> Iterable[list]:
        """Every way to write ``expansion`` from ``state`` to ``out`` with the rule variants in ``live``:
        token rule names, and rule variants as ``(name, state, out)``."""
        for states in itertools.product((P, W), repeat=len(expansion)):
            if (states[-1] if states else state) != out:
                continue
            symbols, current = [], state
            for symbol, after in zip(expansion, states):
                if symbol in self.tokens:
                    if after != (W if self.tokens[symbol].ends_word else P):
                        break
                    symbols.append(self.token_name(symbol, current))
                elif (symbol, current, after) in live:
                    symbols.append((symbol, current, after))
                else:
                    break
                current = after
            else:
                yield symbols

    def _productive(self) -> set[tuple[str, str, str]]:
        live: set[tuple[str, str, str]] = set()
        while True:
            grown = {
                (name, state, out)
                for name, expansions in self.rules.items()
                for state in (P, W)
                for out in (P, W)
                if any(next(iter(self._sequences(e, state, out, live)), None) is not None for e in expansions)
            }
            if grown <= live:
                return live
            live |= grown

    def token_name(self, symbol: str, state: str) -> str:
        token = self.tokens[symbol]
        return f"t-{_rule_name(symbol)}" + (f"-{state}" if token.starts_word else "")

    def write(self, root: str) -> str:
        starts = [(root, P, out) for out in (P, W) if (root, P, out) in self.live]
        bodies = self._reachable(starts)
        lines = ["root ::= (" + " | ".join(f"{_rule_name(name)}-{P}{out}" for name, _, out in starts) + ") end"]
        for (name, state, out), alternatives in sorted(bodies.items()):
            body = " | ".join(a for a in alternatives if a)
            if "" in alternatives:
                body = f"({body})?" if body else '""'
            lines.append(f"{_rule_name(name)}-{state}{out} ::= {body}")
        for symbol, token in sorted(self.tokens.items()):
            lines.append(f"{_rule_name(symbol)}-tok ::= {token.body}")
            for state in (P, W) if token.starts_word else (P,):
                lead = "sep" if state == W else "ws"
                lines.append(f"{self.token_name(symbol, state)} ::= {lead} {_rule_name(symbol)}-tok")
        lines += [*(_COMPACT_SPACE if self.compact else _FREE_SPACE), *(f"{n} ::= {b}" for n, b in _FIXED_RULES.items())]
        return "\n".join(lines) + "\n"

    def _reachable(self, starts: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], list[str]]:
        """The alternatives of every rule variant the root can reach."""
        bodies: dict[tuple[str, str, str], list[str]] = {}
        todo = list(starts)
        while todo:
            key = todo.pop()
            if key in bodies:
                continue
            name, state, out = key
            sequences = [s for e in self.rules[name] for s in self._sequences(e, state, out, self.live)]
            bodies[key] = [" ".join(self._symbol(part) for part in sequence) for sequence in sequences]
            todo += [part for sequence in sequences for part in sequence if isinstance(part, tuple)]
        return bodies

    def _symbol(self, part: str | tuple[str, str, str]) -> str:
        if isinstance(part, str):
            return part
        name, state, out = part
        return f"{_rule_name(name)}-{state}{out}"


def _without_left_recursion(rules: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
    """``x ::= a | x b`` as ``x ::= a x-more; x-more ::= b x-more | ε`` (llama.cpp refuses left recursion)."""
    result: dict[str, list[list[str]]] = {}
    for name, expansions in rules.items():
        recursive = [e[1:] for e in expansions if e and e[0] == name]
        if not recursive:
            result[name] = expansions
            continue
        more = f"{name}_more"
        result[name] = [e + [more] for e in expansions if not e or e[0] != name]
        result[more] = [tail + [more] for tail in recursive] + [[]]
    return result


@cache
def flow_gbnf(*, units: tuple[str, ...] | None = None, require_flow: bool = False, compact: bool = False) -> str:
    """The flow language as a llama.cpp GBNF grammar.

    Args:
        units: if given, the only unit kinds a ``use`` line may name (the registry's, for drafting).
        require_flow: accept only programs with a flow (no library files, no empty text).
        compact: for a model to write in: no comments, bounded whitespace (a subset of the language).

    Raises:
        FlowError: ``flow.lark`` uses a terminal this converter cannot write in GBNF.
    """
    lark = _lark()
    ignored = set(lark.lexer_conf.ignore)  # ignore_tokens is not kept when lark loads its cached tables
    tokens = {t.name: _terminal(t.name, t.pattern) for t in lark.terminals if t.name not in ignored}
    tokens["_worker_name"] = _Token(_excluding(sorted(RESERVED)), True, True)
    if units is not None:
        tokens["_unit_kind"] = _Token("(" + " | ".join(gbnf_literal(u) for u in sorted(units)) + ")", True, True)
    rules: dict[str, list[list[str]]] = {}
    for rule in lark.rules:
        if rule.origin.name not in tokens:
            rules.setdefault(rule.origin.name, []).append([s.name for s in rule.expansion])
    if require_flow:
        rules["start"] = [e for e in rules["start"] if "chain" in e]
    used = {s for expansions in rules.values() for e in expansions for s in e}
    tokens = {name: token for name, token in tokens.items() if name in used}
    return _Writer(_without_left_recursion(rules), tokens, compact=compact).write("start")


__all__ = ["flow_gbnf"]
