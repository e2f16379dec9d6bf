"""Hostile inputs: how long each input of the security review takes now, and what it answers.

Each row is one input that once ran far past its limits (the figures the review measured
are in the "was" column): math that formatted for minutes, vault notes that made parsing
cubic or expanded an alias bomb, a 128-byte Cap'n Proto message that claimed millions of
attributes, JSON nested past the recursion limit. Each is now refused or answered within
its limit; the table gives the median of RUNS rounds and the peak memory Python allocated.
"""

from __future__ import annotations

import struct
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from bench._report import median_of, report
from smolcpu.artifact import Artifact
from smolcpu.errors import SmolError
from smolcpu.units.tools import Registers, Vault, evaluate
from smolcpu.units.tools._memory_links import parse_note

RUNS = 3

ALIAS_BOMB = "---\na: &a [" + ",".join(['"lol"'] * 9) + "]\n" + "".join(
    f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]\n" for previous, name in zip("abcdefgh", "bcdefghi")
) + "---\nbody\n"


def zero_size_struct_list(count: int) -> bytes:
    """A 128-byte Artifact message whose attributes are ``count`` structs of size zero."""
    words = [0] * 15
    words[0] = (1 << 32) | (12 << 48)
    words[10] = 1 | (3 << 2) | (7 << 32)
    words[14] = count << 2
    return struct.pack("<II", 0, len(words)) + struct.pack(f"<{len(words)}Q", *words)


def outcome(action: Callable[[], object]) -> str:
    """What the input gets: a short view of the answer, or the error's first words."""
    try:
        answer = action()
    except SmolError as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:60]}"
    text = str(answer)
    return f"{len(text)} chars" if len(text) > 60 else text


def timed(action: Callable[[], object]) -> tuple[float, float, str]:
    """Median seconds, peak MB allocated (one traced run) and the outcome of ``action``."""

    def once() -> float:
        start = time.perf_counter()
        outcome(action)
        return time.perf_counter() - start

    seconds, _ = median_of(RUNS, once)
    tracemalloc.start()
    said = outcome(action)
    peak = tracemalloc.get_traced_memory()[1] / 1024**2
    tracemalloc.stop()
    return seconds, peak, said


def vault_with(folder: Path, text: str) -> Callable[[], object]:
    vault = Vault(folder)
    (vault.root / "Hostile.md").write_text(text)

    def sync_and_list() -> object:
        vault.rebuild()
        return [info.problem for info in vault.notes()]

    return sync_and_list


def main() -> None:
    registers = Registers()
    registers.set("x", "1e9999999")
    backticks = "".join("`" * length + " a " for length in range(1, 1300))
    unicode_note = "ö" * 2_000_000
    with tempfile.TemporaryDirectory() as folder:
        cases: list[tuple[str, str, Callable[[], object]]] = [
            ("math 1/5**30000", "133 s", lambda: evaluate("1/5**30000")),
            ("math 1/5**66000", "past the deadline", lambda: evaluate("1/5**66000")),
            ("math 1/2**15000", "crash (4300 digits)", lambda: evaluate("1/2**15000")),
            ("math $x = 1e9999999", "past the deadline", lambda: evaluate("$x + 1", registers=registers)),
            ("vault: nested backtick runs, 0.85 MB", "26 s at 0.8 MB", lambda: parse_note(backticks)),
            ("vault: alias bomb note, synced", "37 s, 3.6 GB", vault_with(Path(folder) / "bomb", ALIAS_BOMB)),
            ("vault: 4 MB non-ASCII note", "1 GB at 20 MB", lambda: parse_note(unicode_note)),
            ("capnp: 128 B, 2^28 zero-size attributes", "did not finish", lambda: Artifact.from_bytes(zero_size_struct_list(2**28))),
            ("json: 100,000 levels of [", "RecursionError", lambda: Artifact.from_json("[" * 100_000)),
        ]
        rows = []
        for name, was, action in cases:
            seconds, peak, said = timed(action)
            rows.append((name, was, seconds, peak, said))
    report(
        "hostile_inputs",
        "Hostile inputs of the security review (issue 10): time and peak allocation now",
        ("input", "was", "seconds (median)", "peak MB", "answer"),
        rows,
        runs=RUNS,
    )


if __name__ == "__main__":
    main()
