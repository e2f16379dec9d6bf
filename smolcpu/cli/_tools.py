"""``smol units`` and ``smol tool ...``: the registered units, and tools run by hand for debugging.

Other areas add their own ``smol tool NAME`` commands to :data:`tool_app` from their modules.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from smolcpu.artifact import BYTES, JSON, TEXT, Artifact
from smolcpu.cli._app import app, console, err_console
from smolcpu.errors import SmolError, UnitError, UsageError
from smolcpu.runtime._unit import Unit
from smolcpu.units import unit_kind, unit_kinds, unit_load_failures
from smolcpu.units.tools import MathTool, Registers, Storage

tool_app = typer.Typer(
    help="Run one tool unit by hand, for debugging: the same unit a program runs.",
    no_args_is_help=True,
)
app.add_typer(tool_app, name="tool")

storage_app = typer.Typer(
    help="Files under the storage root ($SMOL_STORAGE, else $SMOL_HOME/storage); paths are relative.",
    no_args_is_help=True,
)
tool_app.add_typer(storage_app, name="storage")

RootOption = Annotated[
    Path | None,
    typer.Option("--root", help="The storage root (default: $SMOL_STORAGE, else $SMOL_HOME/storage)."),
]
PathArgument = Annotated[str, typer.Argument(help="Path relative to the storage root, like notes/today.md.")]


def _pairs(given: list[str], what: str) -> dict[str, Any]:
    """NAME=VALUE options as a dict; a VALUE that is JSON is read as JSON, else kept as text."""
    pairs: dict[str, Any] = {}
    for item in given:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise UsageError(f"{what} {item!r} must look like NAME=VALUE")
        try:
            pairs[name] = json.loads(value)
        except ValueError:
            pairs[name] = value
    return pairs


def request(unit: Unit, artifact: Artifact) -> Artifact:
    """Start ``unit`` and hand it ``artifact``, as a program would; an error reply is raised."""

    async def exchange() -> Artifact | None:
        await unit.init(None)
        return await unit.handle(None, None, artifact)

    try:
        reply = asyncio.run(exchange())
    except SmolError:
        raise
    except Exception as exc:
        raise UnitError(f"{type(unit).__name__} failed: {type(exc).__name__}: {exc}") from exc
    if reply is None:
        raise UsageError(f"{type(unit).__name__} gave no reply")
    if reply.is_error:
        raise UsageError(reply.error_message)
    return reply


def show(reply: Artifact) -> None:
    """Print a reply: text as it is, JSON indented, bytes raw to stdout."""
    if reply.type == JSON:
        console.print_json(data=reply.as_json())
    elif reply.type == BYTES:
        sys.stdout.buffer.write(reply.payload)
        sys.stdout.flush()
    else:
        console.print(reply.as_text(), markup=False, highlight=False)


@app.command("units")
def units(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the kinds of unit a program can bind a worker to: inputs, output, options, and the
    package each comes from (other packages add kinds through the ``smolcpu.units`` entry points).

    A kind another package declares but that fails to load is reported on stderr; the rest work.
    """
    kinds = unit_kinds()
    for failure in unit_load_failures():
        err_console.print(f"[yellow]warning:[/] {escape(str(failure))}", highlight=False)
    if as_json:
        rows = [
            {
                "name": kind.name,
                "description": kind.description,
                "inputs": kind.inputs,
                "output": kind.output,
                "parameters": kind.parameters,
                "package": kind.package,
                "version": kind.version,
            }
            for kind in kinds
        ]
        console.print_json(data=rows)
        return
    table = Table(title=f"{len(kinds)} unit kinds", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("from", no_wrap=True)
    table.add_column("inputs")
    table.add_column("output")
    table.add_column("options", style="dim")
    table.add_column("description")
    for kind in kinds:
        inputs = ", ".join(f"{name}?" if spec.get("nullable") else name for name, spec in kind.inputs.items())
        output = {TEXT: "text", JSON: "json", BYTES: "bytes"}.get(kind.output, kind.output)
        summary = re.split(r"[.:;] ", kind.description, maxsplit=1)[0]
        source = f"{kind.package} {kind.version}".strip()
        table.add_row(kind.name, escape(source), escape(inputs), output, ", ".join(kind.parameters), escape(summary))
    console.print(table)
    console.print("[dim]? marks an optional input; `smol units --json` shows each in full.[/]")


@tool_app.command("call")
def call(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="The unit kind, as `smol units` lists it.")],
    given: Annotated[
        str, typer.Argument(metavar="INPUT", help="The input: a JSON object or array, or else text.")
    ],
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="A unit option NAME=VALUE (repeatable).")
    ] = None,
    run: Annotated[str | None, typer.Option("--run", help="Tag the input with this run id.")] = None,
) -> None:
    """Make one unit of KIND and send it one INPUT; print its reply.

    Example: smol tool call storage '{"op": "list"}' -o root=/tmp/files
    """
    unit = unit_kind(kind).create(**_pairs(option or [], "option"))
    attributes = {"run": run} if run else None
    stripped = given.strip()
    try:
        value = json.loads(stripped) if stripped[:1] in ("{", "[") else None
    except ValueError:
        value = None
    artifact = (
        Artifact.json(value, attributes=attributes)
        if value is not None
        else Artifact.text(given, attributes=attributes)
    )
    show(request(unit, artifact))


