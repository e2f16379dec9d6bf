"""``smol status``: the units, worker processes, memory and loaded models of running Smol processes.

Each ``smol`` command is a process of its own, so status reads the files that Lifecycle
writes under ``<SMOL_HOME>/lifecycle/`` (one per process hosting model workers), checks
that their processes still live, and measures their memory afresh (every page counted
once across the processes). Files left by a process that is gone (killed before it could
clean up) are reported and removed.
"""

from __future__ import annotations

import json
import time

import typer
from rich.table import Table

from smolcpu import config
from smolcpu.cli._app import app, console
from smolcpu.vm import LiveStatus, megabytes, read_statuses, status_dir


def _ago(then: float) -> str:
    seconds = max(0.0, time.time() - then)
    return f"{seconds:.0f}s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def _table(status: LiveStatus) -> Table:
    data = status.data
    total, budget = data.get("total", 0), data.get("budget", config.MEMORY_BUDGET_BYTES)
    colour = "red" if total > budget else "green"
    table = Table(
        title=f"smol process {status.owner}",
        caption=f"total [{colour}]{megabytes(total)}[/] of {megabytes(budget)} budget"
        f" (resident, shared pages once; peak {megabytes(data.get('peak', 0))})",
    )
    table.add_column("unit", no_wrap=True)
    table.add_column("model")
    for column in ("pid", "memory"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("state")
    table.add_column("used")
    table.add_column("restarts", justify="right")
    table.add_row("(main process)", "", str(status.owner), megabytes(data.get("main", 0)), "", "", "")
    for worker in data.get("workers", []):
        state = "busy" if worker.get("busy") else "idle"
        if not worker.get("alive", True):
            state = "[red]gone[/]"
        table.add_row(
            worker["unit"],
            worker.get("model") or "",
            str(worker["pid"]),
            megabytes(worker.get("memory", 0)),
            state,
            _ago(worker.get("last_used", time.time())),
            str(worker.get("restarts", 0)),
        )
    workers = {worker["unit"] for worker in data.get("workers", [])}
    for unit in data.get("units", []):
        if unit["name"] not in workers:
            table.add_row(unit["name"], "", str(unit["pid"]), "", "in process", "", "")
    return table


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print the status as JSON.")) -> None:
    """Show running units, their processes and memory, loaded models, and the total against the budget."""
    statuses = read_statuses()
    live = [s for s in statuses if s.alive]
    for gone in (s for s in statuses if not s.alive):
        gone.path.unlink(missing_ok=True)
    if as_json:
        print(json.dumps({"budget": config.MEMORY_BUDGET_BYTES, "processes": [s.data for s in live]}, indent=1))
        return
    for gone in (s for s in statuses if not s.alive):
        console.print(f"[dim]process {gone.owner} is gone (killed?); removed its stale status file[/]", highlight=False)
    if not live:
        console.print(
            f"no Smol process holds units now (status files: {status_dir()});"
            f" memory budget {megabytes(config.MEMORY_BUDGET_BYTES)}",
            highlight=False,
        )
        return
    for found in live:
        console.print(_table(found))
