"""``smol demo``: artifacts flowing between units (one in a worker process), then the run's trace."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import typer
from rich.markup import escape

from smolcpu.artifact import Artifact, open_store
from smolcpu.cli._app import app, console
from smolcpu.cli._runs import trace_tree
from smolcpu.runtime import ActorSystem
from smolcpu.runtime._examples import Joiner, Reverse, Shout, Splitter

DEFAULT_TEXT = "small units pass artifacts\nevery step is recorded\nthe trace shows the lineage"


class _Printing:
    """A store that prints each artifact as the runtime records it, then keeps it."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def put(self, artifact: Artifact) -> Any:
        if artifact.attr("run") is not None:
            who = "/".join(part for part in (artifact.origin, artifact.role) if part)
            text = artifact.as_text().replace("\n", " ⏎ ")
            console.print(
                f"  [dim]{artifact.id[:8]}[/] [bold]{escape(who):>18}[/] [cyan]{escape(artifact.type)}[/]"
                f"  {escape(text)}",
                highlight=False,
                no_wrap=True,
                overflow="ellipsis",
            )
        return self.store.put(artifact)


async def _run(text: str, run_id: str, store: Any) -> Artifact:
    async with ActorSystem(store=_Printing(store)) as system:
        await system.spawn("shout", Shout)
        reverse = await system.spawn("reverse", Reverse, process=True)
        await system.spawn("joiner", Joiner)
        splitter = await system.spawn("splitter", Splitter)
        console.print(
            f"units: splitter, shout, joiner in pid {splitter.pid}; reverse in worker pid {reverse.pid}\n"
            f"artifacts as they cross the runtime (run [bold]{run_id}[/]):",
            highlight=False,
        )
        return await splitter.request(Artifact.text(text, origin="demo", role="input", attributes={"run": run_id}))


@app.command()
def demo(
    text: str = typer.Option(DEFAULT_TEXT, "--text", "-t", help="Input text; each line goes to a worker unit."),
) -> None:
    """Run a small pipeline: a splitter hands lines to two workers (one in its own process), a joiner
    puts the results together; every artifact is recorded, and the run's lineage is printed."""
    run_id = f"demo-{uuid.uuid4().hex[:8]}"
    with open_store() as store:
        store.index.start_run(run_id, program="smol demo", input_summary=text[:80])
        try:
            answer = asyncio.run(_run(text, run_id, store))
        except BaseException:
            store.index.finish_run(run_id, "error")
            raise
        store.index.finish_run(run_id, "error" if answer.is_error else "ok")
        console.print("\n[bold]answer[/]")
        console.print(escape(answer.error_message if answer.is_error else answer.as_text()), highlight=False)
        console.print()
        console.print(trace_tree(run_id, index=store.index))
    console.print(f"\nsee it again with: smol trace {run_id}", highlight=False)


__all__ = ["demo"]
