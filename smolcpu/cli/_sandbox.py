"""``smol sandbox FILE.py``: run a file in the code sandbox and show what it did (for debugging)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import typer
from rich.markup import escape

from smolcpu import config
from smolcpu.cli._app import app, console
from smolcpu.errors import UsageError
from smolcpu.units.tools import SandboxResult, run_snippet


@app.command()
def sandbox(
    file: str = typer.Argument(..., help="The Python file to run; - reads the code from stdin."),
    timeout: float = typer.Option(config.SANDBOX_TIMEOUT_S, "--timeout", "-t", help="Wall-clock limit, seconds."),
    isolation: str = typer.Option(
        config.SANDBOX_ISOLATION, "--isolation",
        help="auto (bwrap, else unshare; never rlimits), bwrap, unshare or rlimits (isolates no files, "
        "network or processes).",
    ),
    stdin: Path = typer.Option(None, "--stdin", help="A file whose text the code reads on standard input."),
    as_json: bool = typer.Option(False, "--json", help="Print the sandbox tool's JSON reply instead."),
) -> None:
    """Run Python code in the sandbox; print its output, exit status and isolation layers.

    The command exits with the code's own exit status (128 + N if signal N ended it).
    """
    code = sys.stdin.read() if file == "-" else _read(Path(file), what="code")
    result = asyncio.run(
        run_snippet(code, timeout_s=timeout, isolation=isolation, stdin=_read(stdin, what="stdin") if stdin else "")
    )
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
    else:
        _show(result)
    raise typer.Exit(result.exit_status if result.exit_status >= 0 else 128 - result.exit_status)


def _read(path: Path, *, what: str) -> str:
    if not path.is_file():
        raise UsageError(f"no {what} file {str(path)!r}: give a path to a Python file, or - to read stdin")
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} file {str(path)!r}: {exc}") from exc


def _show(result: SandboxResult) -> None:
    for name, text, style in (("stdout", result.stdout, ""), ("stderr", result.stderr, "red")):
        if text:
            console.rule(name, style="dim")
            console.print(escape(text.rstrip("\n")), style=style, highlight=False, soft_wrap=True)
    console.rule(style="dim")
    status = "[green]exit 0[/]" if result.ok else f"[red]exit {result.exit_status}[/]"
    killed = f" · killed by [red]{result.killed_by}[/]" if result.killed_by else ""
    console.print(f"{status} in {result.duration_s:.3f} s{killed}")
    console.print(f"isolation: {', '.join(result.isolation)}", highlight=False)
    for gap in result.not_isolated:
        console.print(f"[yellow]not isolated:[/] {escape(gap)}", highlight=False)
    for name, entry in result.files.items():
        note = " (truncated)" if entry.get("truncated") else ""
        console.print(f"wrote {escape(name)}: {entry['size']:,} B{note}", highlight=False)


__all__ = ["sandbox"]
