"""The root of the ``smol`` command; each area adds its commands from its own module."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="smol",
    help="Smol: small neural nets and tools, composed by a tiny flow language, on your CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root() -> None:
    # A callback keeps ``smol`` a group of commands when only one command's module is loaded.
    pass


console = Console()
err_console = Console(stderr=True)

__all__ = ["app", "console", "err_console"]
