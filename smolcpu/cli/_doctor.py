"""``smol doctor``: what this machine has and lacks for Smol, each gap with the command that fills it.

A new user (or CI) runs one command and reads one table: the Python and its environment, the
sandbox layer snippets would run under (the sandbox's own choice, not a guess), the optional
system tools, every known model (installed, verified, size), where the cache and the store are
and how big, and free memory against the budget. The exit status is non-zero when something the
default job needs is missing, so a script can gate on it. The default job is ``smol ask`` on
the default LLM (``config.LLM_MODEL``): it needs the llama.cpp binding, that model installed and
unchanged, the memory to load it, and a sandbox layer that isolates (the default program runs
the code it writes there).
"""

from __future__ import annotations

import enum
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
import typer
from rich.markup import escape
from rich.table import Table

from smolcpu import config
from smolcpu.cli._app import app, console
from smolcpu.models import KNOWN
from smolcpu.units.tools import JAILS, probe, sandbox_layer
from smolcpu.vm import megabytes

MIN_PYTHON = (3, 11)

LAYER_FIX = {"bwrap": "apt-get install bubblewrap", "unshare": "apt-get install util-linux"}
"""What makes a sandbox layer available where it is not."""

SYSTEM_TOOLS = {
    "bwrap": ("bubblewrap: the sandbox's strongest layer", LAYER_FIX["bwrap"]),
    "capnp": ("Cap'n Proto tool: decode artifacts by hand, interop tests", "apt-get install capnproto"),
    "dot": ("Graphviz: draw `smol compile --format dot`", "apt-get install graphviz"),
}
"""Optional system tools: what each is for, and the command that installs it (Debian, Ubuntu)."""


class State(enum.Enum):
    OK = "ok"
    MISSING = "missing"
    NOTE = "note"


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was checked, what was found, and how to fix it if needed."""

    area: str
    name: str
    state: State
    detail: str
    fix: str = ""
    required: bool = False
    """The default job cannot run without it: a missing one makes the exit status non-zero."""

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "state": self.state.value}


def _size(path: Path) -> int:
    """Bytes of a file or of everything under a folder (0 where there is nothing)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _python() -> Iterator[Finding]:
    version = ".".join(map(str, sys.version_info[:3]))
    fresh = sys.version_info[:2] >= MIN_PYTHON
    yield Finding(
        "python", "interpreter", State.OK if fresh else State.MISSING, f"{version} at {sys.executable}",
        "" if fresh else "install Python 3.11 or newer, then: ./smol (it makes .venv with it)", required=True,
    )
    inside = sys.prefix != sys.base_prefix
    yield Finding(
        "python", "environment", State.OK if inside else State.NOTE,
        f"virtual environment {sys.prefix}" if inside else f"no virtual environment (packages of {sys.prefix})",
        "" if inside else "./smol from a clone makes and uses .venv beside itself",
    )
    llama = importlib.util.find_spec("xllamacpp") is not None
    yield Finding(
        "python", "llama.cpp binding", State.OK if llama else State.MISSING, "xllamacpp" + ("" if llama else " is not importable"),
        "" if llama else "pip install xllamacpp (or ./smol, which installs Smol's dependencies)", required=True,
    )


def _sandbox() -> Iterator[Finding]:
    layer = sandbox_layer()  # the sandbox's own choice for the configured isolation
    what = f"isolation {config.SANDBOX_ISOLATION}"
    if layer.name is None:
        yield Finding("sandbox", what, State.MISSING, layer.problem or "no jail works here", LAYER_FIX["bwrap"],
                      required=True)  # the default program runs the code it writes in the sandbox
    else:
        open_ = f"; not isolated: {', '.join(layer.not_isolated)}" if layer.not_isolated else ""
        yield Finding("sandbox", what, State.OK, f"{layer.name}: {', '.join(layer.isolates)}{open_}")
    for name in JAILS:
        reason = probe(name)
        yield Finding("sandbox", f"layer {name}", State.NOTE if reason else State.OK, reason or "works here",
                      LAYER_FIX.get(name, "") if reason else "")


def _tools() -> Iterator[Finding]:
    for command, (purpose, fix) in SYSTEM_TOOLS.items():
        found = shutil.which(command)
        yield Finding("system", command, State.OK if found else State.NOTE, found or f"not installed ({purpose})", "" if found else fix)


