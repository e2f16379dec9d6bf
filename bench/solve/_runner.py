"""The runner side of the benchmark's protocol: one JSON line in, one JSON line out, per item.

Each system answers in processes of its own, so that its memory is its own and a crash or a
hung item costs only a restart. A runner announces itself with one ``{"ready": {...}}`` line
(or ``{"error": "..."}`` when it cannot run), then reads one item per line on stdin and
writes one reply per line: ``output`` (the answer's text) and what the system reports
(``steps``; ``tokens``, the tokens it generated, and ``prompt_tokens``, those it read, summed over
its generations; ``status``, ``calls``), or ``error``. Only the protocol writes to the
real stdout: file descriptor 1 is pointed at stderr first, so what libraries or executed
code print cannot corrupt it. Standard library only: the agent's runner imports this from
an environment without Smol.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

Solve = Callable[[dict[str, Any]], dict[str, Any]]


def serve(start: Callable[[], tuple[Solve, dict[str, Any]]]) -> None:
    """Start the system (``start`` returns its solve function and what to announce), then
    answer items until stdin closes; a failure to start is announced as an error line."""
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        solve, ready = start()
    except Exception as exc:  # whatever stops the system from starting is reported to the parent
        traceback.print_exc()
        _send(channel, {"error": f"{type(exc).__name__}: {exc}"})
        return
    _send(channel, {"ready": ready})
    for line in sys.stdin:
        if not line.strip():
            continue
        item = json.loads(line)
        try:
            reply = solve(item)
        except Exception as exc:  # one item's failure is that item's answer, not the runner's end
            traceback.print_exc()
            reply = {"output": "", "error": f"{type(exc).__name__}: {exc}"}
        _send(channel, reply)


def run(start: Callable[[argparse.Namespace], tuple[Solve, dict[str, Any]]], **options: type) -> None:
    """A runner's ``main``: read its options (each required, ``--name`` of the given type), then
    :func:`serve` what ``start`` starts with them."""
    parser = argparse.ArgumentParser()
    for name, kind in options.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, required=True)
    given = parser.parse_args()
    serve(lambda: start(given))


def _send(channel: Any, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, default=str) + "\n")
    channel.flush()


__all__ = ["Solve", "run", "serve"]
