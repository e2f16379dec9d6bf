"""The flow language: grammar → syntax tree → checker → graph IR → optimiser → printer/drawing.

``compile_file`` runs the whole front end; ``parse`` and ``format_program`` are the parser
and the canonical printer behind ``smol fmt``; ``flow_gbnf`` is the grammar as GBNF, for
llama.cpp to write programs under (``smol draft``). The graph (:class:`Graph`) is what the vm
executes; its nodes have stable ids that traces and drawings share. The language itself
is described in ``docs/language.md``.
"""

from smolcpu.lang._ast import Program
from smolcpu.lang._compilation import Compilation, compile_file, compile_source
from smolcpu.lang._declarations import DEFAULT_UNIT, IDENTITY, Binding, Scope, UnitCatalog, UnitInfo
from smolcpu.lang._diagnostics import Diagnostic, Severity
from smolcpu.lang._ir import Block, Case, Chain, Edge, Graph, Node, Outcome, Step
from smolcpu.lang._optimiser import optimise
from smolcpu.lang._parser import parse
from smolcpu.lang._policy import Policy, PolicyValueError, parse_settings
from smolcpu.lang._printer import format_program


def __getattr__(name: str) -> object:
    """``flow_gbnf`` on first use: it needs the neural units, which ``smol check`` never does."""
    if name == "flow_gbnf":
        from smolcpu.lang._gbnf import flow_gbnf

        return flow_gbnf
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "DEFAULT_UNIT",
    "IDENTITY",
    "Binding",
    "Block",
    "Case",
    "Chain",
    "Compilation",
    "Diagnostic",
    "Edge",
    "Graph",
    "Node",
    "Outcome",
    "Policy",
    "PolicyValueError",
    "Program",
    "Scope",
    "Severity",
    "Step",
    "UnitCatalog",
    "UnitInfo",
    "compile_file",
    "compile_source",
    "flow_gbnf",
    "format_program",
    "optimise",
    "parse",
    "parse_settings",
]
