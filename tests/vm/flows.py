"""Run flow programs on scripted workers: the helpers the vm tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from smolcpu.lang import Graph, compile_source
from smolcpu.testing import Reply, ScriptedWorker, scripted
from smolcpu.vm import Chooser, Executor, RunResult


def graph_of(source: str, *, checked: bool = True) -> Graph:
    """The optimised graph of a program (``checked=False``: the raw graph, errors and all)."""
    compilation = compile_source(source)
    return compilation.runnable() if checked else compilation.graph


def workers_for(graph: Graph, scripts: Mapping[str, Iterable[Reply | str]] | None = None) -> dict[str, ScriptedWorker]:
    """A scripted worker for every worker name of ``graph``: echoing, or with its script."""
    return scripted(sorted({step.worker for step in graph.steps()}), **dict(scripts or {}))


def run_graph(
    graph: Graph,
    given: str = "in",
    *,
    workers: Mapping[str, Any] | None = None,
    chooser: Chooser | None = None,
    record: bool = False,
    **options: Any,
) -> RunResult:
    async def go() -> RunResult:
        async with Executor(graph, workers=workers, chooser=chooser, record=record, **options) as executor:
            return await executor.run(given)

    return asyncio.run(go())


def run_flow(
    source: str,
    given: str = "in",
    *,
    scripts: Mapping[str, Iterable[Reply | str]] | None = None,
    chooser: Chooser | None = None,
    **options: Any,
) -> tuple[RunResult, dict[str, ScriptedWorker]]:
    """Compile ``source``, run it on scripted workers; the result and the workers (to inspect)."""
    graph = graph_of(source)
    workers = workers_for(graph, scripts)
    return run_graph(graph, given, workers=workers, chooser=chooser, **options), workers


__all__ = ["graph_of", "run_flow", "run_graph", "workers_for"]
