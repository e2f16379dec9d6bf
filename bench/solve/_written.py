"""The function a code-writing agent wrote: HumanEval's answer when the agent does not return it.

smolagents' CodeAgent on HumanEval, once its function is defined, tends to define it again
step after step rather than pass its source to ``final_answer``, until its step limit. So the
agent's runner ends the run at the first code action that defines the entry point and runs
without error, and takes that code as the answer (a ``final_answer`` given before stands).
Standard library only: it runs in the benchmark's environment, and is tested in Smol's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


def stop_when_defined(entry_point: str, written: list[str]) -> Callable[[Any, Any], None]:
    """A smolagents step callback: it keeps, in ``written``, the first code action that defines
    ``entry_point``, ran without error and did not give the final answer, and interrupts the agent."""
    definition = re.compile(rf"^\s*def {re.escape(entry_point)}\s*\(", re.MULTILINE)

    def callback(step: Any, agent: Any) -> None:
        code = getattr(step, "code_action", None)
        if written or step.error is not None or step.is_final_answer or not code or not definition.search(code):
            return
        written.append(code)
        agent.interrupt()

    return callback


__all__ = ["stop_when_defined"]
