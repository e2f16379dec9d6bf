"""The whole front end in one call: parse, resolve declarations, compile, check, optimise.

``compile_file(path)`` is what ``smol check|compile|run`` and the executor use. It raises
only for a file that cannot be read or parsed; every other problem is a diagnostic on
the returned :class:`Compilation`, whose :meth:`~Compilation.runnable` gives the
optimised graph or raises :class:`~smolcpu.errors.FlowError` listing the errors.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from smolcpu.errors import FlowError, UsageError
from smolcpu.lang._ast import Program
from smolcpu.lang._compiler import compile_program
from smolcpu.lang._declarations import Scope, UnitCatalog, declarations
from smolcpu.lang._diagnostics import Diagnostic
from smolcpu.lang._ir import Graph
from smolcpu.lang._optimiser import optimise
from smolcpu.lang._parser import parse
from smolcpu.lang._validator import validate


@dataclass
class Compilation:
    """A program with everything the front end found out about it."""

    path: str
    source: str
    program: Program
    scope: Scope
    graph: Graph
    diagnostics: list[Diagnostic]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors

    @cached_property
    def optimised(self) -> Graph:
        with _collecting_later():
            return optimise(self.graph)

    def render(self, *, warnings: bool = True) -> str:
        """The diagnostics as a compiler prints them, each with its source line and caret."""
        shown = self.diagnostics if warnings else self.errors
        return "\n".join(d.render(self._source_of(d)) for d in shown)

    def runnable(self, *, optimised: bool = True) -> Graph:
        """The graph to execute.

        Raises:
            FlowError: the program has errors; the message lists them with positions.
        """
        if self.errors:
            count = len(self.errors)
            raise FlowError(f"{self.path} has {count} error{'s' * (count > 1)}:\n{self.render(warnings=False)}")
        return self.optimised if optimised else self.graph

    def _source_of(self, diagnostic: Diagnostic) -> str | None:
        if diagnostic.path == self.path:
            return self.source
        try:
            return Path(diagnostic.path).read_text()
        except OSError:
            return None


def compile_source(
    source: str, *, path: str | Path = "<flow>", catalog: UnitCatalog | None = None
) -> Compilation:
    """Compile program text; imports are read relative to ``path``.

    Raises:
        FlowSyntaxError: the text does not parse.
    """
    catalog = catalog or UnitCatalog.from_registry()
    with _collecting_later():
        program = parse(source, path=path)
        scope = declarations(program, path=path, catalog=catalog)
        graph = compile_program(program, scope, path=path)
        diagnostics = validate(program, graph, scope, path=path)
    return Compilation(str(path), source, program, scope, graph, diagnostics)


@contextmanager
def _collecting_later() -> Iterator[None]:
    """Pause the cycle collector while the front end builds a program's trees and graph.

    They are many small objects that all stay alive until the end, so every collection in
    between would walk them again for nothing: on a 10,000-step program that is a third of
    the time. Whatever cycles there are get collected once it is back on.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def compile_file(path: str | Path, *, catalog: UnitCatalog | None = None) -> Compilation:
    """Compile the program in ``path``.

    Raises:
        UsageError: the file cannot be read.
        FlowSyntaxError: it does not parse.
    """
    try:
        source = Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    return compile_source(source, path=path, catalog=catalog)


__all__ = ["Compilation", "compile_file", "compile_source"]
