"""What a run spends against its resource policy, and the moment it goes past a limit.

A :class:`Meter` is made when a run starts. It counts the LLM tokens each step's output
says it read and wrote (``prompt_tokens``, ``completion_tokens``), the wall-clock seconds
since the start, and the CPU seconds of Smol's processes since the start: this one (every
thread), the sandbox snippets it has reaped, and the model workers the Lifecycle runs. CPU
is the machine's, not one run's: runs that go on side by side share it, so on a busy server
a run may be charged for its neighbours' work (a ceiling, not a bill).

The executor asks :meth:`Meter.over` after every step, and a watch task every
``config.POLICY_SAMPLE_S`` seconds for wall time and CPU, so a long step is stopped too.
Its message names the limit and the figures: ``limit tokens: the run used 130 LLM tokens;
its policy allows 100``. Unit kinds are checked before anything runs (:func:`refused_units`),
memory before a model worker starts (:func:`check_memory`).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterable
from typing import Any

from smolcpu import config
from smolcpu.artifact import Artifact
from smolcpu.errors import PolicyLimit
from smolcpu.lang import DEFAULT_UNIT, Graph, Policy
from smolcpu.vm._cores import cpu_seconds

_UNITS = {"wall_s": "seconds", "cpu_s": "CPU seconds", "tokens": "LLM tokens"}


def _own_cpu() -> float:
    """CPU seconds of this process (every thread) and of the children it has reaped."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Meter:
    """One run's spending against ``policy``.

    Args:
        policy: what the run may spend.
        pids: the processes besides this one whose CPU counts (the Lifecycle's workers).
    """

    def __init__(self, policy: Policy, *, pids: Callable[[], Iterable[int]] = tuple) -> None:
        self.policy = policy
        self.pids = pids
        self.began = time.monotonic()
        self.tokens_read = 0
        self.tokens_written = 0
        self._own_at_start = _own_cpu()
        self._seen = {pid: _cpu_of(pid) for pid in pids()}  # a worker's CPU when the run began (0: started since)

    def __repr__(self) -> str:
        return f"<Meter {self.spent()} of {self.policy}>"

    def cpu(self) -> float:
        """CPU seconds Smol's processes have spent since the run began."""
        total = _own_cpu() - self._own_at_start
        for pid in self.pids():
            total += max(_cpu_of(pid) - self._seen.setdefault(pid, 0.0), 0.0)
        return total

    def count(self, output: Artifact) -> None:
        """Add the tokens a step's output says its LLM read and wrote."""
        self.tokens_read += _number(output.attr("prompt_tokens"))
        self.tokens_written += _number(output.attr("completion_tokens"))

    @property
    def tokens(self) -> int:
        return self.tokens_read + self.tokens_written

    def spent(self) -> dict[str, float | int]:
        """What the run has spent so far, by the policy's figures."""
        return {figure: self.figure(figure) for figure in _UNITS}

    def figure(self, name: str) -> float | int:
        """One figure of :meth:`spent` (each is read only when asked: CPU reads /proc)."""
        if name == "wall_s":
            return round(time.monotonic() - self.began, 3)
        if name == "cpu_s":
            return round(self.cpu(), 3)
        return self.tokens

    def over(self, *, figures: Iterable[str] = tuple(_UNITS)) -> str | None:
        """The message of the first limit of ``figures`` the run has gone past, or None."""
        for name in figures:
            allowed = getattr(self.policy, name)
            if allowed is None:
                continue
            used = self.figure(name)
            if used > allowed:
                return f"limit {name}: the run used {used:g} {_UNITS[name]}; its policy allows {allowed:g}"
        return None

    def usage(self, reason: str = "") -> dict[str, Any]:
        """What the run index keeps of it: the policy, what was spent, and why it ended."""
        found: dict[str, Any] = {"policy": self.policy.to_dict(), "spent": self.spent()}
        found["spent"]["tokens_read"] = self.tokens_read
        found["spent"]["tokens_written"] = self.tokens_written
        if reason:
            found["reason"] = reason
        return found


def refused_units(graph: Graph, policy: Policy) -> str | None:
    """The message for the first step whose unit kind ``policy`` does not allow, or None."""
    if policy.units is None:
        return None
    for step in graph.steps():
        unit = step.binding.unit if step.binding is not None else DEFAULT_UNIT
        if unit not in policy.units:
            allowed = ", ".join(sorted(policy.units)) or "none"
            return f"limit units: step {step.id} runs on unit kind `{unit}`; its policy allows [{allowed}]"
    return None


def check_memory(kind: str, need: int, policy: Policy) -> None:
    """Refuse a unit of ``kind`` expected to hold ``need`` bytes, past the policy's ``memory_mb``.

    Raises:
        PolicyLimit: it would not fit.
    """
    if policy.memory_mb is not None and need > policy.memory_mb * 1024**2:
        raise PolicyLimit(
            f"limit memory_mb: a `{kind}` worker needs about {need / 1024**2:.0f} MB; its policy allows {policy.memory_mb}"
        )


def forced_params(policy: Policy) -> dict[str, dict[str, Any]]:
    """Parameters the policy puts on unit kinds over whatever a program binds: the sandbox's
    network and memory, the storage's folders."""
    sandbox: dict[str, Any] = {"network": policy.networked}
    if policy.memory_mb is not None:  # a cap: never above the sandbox's own default
        sandbox["memory_bytes"] = min(policy.memory_mb * 1024**2, config.SANDBOX_MEMORY_BYTES)
    folders = policy.allowed_folders()
    storage = {"folders": None if folders is None else [str(folder) for folder in folders]}
    return {"sandbox": sandbox, "storage": storage}


def _number(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _cpu_of(pid: int) -> float:
    """CPU seconds of process ``pid``; 0 for one that is gone."""
    try:
        return cpu_seconds(pid)
    except (OSError, ValueError, IndexError):
        return 0.0


__all__ = ["Meter", "check_memory", "forced_params", "refused_units"]
