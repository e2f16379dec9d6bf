"""The program editor's endpoints: the shipped programs, diagnostics and the compiled graph
of any text (as you type), and running it with each step's state streamed.

The graph goes to the page as Cytoscape.js elements: a block or chain is a box (compound
node ``box:ID``) around a small port node with the block's own id, which the edges that
enter or leave the block attach to; steps and match cases are plain nodes inside their
block's box. Node ids are the graph's ids, which the executor's step events also carry, so
the page lights up the node an event names.

A program run from the editor is saved first under ``<SMOL_HOME>/ui/programs/`` (named by
its hash), so its run records a file the run viewer can run again.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from smolcpu import config
from smolcpu.errors import FlowSyntaxError
from smolcpu.lang import Block, Case, Chain, Graph, Step, compile_source
from smolcpu.lang._ir import CANCEL, SINK, SOURCE
from smolcpu.programs import PROGRAMS, answer_text
from smolcpu.server._access import Reader
from smolcpu.server._ui_session import Observer, UISession, result_summary, run_events, ui_reader, ui_router

EDITOR_PATH = "<editor>"
"""The name diagnostics give the program being edited."""

_SYNTAX_AT = re.compile(r"^(?P<path>.*?):(?P<line>\d+):(?P<column>\d+): (?P<message>.*)$")


class Source(BaseModel):
    source: str


class ProgramRun(BaseModel):
    source: str
    input: str


def graph_elements(graph: Graph) -> list[dict[str, Any]]:
    """The Cytoscape.js elements that draw ``graph`` (see the module's docstring)."""
    elements: list[dict[str, Any]] = []
    for node, _ in graph.walk():
        parent = {"parent": f"box:{node.parent}"} if node.parent is not None else {}
        if isinstance(node, (Block, Chain)):
            title = node.head if isinstance(node, Block) else f"chain {node.id}"
            elements.append({"data": {"id": f"box:{node.id}", "label": title, **parent}, "classes": "box"})
            elements.append(
                {
                    "data": {"id": node.id, "label": node.id, "parent": f"box:{node.id}", "kind": node.kind},
                    "classes": "port",
                }
            )
        elif isinstance(node, Step):
            unit = node.binding.unit if node.binding is not None else ""
            label = node.worker + (f"\n({unit})" if unit and unit != node.worker else "")
            elements.append(
                {"data": {"id": node.id, "label": label, "kind": "step", "unit": unit, **parent}, "classes": "step"}
            )
        elif isinstance(node, Case):
            elements.append(
                {"data": {"id": node.id, "label": node.pattern, "kind": "case", **parent}, "classes": "case"}
            )
    known = {element["data"]["id"] for element in elements}
    edges = graph.edges()
    for end in (SOURCE, SINK, CANCEL):
        if any(end in (edge.source, edge.target) for edge in edges):
            elements.append({"data": {"id": end, "label": end, "kind": end}, "classes": f"end {end}"})
            known.add(end)
    for number, edge in enumerate(edges):
        if edge.source in known and edge.target in known:
            elements.append(
                {
                    "data": {"id": f"edge{number}", "source": edge.source, "target": edge.target, "label": edge.label},
                    "classes": edge.kind + (" ref" if edge.label == "ref" else ""),
                }
            )
    return elements


def checked(source: str, *, path: str = EDITOR_PATH) -> dict[str, Any]:
    """What the checker says of ``source`` (read from ``path``), and the graph to draw: the
    optimised one (what runs) when there are no errors, else the graph as written."""
    try:
        compilation = compile_source(source, path=path)
    except FlowSyntaxError as exc:
        first, _, rest = str(exc).partition("\n")
        where = _SYNTAX_AT.match(first)
        diagnostic = {
            "severity": "error",
            "code": "syntax",
            "message": where["message"] if where else first,
            "line": int(where["line"]) if where else 0,
            "column": int(where["column"]) if where else 0,
            "hint": rest.strip() or None,
        }
        return {"ok": False, "diagnostics": [diagnostic], "elements": []}
    graph = compilation.optimised if compilation.ok else compilation.graph
    return {
        "ok": compilation.ok,
        "diagnostics": [d.to_dict() for d in compilation.diagnostics],
        "elements": graph_elements(graph),
    }


def saved_program(source: str) -> str:
    """``source`` as a file under ``<SMOL_HOME>/ui/programs/`` (the same text, the same file)."""
    folder = config.home() / "ui" / "programs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(source.encode()).hexdigest()[:16]}.smol"
    if not path.exists():
        path.write_text(source)
    return str(path)


def programs_router(session: UISession) -> APIRouter:
    """``/programs``, ``/programs/{name}``, ``/check`` and ``/programs/run``."""
    router = ui_router()

    @router.get("/programs")
    def shipped() -> dict[str, Any]:
        """The programs Smol ships, to open in the editor."""
        return {"programs": sorted(path.stem for path in PROGRAMS.glob("*.smol"))}

    @router.get("/programs/{name}")
    def program(name: str) -> dict[str, Any]:
        """A shipped program's text."""
        path = PROGRAMS / f"{name}.smol"
        if "/" in name or not path.is_file():
            raise HTTPException(404, f"Smol ships no program {name!r}; GET /ui/api/programs lists them")
        return {"name": name, "source": path.read_text()}

    @router.post("/check")
    async def check(body: Source) -> dict[str, Any]:
        """Diagnostics and the graph of program text (what the editor asks as you type)."""
        return await asyncio.to_thread(checked, body.source)

    @router.post("/programs/run")
    async def run(body: ProgramRun, reader: Reader = Depends(ui_reader)) -> StreamingResponse:
        """Run program text on an input; each step's start and end as server-sent events."""
        path = await asyncio.to_thread(saved_program, body.source)

        async def work(observe: Observer) -> dict[str, Any]:
            result = await session.run(path, body.input, observer=observe, tokens=True, caller=reader.key)
            return result_summary(result, answer_text(result.output))

        return run_events(work)

    return router


__all__ = ["checked", "graph_elements", "programs_router", "saved_program"]
