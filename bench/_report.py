"""What every benchmark shares: the machine it ran on, a table on screen, a JSON file on disk."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """The facts a reader needs to judge a figure: CPU, cores, memory, Python, OS."""
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg": os.getloadavg(),
    }


def median_of(runs: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    """The median of ``runs`` calls of ``measure`` (each returns one figure), and all of them."""
    figures = [measure() for _ in range(runs)]
    return statistics.median(figures), figures


def report(name: str, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], **meta: Any) -> Path:
    """Print the table and write ``bench/results/NAME.json`` with the rows, the machine and ``meta``."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(f"{cell:,.2f}" if isinstance(cell, float) else str(cell) for cell in row))
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {
        "benchmark": name,
        "title": title,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "columns": list(columns),
        "rows": [list(row) for row in rows],
        **meta,
    }
    path.write_text(json.dumps(record, indent=2, default=str))
    Console().print(f"results: {path}")
    return path
