"""The ``smol`` command line: one module per area registers its commands on the root app."""

from __future__ import annotations

import sys

from smolcpu.cli import _ask  # noqa: F401
from smolcpu.cli import _demo  # noqa: F401
from smolcpu.cli import _dev  # noqa: F401  (registers commands)
from smolcpu.cli import _doctor  # noqa: F401
from smolcpu.cli import _draft  # noqa: F401
from smolcpu.cli import _keys  # noqa: F401
from smolcpu.cli import _lang  # noqa: F401
from smolcpu.cli import _memory  # noqa: F401
from smolcpu.cli import _models  # noqa: F401
from smolcpu.cli import _neural_llm  # noqa: F401
from smolcpu.cli import _neural_vision  # noqa: F401
from smolcpu.cli import _run  # noqa: F401
from smolcpu.cli import _runs  # noqa: F401
from smolcpu.cli import _sandbox  # noqa: F401
from smolcpu.cli import _status  # noqa: F401
from smolcpu.cli import _tools  # noqa: F401
from smolcpu.cli._app import app, err_console
from smolcpu.errors import SmolError


def main() -> None:
    """Entry point of ``smol``: user mistakes and Smol's own errors print one clear line."""
    try:
        app(prog_name="smol")
    except SmolError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


__all__ = ["app", "main"]
