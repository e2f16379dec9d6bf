"""What the checker says about a program: errors stop it from running, warnings do not.

Every diagnostic has a stable ``code`` (tests, docs and editors key on it), a position,
and usually a hint that says what to write instead. ``render`` prints it the way a
compiler would: ``file:line:col: error[code]: message``, the source line, a caret.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding, anchored at ``path:line:column`` (1-based; 0 means the whole file)."""

    severity: Severity
    code: str
    message: str
    path: str = "<flow>"
    line: int = 0
    column: int = 0
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def render(self, source: str | None = None) -> str:
        """The diagnostic as text, with the source line and a caret when ``source`` is given."""
        where = f"{self.path}:{self.line}:{self.column}" if self.line else self.path
        lines = [f"{where}: {self.severity.value}[{self.code}]: {self.message}"]
        source_lines = source.splitlines() if source else []
        if 0 < self.line <= len(source_lines):
            text = source_lines[self.line - 1]
            lines += [f"    {text}", "    " + " " * max(self.column - 1, 0) + "^"]
        if self.hint:
            lines.append(f"    hint: {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "hint": self.hint,
        }


def error(code: str, message: str, **where: object) -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, message, **where)  # type: ignore[arg-type]


def warning(code: str, message: str, **where: object) -> Diagnostic:
    return Diagnostic(Severity.WARNING, code, message, **where)  # type: ignore[arg-type]


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """``did you mean `x`?`` for the closest known names, or None."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=2, cutoff=0.6)
    return "did you mean " + " or ".join(f"`{c}`" for c in close) + "?" if close else None


__all__ = ["Diagnostic", "Severity", "did_you_mean", "error", "warning"]
