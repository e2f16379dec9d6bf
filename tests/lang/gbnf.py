"""A small GBNF recognizer (llama.cpp's grammar format), to test a grammar without a model.

``Gbnf(text).accepts(s)`` says whether ``s`` is a sentence of the grammar's ``root``. It reads
the subset of GBNF that grammars here use (literals, character classes, groups, ``* + ?``,
``{m,n}``) and runs an Earley recognizer over characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "[": "[", "]": "]", "-": "-", "^": "^"}


@dataclass(frozen=True)
class CharClass:
    negate: bool
    ranges: tuple[tuple[str, str], ...]

    def matches(self, char: str) -> bool:
        inside = any(low <= char <= high for low, high in self.ranges)
        return inside != self.negate


Symbol = str | CharClass  # a rule name, or one character


@dataclass
class Gbnf:
    text: str
    rules: dict[str, list[tuple[Symbol, ...]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fresh = 0
        for line in self.text.splitlines():
            if "::=" in line:
                name, body = line.split("::=", 1)
                self.pos, self.src = 0, body
                self.rules.setdefault(name.strip(), []).extend(self._alternatives(end=""))
        self.nullable = self._nullable()

    # ---- reading ------------------------------------------------------------------------
    def _new_rule(self, alternatives: list[tuple[Symbol, ...]]) -> str:
        self.fresh += 1
        name = f"_g{self.fresh}"
        self.rules[name] = alternatives
        return name

    def _skip(self) -> None:
        while self.pos < len(self.src) and self.src[self.pos] in " \t":
            self.pos += 1

    def _alternatives(self, *, end: str) -> list[tuple[Symbol, ...]]:
        alternatives = [self._sequence()]
        self._skip()
        while self.pos < len(self.src) and self.src[self.pos] == "|":
            self.pos += 1
            alternatives.append(self._sequence())
            self._skip()
        if end:
            assert self.src[self.pos] == end, f"expected {end!r} at {self.src[self.pos:self.pos + 20]!r}"
            self.pos += 1
        return alternatives

    def _sequence(self) -> tuple[Symbol, ...]:
        items: list[Symbol] = []
        while True:
            self._skip()
            if self.pos >= len(self.src) or self.src[self.pos] in "|)":
                return tuple(items)
            atom = self._atom()
            items.extend(self._repeat(atom))

    def _char(self) -> str:
        char = self.src[self.pos]
        self.pos += 1
        if char != "\\":
            return char
        code = self.src[self.pos]
        self.pos += 1
        if code == "x":
            self.pos += 2
            return chr(int(self.src[self.pos - 2 : self.pos], 16))
        return _ESCAPES[code]

    def _atom(self) -> tuple[Symbol, ...]:
        char = self.src[self.pos]
        if char == '"':
            self.pos += 1
            chars = []
            while self.src[self.pos] != '"':
                chars.append(self._char())
            self.pos += 1
            return tuple(CharClass(False, ((c, c),)) for c in chars)
        if char == "[":
            self.pos += 1
            negate = self.src[self.pos] == "^"
            self.pos += negate
            ranges = []
            while self.src[self.pos] != "]":
                low = self._char()
                high = low
                if self.src[self.pos] == "-" and self.src[self.pos + 1] != "]":
                    self.pos += 1
                    high = self._char()
                ranges.append((low, high))
            self.pos += 1
            return (CharClass(negate, tuple(ranges)),)
        if char == "(":
            self.pos += 1
            return (self._new_rule(self._alternatives(end=")")),)
        name = re.match(r"[a-zA-Z0-9-]+", self.src[self.pos :])
        assert name, f"cannot read {self.src[self.pos:self.pos + 20]!r}"
        self.pos += name.end()
        return (name.group(),)

    def _repeat(self, atom: tuple[Symbol, ...]) -> tuple[Symbol, ...]:
        if self.pos >= len(self.src):
            return atom
        op = self.src[self.pos]
        if op in "*+?":
            self.pos += 1
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[op]
        elif op == "{":
            close = self.src.index("}", self.pos)
            low_text, comma, high_text = self.src[self.pos + 1 : close].partition(",")
            self.pos = close + 1
            low = int(low_text)
            high = (int(high_text) if high_text else None) if comma else low
        else:
            return atom
        rest: str | None = None
        if high is None:
            rest = self._new_rule([])
            self.rules[rest] += [(*atom, rest), ()]
        else:
            for _ in range(high - low):
                rest = self._new_rule([(*atom, rest) if rest else atom, ()])
        return atom * low + ((rest,) if rest else ())

    # ---- recognising --------------------------------------------------------------------
    def _nullable(self) -> set[str]:
        nullable: set[str] = set()
        changed = True
        while changed:
            changed = False
            for name, alternatives in self.rules.items():
                if name not in nullable and any(all(s in nullable for s in alt) for alt in alternatives):
                    nullable.add(name)
                    changed = True
        return nullable

    def accepts(self, text: str, *, root: str = "root") -> bool:
        """Whether ``text`` is a sentence of ``root`` (Earley, with nullable rules completed at once)."""
        Item = tuple[str, int, int, int]  # rule, alternative, dot, origin
        chart: list[set[Item]] = [set() for _ in range(len(text) + 1)]
        chart[0] = {(root, i, 0, 0) for i in range(len(self.rules[root]))}
        for position in range(len(text) + 1):
            agenda = list(chart[position])
            while agenda:
                name, alt, dot, origin = agenda.pop()
                symbols = self.rules[name][alt]
                if dot == len(symbols):  # complete
                    for parent in list(chart[origin]):
                        p_name, p_alt, p_dot, p_origin = parent
                        p_symbols = self.rules[p_name][p_alt]
                        if p_dot < len(p_symbols) and p_symbols[p_dot] == name:
                            new = (p_name, p_alt, p_dot + 1, p_origin)
                            if new not in chart[position]:
                                chart[position].add(new)
                                agenda.append(new)
                    continue
                symbol = symbols[dot]
                if isinstance(symbol, CharClass):
                    if position < len(text) and symbol.matches(text[position]):
                        chart[position + 1].add((name, alt, dot + 1, origin))
                    continue
                for index in range(len(self.rules[symbol])):  # predict
                    new = (symbol, index, 0, position)
                    if new not in chart[position]:
                        chart[position].add(new)
                        agenda.append(new)
                if symbol in self.nullable:
                    new = (name, alt, dot + 1, origin)
                    if new not in chart[position]:
                        chart[position].add(new)
                        agenda.append(new)
            if position < len(text) and not chart[position + 1]:
                return False
        return any(
            name == root and dot == len(self.rules[name][alt]) and origin == 0
            for name, alt, dot, origin in chart[len(text)]
        )