def _models() -> Iterator[Finding]:
    default = config.LLM_MODEL  # a registry name, or a path to a GGUF file
    for spec in KNOWN.values():
        needed = spec.name == default
        tag = " (default LLM)" if needed else ""
        install = f"smol models install {spec.name}"
        if not spec.installed:
            yield Finding("models", spec.name + tag, State.MISSING if needed else State.NOTE,
                          f"not installed ({spec.size / 1e6:,.0f} MB, {spec.source.describe()})", install, required=needed)
        elif not spec.verified:
            yield Finding("models", spec.name + tag, State.MISSING if needed else State.NOTE,
                          f"{spec.cached}: changed since its sha256 was checked", f"smol models verify {spec.name}", required=needed)
        else:
            yield Finding("models", spec.name + tag, State.OK, f"verified, {megabytes(spec.cached.stat().st_size)}")
    if default not in KNOWN:
        path = Path(default).expanduser()
        there = path.is_file()
        yield Finding("models", f"{path.name} (default LLM)", State.OK if there else State.MISSING,
                      str(path) + ("" if there else " does not exist"), "" if there else "set SMOL_LLM_MODEL to a GGUF file or a model name",
                      required=True)


def _storage() -> Iterator[Finding]:
    places = {
        "home": config.home(),
        "model cache": config.cache_dir(),
        "run index": config.index_path(),
        "memory vault": config.memory_dir(),
    }
    store = config.store_url()
    if "://" in store:
        yield Finding("storage", "artifact store", State.OK, f"{store} (remote; size not measured)")
    else:
        places = {"artifact store": Path(store), **places}
    for name, path in places.items():
        shown = f"{path}: {megabytes(_size(path))}" if path.exists() else f"{path}: not created yet"
        yield Finding("storage", name, State.OK, shown)


def _memory() -> Iterator[Finding]:
    available, budget = psutil.virtual_memory().available, config.MEMORY_BUDGET_BYTES
    default = config.LLM_MODEL  # a registry name, or a path to a GGUF file
    spec = KNOWN.get(default)
    size = spec.size if spec else (Path(default).stat().st_size if Path(default).is_file() else 0)
    need = size + config.WORKER_OVERHEAD_BYTES
    fits_budget = need <= budget
    yield Finding(
        "memory", "budget", State.OK if fits_budget else State.MISSING,
        f"{megabytes(budget)} (SMOL_MEMORY_BUDGET); the default LLM needs about {megabytes(need)}",
        "" if fits_budget else f"SMOL_MEMORY_BUDGET={need} or a smaller model (SMOL_LLM_MODEL=qwen2.5-coder-0.5b)",
        required=True,
    )
    enough = available >= need
    yield Finding(
        "memory", "free now", State.OK if enough else State.MISSING,
        f"{megabytes(available)} available of {megabytes(psutil.virtual_memory().total)}",
        "" if enough else "close other programs, or use a smaller model (SMOL_LLM_MODEL=qwen2.5-coder-0.5b)",
        required=True,
    )


def diagnose() -> list[Finding]:
    """Every finding, in the order of the report."""
    return [*_python(), *_sandbox(), *_tools(), *_models(), *_storage(), *_memory()]


STYLE = {State.OK: "[green]ok[/]", State.MISSING: "[red]missing[/]", State.NOTE: "[yellow]note[/]"}


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON.")) -> None:
    """Check what this machine has and lacks for Smol, and say how to fix each gap.

    Exits with status 1 when something the default job (`smol ask` on the default LLM) needs
    is missing; optional pieces (other models, capnp, Graphviz, weaker sandbox layers) are notes.
    """
    findings = diagnose()
    blocking = [f for f in findings if f.required and f.state is State.MISSING]
    if as_json:
        print(json.dumps({"ok": not blocking, "findings": [f.to_dict() for f in findings]}, indent=1))
        raise typer.Exit(1 if blocking else 0)
    table = Table(title="smol doctor", title_justify="left")
    for column in ("area", "what", "state", "detail", "to fix"):
        table.add_column(column, overflow="fold")
    for found in findings:
        state = STYLE[found.state] + (" [bold](needed)[/]" if found.required and found.state is State.MISSING else "")
        table.add_row(found.area, escape(found.name), state, escape(found.detail), escape(found.fix))
    console.print(table)
    if blocking:
        console.print(f"[red]not ready[/] for the default job: {', '.join(f.name for f in blocking)}", highlight=False)
        for found in blocking:
            console.print(f"  {found.fix}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print("[green]ready[/] for the default job (smol ask on the default LLM)", highlight=False)


__all__ = ["Finding", "State", "diagnose", "doctor"]
