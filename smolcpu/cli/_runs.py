"""``smol runs`` and ``smol trace RUN_ID``: what ran, and each run's artifacts as a lineage tree."""

from __future__ import annotations

import datetime
import json
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from smolcpu.artifact import ERROR, Artifact, ArtifactRecord, RunIndex, RunInfo, is_textual, open_store
from smolcpu.cli._app import app, console

_STATUS_STYLE = {"ok": "green", "running": "yellow", "error": "red", "cancelled": "magenta", "limit": "red", "interrupted": "red"}

_SPENT = ("wall_s", "cpu_s", "tokens")
"""The figures a run's spending is shown by, against its policy where that limits them."""

LONG_STRING = 1000
"""Characters of one JSON string ``trace --full`` shows (an image's base64 is not for reading)."""


def _when(ns: int | None) -> str:
    if ns is None:
        return "—"
    return datetime.datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def _status(run: RunInfo) -> str:
    return f"[{_STATUS_STYLE.get(run.status, 'dim')}]{escape(run.status)}[/]"


def spending_text(usage: dict[str, Any]) -> str:
    """What a run spent against its policy, as ``smol trace`` shows it under the title."""
    policy, spent = usage.get("policy") or {}, usage.get("spent") or {}
    figures = [
        f"{figure} {spent[figure]:g}" + (f" of {policy[figure]:g}" if figure in policy else "")
        for figure in _SPENT
        if figure in spent
    ]
    rest = [
        f"{name} = " + (f"[{', '.join(map(str, value))}]" if isinstance(value, list) else json.dumps(value))
        for name, value in policy.items()
        if name not in _SPENT
    ]
    lines = ["[dim]spent:[/] " + " · ".join(figures)] if figures else []
    if rest:
        lines.append("[dim]policy:[/] " + escape(", ".join(rest)))
    if usage.get("reason"):
        lines.append(f"[red]{escape(usage['reason'])}[/]")
    return "\n".join(lines)


def _label(record: ArtifactRecord) -> str:
    who = "/".join(part for part in (record.origin, record.role) if part) or "?"
    style = "red" if record.type == ERROR else "cyan"
    return (
        f"[dim]{record.id[:8]}[/] [{style}]{escape(record.type)}[/] [bold]{escape(who)}[/]"
        f"  {escape(record.preview)}"
    )


def trace_tree(run_id: str, *, index: RunIndex | None = None) -> Tree:
    """A run's artifacts as a Rich tree: each under the artifact it was made from.

    Roots are artifacts with no parent inside the run. An artifact with several parents
    sits under the first one the tree reaches, and is pointed to from the others.

    Raises:
        UsageError: unknown run id.
    """
    own = index is None
    index = index or RunIndex()
    try:
        run = index.resolve(run_id)
        records = index.artifacts(run.id)
    finally:
        if own:
            index.close()
    by_id = {record.id: record for record in records}
    children: dict[str, list[ArtifactRecord]] = {}
    roots = []
    for record in records:
        inside = [parent for parent in record.parents if parent in by_id]
        if inside:
            for parent in inside:
                children.setdefault(parent, []).append(record)
        else:
            roots.append(record)
    title = (
        f"[bold]run {escape(run.id)}[/] {_status(run)} · {_when(run.started_ns)}"
        f" · {run.artifact_count} artifacts"
    )
    if run.finished_ns is not None:
        title += f" · took {(run.finished_ns - run.started_ns) / 1e9:.2f}s"
    if run.program:
        title += f"\n[italic]{escape(run.program)}[/]"
    if run.input_summary:
        title += f"\n[dim]input:[/] {escape(run.input_summary)}"
    spending = spending_text(run.spending)
    if spending:
        title += "\n" + spending
    tree = Tree(title)
    shown: set[str] = set()
    stack: list[tuple[Tree, ArtifactRecord]] = [(tree, record) for record in reversed(roots + records)]
    while stack:
        branch, record = stack.pop()
        if record.id in shown:
            if branch is not tree:
                branch.add(f"[dim]↪ {record.id[:8]} (shown above)[/]")
            continue
        shown.add(record.id)
        node = branch.add(_label(record))
        stack.extend((node, child) for child in reversed(children.get(record.id, ())))
    if not records:
        tree.add("[dim]no artifacts recorded[/]")
    return tree


@app.command()
def runs(
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="Show at most this many runs (newest first)."),
    rebuild: bool = typer.Option(
        False, "--rebuild", help="First index the artifact store afresh (after a crash or a copy)."
    ),
) -> None:
    """List runs: id, start, status, how many artifacts, program."""
    with RunIndex() as index:
        index.mark_interrupted()
        if rebuild:
            with open_store(index=index) as store:
                result = index.rebuild(store)
            console.print(f"indexed {result.indexed} artifacts from {store.url}")
            for key, reason in result.corrupt:
                console.print(f"[red]corrupt[/] {escape(key)}: {escape(reason)}", highlight=False)
        found = index.runs(limit=limit)
    if not found:
        console.print("no runs yet (run a program, or `smol runs --rebuild` to index the store)")
        return
    table = Table(box=None, header_style="bold")
    table.add_column("run", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("artifacts", justify="right", no_wrap=True)
    table.add_column("program", max_width=60)
    for run in found:
        program = " ".join(run.program.split())
        program = program if len(program) <= 120 else program[:119] + "…"
        table.add_row(escape(run.id), _when(run.started_ns), _status(run), str(run.artifact_count), escape(program))
    console.print(table)


def content(artifact: Artifact) -> str:
    """An artifact's payload for reading: text as it is, JSON indented (long strings cut), other
    bytes by their size."""
    if not is_textual(artifact.type):
        return f"<{len(artifact.payload)} bytes of {artifact.type}>"
    if artifact.type.startswith("text/"):
        return artifact.as_text()
    return json.dumps(_shortened(artifact.as_json()), indent=2, ensure_ascii=False)


def _shortened(value: Any) -> Any:
    if isinstance(value, str) and len(value) > LONG_STRING:
        return f"{value[:200]}… ({len(value)} characters)"
    if isinstance(value, dict):
        return {key: _shortened(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shortened(item) for item in value]
    return value


@app.command()
def trace(
    run_id: str = typer.Argument(..., help="A run id from `smol runs` (a unique prefix will do)."),
    full: bool = typer.Option(False, "--full", help="Then every artifact's whole content, in the order made."),
) -> None:
    """Show a run's artifacts as a lineage tree: type, origin/role and a short preview of each."""
    with RunIndex() as index:
        console.print(trace_tree(run_id, index=index))
        if not full:
            return
        with open_store(index=index) as store:
            for record in index.artifacts(index.resolve(run_id).id):
                console.rule(_label(record).split("  ", 1)[0], align="left")
                console.print(escape(content(store.load(record.key))), highlight=False)


__all__ = ["spending_text", "trace_tree"]
