"""``smol ask "QUESTION"`` and ``smol chat``: Smol's main job, from the command line.

The question runs through the default program (or ``--program``) on the executor; while it
runs, a status line says which unit is working, and ``--trace`` prints each step as it
ends, with the outcome it took and why. The first ask on a fresh machine installs the
models it needs, with a progress bar, and asks nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.status import Status as Spinner

from smolcpu.cli._app import app, console, err_console
from smolcpu.cli._cluster import CLUSTER, PLACEMENT, use_cluster
from smolcpu.cli._run import read_policy
from smolcpu.errors import UsageError
from smolcpu.models import KNOWN, install_model
from smolcpu.lang import Graph, Policy
from smolcpu.programs import Answer, Session, load_program, models_needed
from smolcpu.units import text_for_model
from smolcpu.units.tools import Vault
from smolcpu.vm import StepEvent

_OUTCOME_STYLE = {"send": "green", "next": "cyan", "continue": "cyan", "back": "yellow", "cancel": "magenta"}


def ensure_models(graph: Graph, model: str | None, *, images: bool) -> None:
    """Install what ``graph`` needs for this request and the cache lacks (a progress bar
    each): the LLM if it has LLM steps, the vision models if images come with it. A model
    given by path must exist.

    Raises:
        UsageError: a model path that does not exist, or an install that failed.
    """
    names = models_needed(graph, llm=model, images=images)
    for name in names:
        if name in KNOWN:
            if not KNOWN[name].installed:
                err_console.print(f"[bold]smol:[/] installing {name} (once; later asks start at once)")
                install_model(name)
        elif not Path(name).expanduser().is_file():
            raise UsageError(f"unknown model {name!r}: give a registry name (smol models list) or a .gguf file")


class Progress:
    """What ``smol ask`` shows while a run goes on: a status line, and with ``trace`` each step."""

    def __init__(self, spinner: Spinner | None, *, trace: bool) -> None:
        self.spinner = spinner
        self.trace = trace
        self.steps: list[dict[str, Any]] = []

    def __call__(self, event: StepEvent) -> None:
        if event.kind == "start" and self.spinner is not None:
            self.spinner.update(f"[bold]{escape(event.worker)}[/] ({event.unit}) is working…")
        elif event.kind == "choose":
            self.steps.append({"node": event.node, "chose": event.outcome})
            if self.trace:
                err_console.print(f"  [dim]{escape(event.node)}[/] chose [bold]{escape(event.outcome)}[/]", highlight=False)
        elif event.kind == "end":
            shown = text_for_model(event.output).strip().replace("\n", " ⏎ ") if event.output is not None else ""
            step = {"node": event.node, "unit": event.unit, "outcome": event.outcome, "seconds": round(event.seconds, 3)}
            sure = event.output.attr("confidence") if event.output is not None and event.unit == "llm" else None
            self.steps.append(step | ({"confidence": float(sure)} if sure is not None else {}))
            if self.trace:
                style = _OUTCOME_STYLE.get(event.outcome.split()[0].rstrip("!"), "red")
                how = f"{event.unit}, {event.seconds:.1f}s" + (f", {float(sure):.2f} sure" if sure is not None else "")
                err_console.print(
                    f"  {escape(event.node)} [dim]({how})[/] →"
                    f" [{style}]{escape(event.outcome)}[/]  [dim]{escape(shown[:100])}[/]",
                    highlight=False,
                )


async def _ask(question: str, *, images: Sequence[Path], program: Graph, model: str | None,
               progress: Progress, history: Sequence[dict[str, str]] = (), policy: Policy | None = None) -> Answer:
    async with Session(model=model) as session:
        return await session.ask(
            question, images=images, program=program, observer=progress, history=history, policy=policy
        )


def _show(answer: Answer) -> None:
    style = "green" if answer.ok else "red"
    console.print(escape(answer.text), highlight=False)
    err_console.print(
        f"[dim]run[/] {answer.run_id} · [{style}]{answer.status}[/] · {answer.seconds:.1f}s · {answer.steps} steps"
        f" · {answer.tokens} tokens  [dim](smol trace {answer.run_id})[/]",
        highlight=False,
    )


@app.command()
def ask(
    question: str = typer.Argument(..., help="What to ask, in plain words."),
    image: list[Path] = typer.Option([], "--image", "-I", help="An image to ask about (repeat for more)."),
    program: Path | None = typer.Option(None, "--program", "-p", help="Run this .smol program instead of the default."),
    model: str | None = typer.Option(None, "--model", "-m", help="The LLM: a registry name or a .gguf file."),
    trace: bool = typer.Option(False, "--trace", help="Show which unit did what, and the outcome it took."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object: answer, run_id, status, seconds, steps, tokens."),
    policy: list[str] | None = typer.Option(
        None, "--policy", help="A limit, name=value (repeatable), as `smol run --policy` takes it."
    ),
    cluster: str | None = CLUSTER,
    placement: Path | None = PLACEMENT,
) -> None:
    """Ask Smol a question: the default program sorts it (arithmetic, word problem, code, image,
    your notes, chat) and hands it to the units that do that kind best.

    Prints the answer and the run id (`smol trace RUN_ID` shows every step). The first ask
    installs the default model. Exits 1 when the run did not end ok.
    """
    use_cluster(cluster, placement)
    graph = load_program(program)
    limits = read_policy(policy)
    ensure_models(graph, model, images=bool(image))
    if as_json:
        progress = Progress(None, trace=False)
        answer = asyncio.run(_ask(question, images=image, program=graph, model=model, progress=progress, policy=limits))
        typer.echo(json.dumps(answer.to_dict() | {"trace": progress.steps}, ensure_ascii=False))
    else:
        with err_console.status("starting…") as spinner:
            progress = Progress(spinner, trace=trace)
            answer = asyncio.run(
                _ask(question, images=image, program=graph, model=model, progress=progress, policy=limits)
            )
        _show(answer)
    raise typer.Exit(0 if answer.ok else 1)


@app.command()
def chat(
    program: Path | None = typer.Option(None, "--program", "-p", help="Run this .smol program instead of the default."),
    model: str | None = typer.Option(None, "--model", "-m", help="The LLM: a registry name or a .gguf file."),
    trace: bool = typer.Option(False, "--trace", help="Show which unit did what for each answer."),
) -> None:
    """Talk with Smol: each line you type is asked with the conversation so far in view.

    The model loads once for the whole chat. An empty line, `exit` or Ctrl-D ends it; the
    thread is kept in the memory vault as a note under Chats/.
    """
    graph = load_program(program)
    ensure_models(graph, model, images=False)
    asyncio.run(_chat(graph, model, trace=trace))


async def _chat(program: Graph, model: str | None, *, trace: bool) -> None:
    history: list[dict[str, str]] = []
    async with Session(model=model) as session:
        while True:
            try:
                line = await asyncio.to_thread(console.input, "[bold cyan]you>[/] ")
            except EOFError:
                break
            if line.strip() in ("", "exit", "quit"):
                break
            with err_console.status("thinking…") as spinner:
                answer = await session.ask(
                    line, history=history, program=program, observer=Progress(spinner, trace=trace)
                )
            console.print(f"[bold green]smol>[/] {escape(answer.text)}", highlight=False)
            history += [{"role": "user", "content": line}, {"role": "assistant", "content": answer.text}]
    if history:
        note = keep_thread(history)
        err_console.print(f"[dim]the conversation is in your memory vault as {note}[/]")


def keep_thread(history: Sequence[dict[str, str]]) -> str:
    """Write a chat's turns to the memory vault as a note; its name."""
    name = time.strftime("Chats/%Y-%m-%d %H-%M-%S")
    turns = "\n\n".join(f"**{'You' if t['role'] == 'user' else 'Smol'}:** {t['content']}" for t in history)
    Vault().write(name, f"# Chat {name[6:]}\n\n{turns}\n")
    return name


__all__ = ["ask", "chat", "ensure_models", "keep_thread"]
