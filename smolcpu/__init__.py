"""Smol: a small-model AI virtual machine for the CPU.

Layers, each a sub-package, importing only downwards: ``artifact`` → ``runtime`` →
``units`` → ``lang`` → ``vm`` → ``programs`` → ``cli``/``server``; ``models`` is the model
registry. This module is the public face: what an app that embeds Smol needs is named here.

    import smolcpu
    answer = smolcpu.ask("What is 15% of 80?")        # the default program
    result = smolcpu.run("my.smol", "some input")      # any program

The names load on first use: a worker process that imports one unit does not pay for the
whole machine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_FACE = {
    "Artifact": "smolcpu.artifact",
    "SmolError": "smolcpu.errors",
    "UsageError": "smolcpu.errors",
    "FlowError": "smolcpu.errors",
    "UnitError": "smolcpu.errors",
    "BudgetError": "smolcpu.errors",
    "PolicyLimit": "smolcpu.errors",
    "Policy": "smolcpu.lang",
    "compile_file": "smolcpu.lang",
    "compile_source": "smolcpu.lang",
    "Executor": "smolcpu.vm",
    "RunResult": "smolcpu.vm",
    "Status": "smolcpu.vm",
    "DEFAULT_PROGRAM": "smolcpu.programs",
    "Answer": "smolcpu.programs",
    "Session": "smolcpu.programs",
    "ask": "smolcpu.programs",
    "ask_async": "smolcpu.programs",
    "run": "smolcpu.programs",
    "run_async": "smolcpu.programs",
}

if TYPE_CHECKING:
    from smolcpu.artifact import Artifact
    from smolcpu.errors import BudgetError, FlowError, PolicyLimit, SmolError, UnitError, UsageError
    from smolcpu.lang import Policy, compile_file, compile_source
    from smolcpu.programs import DEFAULT_PROGRAM, Answer, Session, ask, ask_async, run, run_async
    from smolcpu.vm import Executor, RunResult, Status


def __getattr__(name: str) -> Any:
    module = _FACE.get(name)
    if module is None:
        raise AttributeError(f"module 'smolcpu' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "DEFAULT_PROGRAM",
    "Answer",
    "Artifact",
    "BudgetError",
    "Executor",
    "FlowError",
    "Policy",
    "PolicyLimit",
    "RunResult",
    "Session",
    "SmolError",
    "Status",
    "UnitError",
    "UsageError",
    "__version__",
    "ask",
    "ask_async",
    "compile_file",
    "compile_source",
    "run",
    "run_async",
]
