"""The ``smol`` command line: one module per area registers its commands on the root app.

``main`` imports only the module of the command it is given (the others would cost
``smol check`` most of its start-up); ``smolcpu.cli.app`` is the whole command line.
"""

from __future__ import annotations

import importlib
import sys

from smolcpu.errors import SmolError

COMMANDS: dict[str, tuple[str, ...]] = {
    "ask": ("_ask",),
    "bench": ("_dev",),
    "chat": ("_ask",),
    "check": ("_lang",),
    "compile": ("_lang",),
    "demo": ("_demo",),
    "doctor": ("_doctor",),
    "draft": ("_draft",),
    "dream": ("_dream",),
    "fmt": ("_lang",),
    "keys": ("_keys",),
    "memory": ("_memory",),
    "models": ("_models",),
    "run": ("_run",),
    "runs": ("_runs",),
    "sandbox": ("_sandbox",),
    "serve": ("_serve",),
    "status": ("_status",),
    "store": ("_store",),
    "stores": ("_neural_vision",),
    "test": ("_dev",),
    "tool": ("_tools", "_neural_llm", "_neural_vision"),
    "trace": ("_runs",),
    "units": ("_tools",),
    "version": ("_dev",),
}
"""Each top-level command and the modules that register it and its subcommands."""


def _register(command: str | None = None) -> None:
    """Import the modules that register ``command`` (every module when it is none of ours)."""
    every = sorted({module for modules in COMMANDS.values() for module in modules})
    for module in COMMANDS.get(command or "", every):
        importlib.import_module(f"smolcpu.cli.{module}")


def main() -> None:
    """Entry point of ``smol``: user mistakes and Smol's own errors print one clear line."""
    from smolcpu.cli._app import app, err_console

    _register(next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None))
    try:
        app(prog_name="smol")
    except SmolError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


def __getattr__(name: str) -> object:
    """``app``, with every command registered (for tests and for embedding the command line)."""
    if name == "app":
        from smolcpu.cli._app import app

        _register()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["COMMANDS", "app", "main"]