@tool_app.command("math")
def math(
    expression: Annotated[str, typer.Argument(help="The expression, like '$price * 1.2' or 'sqrt(2)'.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Set register NAME=VALUE first (repeatable).")
    ] = None,
    digits: Annotated[int | None, typer.Option("--digits", help="Round to this many decimal places.")] = None,
) -> None:
    """Evaluate a math expression exactly where possible ($name reads a register set with --set).

    Example: smol tool math '$price * 1.2' --set price=10
    """
    registers = Registers()
    for name, value in _pairs(set_ or [], "--set").items():
        registers.set(name, value)
    arguments = {"expression": expression} if digits is None else {"expression": expression, "digits": digits}
    show(request(MathTool(registers=registers), Artifact.json(arguments)))


@storage_app.command("list")
def storage_list(
    path: Annotated[str, typer.Argument(help="Folder to list (default: the root).")] = "",
    root: RootOption = None,
) -> None:
    """List the files and folders in a folder."""
    storage = Storage(root)
    entries = storage.list(path)
    table = Table(title=f"{storage.root / path}", title_justify="left")
    table.add_column("path")
    table.add_column("kind")
    table.add_column("bytes", justify="right")
    table.add_column("modified", style="dim")
    for entry in entries:
        modified = datetime.datetime.fromtimestamp(entry.modified_ns / 1e9).isoformat(
            sep=" ", timespec="seconds"
        )
        table.add_row(escape(entry.path), entry.kind, f"{entry.size:,}", modified)
    console.print(table)


@storage_app.command("read")
def storage_read(
    path: PathArgument,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout.")] = None,
    root: RootOption = None,
) -> None:
    """Print a file (bytes as they are), or copy it out with --out."""
    data = Storage(root).read(path)
    if out is not None:
        out.write_bytes(data)
        return
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


@storage_app.command("write")
def storage_write(
    path: PathArgument,
    content: Annotated[str | None, typer.Argument(help="Text to write (or use --from).")] = None,
    source: Annotated[Path | None, typer.Option("--from", help="Copy this local file's bytes in.")] = None,
    create: Annotated[bool, typer.Option("--create", help="Refuse to replace an existing file.")] = False,
    update: Annotated[bool, typer.Option("--update", help="Refuse to make a new file.")] = False,
    root: RootOption = None,
) -> None:
    """Write a file atomically (making its folders): CONTENT, --from FILE, or stdin."""
    if create and update:
        raise UsageError("--create and --update exclude each other")
    if content is not None and source is not None:
        raise UsageError("give CONTENT or --from FILE, not both")
    if source is not None and not source.is_file():
        raise UsageError(f"--from {source}: no such file")
    data = (
        source.read_bytes()
        if source
        else content.encode()
        if content is not None
        else sys.stdin.buffer.read()
    )
    mode = "create" if create else "update" if update else "write"
    console.print_json(data=Storage(root).write(path, data, mode=mode).to_dict())


@storage_app.command("delete")
def storage_delete(path: PathArgument, root: RootOption = None) -> None:
    """Delete a file, or an empty folder."""
    Storage(root).delete(path)
    console.print(f"deleted {escape(path)}")


@storage_app.command("stat")
def storage_stat(path: PathArgument, root: RootOption = None) -> None:
    """Kind, size and modification time (ns) of a file or folder."""
    console.print_json(data=Storage(root).stat(path).to_dict())


__all__ = ["request", "show", "storage_app", "tool_app"]
