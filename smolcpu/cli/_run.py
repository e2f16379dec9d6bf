"""``smol run FILE.smol --input TEXT|@FILE``: compile a program and run it on the executor."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from smolcpu.artifact import BYTES, Artifact, open_store
from smolcpu.cli._app import app, console, err_console
from smolcpu.cli._cluster import CLUSTER, PLACEMENT, use_cluster
from smolcpu.cli._lang import _compile
from smolcpu.cli._runs import spending_text
from smolcpu.errors import UsageError
from smolcpu.lang import Graph, Policy, PolicyValueError, parse_settings
from smolcpu.runtime import ActorSystem
from smolcpu.vm import Executor, Lifecycle, Replay, RunResult, Status, parse_chooser

_STATUS_STYLE = {Status.OK: "green", Status.CANCELLED: "magenta", Status.TIMEOUT: "yellow"}


def read_policy(settings: list[str] | None) -> Policy | None:
    """The ``--policy name=value`` settings given (None: none).

    Raises:
        typer.BadParameter: a setting that is not one, or a value it cannot take.
    """
    if not settings:
        return None
    try:
        return parse_settings(" ".join(settings))
    except PolicyValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--policy") from None


def read_input(value: str | None) -> Artifact:
    """The run's input: the text given, ``@FILE``'s content (text, or bytes if not UTF-8), or stdin.

    Raises:
        UsageError: the file cannot be read.
    """
    if value is None:
        data = b"" if sys.stdin.isatty() else sys.stdin.buffer.read()
    elif value.startswith("@"):
        try:
            data = Path(value[1:]).expanduser().read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read input file {value[1:]!r}: {exc.strerror or exc}") from exc
    else:
        return Artifact.text(value, origin="cli", role="input")
    try:
        return Artifact.text(data.decode("utf-8"), origin="cli", role="input")
    except UnicodeDecodeError:
        return Artifact.create(data, type=BYTES, origin="cli", role="input")


async def _execute(graph: Graph, given: Artifact, *, replay: Replay | None = None, **options: Any) -> RunResult:
    """Run on an actor system of its own, neural units under a Lifecycle (the memory budget)."""
    async with ActorSystem(record=False) as system, Lifecycle(system) as lifecycle:
        async with Executor(graph, system=system, lifecycle=lifecycle, **options) as executor:
            return await executor.run(given, replay=replay)


def load_replay(run_id: str) -> Replay:
    """What run ``run_id`` recorded, from the configured store, to resume it."""
    with open_store() as store:
        return Replay.load(run_id, store)


@app.command()
def run(
    file: Path = typer.Argument(..., help="The .smol program to run."),
    input: str | None = typer.Option(None, "--input", "-i", help="Input text, or @FILE to read it (default: stdin)."),
    record: bool = typer.Option(True, "--record/--no-record", help="Store every step's input and output."),
    chooser: str = typer.Option("llm", "--chooser", help="Who decides select/match: llm, first, scripted:A,B,..."),
    budget: int | None = typer.Option(
        None, "--budget", min=1, help="Steps the run may take (default: SMOL_STEP_BUDGET)."
    ),
    step_timeout: float | None = typer.Option(
        None, "--step-timeout", min=0.001, help="Seconds one step may take (default: SMOL_STEP_TIMEOUT)."
    ),
    resume: str | None = typer.Option(
        None, "--resume", help="Go on with this run (interrupted, say) on its input: its recorded steps are not run again."
    ),
    policy: list[str] | None = typer.Option(
        None, "--policy", help="A limit, name=value (repeatable): wall_s, cpu_s, tokens, memory_mb, units, network,"
        " folders. The tighter of it and the program's own `policy` lines holds.",
    ),
    cluster: str | None = CLUSTER,
    placement: Path | None = PLACEMENT,
) -> None:
    """Run a program on an input: print its output, how it ended, the run id and the path it took.

    A program with errors is not run: its diagnostics are printed and the command exits 1, as it
    does for any run that does not end ok.
    """
    use_cluster(cluster, placement)
    compilation = _compile(file)
    if not compilation.ok:
        typer.echo(compilation.render(warnings=False), err=True)
        raise typer.Exit(1)
    if compilation.warnings:
        count = len(compilation.warnings)
        err_console.print(f"[dim]{count} warning{'s' * (count > 1)} (smol check {escape(str(file))} shows them)[/]")
    options = {
        "chooser": parse_chooser(chooser),
        "record": record,
        "budget": budget,
        "step_timeout": step_timeout,
        "policy": read_policy(policy),
    }
    if resume is not None and input is not None:
        raise UsageError("--resume runs on the input of the run it resumes; leave out --input")
    replay = load_replay(resume) if resume is not None else None
    given = replay.given if replay is not None else read_input(input)
    result = asyncio.run(_execute(compilation.runnable(), given, replay=replay, **options))
    output = result.output
    shown = output.error_message if output.is_error else (
        f"<{len(output.payload)} bytes of {output.type}>" if output.type == BYTES else output.as_text()
    )
    console.print(escape(shown), highlight=False)
    style = _STATUS_STYLE.get(result.status, "red")
    console.print(
        f"[bold]status[/] [{style}]{result.status.value}[/]"
        + (f" ({escape(result.reason)})" if result.reason and result.reason != shown else ""),
        highlight=False,
    )
    console.print(f"[bold]run[/] {result.run_id} · {result.steps} step{'s' * (result.steps != 1)}", highlight=False)
    if replay is not None:
        console.print(f"[bold]resumed[/] {replay.run_id} · {replay.replayed} recorded step(s) not run again", highlight=False)
    console.print(f"[bold]path[/] {escape(result.path_text()) or '—'}", highlight=False)
    if result.usage.get("policy"):
        console.print(spending_text({**result.usage, "reason": ""}), highlight=False)
    if record:
        console.print(f"[dim]see its trace with: smol trace {result.run_id}[/]", highlight=False)
    raise typer.Exit(0 if result.ok else 1)


__all__ = ["read_input", "run"]
